import { LabcoatInputError } from '@labcoat/core';
import { checkChoice, checkDuration, checkFunction, checkRatio } from './validate.js';

/**
 * Backoff strategies: how long a retry waits before its next attempt. Pluggable objects in
 * cockatiel's style: a {@link Backoff} is stateless and shared; `next()` returns a
 * {@link BackoffState} (itself a `Backoff`) holding one execution's position in the schedule and
 * the delay to wait now. States are immutable, so concurrent executions never share a schedule.
 *
 * Jitter follows the AWS Architecture Blog's "Exponential Backoff And Jitter" (Marc Brooker, 2015):
 * with `v = min(cap, base · exponent^n)`,
 * - `none`: `v`
 * - `full`: `random(0, v)`
 * - `equal`: `v/2 + random(0, v/2)`
 * - `decorrelated`: `min(cap, random(base, previous · 3))` (starting from `previous = base`)
 */

/**
 * The largest delay `setTimeout` can wait (longer ones fire at once); every delay option is checked against it.
 *
 * @example
 * exponentialBackoff({ maxDelayMs: MAX_DELAY_MS }); // the longest cap there can be
 */
export const MAX_DELAY_MS = 2_147_483_647;

/** What a backoff is told about the attempt that just failed. */
export interface BackoffInfo {
  /** 1-based number of the attempt that failed (the next attempt is `attempt + 1`). */
  readonly attempt: number;
  /** What it failed with: a thrown error, or a result the classifier counts as a failure. */
  readonly reason: { readonly error: unknown } | { readonly value: unknown };
}

/**
 * A backoff strategy. `next()` starts (or continues) a schedule: it returns the state for the
 * coming retry, whose `delayMs` is the wait before it.
 *
 * @example
 * // A custom strategy: linear, 100 ms more per failed attempt.
 * const linear: Backoff = { next: (info) => ({ delayMs: 100 * info.attempt, next: linear.next }) };
 * const policy = retry({ maxAttempts: 4, backoff: linear });
 */
export interface Backoff {
  next(info: BackoffInfo): BackoffState;
}

/** One execution's position in a backoff schedule: the delay to wait now, and the way to the next. */
export interface BackoffState extends Backoff {
  /** Milliseconds to wait before the coming attempt. */
  readonly delayMs: number;
}

/**
 * The same delay before every retry. The strategy is its own state: nothing is allocated per retry.
 *
 * @example
 * const policy = retry({ maxAttempts: 3, backoff: new ConstantBackoff(200) });
 */
export class ConstantBackoff implements BackoffState {
  readonly delayMs: number;
  constructor(delayMs: number) {
    this.delayMs = checkTimerDuration('constantBackoff', 'delayMs', delayMs, 0);
  }
  next(_info?: BackoffInfo): BackoffState {
    return this;
  }
}

/**
 * The same delay before every retry.
 *
 * @example
 * const policy = retry({ maxAttempts: 3, backoff: constantBackoff(200) });
 */
export function constantBackoff(delayMs: number): ConstantBackoff {
  return new ConstantBackoff(delayMs);
}

/**
 * A fixed list of delays, one per retry; once it runs out, the last one repeats.
 *
 * @example
 * const policy = retry({ maxAttempts: 4, backoff: new DelaysBackoff([100, 500, 2000]) });
 */
export class DelaysBackoff implements Backoff {
  readonly delaysMs: readonly number[];
  constructor(delaysMs: readonly number[]) {
    if (!Array.isArray(delaysMs) || delaysMs.length === 0) {
      throw new LabcoatInputError('delaysBackoff option "delaysMs"', `must be a non-empty array of durations; got ${JSON.stringify(delaysMs)}`);
    }
    this.delaysMs = Object.freeze(delaysMs.map((d, i) => checkTimerDuration('delaysBackoff', `delaysMs[${i}]`, d, 0)));
  }
  next(_info?: BackoffInfo): BackoffState {
    return new DelaysState(this.delaysMs, 0);
  }
}

class DelaysState implements BackoffState {
  readonly delayMs: number;
  constructor(
    private readonly delays: readonly number[],
    private readonly index: number,
  ) {
    this.delayMs = delays[index]!;
  }
  next(_info?: BackoffInfo): BackoffState {
    return this.index + 1 < this.delays.length ? new DelaysState(this.delays, this.index + 1) : this;
  }
}

/**
 * Waits the given delays in order, one per retry, repeating the last one when they run out.
 *
 * @example
 * const policy = retry({ maxAttempts: 4, backoff: delaysBackoff([100, 500, 2000]) });
 */
export function delaysBackoff(delaysMs: readonly number[]): DelaysBackoff {
  return new DelaysBackoff(delaysMs);
}

/** How the exponential delay is randomised. See the module comment for the formulas. */
export type Jitter = 'none' | 'full' | 'equal' | 'decorrelated';
const JITTERS: readonly Jitter[] = ['none', 'full', 'equal', 'decorrelated'];

