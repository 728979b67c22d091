import { ATTR, LabcoatInputError } from '@labcoat/core';
import { checkTimerDuration, exponentialBackoff, MAX_DELAY_MS, toBackoff, type Backoff } from './backoff.js';
import { EventEmitter, type Event } from './events.js';
import { handleAll, type FailureClassifier } from './handle.js';
import { BasePolicy, type CommonPolicyOptions, type PolicyContext, type PolicyFn } from './policy.js';
import { RetryBudget } from './retry-budget.js';
import { abortError, sleep } from './signals.js';
import { Outcome } from './stats.js';
import { checkInteger } from './validate.js';

/** A failed attempt: what it threw, or the result the classifier counts as a failure. */
export type RetryReason = { readonly error: unknown } | { readonly value: unknown };

/** Options of {@link RetryPolicy}. */
export interface RetryOptions extends CommonPolicyOptions {
  /** Attempts in all, the first included: ≥ 1, or `Infinity` (default 3). Give this or `maxRetries`. */
  maxAttempts?: number;
  /** Retries after the first attempt: ≥ 0, or `Infinity` (same as `maxAttempts: maxRetries + 1`). */
  maxRetries?: number;
  /**
   * Wait before each retry: a strategy from `backoff.ts`, or a number of ms for a constant delay
   * (default: `exponentialBackoff()`, 100 ms doubling up to 30 s, full jitter).
   */
  backoff?: Backoff | number;
  /** Which errors and results are retried (default `handleAll`: every error, no result). */
  handle?: FailureClassifier;
  /** Limits retries to a share of calls, possibly across policies. Refused retries end the execution. */
  budget?: RetryBudget;
  /**
   * Wait at least as long as a `Retry-After` the failure carries (default true): a `retry-after`
   * header on the error or result (`headers` as an object or a fetch `Headers`, also under
   * `response`), in seconds or as an HTTP date, or an error's `retryAfterMs` (`RateLimitedError`).
   */
  honorRetryAfter?: boolean;
  /** The longest Retry-After honoured; longer ones are cut to this (default 60 000 ms). */
  maxRetryAfterMs?: number;
}

/** Emitted before waiting for a retry. */
export interface RetryEvent {
  /** Number of the attempt about to be made (2 for the first retry). */
  readonly attempt: number;
  /** How long it waits first (backoff, or the Retry-After when longer). */
  readonly delayMs: number;
  /** What the previous attempt failed with. */
  readonly reason: RetryReason;
}

/** Emitted when a retry policy stops retrying a failing execution. */
export interface GiveUpEvent {
  /** Attempts made. */
  readonly attempts: number;
  /** What the last attempt failed with (the execution ends with it). */
  readonly reason: RetryReason;
  /** Why it stopped: attempts exhausted, or the retry budget refused the next one. */
  readonly cause: 'maxAttempts' | 'budget';
}

/**
 * Retries failing executions. Each attempt gets `ctx.attempt` (1-based) and the caller's signal;
 * between attempts it waits the backoff's delay (or a longer Retry-After), and an abort during the
 * wait ends the execution at once with the abort's reason.
 *
 * Failures the classifier does not handle pass through at once. When the last allowed attempt fails
 * (or the budget refuses a retry), the execution ends as that attempt did: it rethrows its error,
 * or, for a result the classifier counts as a failure, **returns that result** (as cockatiel does:
 * the caller still gets the last response, say the final 503, to inspect). Discarded failing
 * results that hold a response body (fetch `Response`, undici `request` result) have it cancelled
 * so their connection is freed.
 *
 * @example
 * const policy = retry({
 *   maxAttempts: 4,
 *   backoff: exponentialBackoff({ initialDelayMs: 50, maxDelayMs: 2000 }),
 *   handle: handleHttp,
 *   budget: new RetryBudget({ ratio: 0.2 }),
 * });
 * policy.onRetry(({ attempt, delayMs }) => console.log(`attempt ${attempt} in ${delayMs} ms`));
 * const res = await policy.execute(({ signal }) => fetch(url, { signal }));
 */
