import { checkInteger } from '../validate.js';
import { STRATEGY_CLAIMED, jsonCount, jsonObject, type BreakerStrategy, type CircuitState, type JsonValue } from './strategy.js';

/**
 * Opens the circuit after `threshold` failures in a row; any success starts the count again. Slow
 * calls do not count. The cheapest strategy: one integer of state.
 *
 * @example
 * const breaker = circuitBreaker({ breaker: new ConsecutiveBreaker(5), halfOpenAfter: 10_000 });
 */
export class ConsecutiveBreaker implements BreakerStrategy {
  readonly kind = 'consecutive';
  readonly countsSlowCalls = false;
  /** @internal Set when a breaker takes this strategy. */
  [STRATEGY_CLAIMED] = false;
  readonly threshold: number;
  private failures = 0;

  constructor(threshold = 5) {
    this.threshold = checkInteger('ConsecutiveBreaker', 'threshold', threshold, 5, 1);
  }

  /** Failures in a row so far. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  record(failed: boolean, _slow: boolean, _durationMs: number, _at: number, state: CircuitState): 'consecutive-failures' | undefined {
    if (state !== 'closed') return undefined;
    if (!failed) {
      this.failures = 0;
      return undefined;
    }
    return ++this.failures >= this.threshold ? 'consecutive-failures' : undefined;
  }

  reset(): void {
    this.failures = 0;
  }

  toJSON(): JsonValue {
    return { kind: this.kind, failures: this.failures };
  }

  restore(json: JsonValue, where: string): void {
    const o = jsonObject(json, where);
    this.failures = jsonCount(o.failures, `${where}.failures`);
  }
}
