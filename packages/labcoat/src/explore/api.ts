/**
 * The library API: `explore({...})` runs lineage-driven fault injection from a test (node:test,
 * vitest, jest) and resolves to the report, so a functional test can assert "no failure set of
 * size ≤ 2".
 *
 * @example
 * ```ts
 * import { test } from 'node:test';
 * import { Collector, explore, assertResilient } from 'labcoat';
 *
 * test('home survives any two dependency failures', async () => {
 *   const collector = await Collector.start();            // services export to collector.url
 *   const services = await startMyServices({ LABCOAT_OTLP_URL: collector.url, LABCOAT_KEY: key });
 *   try {
 *     const report = await explore({ target: `${services.url}/home`, key, collector, maxFaults: 2 });
 *     assertResilient(report);
 *   } finally {
 *     await services.stop();
 *     await collector.close();
 *   }
 * });
 * ```
 */
import { writeFileSync } from 'node:fs';
import type { FaultSpec } from '@labcoat/core';
import { hmacMac } from '@labcoat/node';
import { Collector } from '../collector.js';
import { parseClassesFile, parseExpectation } from './config.js';
import { ExploreError } from './errors.js';
import { renderHtml } from './html.js';
import { faultModes } from './plans.js';
import { callbackProgress, silentProgress, type ProgressSink, type ProgressState } from './progress.js';
import { commandReset, defaultExplorer, functionReset, runExploration, urlReset, type ExplorerFactory, type ResetStep } from './runner.js';
import type { SpanSource } from './trace.js';
import type { CustomOracle, Expectation, ExplorationReport, RequestClass, WorkloadFn } from './types.js';

/** One request class for the API: the JSON shape of the classes file, plus functions. */
export interface ClassInput {
  readonly name: string;
  readonly method?: string;
  readonly path?: string;
  readonly url?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  readonly command?: string;
  /** Sends the request itself (with `ctx.headers`) instead of `path`/`url`/`command`. */
  readonly workload?: WorkloadFn;
  readonly expect?: Expectation;
  readonly oracle?: CustomOracle;
  readonly critical?: { readonly services?: readonly string[]; readonly points?: readonly string[] };
}

