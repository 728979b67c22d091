/**
 * The contract between the LDFI explore engine (pure, in @labcoat/core) and whoever runs
 * experiments (the runner in packages/labcoat, the in-process simulator in bench/). The engine never
 * touches the network: it is told what each execution did and answers with the next experiment.
 */
import type { FaultSpec } from '../faults/kind.js';
import type { SpanData } from '../span.js';

/**
 * A fault of the model: an injection point id and the name of a fault mode. The mode names are
 * the keys of {@link ExplorerOptions.faults} (e.g. `error`, `503`, `hang`), each mapped to the
 * FaultSpec that a plan rule carries.
 */
export interface Fault {
  readonly point: string;
  readonly mode: string;
}

/** What one execution of a request class did, as the runner observed it. */
export interface Execution {
  /** The oracle's verdict: true when the request answered correctly. */
  readonly ok: boolean;
  /** What the user would have seen when it failed (`HTTP 502 "ratings unavailable"`, `deadline 1500 ms exceeded`, `/profile/id was "default", expected "p1"`). */
  readonly symptom?: string;
  /** The spans of the execution's trace (every service's). May be incomplete; see `complete`. */
  readonly spans: readonly SpanData[];
  /** False when the collector gave up waiting for some spans (the engine then trusts lineage less). */
  readonly complete?: boolean;
  /** Wall-clock duration, ms. */
  readonly durationMs?: number;
}

/** Why an experiment is run. */
export type ExperimentPurpose =
  /** A no-fault run (repeated at the start to detect nondeterminism). */
  | 'baseline'
  /** One hypothesis: a fault set that hits every known support. */
  | 'hypothesis'
  /** The union of several hypotheses each expected to be tolerated. */
  | 'batch'
  /** Part of a failed batch, being split down to minimal failure sets. */
  | 'split'
  /** The same fault set again, to tell a real failure from a flake. */
  | 'rerun'
  /** A sampled subset of a tolerated batch, re-tested to check the monotonicity assumption. */
  | 'verify';

/** One experiment the engine asks for: inject exactly `faults` (all armed for the whole request). */
export interface Experiment {
  readonly id: number;
  readonly purpose: ExperimentPurpose;
  readonly faults: readonly Fault[];
  /** For batches: the hypotheses the union covers. */
  readonly covers?: readonly (readonly Fault[])[];
}

/** A minimal fault set that breaks the request. */
export interface FailureSet {
  readonly faults: readonly Fault[];
  /** Made only of critical points/services: expected, not a bug. */
  readonly critical: boolean;
  readonly symptom: string;
  /** The experiment that showed it (after its rerun confirmed it). */
  readonly experiment: number;
  /** Planned faults of that experiment that never fired (their call was not reached). */
  readonly neverFired: readonly Fault[];
}

/** Options of an exploration of one request class. */
export interface ExplorerOptions {
  /** Largest fault set to consider (k). */
  readonly maxFaults: number;
  /** Fault modes by name → the FaultSpec a plan rule injects, e.g. `{ error: { kind: 'error' }, '503': { kind: 'status', status: 503 }, hang: { kind: 'hang' } }`. */
  readonly faults: Readonly<Record<string, FaultSpec>>;
  /**
   * Services and point ids (or globs, `*` within a segment, `**` across) that may fail the request:
   * failure sets made only of them are `critical`. A point is critical when its target or its
   * caller is a critical service, or it matches a listed point.
   */
  readonly critical?: { readonly services?: readonly string[]; readonly points?: readonly string[] };
  /** Skip hypotheses made only of critical faults (default true). */
  readonly skipCritical?: boolean;
  /** Union several expected-tolerated hypotheses in one experiment (default true). */
  readonly batching?: boolean;
  /** Number of no-fault runs before exploring (default 3). */
  readonly baselineRuns?: number;
  /** Re-run a failing hypothesis once to tell a real failure from a flake (default true). */
  readonly rerunFailures?: boolean;
  /** Stop after this many experiments (baseline runs included). */
  readonly maxExperiments?: number;
  /** Stop at the first confirmed non-critical failure set. */
  readonly stopAtFirstFailure?: boolean;
  /** Seed for anything randomised (verification sampling); runs are reproducible. */
  readonly seed?: number;
  /**
   * `precise` (default): supports leave out calls whose result the success did not use (optional,
   * discarded by a fallback, hedge losers, beneath a failed call); each such hint is verified by
   * injecting it. `plain`: every call in the trace supports the success (Netflix's trace lineage).
   */
  readonly lineage?: 'precise' | 'plain';
  /** Most faults in one batched experiment (default 64, or one per 4 points seen when that is more). */
  readonly batchSize?: number;
  /**
   * Fraction of tolerated batches re-tested through one sampled hypothesis they covered, to check the
   * monotonicity assumption (default 0.1; the first tolerated batch is always checked). 0 turns it off.
   */
  readonly verifyRate?: number;
  /** Stop once this many milliseconds have passed since the first `next()` (measured with `now`). */
  readonly maxDurationMs?: number;
  /** Clock for `maxDurationMs`, ms (default `Date.now`). */
  readonly now?: () => number;
}

/** Where an exploration stands, or how it ended. */
export interface ExplorationResult {
  readonly experiments: number;
  /** Experiments by purpose. */
  readonly byPurpose: Readonly<Record<ExperimentPurpose, number>>;
  /** Injection points seen in any execution. */
  readonly points: readonly string[];
  readonly supports: number;
  readonly failureSets: readonly FailureSet[];
  /** True when no hypothesis of size ≤ maxFaults is left: every fault set up to k is tolerated or explained. */
  readonly certified: { readonly maxFaults: number; readonly complete: boolean };
  /** Why it stopped. */
  readonly stopped: 'certified' | 'budget' | 'first-failure' | 'baseline-failed' | 'nondeterministic-baseline' | 'unexplainable';
  /** Warnings for the report: nondeterminism, flakes, incomplete traces, order-dependent results, monotonicity violations. */
  readonly notes: readonly string[];
  /** False while the exploration is still running (`stopped` then reads `budget`: what is known so far). */
  readonly finished?: boolean;
  /** Hypotheses made only of critical faults that were skipped (`skipCritical`): expected to fail, not run. */
  readonly skippedCritical?: readonly (readonly Fault[])[];
  /** Fault sets injected and tolerated (hypotheses, batches and their parts). */
  readonly tolerated?: number;
  /** Precise-lineage hints: atoms left out of supports, and how many were verified by injection or refuted. */
  readonly hints?: { readonly total: number; readonly verified: number; readonly refuted: number; readonly pending: number };
  /** Whether batching relied on monotonicity, how many sampled subsets re-tested it, and how many contradicted it. */
  readonly monotonicity?: { readonly assumed: boolean; readonly checks: number; readonly violations: number };
}

/**
 * The engine, for one request class. Drive it as:
 * `for (let e = explorer.next(); e; e = explorer.next()) explorer.record(e, await run(e));`
 * then read `explorer.result()`.
 */
export interface ExplorerLike {
  next(): Experiment | undefined;
  record(experiment: Experiment, execution: Execution): void;
  result(): ExplorationResult;
}
