/**
 * labcoat's library API: lineage-driven fault injection from a test (`explore`), the OTLP collector
 * the services export to, the launcher for example systems, and the report renderers.
 *
 * @example
 * ```ts
 * import { Collector, explore, assertResilient } from 'labcoat';
 * const report = await explore({ target: 'http://127.0.0.1:3000/home', key, collector, maxFaults: 2 });
 * assertResilient(report);   // no failure set of size ≤ 2
 * ```
 */
export { explore, classesFromOptions, type ExploreOptions, type ClassInput } from './explore/api.js';
export { ExploreError } from './explore/errors.js';
export { assertResilient, certificateLine, exitCodeOf, renderText } from './explore/report.js';
export { renderHtml, renderGraphSvg } from './explore/html.js';
export { Oracle, readPointer, httpSymptom } from './explore/oracle.js';
export { faultModes, signFaults, faultRef, DEFAULT_FAULT_MODES } from './explore/plans.js';
export { parseClassesFile, loadClassesFile, parseExpectation, type ClassesFile, type CriticalDeclaration } from './explore/config.js';
export { runExploration, defaultExplorer, commandReset, urlReset, functionReset, DEFAULT_BUDGET, type ExplorerFactory, type ResetStep, type RunnerSetup } from './explore/runner.js';
export { terminalProgress, callbackProgress, silentProgress, type ProgressSink, type ProgressState } from './explore/progress.js';
export { executionComplete, missingHops, firedFaults, callPath, type SpanSource } from './explore/trace.js';
export { HttpWorkload, CommandWorkload, FunctionWorkload, newExecutionContext, type Workload, type ExecutionContext } from './explore/workload.js';
export type * from './explore/types.js';
export { Collector, isTraceComplete, type CollectorOptions } from './collector.js';
export { startChain, type Chain } from './chain.js';
export { startService, stopServices, type RunningService, type ServiceSpec } from './launcher.js';
export { startServer, type ServerOptions, type ControlPlane } from './server/server.js';
export { ApiClient, ApiError, readSse } from './server/client.js';
export { createToken, hashToken } from './server/auth.js';
export { validateAttack } from './server/attack-spec.js';
export { openStore, isPostgresUrl, SqliteStore, PostgresStore } from './store/index.js';
export type { Store, Graph, GraphEdge, GraphNode, GraphQuery, AttackDefinition, AttackRecord, CampaignRecord, CampaignEvent, RetentionPolicy, Role, TokenRecord } from './store/types.js';
export { testPostgres, type TestPostgres } from './store/test-postgres.js';
export { ProxyServer, loadProxyFile, parseProxyFile, DataPlane, TOXIC_TYPES, type ProxyServerOptions, type ProxyFile, type AttackSource, type ControlPlaneOptions } from './proxy/index.js';
