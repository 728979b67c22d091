import { LabcoatInputError } from '@labcoat/core';
import { checkDuration, checkInteger } from '../validate.js';
import { STRATEGY_CLAIMED, checkThreshold, jsonArray, jsonCount, jsonObject, rateVerdict, show, type BreakerStrategy, type CircuitState, type JsonValue, type RateThresholds, type RateTripReason } from './strategy.js';

/**
 * Options of {@link TimeWindowBreaker}.
 *
 * @example
 * new TimeWindowBreaker({ windowMs: 60_000, buckets: 12, failureRateThreshold: 0.5, minimumCalls: 30 });
 */
export interface TimeWindowBreakerOptions extends RateThresholds {
  /** Length of the window (default 30 000 ms). */
  windowMs?: number;
  /** Number of buckets it is divided into, 1–10 000 (default 10): the window slides one bucket at a time. */
  buckets?: number;
  /** No decision before the window holds this many calls (default 20). */
  minimumCalls?: number;
}

/**
 * Opens the circuit when, among the calls of the last `windowMs`, the share of failures reaches
 * `failureRateThreshold` (or the share of slow calls reaches `slowCallRateThreshold`), once at
 * least `minimumCalls` calls are in the window. resilience4j's time-based sliding window (and
 * cockatiel's SamplingBreaker, without its per-call timestamps):
 *
 * Time is cut into buckets of `windowMs / buckets` on the breaker's clock (bucket `k` covers
 * `[k·bucketMs, (k+1)·bucketMs)`); the window at time `t` is the bucket holding `t` and the
 * `buckets − 1` before it, so it spans between `windowMs − bucketMs` and `windowMs` of time.
 * Buckets are counters in typed arrays allocated on the first call, with running totals: recording
 * is O(1) amortised (a jump over `j` idle buckets clears at most `min(j, buckets)` of them) and
 * allocates nothing. A clock that steps back records into the current bucket.
 *
 * @example
 * // Open when 50% of the calls of the last minute failed, once there were at least 30.
 * const breaker = circuitBreaker({
 *   breaker: new TimeWindowBreaker({ windowMs: 60_000, buckets: 12, failureRateThreshold: 0.5, minimumCalls: 30 }),
 * });
 */
export class TimeWindowBreaker implements BreakerStrategy {
  readonly kind = 'time-window';
  readonly countsSlowCalls: boolean;
  /** @internal Set when a breaker takes this strategy. */
  [STRATEGY_CLAIMED] = false;
  readonly windowMs: number;
  readonly buckets: number;
  readonly bucketMs: number;
  readonly minimumCalls: number;
  readonly failureRateThreshold: number;
  /** Infinity when slow calls do not count. */
  readonly slowCallRateThreshold: number;
  /** calls, failures, slow calls of each bucket, at `3 · (slot mod buckets)`. */
  private counts: Uint32Array | undefined;
  /** The newest slot (bucket number since time 0) recorded into; -Infinity before any. */
  private slot = -Infinity;
  /** Index in `counts` of the newest slot's bucket. */
  private head = 0;
  private calls = 0;
  private failures = 0;
  private slows = 0;

  constructor(options: TimeWindowBreakerOptions = {}) {
    const p = 'TimeWindowBreaker';
    this.windowMs = checkDuration(p, 'windowMs', options.windowMs, 30_000, 1);
    this.buckets = checkInteger(p, 'buckets', options.buckets, Math.min(10, Math.floor(this.windowMs)), 1, 10_000);
    this.bucketMs = this.windowMs / this.buckets;
    this.minimumCalls = checkInteger(p, 'minimumCalls', options.minimumCalls, 20, 1);
    this.failureRateThreshold = checkThreshold(p, 'failureRateThreshold', options.failureRateThreshold, 0.5);
    this.slowCallRateThreshold = options.slowCallRateThreshold === undefined ? Infinity : checkThreshold(p, 'slowCallRateThreshold', options.slowCallRateThreshold, 1);
    this.countsSlowCalls = this.slowCallRateThreshold !== Infinity;
  }

  /** What the window held at the last recorded call (buckets slide out only when a call is recorded). */
  get window(): { readonly calls: number; readonly failures: number; readonly slowCalls: number } {
    return { calls: this.calls, failures: this.failures, slowCalls: this.slows };
  }

