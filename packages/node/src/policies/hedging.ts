import { ATTR, LabcoatInputError } from '@labcoat/core';
import { nowMs } from '../clock.js';
import { CancelledError } from './errors.js';
import { EventEmitter, type Event } from './events.js';
import { handleAll, type FailureClassifier } from './handle.js';
import { BasePolicy, invoke, NEVER, type CommonPolicyOptions, type PolicyContext, type PolicyFn } from './policy.js';
import { abortError, addAbortListener, removeAbortListener } from './signals.js';
import { Outcome } from './stats.js';
import { checkDuration, checkFunction, checkInteger, checkRatio } from './validate.js';

/** Options of a {@link HedgeBudget}. */
export interface HedgeBudgetOptions {
  /** Hedges allowed per call made, over the window (0–1: 0.1 = at most one hedge per ten calls). */
  ratio: number;
  /** Hedges allowed per second of window whatever the traffic, so quiet services can still hedge (≥ 0, default 1). */
  minPerSec?: number;
  /** The sliding window calls and hedges are counted over (ms, default 10 000, in 10 buckets). */
  windowMs?: number;
  /** Millisecond clock (default: high resolution). The hedging policy passes its own. */
  now?: () => number;
}

const BUDGET_BUCKETS = 10;

/**
 * Caps hedges to a share of the traffic, as Finagle's retry budget does: over a sliding window,
 * hedges sent ≤ `ratio` × calls + `minPerSec` × window seconds. Hedging multiplies the load on a
 * dependency exactly when it is slow; the budget keeps that extra load to a known fraction.
 * Counting is O(1) and allocation free. One budget may be shared by several hedging policies.
 *
 * @example
 * const budget = new HedgeBudget({ ratio: 0.05, minPerSec: 2 });
 * const a = hedging({ delayMs: 50, budget });
 * const b = hedging({ delayMs: 80, budget });
 */
export class HedgeBudget {
  readonly ratio: number;
  readonly minPerSec: number;
  readonly windowMs: number;
  private readonly reserve: number;
  private readonly bucketMs: number;
  private readonly now: () => number;
  private readonly calls = new Float64Array(BUDGET_BUCKETS);
  private readonly hedges = new Float64Array(BUDGET_BUCKETS);
  private slot = -Infinity;
  private callSum = 0;
  private hedgeSum = 0;

  constructor(options: HedgeBudgetOptions) {
    const o = options ?? ({} as HedgeBudgetOptions);
    if (o.ratio === undefined) throw new LabcoatInputError('hedging option "budget.ratio"', 'is required: a number from 0 to 1');
    this.ratio = checkRatio('hedging', 'budget.ratio', o.ratio, 0.1);
    this.minPerSec = checkRatio('hedging', 'budget.minPerSec', o.minPerSec, 1, 0, Number.MAX_SAFE_INTEGER);
    this.windowMs = checkDuration('hedging', 'budget.windowMs', o.windowMs, 10_000, 1);
    this.now = checkFunction('hedging', 'budget.now', o.now) ?? nowMs;
    this.reserve = (this.minPerSec * this.windowMs) / 1000;
    this.bucketMs = this.windowMs / BUDGET_BUCKETS;
  }

  /** Counts one call (one hedged execution, whatever the number of attempts it sends). */
  deposit(): void {
    this.advance();
    this.calls[this.slot % BUDGET_BUCKETS]!++;
    this.callSum++;
  }

  /** Takes one hedge if the budget has room for it. */
  tryWithdraw(): boolean {
    this.advance();
    if (this.hedgeSum + 1 > this.ratio * this.callSum + this.reserve + 1e-9) return false;
    this.hedges[this.slot % BUDGET_BUCKETS]!++;
    this.hedgeSum++;
    return true;
  }

  /** Hedges that could be sent right now. */
  get available(): number {
    this.advance();
    return Math.max(0, Math.floor(this.ratio * this.callSum + this.reserve + 1e-9 - this.hedgeSum));
  }

  /** Moves the window to now, dropping the buckets that left it. */
  private advance(): void {
    const slot = Math.floor(this.now() / this.bucketMs);
    if (slot <= this.slot) return;
    if (slot - this.slot >= BUDGET_BUCKETS) {
      this.calls.fill(0);
      this.hedges.fill(0);
      this.callSum = 0;
      this.hedgeSum = 0;
    } else {
      for (let s = this.slot + 1; s <= slot; s++) {
        const i = s % BUDGET_BUCKETS;
        this.callSum -= this.calls[i]!;
        this.hedgeSum -= this.hedges[i]!;
        this.calls[i] = 0;
        this.hedges[i] = 0;
      }
    }
    this.slot = slot;
  }
}

/** Options of {@link hedging}. */
export interface HedgingOptions extends CommonPolicyOptions {
  /**
   * How long to wait for an answer before sending the next attempt (ms). `0` sends them all at
   * once; `Infinity` sends the next one only when the previous failed. Pick about the p90–p99
   * latency of the dependency.
   */
  delayMs: number;
  /** Attempts in all, the first included (1–10, default 2). */
  maxAttempts?: number;
  /**
   * Caps hedges to a share of the calls: options for a {@link HedgeBudget}, one to share between
   * policies, or `false` for no cap. Default: 10% of the calls plus 1 a second, over 10 s.
   */
  budget?: HedgeBudgetOptions | HedgeBudget | false;
  /** Which answers are failures, to be hedged over (default: every error, no result). */
  handle?: FailureClassifier;
}

