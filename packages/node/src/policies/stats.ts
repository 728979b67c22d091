import { nowMs } from '../clock.js';

/**
 * Rolling statistics for one policy: outcome counts and a latency histogram over a sliding window
 * of time buckets (Hystrix's model: 10 buckets of 1 s by default). Recording is O(1) and allocates
 * nothing; percentiles are computed when a snapshot is taken.
 *
 * The histogram is log-linear (8 sub-buckets per power of two of microseconds, so a percentile is
 * within ~9% of the true value) in a typed array per time bucket, allocated on first use: a library
 * histogram per time bucket would cost more to create than the policy it belongs to.
 */

/** What happened to one execution, as counted in the stats. */
export const Outcome = {
  success: 0,
  failure: 1,
  timeout: 2,
  /** Refused by an open circuit. */
  shortCircuited: 3,
  /** Refused by a full bulkhead or an empty rate limiter. */
  rejected: 4,
  fallbackSuccess: 5,
  fallbackFailure: 6,
  cancelled: 7,
  /** Not an execution's outcome: one more attempt made by a retry or a hedge. */
  retry: 8,
} as const;
export type OutcomeName = keyof typeof Outcome;
export type OutcomeCode = (typeof Outcome)[OutcomeName];
const OUTCOMES = Object.keys(Outcome) as OutcomeName[];
const N_OUTCOMES = OUTCOMES.length;

const SUB = 8;
const N_LATENCY = 34 * SUB; // up to 2^34 µs ≈ 4.8 hours; anything longer lands in the last bucket

function latencyIndex(ms: number): number {
  const us = ms * 1000;
  if (!(us >= 1)) return 0;
  const i = Math.floor(Math.log2(us) * SUB) + 1;
  return i < N_LATENCY ? i : N_LATENCY - 1;
}

/** Upper bound (ms) of a latency bucket. */
function latencyOf(index: number): number {
  return index === 0 ? 0.001 : 2 ** (index / SUB) / 1000;
}

/** A snapshot of the window: counts per outcome, rates and latency. */
export interface StatsSnapshot {
  readonly windowMs: number;
  readonly counts: Readonly<Record<OutcomeName, number>>;
  /** Executions that ended in the window (every outcome but `retry`). */
  readonly total: number;
  /** Failures (failure, timeout) over executions that were attempted (total minus refusals and cancellations), 0–1. */
  readonly errorRate: number;
  readonly latencyMs: {
    /** How many durations the figures come from (policies measure a sample of calls at high rates). */
    readonly samples: number;
    readonly mean: number;
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly p995: number;
    readonly max: number;
    /** Any percentile from the same histogram. */
    readonly percentile: (p: number) => number;
  };
}

export interface RollingStatsOptions {
  /** Length of the window (default 10 000 ms). */
  windowMs?: number;
  /** Number of buckets it is divided into (default 10). */
  buckets?: number;
  /** Clock in ms (default: the process's high-resolution clock). */
  now?: () => number;
}

interface Bucket {
  start: number;
  counts: Float64Array;
  latency: Uint32Array | undefined;
  latencySum: number;
  latencyCount: number;
  latencyMax: number;
}

/** Sliding-window outcome counts and latencies of one policy. */
export class RollingStats {
  readonly windowMs: number;
  private readonly bucketMs: number;
  private readonly bucketCount: number;
  // Made on the first record: a policy that is created and never used (or created per request,
  // as some code does with breakers) costs a few fields, not ten typed arrays.
  private buckets: Bucket[] | undefined;
  private current: Bucket | undefined;
  private currentEnd = -Infinity;
  private counted: Float64Array | undefined;
  private readonly now: () => number;

  constructor(options: RollingStatsOptions = {}) {
    this.windowMs = options.windowMs ?? 10_000;
    this.bucketCount = options.buckets ?? 10;
    this.bucketMs = this.windowMs / this.bucketCount;
    this.now = options.now ?? nowMs;
  }

  /** Counts since creation by outcome code, for monotonic counters (Prometheus). */
  get cumulative(): Float64Array {
    return (this.counted ??= new Float64Array(N_OUTCOMES));
  }

