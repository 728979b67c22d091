import { ATTR, LabcoatInputError } from '@labcoat/core';
import { isRejection } from './errors.js';
import { EventEmitter, type Event } from './events.js';
import { handleAll, type FailureClassifier } from './handle.js';
import { BasePolicy, type CommonPolicyOptions, type PolicyContext, type PolicyFn } from './policy.js';
import { abortError } from './signals.js';
import { Outcome } from './stats.js';

/** What the execution failed with: a thrown error, or a result the classifier counts as a failure. */
export type FallbackReason = { readonly error: unknown } | { readonly value: unknown };

/** Computes the fallback from the failure (sync or async). Its own error becomes the execution's. */
export type FallbackFn<R> = (reason: FallbackReason, context: PolicyContext) => R | PromiseLike<R>;

/** Options of {@link FallbackPolicy}. */
export interface FallbackOptions extends CommonPolicyOptions {
  /**
   * Which failures fall back (default `handleAll`: every error, no result). Refusals by a policy
   * (`BrokenCircuitError`, `BulkheadRejectedError`, `RateLimitedError`) always fall back, whatever
   * the classifier says: answering when the call could not be made is what a fallback is for.
   */
  handle?: FailureClassifier;
}

/** Emitted when the fallback is used. */
export interface FallbackEvent {
  readonly reason: FallbackReason;
}

/**
 * Answers for a failing execution: with a fixed value, or with what a function computes from the
 * failure. Outcomes are counted as `success` (no fallback needed), `fallbackSuccess`,
 * `fallbackFailure` (the fallback function threw; its error is the execution's), or `failure`
 * (a failure the classifier does not handle, passed through). A caller's abort is not fallen back
 * on: the execution rejects with the signal's reason.
 *
 * A function given as the fallback is always called, never returned as the value; to fall back to
 * a function, return it from one (`fallback(() => myFn)`). The fallback should produce the type
 * the calls return: `execute<T>` is typed by the call.
 *
 * `onSuccess` fires for results the fallback produced too; `onFallback` tells them apart.
 *
 * @example
 * const cached = new FallbackPolicy(() => cache.get(key), { handle: handleType(NetworkError) });
 * const user = await wrap(cached, retry({ maxAttempts: 3 }), timeout(500)).execute(({ signal }) => getUser(id, signal));
 */
export class FallbackPolicy<R = unknown> extends BasePolicy {
  readonly kind = 'fallback' as const;
  readonly handle: FailureClassifier;
  private readonly fallback: R | FallbackFn<R>;
  private readonly fallbackEmitter = new EventEmitter<FallbackEvent>();
  /** Fires when a failure is answered by the fallback (before the fallback function runs). */
  readonly onFallback: Event<FallbackEvent> = this.fallbackEmitter.event;

  constructor(valueOrFn: R | FallbackFn<R>, options: FallbackOptions = {}) {
    super('fallback', options);
    const handle = options.handle ?? handleAll;
    if (handle === null || typeof handle !== 'object' || typeof handle.error !== 'function' || typeof handle.result !== 'function') {
      throw new LabcoatInputError('fallback option "handle"', 'must be a FailureClassifier ({ error(e), result(v) }), e.g. handleAll or handleHttp');
    }
    this.handle = handle;
    this.fallback = valueOrFn;
  }

  async run<T>(fn: PolicyFn<T>, ctx: PolicyContext): Promise<T> {
    const start = this.startTime();
    let reason: FallbackReason;
    try {
      const value = await fn(ctx);
      if (!this.handle.result(value)) {
        const end = this.now();
        const d = end - start;
        this.stats.record(Outcome.success, d, end);
        this.emitSuccess(d);
        return value;
      }
      reason = { value };
    } catch (error) {
      if (!isRejection(error) && !this.handle.error(error)) {
        const end = this.now();
        const d = end - start;
        this.stats.record(Outcome.failure, d, end);
        this.emitFailure(d, false, { error });
        throw error;
      }
      reason = { error };
    }
    if (ctx.signal.aborted) {
      const error = abortError(ctx.signal, this.name);
      const end = this.now();
      const d = end - start;
      this.stats.record(Outcome.cancelled, d, end);
      this.emitFailure(d, false, { error });
      throw error;
    }
    if (this.fallbackEmitter.size > 0) this.fallbackEmitter.emit({ reason });
    let result: R;
    try {
      result = typeof this.fallback === 'function' ? await (this.fallback as FallbackFn<R>)(reason, ctx) : this.fallback;
    } catch (error) {
      const end = this.now();
      const d = end - start;
      this.stats.record(Outcome.fallbackFailure, d, end);
      this.emitFailure(d, true, { error });
      throw error;
    }
    const end = this.now();
    const d = end - start;
    ctx.span?.setAttribute(ATTR.fallback, true);
    this.stats.record(Outcome.fallbackSuccess, d, end);
    this.emitSuccess(d);
    return result as unknown as T;
  }
}

/**
 * Makes a {@link FallbackPolicy}: `fallback(value)` or `fallback((reason, ctx) => value)`.
 *
 * @example
 * const safe = wrap(fallback({ items: [] }), circuitBreaker(), timeout(300));
 * const list = await safe.execute(({ signal }) => fetchItems(signal)); // { items: [] } when open or slow
 */
export function fallback<R>(valueOrFn: R | FallbackFn<R>, options: FallbackOptions = {}): FallbackPolicy<R> {
  return new FallbackPolicy(valueOrFn, options);
}
