/**
 * The shapes the console reads from `labcoat server` (packages/labcoat/src/store/types.ts,
 * explore/types.ts, core's SpanData), restated here so the bundle depends on no server code.
 */

export type Role = 'admin' | 'viewer' | 'service';

export interface WhoAmI {
  readonly role: Role;
  readonly tokenId?: string;
  readonly name?: string | null;
}

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export interface Health {
  readonly ok: boolean;
  readonly version: string;
  readonly store: string;
  readonly replica: string;
  readonly uptimeMs: number;
  readonly feed?: { readonly enabled: boolean; readonly leaseMs: number; readonly subscribers: number };
  readonly campaignsRunning?: number;
}

export interface GraphNode {
  readonly name: string;
  readonly spans: number;
  readonly requests: number;
  readonly errors: number;
  readonly critical?: boolean;
}

export interface GraphEdge {
  readonly caller: string;
  readonly callee: string;
  readonly points: readonly string[];
  readonly calls: number;
  readonly errors: number;
  readonly errorRate: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export interface Graph {
  readonly sinceMs: number;
  readonly untilMs: number;
  readonly bucketMs: number;
  readonly services: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

export type SpanKind = 'internal' | 'server' | 'client' | 'producer' | 'consumer';
export type AttributeValue = string | number | boolean | readonly string[];

export interface SpanData {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: SpanKind;
  readonly service: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly status: { readonly code: 'unset' | 'ok' | 'error'; readonly message?: string };
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly events?: readonly { readonly name: string; readonly timeMs: number; readonly attributes?: Readonly<Record<string, AttributeValue>> }[];
}

export interface TraceSummary {
  readonly traceId: string;
  readonly service: string;
  readonly class: string;
  readonly startMs: number;
  readonly durationMs: number;
  readonly spans: number;
  readonly errors: number;
  readonly faults?: number;
  readonly status: 'ok' | 'error' | string;
}

export type FaultSpec = { readonly kind: string; readonly delayMs?: number } & Readonly<Record<string, unknown>>;

export interface AttackDefinition {
  readonly name?: string;
  readonly target: {
    readonly services?: readonly string[];
    readonly points?: readonly string[];
    readonly callers?: readonly string[];
    readonly routes?: readonly string[];
  };
  readonly labels?: Readonly<Record<string, string>>;
  readonly entry?: { readonly routes?: readonly string[] };
  readonly fault: FaultSpec;
  readonly percentage: number;
  readonly durationMs: number;
}

export type AttackState = 'active' | 'halted' | 'expired';

export interface AttackRecord extends AttackDefinition {
  readonly id: string;
  readonly state: AttackState;
  readonly createdAt: number;
  readonly createdBy: string | null;
  readonly expiresAt: number;
  readonly haltedAt: number | null;
  readonly haltedBy: string | null;
  readonly injections: number;
}

export type CampaignState = 'running' | 'finished' | 'failed' | 'stopped' | 'interrupted';
export const TERMINAL_STATES: readonly CampaignState[] = ['finished', 'failed', 'stopped', 'interrupted'];

export interface CampaignSummary {
  readonly experiments: number;
  readonly bugs: number;
  readonly certified: boolean;
}

export interface ProgressState {
  readonly className: string;
  readonly experiments: number;
  readonly budget: number;
  readonly failures: number;
  readonly critical: number;
  readonly points?: number;
  readonly hypothesesLeft?: number;
  readonly purpose?: string;
}

export interface CampaignRecord {
  readonly id: string;
  readonly name: string | null;
  readonly state: CampaignState;
  readonly spec: unknown;
  readonly createdAt: number;
  readonly createdBy: string | null;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly stopRequested?: boolean;
  readonly progress: ProgressState | null;
  readonly summary: CampaignSummary | null;
  readonly result: ExplorationReport | null;
  readonly error: string | null;
  readonly events: number;
}

export interface CampaignEvent {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly data: unknown;
}

export interface FaultRef {
  readonly point: string;
  readonly kind: string;
  readonly mode: string;
}

export interface ExperimentRecord {
  readonly id: number;
  readonly purpose: string;
  readonly faults: readonly FaultRef[];
  readonly fired: readonly FaultRef[];
  readonly neverFired: readonly FaultRef[];
  readonly ok: boolean;
  readonly symptom?: string;
  readonly complete: boolean;
  readonly durationMs: number;
  readonly missingHops?: readonly string[];
}

export interface FailureSetReport {
  readonly faults: readonly (FaultRef & { readonly path: readonly string[] })[];
  readonly critical: boolean;
  readonly symptom: string;
  readonly experiment: number;
  readonly neverFired: readonly FaultRef[];
  readonly flaky?: boolean;
}

export interface CallGraph {
  readonly services: readonly string[];
  readonly edges: readonly { readonly point: string; readonly from: string; readonly to: string }[];
}

export interface ClassReport {
  readonly name: string;
  readonly request: string;
  readonly experiments: number;
  readonly byPurpose: Readonly<Record<string, number>>;
  readonly points: readonly string[];
  readonly supports: number;
  readonly failureSets: readonly FailureSetReport[];
  readonly certified: { readonly maxFaults: number; readonly complete: boolean };
  readonly stopped: string;
  readonly notes: readonly string[];
  readonly neverFired: readonly string[];
  readonly orderDependent: readonly { readonly faults: readonly FaultRef[]; readonly symptom: string; readonly experiment: number }[];
  readonly incompleteTraces: number;
  readonly graph: CallGraph;
  readonly durationMs: number;
  readonly log: readonly ExperimentRecord[];
}

export interface ExplorationReport {
  readonly tool: 'labcoat';
  readonly version: 1;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly experiments: number;
  readonly maxFaults: number;
  readonly faults: Readonly<Record<string, FaultSpec>>;
  readonly bugs: number;
  readonly certified: boolean;
  readonly classes: readonly ClassReport[];
}