  /**
   * Counts one outcome; `durationMs` (when ≥ 0) goes into the latency histogram. Pass `at`, the
   * time the execution ended, when you have it: a clock read is a noticeable part of a fast call.
   */
  record(outcome: OutcomeCode, durationMs = -1, at?: number): void {
    (this.counted ??= new Float64Array(N_OUTCOMES))[outcome]!++;
    const t = at ?? this.now();
    const b = t >= this.currentEnd || this.current === undefined ? this.rotate(t) : this.current;
    b.counts[outcome]!++;
    if (durationMs >= 0) {
      const lat = (b.latency ??= new Uint32Array(N_LATENCY));
      lat[latencyIndex(durationMs)]!++;
      b.latencySum += durationMs;
      b.latencyCount++;
      if (durationMs > b.latencyMax) b.latencyMax = durationMs;
    }
  }

  private allBuckets(): Bucket[] {
    return (this.buckets ??= Array.from({ length: this.bucketCount }, () => ({
      start: -Infinity,
      counts: new Float64Array(N_OUTCOMES),
      latency: undefined,
      latencySum: 0,
      latencyCount: 0,
      latencyMax: 0,
    })));
  }

  private rotate(t: number): Bucket {
    const buckets = this.allBuckets();
    const slot = Math.floor(t / this.bucketMs);
    const b = buckets[slot % buckets.length]!;
    const start = slot * this.bucketMs;
    if (b.start !== start) {
      b.start = start;
      b.counts.fill(0);
      b.latency?.fill(0);
      b.latencySum = 0;
      b.latencyCount = 0;
      b.latencyMax = 0;
    }
    this.current = b;
    this.currentEnd = start + this.bucketMs;
    return b;
  }

  /** The buckets still inside the window at time `t`. */
  private live(t: number): Bucket[] {
    if (this.buckets === undefined) return [];
    const oldest = (Math.floor(t / this.bucketMs) - this.buckets.length + 1) * this.bucketMs;
    return this.buckets.filter((b) => b.start >= oldest && b.start <= t);
  }

  snapshot(): StatsSnapshot {
    const live = this.live(this.now());
    const counts = new Float64Array(N_OUTCOMES);
    const hist = new Float64Array(N_LATENCY);
    let sum = 0;
    let n = 0;
    let max = 0;
    for (const b of live) {
      for (let i = 0; i < N_OUTCOMES; i++) counts[i]! += b.counts[i]!;
      if (b.latency) for (let i = 0; i < N_LATENCY; i++) hist[i]! += b.latency[i]!;
      sum += b.latencySum;
      n += b.latencyCount;
      if (b.latencyMax > max) max = b.latencyMax;
    }
    const named = Object.fromEntries(OUTCOMES.map((k, i) => [k, counts[i]!])) as Record<OutcomeName, number>;
    const total = named.success + named.failure + named.timeout + named.shortCircuited + named.rejected + named.cancelled + named.fallbackSuccess + named.fallbackFailure;
    const attempted = named.success + named.failure + named.timeout;
    const percentile = (p: number): number => {
      if (n === 0) return 0;
      const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * n));
      let seen = 0;
      for (let i = 0; i < N_LATENCY; i++) {
        seen += hist[i]!;
        if (seen >= rank) return Math.min(latencyOf(i), max);
      }
      return max;
    };
    return {
      windowMs: this.windowMs,
      counts: named,
      total,
      errorRate: attempted === 0 ? 0 : (named.failure + named.timeout) / attempted,
      latencyMs: { samples: n, mean: n === 0 ? 0 : sum / n, p50: percentile(50), p90: percentile(90), p99: percentile(99), p995: percentile(99.5), max, percentile },
    };
  }

  /** Counts since the policy was made, by outcome. */
  totals(): Record<OutcomeName, number> {
    const c = this.counted;
    return Object.fromEntries(OUTCOMES.map((k, i) => [k, c === undefined ? 0 : c[i]!])) as Record<OutcomeName, number>;
  }
}
