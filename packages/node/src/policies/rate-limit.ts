import { ATTR, LabcoatInputError } from '@labcoat/core';
import { RateLimitedError } from './errors.js';
import { EventEmitter, type Event } from './events.js';
import { BasePolicy, invoke, NEVER, type CommonPolicyOptions, type PolicyContext, type PolicyFn } from './policy.js';
import { abortError, addAbortListener, removeAbortListener } from './signals.js';
import { Outcome } from './stats.js';
import { checkChoice, checkDuration, checkInteger } from './validate.js';

/** Options of {@link rateLimit}. */
export interface RateLimitOptions extends CommonPolicyOptions {
  /** Sustained rate: tokens added per second, continuously (> 0; fractions allowed: 0.5 = one every 2 s). */
  ratePerSec: number;
  /** Bucket size: how many calls may go at once after a quiet period (whole number ≥ 1; default ⌈ratePerSec⌉). */
  burst?: number;
  /**
   * What a call does when the bucket is empty: `reject` (default) fails at once with a
   * `RateLimitedError`; `wait` queues it, first in first out, until a token comes.
   */
  mode?: 'reject' | 'wait';
  /**
   * `wait` mode only: the longest a call may wait for its token (ms, `Infinity` allowed; default
   * 5 000). A call that would wait longer is refused at once, with the wait it would have had as
   * `retryAfterMs`.
   */
  maxWaitMs?: number;
}

/** Emitted when the limiter refuses a call. */
export interface RateLimitRejectEvent {
  /** When the call would get a token. */
  readonly retryAfterMs: number;
}

/** A call waiting for a token: a node of the limiter's doubly linked FIFO queue. */
class Waiter<T> {
  prev: Waiter<unknown> | undefined = undefined;
  next: Waiter<unknown> | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  resolve!: (value: T | PromiseLike<T>) => void;
  reject!: (error: unknown) => void;
  constructor(
    readonly fn: PolicyFn<T>,
    readonly ctx: PolicyContext,
    readonly start: number,
  ) {}
}

/** Tolerance for floating-point refill arithmetic. */
const EPSILON = 1e-9;

/**
 * A token bucket: `ratePerSec` tokens a second, up to `burst` saved, one per call. The bucket is
 * refilled from the clock when a call arrives, so an idle limiter costs nothing and has no timer.
 *
 * In `reject` mode a call with no token fails at once with a {@link RateLimitedError} saying when to
 * retry. In `wait` mode it waits in a FIFO queue (a caller arriving later never overtakes one
 * already waiting, even if a token came in between) drained by a single timer, unless its wait
 * would exceed `maxWaitMs`, in which case it is refused at once; a waiting call whose signal aborts
 * leaves the queue at once. Refusals set `labcoat.ratelimit.rejected` on the span.
 *
 * @example
 * const limiter = rateLimit({ ratePerSec: 50, burst: 10, mode: 'wait', maxWaitMs: 1_000 });
 * const res = await limiter.execute(({ signal }) => fetch(url, { signal }));
 */
export class RateLimitPolicy extends BasePolicy {
  readonly kind = 'rate-limit' as const;
  readonly ratePerSec: number;
  readonly burst: number;
  readonly mode: 'reject' | 'wait';
  /** Longest wait for a token in `wait` mode (ms); 0 in `reject` mode. */
  readonly maxWaitMs: number;
  private readonly perMs: number;
  private tokens: number;
  private last: number;
  private waitingCount = 0;
  private head: Waiter<unknown> | undefined = undefined;
  private tail: Waiter<unknown> | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;
  private readonly rejectEmitter = new EventEmitter<RateLimitRejectEvent>();
  /** Fires when a call is refused. */
  readonly onReject: Event<RateLimitRejectEvent> = this.rejectEmitter.event;

  constructor(options: RateLimitOptions) {
    super('rate-limit', options);
    const o = options ?? ({} as RateLimitOptions);
    const rate = o.ratePerSec;
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
      throw new LabcoatInputError('rate-limit option "ratePerSec"', `must be a finite number > 0; got ${rate === undefined ? 'nothing' : String(rate)}`);
    }
    this.ratePerSec = rate;
    this.perMs = rate / 1000;
    this.burst = checkInteger('rate-limit', 'burst', o.burst, Math.max(1, Math.ceil(rate)), 1);
    this.mode = checkChoice('rate-limit', 'mode', o.mode, 'reject', ['reject', 'wait']);
    if (this.mode === 'reject' && o.maxWaitMs !== undefined) {
      throw new LabcoatInputError('rate-limit option "maxWaitMs"', 'only applies to mode "wait"');
    }
    this.maxWaitMs = this.mode === 'reject' ? 0 : o.maxWaitMs === Infinity ? Infinity : checkDuration('rate-limit', 'maxWaitMs', o.maxWaitMs, 5_000);
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** Tokens in the bucket right now (fractional while refilling). */
  get availableTokens(): number {
    this.refill(this.now());
    return this.tokens;
  }

  /** Calls waiting for a token (`wait` mode). */
  get waiting(): number {
    return this.waitingCount;
  }