export class RetryPolicy extends BasePolicy {
  readonly kind = 'retry' as const;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly handle: FailureClassifier;
  readonly budget: RetryBudget | undefined;
  readonly honorRetryAfter: boolean;
  readonly maxRetryAfterMs: number;
  private readonly retryEmitter = new EventEmitter<RetryEvent>();
  private readonly giveUpEmitter = new EventEmitter<GiveUpEvent>();
  /** Fires before each retry's wait. */
  readonly onRetry: Event<RetryEvent> = this.retryEmitter.event;
  /** Fires when the policy stops retrying a still-failing execution. */
  readonly onGiveUp: Event<GiveUpEvent> = this.giveUpEmitter.event;

  constructor(options: RetryOptions = {}) {
    super('retry', options);
    const p = 'retry';
    if (options.maxAttempts !== undefined && options.maxRetries !== undefined) {
      throw new LabcoatInputError(`${p} option "maxAttempts"`, 'give maxAttempts or maxRetries, not both');
    }
    this.maxAttempts =
      options.maxRetries !== undefined ? checkInteger(p, 'maxRetries', options.maxRetries, 2, 0, Infinity) + 1 : checkInteger(p, 'maxAttempts', options.maxAttempts, 3, 1, Infinity);
    this.backoff = toBackoff(p, options.backoff, DEFAULT_BACKOFF);
    const handle = options.handle ?? handleAll;
    if (handle === null || typeof handle !== 'object' || typeof handle.error !== 'function' || typeof handle.result !== 'function') {
      throw new LabcoatInputError(`${p} option "handle"`, 'must be a FailureClassifier ({ error(e), result(v) }), e.g. handleAll or handleHttp');
    }
    this.handle = handle;
    if (options.budget !== undefined && !(options.budget instanceof RetryBudget)) {
      throw new LabcoatInputError(`${p} option "budget"`, 'must be a RetryBudget');
    }
    this.budget = options.budget;
    if (options.honorRetryAfter !== undefined && typeof options.honorRetryAfter !== 'boolean') {
      throw new LabcoatInputError(`${p} option "honorRetryAfter"`, `must be true or false; got ${String(options.honorRetryAfter)}`);
    }
    this.honorRetryAfter = options.honorRetryAfter ?? true;
    this.maxRetryAfterMs = checkTimerDuration(p, 'maxRetryAfterMs', options.maxRetryAfterMs, 60_000);
  }

  run<T>(fn: PolicyFn<T>, ctx: PolicyContext): Promise<T> {
    const start = this.startTime();
    const signal = ctx.signal;
    if (signal.aborted) return this.rejectCancelled(ctx, start, signal);
    this.budget?.recordCall();
    const c = ctx.attempt === 1 ? ctx : { signal, attempt: 1, hedge: ctx.hedge, span: ctx.span };
    // The first attempt without an async function: most calls succeed the first time, and a
    // plain then costs less than an async frame. Everything after a failure is in `retrying`.
    let first: PromiseLike<T> | T;
    try {
      first = fn(c);
    } catch (error) {
      // Thrown synchronously: decided (and the wait before the retry started) synchronously too.
      try {
        return this.afterError(fn, ctx, start, error);
      } catch (failure) {
        return Promise.reject(failure);
      }
    }
    return Promise.resolve(first).then(
      (value) => {
        let handled: boolean;
        try {
          handled = this.handle.result(value);
        } catch (error) {
          return this.afterError(fn, ctx, start, error);
        }
        return handled ? this.retrying(fn, ctx, start, { value }) : this.succeeded(ctx, start, 1, value);
      },
      (error: unknown) => this.afterError(fn, ctx, start, error),
    );
  }

  private afterError<T>(fn: PolicyFn<T>, ctx: PolicyContext, start: number, error: unknown): Promise<T> {
    if (!this.handle.error(error)) return this.fail(ctx, start, 1, error, false);
    return this.retrying(fn, ctx, start, { error });
  }

