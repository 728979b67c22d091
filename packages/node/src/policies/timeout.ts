import { ATTR, LabcoatInputError } from '@labcoat/core';
import { checkTimerDuration } from './backoff.js';
import { TimeoutError } from './errors.js';
import { EventEmitter, type Event } from './events.js';
import { BasePolicy, invoke, NEVER, type CommonPolicyOptions, type PolicyContext, type PolicyFn } from './policy.js';
import { abortError, addAbortListener, LinkedController, removeAbortListener } from './signals.js';
import { Outcome } from './stats.js';
import { checkChoice } from './validate.js';

/**
 * How a timeout ends an execution that outlives its deadline. Both abort the signal handed to the
 * function (`ctx.signal`, reason: a {@link TimeoutError}); they differ in whether they wait for it.
 * - `aggressive`: rejects with the `TimeoutError` at the deadline, without waiting for the function.
 *   The deadline holds even for functions that ignore the signal (whose work then goes on unseen).
 * - `cooperative`: waits for the function to settle, then rejects with the `TimeoutError` if the
 *   deadline passed (even if the function succeeded late). Nothing runs on after the execution
 *   ends, but a function that ignores the signal makes the caller wait for it.
 */
export type TimeoutStrategy = 'cooperative' | 'aggressive';
const STRATEGIES: readonly TimeoutStrategy[] = ['cooperative', 'aggressive'];

/** Options of {@link TimeoutPolicy}. */
export interface TimeoutOptions extends CommonPolicyOptions {
  /** The deadline, in ms from the start of each execution (> 0, at most 2^31 − 1). */
  timeoutMs: number;
  /** What happens at the deadline (default `aggressive`): see {@link TimeoutStrategy}. */
  strategy?: TimeoutStrategy;
}

/** Emitted when an execution reaches its deadline. */
export interface TimeoutEvent {
  readonly timeoutMs: number;
  /** Time from the start of the execution to the deadline firing. */
  readonly durationMs: number;
}

/**
 * Gives each execution a deadline. The function gets a signal that aborts at the deadline (pass it
 * on to fetch, undici, drivers); what happens next depends on the {@link TimeoutStrategy}.
 *
 * Deadlines nest: the signal is linked to the enclosing context's, so an inner timeout never
 * outlives an outer one. When the outer deadline fires first, the inner execution ends with the
 * outer's `TimeoutError` (counted as `cancelled` by the inner policy, `timeout` by the outer).
 * When the caller's signal aborts, the execution rejects with its reason (promptly when
 * aggressive, once the function settles when cooperative) and counts as `cancelled`.
 *
 * @example
 * const deadline = new TimeoutPolicy({ timeoutMs: 500, strategy: 'cooperative' });
 * const res = await deadline.execute(({ signal }) => fetch(url, { signal }));
 */
export class TimeoutPolicy extends BasePolicy {
  readonly kind = 'timeout' as const;
  readonly timeoutMs: number;
  readonly strategy: TimeoutStrategy;
  private readonly timeoutEmitter = new EventEmitter<TimeoutEvent>();
  /** Fires when an execution reaches its deadline (before the function has necessarily stopped). */
  readonly onTimeout: Event<TimeoutEvent> = this.timeoutEmitter.event;

  constructor(options: TimeoutOptions) {
    const ok = options !== null && typeof options === 'object';
    super('timeout', ok ? options : {});
    if (!ok) throw new LabcoatInputError('timeout options', 'must be a number of milliseconds or an object with timeoutMs');
    const ms = options.timeoutMs;
    if (ms === undefined) throw new LabcoatInputError('timeout option "timeoutMs"', 'is required');
    this.timeoutMs = checkTimerDuration('timeout', 'timeoutMs', ms, 0);
    if (this.timeoutMs === 0) throw new LabcoatInputError('timeout option "timeoutMs"', 'must be > 0; got 0');
    this.strategy = checkChoice('timeout', 'strategy', options.strategy, 'aggressive', STRATEGIES);
  }

  run<T>(fn: PolicyFn<T>, ctx: PolicyContext): Promise<T> {
    const start = this.now();
    if (ctx.signal.aborted) {
      const error = abortError(ctx.signal, this.name);
      this.end(Outcome.cancelled, start, error);
      return Promise.reject(error);
    }
    const run = new TimeoutRun<T>(this, ctx, start);
    const done = invoke(fn, run.inner);
    return this.strategy === 'aggressive' ? run.race(done) : done.then((v) => run.settled(v), (e: unknown) => run.failed(e));
  }

  /** @internal Records how an execution ended (`error` is unused for a success). */
  end(outcome: typeof Outcome.success | typeof Outcome.failure | typeof Outcome.timeout | typeof Outcome.cancelled, start: number, error?: unknown): void {
    const end = this.now();
    const d = end - start;
    this.stats.record(outcome, d, end);
    if (outcome === Outcome.success) this.emitSuccess(d);
    else this.emitFailure(d, outcome !== Outcome.cancelled, { error });
  }