  record(failed: boolean, slow: boolean, _durationMs: number, at: number, state: CircuitState): RateTripReason | undefined {
    if (state !== 'closed') return undefined;
    const counts = (this.counts ??= new Uint32Array(3 * this.buckets));
    const slot = Math.floor(at / this.bucketMs);
    if (slot > this.slot) this.advance(counts, slot);
    const i = this.head;
    counts[i]!++;
    this.calls++;
    if (failed) {
      counts[i + 1]!++;
      this.failures++;
    }
    if (slow) {
      counts[i + 2]!++;
      this.slows++;
    }
    return rateVerdict(this.calls, this.failures, this.slows, this.minimumCalls, this.failureRateThreshold, this.slowCallRateThreshold);
  }

  /** Moves the window's head to `slot`, emptying the buckets it passes. */
  private advance(counts: Uint32Array, slot: number): void {
    const n = this.buckets;
    if (slot - this.slot >= n) {
      counts.fill(0);
      this.calls = this.failures = this.slows = 0;
    } else {
      for (let s = this.slot + 1; s <= slot; s++) {
        const i = this.indexOf(s);
        this.calls -= counts[i]!;
        this.failures -= counts[i + 1]!;
        this.slows -= counts[i + 2]!;
        counts[i] = counts[i + 1] = counts[i + 2] = 0;
      }
    }
    this.slot = slot;
    this.head = this.indexOf(slot);
  }

  private indexOf(slot: number): number {
    const k = slot % this.buckets;
    return 3 * (k < 0 ? k + this.buckets : k);
  }

  reset(): void {
    this.counts?.fill(0);
    this.slot = -Infinity;
    this.head = 0;
    this.calls = this.failures = this.slows = 0;
  }

  /**
   * `{ kind: 'time-window', bucketMs, buckets: [[startMs, calls, failures, slowCalls], ...] }`,
   * oldest first, non-empty buckets only. Times are on the breaker's clock (epoch ms by default).
   */
  toJSON(): JsonValue {
    const out: JsonValue[] = [];
    const counts = this.counts;
    if (counts !== undefined && this.slot !== -Infinity) {
      for (let s = this.slot - this.buckets + 1; s <= this.slot; s++) {
        const i = this.indexOf(s);
        if (counts[i]! > 0) out.push([s * this.bucketMs, counts[i]!, counts[i + 1]!, counts[i + 2]!]);
      }
    }
    return { kind: this.kind, bucketMs: this.bucketMs, buckets: out };
  }

  /**
   * Takes back a snapshot. Buckets of another length (the window was configured differently) are
   * dropped rather than guessed at; buckets older than the window of the newest one are dropped too.
   */
  restore(json: JsonValue, where: string): void {
    const o = jsonObject(json, where);
    if (typeof o.bucketMs !== 'number' || !(o.bucketMs > 0)) throw new LabcoatInputError(`${where}.bucketMs`, `must be a number > 0; got ${show(o.bucketMs)}`);
    const list = jsonArray(o.buckets, `${where}.buckets`);
    const parsed = list.map((b, k) => {
      const w = `${where}.buckets[${k}]`;
      const a = jsonArray(b, w);
      if (a.length !== 4) throw new LabcoatInputError(w, `must be [startMs, calls, failures, slowCalls]; got ${show(b)}`);
      if (typeof a[0] !== 'number' || !Number.isFinite(a[0])) throw new LabcoatInputError(`${w}[0]`, `must be a finite time in ms; got ${show(a[0])}`);
      const calls = jsonCount(a[1], `${w}[1]`, 0xffffffff);
      const failures = jsonCount(a[2], `${w}[2]`, calls);
      const slows = jsonCount(a[3], `${w}[3]`, calls);
      return { start: a[0], calls, failures, slows };
    });
    this.reset();
    if (o.bucketMs !== this.bucketMs || parsed.length === 0) return;
    const counts = (this.counts ??= new Uint32Array(3 * this.buckets));
    const slots = parsed.map((b) => Math.round(b.start / this.bucketMs));
    let newest = -Infinity;
    for (const s of slots) if (s > newest) newest = s;
    this.slot = newest;
    this.head = this.indexOf(newest);
    parsed.forEach((b, k) => {
      const s = slots[k]!;
      if (s <= newest - this.buckets) return;
      const i = this.indexOf(s);
      counts[i]! += b.calls;
      counts[i + 1]! += b.failures;
      counts[i + 2]! += b.slows;
      this.calls += b.calls;
      this.failures += b.failures;
      this.slows += b.slows;
    });
  }
}