export interface ExponentialBackoffOptions {
  /** The base delay: the first retry's (un-jittered) delay (default 100 ms). */
  initialDelayMs?: number;
  /** The cap: no delay is longer (default 30 000 ms). Must be ≥ `initialDelayMs`. */
  maxDelayMs?: number;
  /** Growth factor per retry, ≥ 1 (default 2). Not used by `decorrelated`, which grows by up to 3×. */
  exponent?: number;
  /** Randomisation (default `full`, which AWS found spreads contending clients best for the least total wait). */
  jitter?: Jitter;
  /** Random source in [0, 1) (default `Math.random`); tests pass a fixed one. */
  random?: () => number;
}

/**
 * Exponentially growing delays, capped, with optional jitter. Stateless and shareable: each
 * execution's schedule lives in the states `next()` returns.
 *
 * @example
 * const backoff = new ExponentialBackoff({ initialDelayMs: 50, maxDelayMs: 5000, jitter: 'equal' });
 * const policy = retry({ maxAttempts: 6, backoff });
 */
export class ExponentialBackoff implements Backoff {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly exponent: number;
  readonly jitter: Jitter;
  readonly random: () => number;

  constructor(options: ExponentialBackoffOptions = {}) {
    const p = 'exponentialBackoff';
    this.initialDelayMs = checkTimerDuration(p, 'initialDelayMs', options.initialDelayMs, 100);
    this.maxDelayMs = checkTimerDuration(p, 'maxDelayMs', options.maxDelayMs, Math.max(30_000, this.initialDelayMs));
    if (this.maxDelayMs < this.initialDelayMs) {
      throw new LabcoatInputError(`${p} option "maxDelayMs"`, `must be ≥ initialDelayMs (${this.initialDelayMs}); got ${this.maxDelayMs}`);
    }
    this.exponent = checkRatio(p, 'exponent', options.exponent, 2, 1, 1e6);
    this.jitter = checkChoice(p, 'jitter', options.jitter, 'full', JITTERS);
    this.random = checkFunction(p, 'random', options.random) ?? Math.random;
  }

  next(_info?: BackoffInfo): BackoffState {
    return new ExponentialState(this, 0, this.initialDelayMs);
  }

  /** The capped, un-jittered delay before retry `n` (0-based). */
  ceiling(n: number): number {
    const base = this.initialDelayMs;
    if (base === 0) return 0;
    const raw = base * this.exponent ** n;
    return raw < this.maxDelayMs ? raw : this.maxDelayMs;
  }
}

class ExponentialState implements BackoffState {
  readonly delayMs: number;
  constructor(
    private readonly config: ExponentialBackoff,
    /** 0-based index of the retry this state is for. */
    private readonly n: number,
    /** The previous delay (decorrelated jitter grows from it). */
    previous: number,
  ) {
    const c = config;
    switch (c.jitter) {
      case 'none':
        this.delayMs = c.ceiling(n);
        break;
      case 'full':
        this.delayMs = c.random() * c.ceiling(n);
        break;
      case 'equal': {
        const v = c.ceiling(n) / 2;
        this.delayMs = v + c.random() * v;
        break;
      }
      case 'decorrelated': {
        const base = c.initialDelayMs;
        const d = base + c.random() * (previous * 3 - base);
        this.delayMs = d < c.maxDelayMs ? d : c.maxDelayMs;
        break;
      }
    }
  }
  next(_info?: BackoffInfo): BackoffState {
    return new ExponentialState(this.config, this.n + 1, this.delayMs);
  }
}

/**
 * Exponential backoff with a cap and jitter (default: 100 ms base, ×2, 30 s cap, full jitter).
 *
 * @example
 * const policy = retry({
 *   maxAttempts: 5,
 *   backoff: exponentialBackoff({ initialDelayMs: 50, maxDelayMs: 2000, jitter: 'decorrelated' }),
 * });
 */
export function exponentialBackoff(options: ExponentialBackoffOptions = {}): ExponentialBackoff {
  return new ExponentialBackoff(options);
}

/** @internal Turns a `backoff` option (a strategy, or a number of ms meaning a constant delay) into a strategy. */
export function toBackoff(policy: string, value: Backoff | number | undefined, fallback: Backoff): Backoff {
  if (value === undefined) return fallback;
  if (typeof value === 'number') return new ConstantBackoff(checkTimerDuration(policy, 'backoff', value, 0));
  if (value === null || typeof value !== 'object' || typeof value.next !== 'function') {
    throw new LabcoatInputError(`${policy} option "backoff"`, 'must be a number of milliseconds or a backoff strategy (an object with next())');
  }
  return value;
}

/** @internal A duration a timer can wait: {@link checkDuration} plus the `setTimeout` limit. */
export function checkTimerDuration(policy: string, option: string, value: number | undefined, fallback: number): number {
  const v = checkDuration(policy, option, value, fallback);
  if (v > MAX_DELAY_MS) throw new LabcoatInputError(`${policy} option "${option}"`, `must be ≤ ${MAX_DELAY_MS} ms (the longest timer); got ${v}`);
  return v;
}