export interface ExploreOptions {
  /** The URL of the request to explore (one class), or the base URL for the classes' `path`s. */
  readonly target?: string;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Request body: a string, or an object sent as JSON. */
  readonly body?: unknown;
  /** A function that sends the request (one class), instead of `target`. */
  readonly workload?: WorkloadFn;
  /** A shell command as the workload (one class): exit 0 = success. */
  readonly command?: string;
  /** Several request classes. */
  readonly classes?: readonly ClassInput[];
  /** Expectations for the single class (status, JSON checks, schema, deadline). */
  readonly expect?: Expectation;
  /** A custom oracle for the single class. */
  readonly oracle?: CustomOracle;
  /** Largest fault set to consider (k). Default 2. */
  readonly maxFaults?: number;
  /** Fault modes: `['error', '503', 'hang']` (the default), `'error,hang'`, or name → FaultSpec. */
  readonly faults?: string | readonly string[] | Readonly<Record<string, FaultSpec>>;
  /**
   * Services and points (ids or globs) that may fail the request: their failure sets are expected,
   * not bugs — provided the failure looks like `expect` when given (a clean failure, e.g. a 503).
   */
  readonly critical?: { readonly services?: readonly string[]; readonly points?: readonly string[]; readonly expect?: Expectation };
  /** Skip hypotheses made only of critical faults (default true). */
  readonly skipCritical?: boolean;
  readonly batching?: boolean;
  /** Most faults in one batched experiment (default 16: a batch must fit in one signed plan). */
  readonly batchSize?: number;
  /** The engine's lineage: `precise` (default: calls a fallback discarded do not support the success) or `plain`. */
  readonly lineage?: 'precise' | 'plain';
  readonly baselineRuns?: number;
  /** Experiments per class (default 2000). */
  readonly budget?: number;
  readonly timeBudgetMs?: number;
  readonly stopAtFirstFailure?: boolean;
  readonly seed?: number;
  /** Deadline of one execution, ms (default 5000); a class's `expect.deadlineMs` wins. */
  readonly deadlineMs?: number;
  /** How long to wait for an execution's trace to complete after the answer, ms (default 2000). */
  readonly spanWaitMs?: number;
  /** Wait between experiments, ms (default 0). */
  readonly settleMs?: number;
  /** Puts the system back in a known state: a callback, a shell command, or `{ url }` to POST. */
  readonly reset?: (() => unknown) | string | { readonly url: string };
  /** `each` (default): reset before every experiment; `tie-break`: only before the run that decides a disagreeing rerun. */
  readonly resetBefore?: 'each' | 'tie-break';
  /** The plan signing key the services share (default `LABCOAT_KEY`). */
  readonly key?: string;
  /** Where spans come from: a started {@link Collector}, or an in-process source (e.g. an InMemoryExporter). Default: a new Collector on `otlpPort`. */
  readonly collector?: SpanSource;
  readonly otlpPort?: number;
  readonly otlpHost?: string;
  /** The engine (default: `Explorer` from @labcoat/core). */
  readonly explorer?: ExplorerFactory;
  readonly onProgress?: (state: ProgressState) => void;
  readonly progress?: ProgressSink;
  readonly signal?: AbortSignal;
  /** Also write the JSON report / the HTML report to these files. */
  readonly reportFile?: string;
  readonly htmlFile?: string;
  /** Extra environment for command workloads and reset commands. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Turns the API's options into request classes (validated like the classes file). */
export function classesFromOptions(o: ExploreOptions): RequestClass[] {
  const single = o.workload !== undefined || o.command !== undefined || (o.target !== undefined && o.classes === undefined);
  if (single && o.classes) throw new ExploreError('usage', 'give either one request (target/workload/command) or classes, not both');
  const inputs: ClassInput[] = single
    ? [
        {
          name: o.command !== undefined ? 'command' : o.workload ? 'workload' : requestName(o.method ?? 'GET', o.target!),
          ...(o.workload ? { workload: o.workload } : o.command !== undefined ? { command: o.command } : { url: o.target!, method: o.method ?? 'GET' }),
          ...(o.headers ? { headers: o.headers } : {}),
          ...(o.body !== undefined ? { body: o.body } : {}),
          ...(o.expect ? { expect: o.expect } : {}),
          ...(o.oracle ? { oracle: o.oracle } : {}),
        },
      ]
    : [...(o.classes ?? [])];
  if (inputs.length === 0) throw new ExploreError('usage', 'say what to explore: a target URL, a workload function, a command, or classes');
  return inputs.map((c, i) => {
    const where = `classes[${i}]`;
    const { workload, oracle, ...json } = c;
    if (workload) {
      if (typeof workload !== 'function') throw new ExploreError('usage', `${where}.workload: expected a function`);
      return {
        name: c.name,
        fn: workload,
        expect: parseExpectation(c.expect, undefined),
        ...(oracle ? { oracle } : {}),
        ...(c.critical ? { critical: c.critical } : {}),
      };
    }
    const base = o.classes && !single ? o.target : undefined;
    const parsed = parseClassesFile({ classes: [json] }, base, 'options').classes[0]!;
    return { ...parsed, ...(oracle ? { oracle } : {}) };
  });
}

function requestName(method: string, url: string): string {
  try {
    const u = new URL(url);
    return `${method.toUpperCase()} ${u.pathname}${u.search}`;
  } catch {
    throw new ExploreError('usage', `target ${JSON.stringify(url)} is not a URL; expected e.g. http://127.0.0.1:3000/home`);
  }
}

function resetStep(r: ExploreOptions['reset'], env: Readonly<Record<string, string>>): ResetStep | undefined {
  if (r === undefined) return undefined;
  if (typeof r === 'function') return functionReset(r);
  if (typeof r === 'string') return commandReset(r, env);
  if (typeof r === 'object' && typeof r.url === 'string') return urlReset(r.url);
  throw new ExploreError('usage', 'reset: expected a function, a shell command, or { url }');
}

/**
 * Explores every request class and resolves to the report. Throws {@link ExploreError} (exit code 2
 * in the CLI) when the options are wrong, the target cannot be reached, the baseline already
 * fails, or a service does not join the trace.
 */
export async function explore(options: ExploreOptions): Promise<ExplorationReport> {
  const maxFaults = options.maxFaults ?? 2;
  if (!Number.isInteger(maxFaults) || maxFaults < 1 || maxFaults > 8) throw new ExploreError('usage', `maxFaults: expected an integer from 1 to 8, got ${String(options.maxFaults)}`);
  const deadlineMs = options.deadlineMs ?? 5000;
  if (!(deadlineMs > 0)) throw new ExploreError('usage', 'deadlineMs: expected a positive number of milliseconds');
  if (options.budget !== undefined && (!Number.isInteger(options.budget) || options.budget < 1)) throw new ExploreError('usage', `budget: expected a positive integer, got ${String(options.budget)}`);
  const key = options.key ?? process.env['LABCOAT_KEY'];
  if (!key) throw new ExploreError('usage', 'no plan signing key: pass key (--key) or set LABCOAT_KEY to the secret your services share (at least 16 bytes)');
  let mac;
  try {
    mac = hmacMac(key);
  } catch (e) {
    throw new ExploreError('usage', (e as Error).message.replace(/^labcoat: /, ''));
  }
  const classes = classesFromOptions(options);
  // A hang outlasts the longest request a little (the request's verdict is known by then), so a
  // caller without timeouts is not held for a minute and the hung call's span arrives soon.
  const longest = Math.max(...classes.map((c) => c.expect.deadlineMs ?? deadlineMs));
  const faults = faultModes(options.faults, longest + 1000);
  let own: Collector | undefined;
  const spans: SpanSource = options.collector ?? (own = await Collector.start({ ...(options.otlpPort !== undefined ? { port: options.otlpPort } : {}), ...(options.otlpHost ? { host: options.otlpHost } : {}) }));
  const env: Record<string, string> = { LABCOAT_KEY: key, ...(spans.url ? { LABCOAT_OTLP_URL: spans.url } : {}), ...options.env };
  const progress = options.progress ?? (options.onProgress ? callbackProgress(options.onProgress) : silentProgress);
  try {
    const reset = resetStep(options.reset, env);
    const report = await runExploration({
      classes,
      maxFaults,
      faults,
      ...(options.critical ? { critical: options.critical } : {}),
      ...(options.skipCritical !== undefined ? { skipCritical: options.skipCritical } : {}),
      ...(options.batching !== undefined ? { batching: options.batching } : {}),
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      ...(options.lineage !== undefined ? { lineage: options.lineage } : {}),
      ...(options.baselineRuns !== undefined ? { baselineRuns: options.baselineRuns } : {}),
      ...(options.budget !== undefined ? { budget: options.budget } : {}),
      ...(options.timeBudgetMs !== undefined ? { timeBudgetMs: options.timeBudgetMs } : {}),
      ...(options.stopAtFirstFailure ? { stopAtFirstFailure: true } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      deadlineMs,
      spanWaitMs: options.spanWaitMs ?? 2000,
      settleMs: options.settleMs ?? 0,
      ...(reset ? { reset } : {}),
      resetBefore: options.resetBefore ?? 'each',
      mac,
      spans,
      explorer: options.explorer ?? defaultExplorer,
      commandEnv: env,
      progress,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (options.reportFile) writeFileSync(options.reportFile, `${JSON.stringify(report, null, 2)}\n`);
    if (options.htmlFile) writeFileSync(options.htmlFile, renderHtml(report));
    return report;
  } finally {
    progress.stop();
    await own?.close();
  }
}
