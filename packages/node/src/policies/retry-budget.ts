import { nowMs } from '../clock.js';
import { checkDuration, checkFunction, checkInteger, checkRatio } from './validate.js';

/**
 * A retry budget, as Finagle, linkerd and Envoy have them: retries may add at most `ratio` extra
 * load over a sliding window, plus a small floor so that a quiet client can still retry. It stops
 * retry storms: when a dependency is down, every caller's retries would multiply its load by
 * `maxAttempts`; under a budget they add at most `ratio` (20% by default).
 *
 * A retry is allowed while `retries + 1 ≤ ratio × calls + minRetriesPerSec × windowMs / 1000`,
 * counting calls and retries over the last `windowMs`. The window is a ring of buckets: recording
 * and asking are O(1) and allocate nothing. One budget can be shared by several retry policies
 * (say, every policy calling the same dependency).
 */

/** Options of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Retries allowed per call over the window, 0–10 (default 0.2: retries add at most 20% load). */
  ratio?: number;
  /** Retries always allowed per second of window, whatever the traffic (default 10). */
  minRetriesPerSec?: number;
  /** Length of the sliding window (default 10 000 ms). */
  windowMs?: number;
  /** Buckets the window is divided into (default 10). */
  buckets?: number;
  /** Millisecond clock (default: high resolution). Tests pass a fake one. */
  now?: () => number;
}

/** What a budget holds right now. */
export interface RetryBudgetSnapshot {
  /** Calls (executions) counted in the window. */
  readonly calls: number;
  /** Retries taken in the window. */
  readonly retries: number;
  /** Retries that would be allowed now. */
  readonly available: number;
}

/**
 * Limits retries to a fraction of calls over a sliding window. Pass it to one or more
 * {@link RetryPolicy}s through their `budget` option.
 *
 * @example
 * const budget = new RetryBudget({ ratio: 0.2, minRetriesPerSec: 10, windowMs: 10_000 });
 * const users = retry({ maxAttempts: 3, budget });
 * const orders = retry({ maxAttempts: 5, budget }); // shares the same budget
 */
export class RetryBudget {
  readonly ratio: number;
  readonly minRetriesPerSec: number;
  readonly windowMs: number;
  private readonly reserve: number;
  private readonly bucketMs: number;
  private readonly n: number;
  private readonly calls: Float64Array;
  private readonly retries: Float64Array;
  private callTotal = 0;
  private retryTotal = 0;
  /** Index (time / bucketMs) of the newest bucket. */
  private slot = -Infinity;
  private readonly now: () => number;

  constructor(options: RetryBudgetOptions = {}) {
    const p = 'retryBudget';
    this.ratio = checkRatio(p, 'ratio', options.ratio, 0.2, 0, 10);
    this.minRetriesPerSec = checkRatio(p, 'minRetriesPerSec', options.minRetriesPerSec, 10, 0, 1e9);
    this.windowMs = checkDuration(p, 'windowMs', options.windowMs, 10_000, 1);
    this.n = checkInteger(p, 'buckets', options.buckets, 10, 1, 10_000);
    this.now = checkFunction(p, 'now', options.now) ?? nowMs;
    this.bucketMs = this.windowMs / this.n;
    this.reserve = (this.minRetriesPerSec * this.windowMs) / 1000;
    this.calls = new Float64Array(this.n);
    this.retries = new Float64Array(this.n);
  }

  /** Counts one call (an execution of a retry policy, not each of its attempts). */
  recordCall(): void {
    this.calls[this.advance()]!++;
    this.callTotal++;
  }

  /** Asks for one retry: true (and counts it) when the budget allows it, false otherwise. */
  tryRetry(): boolean {
    const i = this.advance();
    if (this.retryTotal + 1 > this.ratio * this.callTotal + this.reserve) return false;
    this.retries[i]!++;
    this.retryTotal++;
    return true;
  }

  /** Calls, retries and the retries available now. */
  snapshot(): RetryBudgetSnapshot {
    this.advance();
    const available = Math.max(0, Math.floor(this.ratio * this.callTotal + this.reserve - this.retryTotal));
    return { calls: this.callTotal, retries: this.retryTotal, available };
  }

  /** Moves the window to now, dropping buckets that left it; returns the current bucket's index. */
  private advance(): number {
    const slot = Math.floor(this.now() / this.bucketMs);
    const n = this.n;
    if (slot > this.slot) {
      if (slot - this.slot >= n) {
        this.calls.fill(0);
        this.retries.fill(0);
        this.callTotal = 0;
        this.retryTotal = 0;
      } else {
        for (let s = this.slot + 1; s <= slot; s++) {
          const i = ((s % n) + n) % n;
          this.callTotal -= this.calls[i]!;
          this.retryTotal -= this.retries[i]!;
          this.calls[i] = 0;
          this.retries[i] = 0;
        }
      }
      this.slot = slot;
    }
    // A clock that went backwards keeps counting in the newest bucket.
    return ((this.slot % n) + n) % n;
  }
}

/**
 * Makes a {@link RetryBudget}.
 *
 * @example
 * const policy = retry({ maxAttempts: 3, budget: retryBudget({ ratio: 0.1 }) });
 */
export function retryBudget(options: RetryBudgetOptions = {}): RetryBudget {
  return new RetryBudget(options);
}
