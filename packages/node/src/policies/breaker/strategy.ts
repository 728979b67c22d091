import { LabcoatInputError } from '@labcoat/core';
import { checkRatio } from '../validate.js';

/**
 * The state of a circuit breaker.
 * - `closed`: calls go through; their outcomes feed the breaker strategy.
 * - `open`: calls are refused until the open period ends.
 * - `half-open`: a few probe calls go through; the others are refused.
 * - `isolated`: held open by `isolate()` until every handle is disposed.
 * - `forced-open`: held open by `forceOpen()` until `reset()`.
 * - `disabled`: `disable()`d: every call goes through and nothing is counted, until `reset()`.
 *
 * @example
 * if (breaker.state !== 'closed') res.setHeader('x-degraded', breaker.state);
 */
export type CircuitState = 'closed' | 'open' | 'half-open' | 'isolated' | 'forced-open' | 'disabled';

/**
 * A value that survives `JSON.stringify` → `JSON.parse` unchanged.
 *
 * @example
 * const window: JsonValue = new CountBreaker({ size: 10 }).toJSON();
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Decides when a closed circuit opens, from the outcomes of the calls it let through. Cockatiel's
 * `IBreaker`, with slow calls and persistence. One strategy object belongs to one breaker (it holds
 * that breaker's window); passing it to a second breaker throws.
 *
 * The breaker calls {@link BreakerStrategy.record} once per counted call:
 * - in `closed` state, for every call that ended while the circuit was still closed in the period it
 *   started in; returning a reason opens the circuit;
 * - in `half-open` state, for each probe; the return value is ignored there (the breaker's probe
 *   rules decide), so strategies that only judge closed traffic can return `undefined` at once.
 *
 * Calls cancelled by their caller, calls refused by the breaker, and calls made while it is
 * disabled or open (in metrics-only mode) are not recorded. The breaker calls `reset()` each time
 * the circuit closes again.
 *
 * @example
 * // Opens when 3 calls in a row took longer than the breaker's slowCallDurationMs.
 * class ConsecutiveSlowBreaker implements BreakerStrategy {
 *   readonly kind = 'consecutive-slow';
 *   readonly countsSlowCalls = true;
 *   private n = 0;
 *   record(failed: boolean, slow: boolean): string | undefined {
 *     this.n = slow ? this.n + 1 : 0;
 *     return this.n >= 3 ? 'consecutive-slow-calls' : undefined;
 *   }
 *   reset(): void { this.n = 0; }
 * }
 * const breaker = circuitBreaker({ breaker: new ConsecutiveSlowBreaker(), slowCallDurationMs: 2000 });
 */
export interface BreakerStrategy {
  /** Short name of the strategy, stored in snapshots so that state is restored only into the same kind. */
  readonly kind: string;
  /** True when slow calls can open the circuit; then a slow half-open probe counts as a failed one. */
  readonly countsSlowCalls: boolean;
  /**
   * Records one call's outcome. Must be O(1) and allocate nothing: it runs on every call.
   *
   * @param failed whether the breaker's classifier counted the call as a failure
   * @param slow whether it took at least the breaker's `slowCallDurationMs`
   * @param durationMs how long it took
   * @param at when it ended, on the breaker's clock
   * @param state `closed`, or `half-open` for a probe
   * @returns a short reason (`failure-rate`, …) to open the circuit, or `undefined` to keep it closed
   */
  record(failed: boolean, slow: boolean, durationMs: number, at: number, state: CircuitState): string | undefined;
  /** Forgets every recorded outcome. */
  reset(): void;
  /** The recorded outcomes as plain JSON, for `CircuitBreakerPolicy.toJSON()`. Include `kind`. */
  toJSON?(): JsonValue;
  /**
   * Takes back what `toJSON()` returned (in another process, maybe with other options). Throws a
   * `LabcoatInputError` naming the bad field (prefix `where`) when `json` is malformed.
   */
  restore?(json: JsonValue, where: string): void;
}

/**
 * Marks the built-in strategies as taken by a breaker, so that passing one to a second breaker
 * throws instead of mixing two circuits' outcomes in one window. Custom strategies can declare
 * `[STRATEGY_CLAIMED] = false` to get the same check. (A flag rather than a WeakSet: adding to a
 * WeakSet costs more than the rest of a breaker's construction.)
 *
 * @example
 * class MyBreaker implements BreakerStrategy {
 *   [STRATEGY_CLAIMED] = false;
 *   // …
 * }
 */
export const STRATEGY_CLAIMED: unique symbol = Symbol('labcoat.breakerStrategy.claimed');

/**
 * Why a rate-based strategy opened the circuit.
 *
 * @example
 * breaker.onBreak(({ reason }) => { if (reason === 'slow-call-rate') log.warn('dependency is slow'); });
 */
export type RateTripReason = 'failure-rate' | 'slow-call-rate';

/**
 * Options shared by the rate-based strategies.
 *
 * @example
 * const rates: RateThresholds = { failureRateThreshold: 0.5, slowCallRateThreshold: 0.9, minimumCalls: 20 };
 * new CountBreaker({ size: 100, ...rates });
 */
export interface RateThresholds {
  /** Open when failed calls / calls ≥ this, 0 < x ≤ 1 (default 0.5). */
  failureRateThreshold?: number;
  /** Open when slow calls / calls ≥ this, 0 < x ≤ 1 (default: slow calls never open the circuit). */
  slowCallRateThreshold?: number;
  /** No rate decision before the window holds this many calls. */
  minimumCalls?: number;
}

/** @internal A ratio in (0, 1]: 0 would open the circuit on the first window that reaches its minimum. */
export function checkThreshold(policy: string, option: string, value: number | undefined, fallback: number): number {
  const v = checkRatio(policy, option, value, fallback);
  if (v === 0) throw new LabcoatInputError(`${policy} option "${option}"`, 'must be a number greater than 0 and at most 1; got 0');
  return v;
}

/**
 * @internal The rate decision of the window strategies (and of the reference models in the tests): nothing
 * below `minimumCalls`, then failure rate first, slow-call rate second. `slowThreshold` is Infinity
 * when slow calls do not count.
 */
export function rateVerdict(calls: number, failures: number, slows: number, minimumCalls: number, failureThreshold: number, slowThreshold: number): RateTripReason | undefined {
  if (calls < minimumCalls || calls === 0) return undefined;
  if (failures / calls >= failureThreshold) return 'failure-rate';
  if (slows / calls >= slowThreshold) return 'slow-call-rate';
  return undefined;
}

/** @internal Validation helpers for `restore()`. */
export function jsonObject(json: unknown, where: string): Record<string, unknown> {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new LabcoatInputError(where, `must be an object; got ${show(json)}`);
  return json as Record<string, unknown>;
}

export function jsonCount(value: unknown, where: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new LabcoatInputError(where, `must be a whole number from 0 to ${max}; got ${show(value)}`);
  }
  return value;
}

export function jsonArray(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new LabcoatInputError(where, `must be an array; got ${show(value)}`);
  return value;
}

export function show(value: unknown): string {
  if (typeof value === 'number') return String(value);
  try {
    const s = JSON.stringify(value) ?? String(value);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(value);
  }
}