  private succeeded<T>(ctx: PolicyContext, start: number, attempt: number, value: T): T {
    ctx.span?.setAttribute(ATTR.retryAttempts, attempt);
    // The duration is only for the (sampled) latency statistics and success listeners.
    if (this.successListened || this.latencySampled(start)) {
      const end = this.now();
      const d = end - start;
      this.stats.record(Outcome.success, d, end);
      this.emitSuccess(d);
    } else this.stats.record(Outcome.success, -1, start);
    return value;
  }

  /** Attempt 1 failed with `first` (a handled failure): waits, retries, gives up. */
  private async retrying<T>(fn: PolicyFn<T>, ctx: PolicyContext, start: number, first: RetryReason): Promise<T> {
    const signal = ctx.signal;
    let attempt = 1;
    let state: Backoff = this.backoff;
    let reason = first;
    for (;;) {
      if (signal.aborted) {
        discard(reason);
        return this.cancelled(ctx, start, attempt, signal);
      }
      const cause = attempt >= this.maxAttempts ? 'maxAttempts' : this.budget !== undefined && !this.budget.tryRetry() ? 'budget' : undefined;
      if (cause !== undefined) {
        if (this.giveUpEmitter.size > 0) this.giveUpEmitter.emit({ attempts: attempt, reason, cause });
        if ('error' in reason) return this.fail(ctx, start, attempt, reason.error, true);
        const end = this.now();
        const d = end - start;
        ctx.span?.setAttribute(ATTR.retryAttempts, attempt);
        this.stats.record(Outcome.failure, d, end);
        this.emitFailure(d, true, reason);
        return reason.value as T;
      }
      const next = state.next({ attempt, reason });
      state = next;
      const delayMs = this.delayFor(next.delayMs, reason);
      if (this.retryEmitter.size > 0) this.retryEmitter.emit({ attempt: attempt + 1, delayMs, reason });
      discard(reason);
      try {
        await sleep(delayMs, signal, this.name);
      } catch {
        return this.cancelled(ctx, start, attempt, signal);
      }
      attempt++;
      this.stats.record(Outcome.retry);
      const c: PolicyContext = { signal, attempt, hedge: ctx.hedge, span: ctx.span };
      try {
        const value = await fn(c);
        if (!this.handle.result(value)) return this.succeeded(ctx, start, attempt, value);
        reason = { value };
      } catch (error) {
        if (!this.handle.error(error)) return this.fail(ctx, start, attempt, error, false);
        reason = { error };
      }
    }
  }

