/**
 * Types shared by the explore runner's parts: request classes, workload outcomes, oracles,
 * experiment records and the report. The engine's own types (Fault, Execution, ExplorerLike…)
 * come from @labcoat/core (`ldfi/engine-types.ts`).
 */
import type { ExperimentPurpose, Fault, FaultSpec, SpanData } from '@labcoat/core';

/** A fault as reports show it: the engine's `mode` name and the fault kind it injects. */
export interface FaultRef {
  readonly point: string;
  /** The fault kind carried out (`error`, `status`, `hang`, …). */
  readonly kind: string;
  /** The engine's fault mode name (`error`, `503`, `hang`), a key of the run's `faults`. */
  readonly mode: string;
}

/** What a request class must do to count as answered correctly. */
export interface Expectation {
  /** Accepted HTTP statuses: numbers, or classes like `"2xx"`. Default: any 2xx. */
  readonly status?: readonly (number | string)[];
  /**
   * JSON pointer (RFC 6901) → expected value (deep equality), or a matcher: an object whose keys all
   * start with `$`: `$type` (string, number, boolean, object, array, null), `$minItems`, `$in`
   * (one of these values), `$exists` (false: nothing may be there).
   */
  readonly json?: Readonly<Record<string, unknown>>;
  /** A JSON Schema the response body must satisfy (validated with ajv). */
  readonly schema?: object;
  /** Latency budget and deadline: no answer within it is a failure, and the request is aborted. */
  readonly deadlineMs?: number;
  /** Command workloads: the accepted exit code (default 0). */
  readonly exitCode?: number;
}

/** What one run of a workload produced, as an oracle sees it. */
export interface WorkloadOutcome {
  readonly kind: 'http' | 'command' | 'function';
  readonly durationMs: number;
  /** Set when the workload produced no answer at all. */
  readonly failure?: {
    readonly reason: 'timeout' | 'unreachable' | 'error';
    readonly message: string;
    readonly code?: string;
  };
  /** HTTP: response status, headers (lower-case names) and body text (capped at 1 MiB). */
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Command: exit code (null when killed), signal, and the tails of its output. */
  readonly exitCode?: number | null;
  readonly signal?: string | null;
  readonly stdout?: string;
  readonly stderr?: string;
  /** Function workload: what it returned. */
  readonly value?: unknown;
}

/** What the oracle (and a custom oracle function) may know about an execution besides its outcome. */
export interface OracleContext {
  readonly experiment: { readonly id: number; readonly purpose: ExperimentPurpose };
  /** The faults the plan named. */
  readonly planned: readonly FaultRef[];
  /** The planned faults that actually fired (seen on the spans). */
  readonly fired: readonly FaultRef[];
  /** The execution's spans (may be incomplete). */
  readonly spans: readonly SpanData[];
}

/**
 * A custom oracle: return `true`/`undefined` (correct), `false`, or `{ ok, symptom }`; a thrown error
 * (e.g. a failed `assert`) is a failure whose message is the symptom.
 */
export type CustomOracle = (
  outcome: WorkloadOutcome,
  context: OracleContext,
) => boolean | void | { ok: boolean; symptom?: string } | Promise<boolean | void | { ok: boolean; symptom?: string }>;

/** The verdict on one execution. */
export interface Verdict {
  readonly ok: boolean;
  readonly symptom?: string;
}

/** What a function workload receives: the headers to send (or the env to pass) and a deadline signal. */
export interface WorkloadContext {
  /** `traceparent` and `baggage` (with `labcoat.plan` when faults are planned): send these with the request. */
  readonly headers: Readonly<Record<string, string>>;
  readonly traceId: string;
  /** The span id sent as the parent in `traceparent`: the entry service's server span will point at it. */
  readonly parentSpanId: string;
  /** The signed plan token, when faults are planned. */
  readonly planToken?: string;
  readonly planned: readonly FaultRef[];
  /** Aborted at the deadline. */
  readonly signal: AbortSignal;
}

/** A function workload (library API): send the request; return a fetch Response, an outcome-like object, or anything (thrown = failure). */
export type WorkloadFn = (context: WorkloadContext) => Promise<unknown> | unknown;

/** One request class: what to send and what counts as correct. */
export interface RequestClass {
  readonly name: string;
  readonly http?: { readonly method: string; readonly url: string; readonly headers: Readonly<Record<string, string>>; readonly body?: string };
  readonly command?: string;
  readonly fn?: WorkloadFn;
  readonly expect: Expectation;
  readonly oracle?: CustomOracle;
  readonly critical?: { readonly services?: readonly string[]; readonly points?: readonly string[] };
}

/** One experiment as the runner ran it. */
export interface ExperimentRecord {
  readonly id: number;
  readonly purpose: ExperimentPurpose;
  readonly faults: readonly FaultRef[];
  readonly fired: readonly FaultRef[];
  readonly neverFired: readonly FaultRef[];
  readonly ok: boolean;
  readonly symptom?: string;
  readonly complete: boolean;
  readonly durationMs: number;
  /** Hops that did not join the trace, when it was incomplete. */
  readonly missingHops?: readonly string[];
  /** The verdict after a disagreeing rerun was decided by one more run (after a reset when configured). */
  readonly tieBreak?: { readonly first: boolean; readonly rerun: boolean; readonly decisive: boolean; readonly afterReset: boolean };
}

/** A minimal failure set as the report shows it. */
export interface FailureSetReport {
  readonly faults: readonly (FaultRef & { readonly path: readonly string[] })[];
  readonly critical: boolean;
  readonly symptom: string;
  readonly experiment: number;
  readonly neverFired: readonly FaultRef[];
  /** It failed, passed on rerun, and failed again on the decisive run. */
  readonly flaky?: boolean;
}

/** The call graph the spans showed: services and the points between them. */
export interface CallGraph {
  readonly services: readonly string[];
  readonly edges: readonly { readonly point: string; readonly from: string; readonly to: string }[];
}

export interface ClassReport {
  readonly name: string;
  /** `GET http://…`, `command: …` or `function`. */
  readonly request: string;
  readonly experiments: number;
  readonly byPurpose: Readonly<Record<string, number>>;
  readonly points: readonly string[];
  readonly supports: number;
  readonly failureSets: readonly FailureSetReport[];
  readonly certified: { readonly maxFaults: number; readonly complete: boolean };
  readonly stopped: string;
  readonly notes: readonly string[];
  /** Points some experiment planned a fault at whose fault never fired in any experiment. */
  readonly neverFired: readonly string[];
  /** Fault sets whose failure went away after a reset: results that depended on the order of experiments. */
  readonly orderDependent: readonly { readonly faults: readonly FaultRef[]; readonly symptom: string; readonly experiment: number }[];
  /** Executions whose traces never completed. */
  readonly incompleteTraces: number;
  readonly graph: CallGraph;
  readonly durationMs: number;
  readonly log: readonly ExperimentRecord[];
}

/** The JSON report of a run (`--report`, `--json`, and what `explore()` resolves to). */
export interface ExplorationReport {
  readonly tool: 'labcoat';
  readonly version: 1;
  readonly startedAt: string;
  readonly durationMs: number;
  /** Experiments over every class. */
  readonly experiments: number;
  readonly maxFaults: number;
  readonly faults: Readonly<Record<string, FaultSpec>>;
  /** Non-critical failure sets over every class. */
  readonly bugs: number;
  /** Every class ended with a complete exploration up to maxFaults. */
  readonly certified: boolean;
  readonly collector?: string;
  readonly classes: readonly ClassReport[];
}

export type { Fault };