  run<T>(fn: PolicyFn<T>, ctx: PolicyContext): Promise<T> {
    const start = this.startTime();
    if (ctx.signal.aborted) return Promise.reject(this.cancelledError(ctx.signal, start));
    this.refill(start);
    if (this.waitingCount === 0 && this.tokens >= 1 - EPSILON) {
      this.take();
      return this.start(fn, ctx, start);
    }
    // The n-th call in line gets its token once n tokens have accumulated, at a constant rate.
    const waitMs = (this.waitingCount + 1 - this.tokens) / this.perMs;
    if (this.mode === 'reject' || waitMs > this.maxWaitMs) {
      ctx.span?.setAttribute(ATTR.rateLimited, true);
      this.stats.record(Outcome.rejected, this.now() - start);
      if (this.rejectEmitter.size > 0) this.rejectEmitter.emit({ retryAfterMs: waitMs });
      return Promise.reject(new RateLimitedError(this.name, waitMs));
    }
    return this.enqueue(fn, ctx, start);
  }

  /**
   * Adds the tokens earned since the last refill. The bucket holds `burst`, plus one per waiter: a
   * drain timer that fires late must not cost the waiters the tokens they were due meanwhile.
   */
  private refill(t: number): void {
    if (t > this.last) {
      const tokens = this.tokens + (t - this.last) * this.perMs;
      const cap = this.burst + this.waitingCount;
      this.tokens = tokens < cap ? tokens : cap;
      this.last = t;
    }
  }

  private take(): void {
    const left = this.tokens - 1;
    this.tokens = left > 0 ? left : 0;
  }

  private start<T>(fn: PolicyFn<T>, ctx: PolicyContext, start: number): Promise<T> {
    return invoke(fn, ctx).then(
      (value) => {
        const end = this.now();
        const d = end - start;
        this.stats.record(Outcome.success, d, end);
        this.emitSuccess(d);
        return value;
      },
      (error: unknown) => {
        const end = this.now();
        const d = end - start;
        const cancelled = ctx.signal.aborted;
        this.stats.record(cancelled ? Outcome.cancelled : Outcome.failure, d, end);
        this.emitFailure(d, !cancelled, { error });
        throw error;
      },
    );
  }

  private enqueue<T>(fn: PolicyFn<T>, ctx: PolicyContext, start: number): Promise<T> {
    const w = new Waiter(fn, ctx, start);
    const promise = new Promise<T>((resolve, reject) => {
      w.resolve = resolve;
      w.reject = reject;
    });
    const node = w as Waiter<unknown>;
    node.prev = this.tail;
    if (this.tail === undefined) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    this.waitingCount++;
    const signal = ctx.signal;
    if (signal !== NEVER) {
      w.onAbort = () => {
        this.unlink(node);
        w.reject(this.cancelledError(signal, start));
      };
      addAbortListener(signal, w.onAbort);
    }
    this.schedule();
    return promise;
  }

  /** Arms the one drain timer for when the next token is due, if anyone waits and it is not armed. */
  private schedule(): void {
    if (this.timer !== undefined || this.head === undefined) return;
    const ms = Math.ceil((1 - this.tokens) / this.perMs - 1e-6);
    this.timer = setTimeout(this.drain, ms > 1 ? ms : 1);
  }

  /** Lets as many waiters go, oldest first, as there are tokens; re-arms for the rest. */
  private readonly drain = (): void => {
    this.timer = undefined;
    this.refill(this.now());
    while (this.head !== undefined && this.tokens >= 1 - EPSILON) {
      this.take();
      const w = this.head;
      this.unlink(w);
      w.resolve(this.start(w.fn, w.ctx, w.start));
    }
    if (this.tokens > this.burst) this.tokens = this.burst;
    this.schedule();
  };

  private unlink(w: Waiter<unknown>): void {
    if (w.prev === undefined) this.head = w.next;
    else w.prev.next = w.next;
    if (w.next === undefined) this.tail = w.prev;
    else w.next.prev = w.prev;
    w.prev = w.next = undefined;
    this.waitingCount--;
    if (w.onAbort !== undefined) {
      removeAbortListener(w.ctx.signal, w.onAbort);
      w.onAbort = undefined;
    }
    if (this.head === undefined && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private cancelledError(signal: AbortSignal, start: number): unknown {
    const error = abortError(signal, this.name);
    const end = this.now();
    const d = end - start;
    this.stats.record(Outcome.cancelled, d, end);
    this.emitFailure(d, false, { error });
    return error;
  }
}

/**
 * Makes a {@link RateLimitPolicy}.
 *
 * @example
 * // At most 5 calls a second to the partner API, bursts of 5, refuse the rest.
 * const partner = rateLimit({ ratePerSec: 5, name: 'partner-api' });
 * try {
 *   await partner.execute(() => callPartner());
 * } catch (e) {
 *   if (e instanceof RateLimitedError) res.setHeader('retry-after', Math.ceil(e.retryAfterMs / 1000));
 * }
 */
export function rateLimit(options: RateLimitOptions): RateLimitPolicy {
  return new RateLimitPolicy(options);
}
