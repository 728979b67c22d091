import { checkInteger } from '../validate.js';
import { STRATEGY_CLAIMED, checkThreshold, jsonArray, jsonCount, jsonObject, rateVerdict, type BreakerStrategy, type CircuitState, type JsonValue, type RateThresholds, type RateTripReason } from './strategy.js';

/**
 * Options of {@link CountBreaker}.
 *
 * @example
 * new CountBreaker({ size: 20, failureRateThreshold: 0.5, minimumCalls: 10 });
 */
export interface CountBreakerOptions extends RateThresholds {
  /** How many of the latest calls the window holds (default 100). */
  size?: number;
  /** No decision before the window holds this many calls, 1 ≤ x ≤ size (default: `size`). */
  minimumCalls?: number;
}

const FAILED = 1;
const SLOW = 2;

/**
 * Opens the circuit when, among the last `size` calls, the share of failures reaches
 * `failureRateThreshold` (or the share of slow calls reaches `slowCallRateThreshold`), once at
 * least `minimumCalls` calls are in the window. resilience4j's count-based sliding window: a ring
 * buffer of one byte per call, allocated on the first call, with running totals, so recording is
 * O(1) and allocates nothing.
 *
 * @example
 * // Open when half of the last 20 calls failed, or 80% of them took ≥ 2 s (after at least 10 calls).
 * const breaker = circuitBreaker({
 *   breaker: new CountBreaker({ size: 20, failureRateThreshold: 0.5, slowCallRateThreshold: 0.8, minimumCalls: 10 }),
 *   slowCallDurationMs: 2000,
 * });
 */
export class CountBreaker implements BreakerStrategy {
  readonly kind = 'count';
  readonly countsSlowCalls: boolean;
  /** @internal Set when a breaker takes this strategy. */
  [STRATEGY_CLAIMED] = false;
  readonly size: number;
  readonly minimumCalls: number;
  readonly failureRateThreshold: number;
  /** Infinity when slow calls do not count. */
  readonly slowCallRateThreshold: number;
  private ring: Uint8Array | undefined;
  /** Where the next outcome goes. */
  private head = 0;
  private calls = 0;
  private failures = 0;
  private slows = 0;

  constructor(options: CountBreakerOptions = {}) {
    const p = 'CountBreaker';
    this.size = checkInteger(p, 'size', options.size, 100, 1, 1_000_000);
    this.minimumCalls = checkInteger(p, 'minimumCalls', options.minimumCalls, this.size, 1, this.size);
    this.failureRateThreshold = checkThreshold(p, 'failureRateThreshold', options.failureRateThreshold, 0.5);
    this.slowCallRateThreshold = options.slowCallRateThreshold === undefined ? Infinity : checkThreshold(p, 'slowCallRateThreshold', options.slowCallRateThreshold, 1);
    this.countsSlowCalls = this.slowCallRateThreshold !== Infinity;
  }

  /** What the window holds now. */
  get window(): { readonly calls: number; readonly failures: number; readonly slowCalls: number } {
    return { calls: this.calls, failures: this.failures, slowCalls: this.slows };
  }

  record(failed: boolean, slow: boolean, _durationMs: number, _at: number, state: CircuitState): RateTripReason | undefined {
    if (state !== 'closed') return undefined;
    this.push((failed ? FAILED : 0) | (slow ? SLOW : 0));
    return rateVerdict(this.calls, this.failures, this.slows, this.minimumCalls, this.failureRateThreshold, this.slowCallRateThreshold);
  }

  private push(flags: number): void {
    const ring = (this.ring ??= new Uint8Array(this.size));
    const i = this.head;
    if (this.calls === this.size) {
      const old = ring[i]!;
      this.failures -= old & FAILED;
      this.slows -= old >> 1;
    } else {
      this.calls++;
    }
    ring[i] = flags;
    this.failures += flags & FAILED;
    this.slows += flags >> 1;
    this.head = i + 1 === this.size ? 0 : i + 1;
  }

  reset(): void {
    this.head = 0;
    this.calls = 0;
    this.failures = 0;
    this.slows = 0;
  }

  /** `{ kind: 'count', calls: [...] }`, oldest call first; each entry is 0 (ok), 1 (failed), 2 (slow) or 3 (slow and failed). */
  toJSON(): JsonValue {
    const calls: number[] = [];
    const ring = this.ring;
    if (ring !== undefined) {
      let i = this.calls === this.size ? this.head : 0;
      for (let k = 0; k < this.calls; k++) {
        calls.push(ring[i]!);
        i = i + 1 === this.size ? 0 : i + 1;
      }
    }
    return { kind: this.kind, calls };
  }

  /** Takes the latest `size` calls of a snapshot (the window may have had another size). */
  restore(json: JsonValue, where: string): void {
    const o = jsonObject(json, where);
    const calls = jsonArray(o.calls, `${where}.calls`);
    const flags = calls.map((c, i) => jsonCount(c, `${where}.calls[${i}]`, FAILED | SLOW));
    this.reset();
    for (let i = Math.max(0, flags.length - this.size); i < flags.length; i++) this.push(flags[i]!);
  }
}