/** Emitted when a hedged attempt is sent. */
export interface HedgeEvent {
  /** Its index (1 = the first hedge). */
  readonly hedge: number;
  /** `delay`: no answer after `delayMs`; `failure`: an earlier attempt failed. */
  readonly reason: 'delay' | 'failure';
  /** Time since the execution started. */
  readonly elapsedMs: number;
}

/** State of one hedged execution. */
class HedgeRun<T> {
  readonly controllers: AbortController[] = [];
  sent = 0;
  pending = 0;
  /** Bit i set: attempt i has settled. */
  settledMask = 0;
  done = false;
  timer: NodeJS.Timeout | undefined = undefined;
  lastIsError = false;
  last: unknown = undefined;
  onAbort: (() => void) | undefined = undefined;
  constructor(
    readonly fn: PolicyFn<T>,
    readonly ctx: PolicyContext,
    readonly start: number,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}

/**
 * Hedged requests, as in Polly v8 and gRPC: send the call; if no answer came after `delayMs`, send
 * it again (to another replica, if the transport balances), up to `maxAttempts` in all; the first
 * successful answer wins and the others are aborted through their signals (`ctx.hedge` says which
 * attempt a function runs as). A failed attempt sends the next one at once instead of waiting for
 * the delay. If every attempt fails, the last failure is the outcome. A budget caps hedges to a
 * share of the calls, so hedging cannot multiply the load on a dependency that is already slow.
 *
 * Losers' results and rejections are swallowed. Only idempotent calls should be hedged. Spans get
 * `labcoat.hedge.attempts` (attempts sent) and `labcoat.hedge.winner` (the index that won).
 *
 * @example
 * const hedge = hedging({ delayMs: 80, maxAttempts: 3, budget: { ratio: 0.1 } });
 * hedge.onHedge(({ hedge, reason }) => metrics.inc('hedges', { reason }));
 * const res = await hedge.execute(({ signal }) => fetch(replicaUrl(), { signal }));
 */
export class HedgingPolicy extends BasePolicy {
  readonly kind = 'hedging' as const;
  readonly delayMs: number;
  readonly maxAttempts: number;
  /** The budget in use, if any. */
  readonly budget: HedgeBudget | undefined;
  private readonly handle: FailureClassifier;
  private readonly hedgeEmitter = new EventEmitter<HedgeEvent>();
  /** Fires when a hedged attempt is sent. */
  readonly onHedge: Event<HedgeEvent> = this.hedgeEmitter.event;

  constructor(options: HedgingOptions) {
    super('hedging', options);
    const o = options ?? ({} as HedgingOptions);
    if (o.delayMs === undefined) throw new LabcoatInputError('hedging option "delayMs"', 'is required: milliseconds ≥ 0 (or Infinity)');
    this.delayMs = o.delayMs === Infinity ? Infinity : checkDuration('hedging', 'delayMs', o.delayMs, 0);
    this.maxAttempts = checkInteger('hedging', 'maxAttempts', o.maxAttempts, 2, 1, 10);
    const h = o.handle;
    if (h !== undefined && (h === null || typeof h.error !== 'function' || typeof h.result !== 'function')) {
      throw new LabcoatInputError('hedging option "handle"', 'must be a failure classifier ({ error(e), result(v) }, e.g. handleType(...))');
    }
    this.handle = h ?? handleAll;
    const b = o.budget;
    if (b === false) this.budget = undefined;
    else if (b instanceof HedgeBudget) this.budget = b;
    else if (b === undefined) this.budget = new HedgeBudget({ ratio: 0.1, now: this.now });
    else if (typeof b === 'object' && b !== null) this.budget = new HedgeBudget({ now: this.now, ...b });
    else throw new LabcoatInputError('hedging option "budget"', 'must be { ratio, minPerSec?, windowMs? }, a HedgeBudget or false');
  }

  run<T>(fn: PolicyFn<T>, ctx: PolicyContext): Promise<T> {
    const start = this.startTime();
    const signal = ctx.signal;
    if (signal.aborted) {
      const error = abortError(signal, this.name);
      this.stats.record(Outcome.cancelled, 0);
      this.emitFailure(0, false, { error });
      return Promise.reject(error);
    }
    this.budget?.deposit();
    return new Promise<T>((resolve, reject) => {
      const r = new HedgeRun(fn, ctx, start, resolve as (value: unknown) => void, reject);
      if (signal !== NEVER) {
        r.onAbort = () => this.cancel(r);
        addAbortListener(signal, r.onAbort);
      }
      this.launch(r, 'delay');
    });
  }