  /** @internal The deadline of `run` fired: span attribute and event. */
  fired(ctx: PolicyContext, start: number): void {
    ctx.span?.setAttribute(ATTR.timedOut, true);
    if (this.timeoutEmitter.size > 0) this.timeoutEmitter.emit({ timeoutMs: this.timeoutMs, durationMs: this.now() - start });
  }
}

/** One execution's state: its linked signal, its timer, and how it has ended so far. */
class TimeoutRun<T> {
  readonly inner: PolicyContext;
  private readonly link: LinkedController;
  private readonly timer: NodeJS.Timeout;
  /** The TimeoutError once the deadline fired. */
  private timeoutError: TimeoutError | undefined = undefined;
  /** True once the aggressive promise settled (a later settlement of the function is ignored). */
  private done = false;
  private resolve: ((value: T) => void) | undefined = undefined;
  private onParentAbort: (() => void) | undefined = undefined;
  private reject: ((error: unknown) => void) | undefined = undefined;

  constructor(
    private readonly policy: TimeoutPolicy,
    readonly ctx: PolicyContext,
    readonly start: number,
  ) {
    const link = (this.link = new LinkedController(ctx.signal));
    // The signal is made only if the function reads it (an own getter, so a spread copy keeps it).
    this.inner = {
      get signal() {
        return link.signal;
      },
      attempt: ctx.attempt,
      hedge: ctx.hedge,
      span: ctx.span,
    };
    this.timer = setTimeout(fire, policy.timeoutMs, this);
  }

  /** The deadline fired. */
  onDeadline(): void {
    // Done, or (cooperative) already cancelled by the caller: that is how it will end, not as a timeout.
    if (this.done || this.link.aborted) return;
    const error = new TimeoutError(this.policy.name, this.policy.timeoutMs);
    this.timeoutError = error;
    this.policy.fired(this.ctx, this.start);
    this.link.abort(error);
    if (this.reject !== undefined) this.finish(Outcome.timeout, error);
  }

  /** Aggressive: the first of the function, the deadline and the caller's signal decides. */
  race(done: Promise<T>): Promise<T> {
    const promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // The caller (or an outer deadline) giving up is heard on the parent signal, so the function's
    // own signal still need not exist.
    if (this.ctx.signal !== NEVER) {
      this.onParentAbort = () => this.onAbort();
      addAbortListener(this.ctx.signal, this.onParentAbort);
    }
    done.then(
      (value) => {
        if (this.done) return;
        this.policy.end(Outcome.success, this.start);
        this.cleanUp();
        this.resolve!(value);
      },
      (error: unknown) => {
        if (!this.done) this.finish(Outcome.failure, error);
      },
    );
    return promise;
  }

  /** Aggressive: the link aborted; when not by our deadline, the caller (or an outer deadline) gave up. */
  private onAbort(): void {
    if (this.done || this.timeoutError !== undefined) return;
    this.finish(Outcome.cancelled, abortError(this.ctx.signal, this.policy.name));
  }

  private finish(outcome: typeof Outcome.failure | typeof Outcome.timeout | typeof Outcome.cancelled, error: unknown): void {
    this.policy.end(outcome, this.start, error);
    this.cleanUp();
    this.reject!(error);
  }

  /** Cooperative: the function succeeded. */
  settled(value: T): T {
    this.cleanUp();
    if (this.timeoutError !== undefined) return this.fail(Outcome.timeout, this.timeoutError);
    if (this.ctx.signal.aborted) return this.fail(Outcome.cancelled, abortError(this.ctx.signal, this.policy.name));
    this.policy.end(Outcome.success, this.start);
    return value;
  }

  /** Cooperative: the function failed (after the deadline, the failure is the timeout's doing). */
  failed(error: unknown): never {
    this.cleanUp();
    if (this.timeoutError !== undefined) return this.fail(Outcome.timeout, this.timeoutError);
    if (this.ctx.signal.aborted) return this.fail(Outcome.cancelled, abortError(this.ctx.signal, this.policy.name));
    return this.fail(Outcome.failure, error);
  }

  private fail(outcome: typeof Outcome.failure | typeof Outcome.timeout | typeof Outcome.cancelled, error: unknown): never {
    this.policy.end(outcome, this.start, error);
    throw error;
  }

  private cleanUp(): void {
    this.done = true;
    clearTimeout(this.timer);
    this.link.dispose();
    if (this.onParentAbort !== undefined) removeAbortListener(this.ctx.signal, this.onParentAbort);
  }
}

function fire<T>(run: TimeoutRun<T>): void {
  run.onDeadline();
}

/**
 * Makes a {@link TimeoutPolicy}: `timeout(500)` or `timeout({ timeoutMs: 500, strategy: 'cooperative' })`.
 *
 * @example
 * const res = await timeout(2000).execute(({ signal }) => fetch(url, { signal }));
 */
export function timeout(options: number | TimeoutOptions): TimeoutPolicy {
  return new TimeoutPolicy(typeof options === 'number' ? { timeoutMs: options } : options);
}