  /** An execution whose caller gave up before it started. */
  private rejectCancelled<T>(ctx: PolicyContext, start: number, signal: AbortSignal): Promise<T> {
    try {
      return this.cancelled(ctx, start, 0, signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The wait before the next attempt: the backoff's delay, or the failure's Retry-After (capped) when longer. */
  private delayFor(backoffMs: number, reason: RetryReason): number {
    let delay = backoffMs > 0 ? backoffMs : 0; // also turns NaN from a custom backoff into 0
    if (this.honorRetryAfter) {
      const ra = retryAfterMs('error' in reason ? reason.error : reason.value, this.now());
      if (ra !== undefined) {
        const capped = ra < this.maxRetryAfterMs ? ra : this.maxRetryAfterMs;
        if (capped > delay) delay = capped;
      }
    }
    return delay < MAX_DELAY_MS ? delay : MAX_DELAY_MS;
  }

  private fail(ctx: PolicyContext, start: number, attempts: number, error: unknown, handled: boolean): never {
    const end = this.now();
    const d = end - start;
    ctx.span?.setAttribute(ATTR.retryAttempts, attempts);
    this.stats.record(Outcome.failure, d, end);
    this.emitFailure(d, handled, { error });
    throw error;
  }

  private cancelled(ctx: PolicyContext, start: number, attempts: number, signal: AbortSignal): never {
    const error = abortError(signal, this.name);
    const end = this.now();
    const d = end - start;
    if (attempts > 0) ctx.span?.setAttribute(ATTR.retryAttempts, attempts);
    this.stats.record(Outcome.cancelled, d, end);
    this.emitFailure(d, false, { error });
    throw error;
  }
}

const DEFAULT_BACKOFF = exponentialBackoff();

/**
 * Makes a {@link RetryPolicy}.
 *
 * @example
 * const policy = retry({ maxRetries: 2, backoff: constantBackoff(100), handle: handleType(NetworkError) });
 * const user = await policy.execute(({ attempt }) => loadUser(id, { attempt }));
 */
export function retry(options: RetryOptions = {}): RetryPolicy {
  return new RetryPolicy(options);
}

/**
 * The Retry-After a failure carries, in ms from `nowMs`, if any: an error's `retryAfterMs`, or a
 * `retry-after` header (seconds or HTTP date) on `headers` (a plain object, or anything with
 * `get()`: fetch `Headers`, axios headers) or on `response.headers` (axios errors).
 *
 * @example
 * retryAfterMs(new InjectedStatusError(503, { 'retry-after': '2' }, ''), Date.now()); // 2000
 */
export function retryAfterMs(failure: unknown, nowMs: number): number | undefined {
  if (failure === null || typeof failure !== 'object') return undefined;
  const f = failure as { retryAfterMs?: unknown; headers?: unknown; response?: unknown };
  if (typeof f.retryAfterMs === 'number') return f.retryAfterMs >= 0 && Number.isFinite(f.retryAfterMs) ? f.retryAfterMs : undefined;
  let header = headerOf(f.headers);
  if (header === undefined && f.response !== null && typeof f.response === 'object') header = headerOf((f.response as { headers?: unknown }).headers);
  return header === undefined ? undefined : parseRetryAfter(header, nowMs);
}

function headerOf(headers: unknown): unknown {
  if (headers === null || typeof headers !== 'object') return undefined;
  const h = headers as Record<string, unknown> & { get?: unknown };
  if (typeof h.get === 'function') {
    try {
      const v: unknown = (h.get as (name: string) => unknown).call(h, 'retry-after');
      if (v !== undefined && v !== null) return v;
    } catch {
      // not a headers object after all
    }
  }
  const direct = h['retry-after'] ?? h['Retry-After'];
  if (direct !== undefined) return direct;
  for (const key of Object.keys(h)) if (key.toLowerCase() === 'retry-after') return h[key];
  return undefined;
}

/**
 * Parses a Retry-After value (RFC 9110 §10.2.3): delay-seconds or an HTTP date, into ms from
 * `nowMs` (a past date gives 0). Undefined when it is neither.
 *
 * @example
 * parseRetryAfter('120', Date.now()); // 120000
 * parseRetryAfter('Wed, 21 Oct 2037 07:28:00 GMT', Date.now()); // ms until then
 */
export function parseRetryAfter(value: unknown, nowMs: number): number | undefined {
  const v = Array.isArray(value) ? (value[0] as unknown) : value;
  if (typeof v === 'number') return v >= 0 && Number.isFinite(v) ? v * 1000 : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  if (!/[a-z]/i.test(s)) return undefined; // not a date either (negative numbers, garbage)
  const t = Date.parse(s);
  if (Number.isNaN(t)) return undefined;
  return t > nowMs ? t - nowMs : 0;
}

/** Frees the body of a failing response that will not be returned, so its connection is released. */
function discard(reason: RetryReason): void {
  if (!('value' in reason)) return;
  const v = reason.value;
  if (v === null || typeof v !== 'object') return;
  const body = (v as { body?: unknown }).body;
  if (body === null || typeof body !== 'object') return;
  try {
    const b = body as { cancel?: () => Promise<void>; dump?: () => Promise<void>; locked?: boolean };
    if (typeof b.cancel === 'function' && b.locked !== true) b.cancel().catch(noop);
    else if (typeof b.dump === 'function') b.dump().catch(noop);
  } catch {
    // whatever the body is, freeing it is best effort
  }
}

function noop(): void {}