  /** Sends the next attempt and arms the delay for the one after. */
  private launch<T>(r: HedgeRun<T>, reason: HedgeEvent['reason']): void {
    const i = r.sent++;
    const c = new AbortController();
    r.controllers.push(c);
    r.pending++;
    if (i > 0) {
      this.stats.record(Outcome.retry);
      if (this.hedgeEmitter.size > 0) this.hedgeEmitter.emit({ hedge: i, reason, elapsedMs: this.now() - r.start });
    }
    const actx: PolicyContext = { signal: c.signal, attempt: r.ctx.attempt, hedge: i, span: r.ctx.span };
    invoke(r.fn, actx).then(
      (value) => this.answer(r, i, false, value),
      (error: unknown) => this.answer(r, i, true, error),
    );
    if (r.done || r.sent >= this.maxAttempts) return;
    if (this.delayMs === 0) this.hedge(r, 'delay');
    else if (this.delayMs !== Infinity) r.timer = setTimeout(this.onDelay, this.delayMs, r);
  }

  private readonly onDelay = (r: HedgeRun<unknown>): void => {
    r.timer = undefined;
    if (!r.done) this.hedge(r, 'delay');
  };

  /** Sends one more attempt if attempts and budget allow; says whether it did. */
  private hedge<T>(r: HedgeRun<T>, reason: HedgeEvent['reason']): boolean {
    if (r.sent >= this.maxAttempts) return false;
    if (this.budget !== undefined && !this.budget.tryWithdraw()) return false;
    this.launch(r, reason);
    return true;
  }

  /** An attempt settled: it wins, ends the execution, triggers the next hedge, or is swallowed. */
  private answer<T>(r: HedgeRun<T>, i: number, isError: boolean, x: unknown): void {
    r.pending--;
    r.settledMask |= 1 << i;
    if (r.done) return; // a loser: already aborted, its outcome is dropped
    let failed: boolean;
    try {
      failed = isError ? this.handle.error(x) : this.handle.result(x);
    } catch (classifierError) {
      this.finish(r, -1, true, classifierError, false);
      return;
    }
    if (!failed) {
      // A success, or an error the classifier does not hedge over: either way the answer.
      this.finish(r, isError ? -1 : i, isError, x, false);
      return;
    }
    r.lastIsError = isError;
    r.last = x;
    if (r.timer !== undefined) {
      clearTimeout(r.timer);
      r.timer = undefined;
    }
    if (this.hedge(r, 'failure')) return;
    if (r.pending === 0) this.finish(r, -1, isError, x, true);
  }

  /** Ends the execution with attempt `winner`'s answer (-1: no winner) and aborts the rest. */
  private finish<T>(r: HedgeRun<T>, winner: number, isError: boolean, x: unknown, handled: boolean): void {
    r.done = true;
    this.cleanup(r, undefined);
    const end = this.now();
    const d = end - r.start;
    const span = r.ctx.span;
    if (span !== undefined) {
      span.setAttribute(ATTR.hedgeAttempts, r.sent);
      if (winner >= 0) span.setAttribute(ATTR.hedgeWinner, winner);
    }
    if (winner >= 0) {
      this.stats.record(Outcome.success, d, end);
      this.emitSuccess(d);
      r.resolve(x);
      return;
    }
    this.stats.record(Outcome.failure, d);
    this.emitFailure(d, handled, isError ? { error: x } : { value: x });
    if (isError) r.reject(x);
    else r.resolve(x);
  }

  /** The caller gave up: abort every attempt and reject with its reason. */
  private cancel<T>(r: HedgeRun<T>): void {
    if (r.done) return;
    r.done = true;
    const signal = r.ctx.signal;
    r.onAbort = undefined; // registered with { once: true }: already removed
    this.cleanup(r, signal.reason);
    const error = abortError(signal, this.name);
    const end = this.now();
    const d = end - r.start;
    r.ctx.span?.setAttribute(ATTR.hedgeAttempts, r.sent);
    this.stats.record(Outcome.cancelled, d, end);
    this.emitFailure(d, false, { error });
    r.reject(error);
  }

  /** Clears the timer, unhooks from the caller's signal, aborts attempts still running. */
  private cleanup<T>(r: HedgeRun<T>, reason: unknown): void {
    if (r.timer !== undefined) {
      clearTimeout(r.timer);
      r.timer = undefined;
    }
    if (r.onAbort !== undefined) {
      removeAbortListener(r.ctx.signal, r.onAbort);
      r.onAbort = undefined;
    }
    if (r.pending === 0) return;
    const why = reason ?? new CancelledError(this.name, 'another hedged attempt answered first');
    const cs = r.controllers;
    for (let i = 0; i < cs.length; i++) {
      if ((r.settledMask & (1 << i)) === 0) cs[i]!.abort(why);
    }
  }
}

/**
 * Makes a {@link HedgingPolicy}.
 *
 * @example
 * // Ask a second replica when the first has not answered in 50 ms; at most 5% extra calls.
 * const fast = hedging({ delayMs: 50, budget: { ratio: 0.05 }, name: 'search' });
 * const hits = await fast.execute(({ signal, hedge }) => search(query, { signal, replica: hedge }));
 */
export function hedging(options: HedgingOptions): HedgingPolicy {
  return new HedgingPolicy(options);
}
