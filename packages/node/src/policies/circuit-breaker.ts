import { ATTR, LabcoatInputError } from '@labcoat/core';
import { performance } from 'node:perf_hooks';
import { nowMs, TIME_ORIGIN } from '../clock.js';
import { ConsecutiveBreaker } from './breaker/consecutive.js';
import { STRATEGY_CLAIMED, type BreakerStrategy, type CircuitState, type JsonValue } from './breaker/strategy.js';
import { BrokenCircuitError, CancelledError, IsolatedCircuitError } from './errors.js';
import { EventEmitter, type Disposable, type Event } from './events.js';
import { handleAll, type FailureClassifier } from './handle.js';
import { BasePolicy, NEVER, type CommonPolicyOptions, type PolicyContext, type PolicyFn } from './policy.js';
import { abortError } from './signals.js';
import { Outcome } from './stats.js';
import { checkChoice, checkDuration, checkInteger, checkRatio } from './validate.js';

export type { CircuitState } from './breaker/strategy.js';

/*
 * Design notes.
 * - The state is a small integer; a call to a closed circuit costs one field compare, two clock
 *   reads (start, end: durations feed the stats and slow-call detection), the strategy's O(1)
 *   record and the stats' record. Nothing is allocated for it but, when fn returns a promise, the
 *   one reaction that watches it (a derived promise and two closures). Events build their payload
 *   only when someone listens; emitters for the breaker's own events are made on first subscription.
 * - The caller gets fn's own promise: an admitted call's outcome is never changed, so there is no
 *   await-and-rethrow (a rethrow costs more than the rest of a failing call).
 * - No timers: open → half-open happens on the first call (or `state` read) after the open period,
 *   so an idle breaker holds nothing.
 * - Every transition bumps `epoch`. A call remembers the epoch it was admitted in and its outcome
 *   counts only if the circuit is still in that period: a slow call admitted while closed that
 *   fails after the circuit opened (and maybe closed again), or a probe that ends after its
 *   half-open period, changes nothing.
 */

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
const ISOLATED = 3;
const FORCED_OPEN = 4;
const DISABLED = 5;
const NAMES: readonly CircuitState[] = ['closed', 'open', 'half-open', 'isolated', 'forced-open', 'disabled'];

/** How an arriving call counts: fed to the strategy, a half-open probe, passed through uncounted, or refused. */
const COUNTED = 0;
const PROBE = 1;
const PASS = 2;
const REFUSED = 3;

const CAUSE_NONE = 0;
const CAUSE_ERROR = 1;
const CAUSE_VALUE = 2;

const DEFAULT_OPEN_MS = 10_000;

const perfNow: () => number = performance.now.bind(performance);
/** Whether `nowMs()` still is `performance.timeOrigin + performance.now()`, as the fast clock assumes. */
const FAST_CLOCK = Math.abs(nowMs() - (TIME_ORIGIN + performance.now())) < 1;
const P = 'circuitBreaker';

/**
 * Exponentially growing open periods: `initialMs · multiplier^(n−1)` for the n-th open in a row, capped at `maxMs`.
 *
 * @example
 * // 5 s, 10 s, 20 s, 40 s, 60 s, 60 s… while probes keep failing; 5 s again once it closed.
 * circuitBreaker({ halfOpenAfter: { initialMs: 5_000, maxMs: 60_000, multiplier: 2 } });
 */
export interface OpenBackoffOptions {
  /** The first open period. */
  initialMs: number;
  /** The longest open period (default 60 000 ms, or `initialMs` if longer). */
  maxMs?: number;
  /** Growth per consecutive open, ≥ 1 (default 2). */
  multiplier?: number;
}

/**
 * What a backoff object is told when the circuit opens again (the shape of labcoat's `BackoffInfo`).
 *
 * @example
 * const schedule: OpenBackoff = { next: (info: OpenBackoffInfo) => ({ delayMs: 1000 * info.attempt, next: schedule.next }) };
 */
export interface OpenBackoffInfo {
  /** How many times in a row the circuit has opened, this time included (1 = first). */
  readonly attempt: number;
  /** What made it open: a failure's error or result, or `{ value: undefined }` when nothing did. */
  readonly reason: { readonly error: unknown } | { readonly value: unknown };
}

/**
 * A backoff object (labcoat's `exponentialBackoff()`, `delaysBackoff()`, or your own) read as a
 * schedule of open periods: `next()` is called on each consecutive open, its `delayMs` is the period.
 *
 * @example
 * circuitBreaker({ halfOpenAfter: exponentialBackoff({ initialDelayMs: 1_000, maxDelayMs: 60_000, jitter: 'equal' }) });
 */
export interface OpenBackoff {
  next(info: OpenBackoffInfo): OpenBackoffState;
}
/**
 * One position in an open-period schedule.
 *
 * @example
 * const fixed: OpenBackoffState = { delayMs: 2_000, next: () => fixed };
 */
export interface OpenBackoffState extends OpenBackoff {
  readonly delayMs: number;
}

/**
 * How long the circuit stays open before letting probes through:
 * - a number of milliseconds, the same every time;
 * - `{ initialMs, maxMs?, multiplier? }`: growing with each consecutive re-open, capped;
 * - `(consecutiveOpens) => ms`: your schedule (1 for the first open);
 * - a backoff object (`exponentialBackoff({...})` and friends): its `delayMs` sequence.
 * The count of consecutive opens goes back to 0 when the circuit closes.
 *
 * @example
 * circuitBreaker({ halfOpenAfter: (n) => Math.min(1_000 * 2 ** n, 30_000) });
 */
export type HalfOpenAfter = number | OpenBackoffOptions | ((consecutiveOpens: number) => number) | OpenBackoff;

/**
 * Whether the breaker refuses calls (`enforcing`) or only tracks and reports what it would do
 * (`metrics-only`: try a configuration in production without refusing anything).
 *
 * @example
 * const shadow = circuitBreaker({ mode: 'metrics-only', breaker: new CountBreaker({ size: 50 }) });
 * shadow.onReject(({ state }) => metrics.increment('breaker.would_reject', { state }));
 */
export type CircuitBreakerMode = 'enforcing' | 'metrics-only';

/**
 * Options of {@link circuitBreaker}. All optional.
 *
 * @example
 * circuitBreaker({
 *   name: 'inventory',
 *   breaker: new CountBreaker({ size: 100, failureRateThreshold: 0.5, slowCallRateThreshold: 0.8, minimumCalls: 20 }),
 *   slowCallDurationMs: 2_000,
 *   halfOpenAfter: { initialMs: 5_000, maxMs: 120_000 },
 *   halfOpenProbes: 3,
 *   halfOpenSuccessThreshold: 2,
 *   handle: handleHttp,
 * });
 */
export interface CircuitBreakerOptions extends CommonPolicyOptions {
  /** When the closed circuit opens (default `new ConsecutiveBreaker(5)`). One strategy object per breaker. */
  breaker?: BreakerStrategy;
  /** How long it stays open before probing (default 10 000 ms); see {@link HalfOpenAfter} for backoff. */
  halfOpenAfter?: HalfOpenAfter;
  /** The same as a plain number `halfOpenAfter`. Give one or the other. */
  halfOpenAfterMs?: number;
  /** Calls let through in half-open state; others are refused (default 1). */
  halfOpenProbes?: number;
  /** Successful probes that close the circuit, 1 ≤ x ≤ halfOpenProbes (default: halfOpenProbes). Any failed probe reopens it. */
  halfOpenSuccessThreshold?: number;
  /**
   * How long half-open may wait for its probes to decide (default: no limit). A probe that never
   * ends would otherwise hold the circuit half-open, refusing everything; after this, the next
   * refused call reopens the circuit instead (reason `half-open-timeout`), so it probes again later.
   */
  halfOpenTimeoutMs?: number;
  /** Calls that take at least this long are slow (default 60 000 ms). Used by the strategies' `slowCallRateThreshold`. */
  slowCallDurationMs?: number;
  /** Which errors and results are failures of the dependency (default: every error, no result). */
  handle?: FailureClassifier;
  /** `metrics-only`: the state machine runs and reports, but no call is ever refused (default `enforcing`). */
  mode?: CircuitBreakerMode;
  /** A snapshot from {@link CircuitBreakerPolicy.toJSON}, to resume an open circuit after a restart. */
  initialState?: CircuitBreakerSnapshot;
}

/**
 * `onStateChange`: the circuit went from one state to another.
 *
 * @example
 * breaker.onStateChange(({ from, to }) => log.info(`circuit ${from} → ${to}`));
 */
export interface StateChangeEvent {
  readonly from: CircuitState;
  readonly to: CircuitState;
  /** When, on the breaker's clock. */
  readonly at: number;
}

/**
 * `onBreak`: the circuit opened (or was forced open, or isolated).
 *
 * @example
 * breaker.onBreak(({ reason, openForMs }) => log.warn(`circuit open (${reason}) for ${openForMs} ms`));
 */
export interface BreakEvent {
  /**
   * Why: the strategy's reason (`consecutive-failures`, `failure-rate`, `slow-call-rate`, or a
   * custom one), `half-open-probe-failed`, `half-open-probe-slow`, `half-open-timeout`, `forced`
   * (`forceOpen()`) or `isolated` (`isolate()`).
   */
  readonly reason: string;
  readonly from: CircuitState;
  /** How long it stays open before probing (Infinity when forced open or isolated). */
  readonly openForMs: number;
  /** Opens in a row without closing, this one included. */
  readonly consecutiveOpens: number;
  /** The outcome of the call that tipped it, when one did. */
  readonly cause: { readonly error: unknown } | { readonly value: unknown } | undefined;
}

/**
 * `onHalfOpen`: the open period ended; probes may go through.
 *
 * @example
 * breaker.onHalfOpen(({ openedForMs }) => log.info(`probing after ${openedForMs} ms open`));
 */
export interface HalfOpenEvent {
  /** How long the circuit was open. */
  readonly openedForMs: number;
}

/**
 * `onReset`: the circuit closed again.
 *
 * @example
 * breaker.onReset(({ reason }) => log.info(`circuit closed (${reason})`));
 */
export interface ResetEvent {
  readonly from: CircuitState;
  /** `probes-succeeded`, `reset` (`reset()` was called) or `isolation-released` (the last isolation handle was disposed). */
  readonly reason: 'probes-succeeded' | 'reset' | 'isolation-released';
}

/**
 * `onReject`: a call arrived that the circuit does not let through.
 *
 * @example
 * breaker.onReject(({ state }) => rejected.inc({ state }));
 */
export interface RejectEvent {
  /** The state that refused it. */
  readonly state: CircuitState;
  /** False in metrics-only mode: the call was let through anyway. */
  readonly enforced: boolean;
}

/**
 * A breaker's state as plain JSON (`toJSON()`), to give back as `initialState` in another process.
 *
 * @example
 * process.on('SIGTERM', () => writeFileSync('breaker.json', JSON.stringify(breaker)));
 * // next start:
 * const initialState = existsSync('breaker.json') ? JSON.parse(readFileSync('breaker.json', 'utf8')) : undefined;
 * const breaker = circuitBreaker({ name: 'payments', initialState });
 */
export interface CircuitBreakerSnapshot {
  /** Format version: 1. */
  readonly v: 1;
  readonly state: CircuitState;
  /** When the circuit last opened (open, half-open, forced-open, isolated), on the breaker's clock; else null. */
  readonly openedAt: number | null;
  /** Open: when it lets probes through (null: not before a reset). Half-open: when it became half-open. Else null. */
  readonly halfOpenAt: number | null;
  /** Opens in a row without closing (drives the open-period backoff). */
  readonly consecutiveOpens: number;
  /** The strategy's `toJSON()` (its window), or null. */
  readonly strategy: JsonValue;
}

/**
 * A circuit breaker: stops calling a dependency that keeps failing, then lets a few probe calls
 * through after a while to see whether it recovered.
 *
 * - **closed**: calls go through; the {@link BreakerStrategy} (consecutive failures, a count
 *   window or a time window, with failure-rate and slow-call-rate thresholds) decides when to open.
 * - **open**: calls fail fast with {@link BrokenCircuitError} for `halfOpenAfter` (fixed, or growing
 *   with each consecutive re-open).
 * - **half-open**: `halfOpenProbes` calls go through; `halfOpenSuccessThreshold` successes close
 *   the circuit, any failure reopens it; other calls are refused meanwhile.
 * - By hand: {@link CircuitBreakerPolicy.isolate} (refuses with {@link IsolatedCircuitError} while
 *   a handle is held), {@link CircuitBreakerPolicy.forceOpen}, {@link CircuitBreakerPolicy.disable},
 *   {@link CircuitBreakerPolicy.reset}. `mode: 'metrics-only'` runs the state machine without refusing.
 *
 * What counts: the `handle` classifier decides which errors and results are failures; anything
 * else (an error it ignores included: the dependency did answer) is a success. A call cancelled by
 * its own signal counts as neither. No timers: the open period ends on the next call after it.
 * The state survives restarts through {@link CircuitBreakerPolicy.toJSON} and `initialState`.
 *
 * An admitted call's outcome is never changed: the caller gets fn's own promise (when fn returns a
 * native one), which the breaker watches from the side. (So a caller that drops a failing call's
 * promise gets no unhandled-rejection report for it; the breaker has handled it.)
 *
 * Stats record `success` / `failure` with durations (`failure` for every error the caller gets and
 * every result the classifier counts), `shortCircuited` for refusals, `cancelled`.
 * Span attributes: `labcoat.breaker.state` (the state the call found) and `labcoat.breaker.rejected`.
 *
 * @example
 * const breaker = new CircuitBreakerPolicy({
 *   name: 'payments',
 *   breaker: new CountBreaker({ size: 50, failureRateThreshold: 0.5, minimumCalls: 20 }),
 *   halfOpenAfter: { initialMs: 5_000, maxMs: 60_000 },
 * });
 * breaker.onBreak(({ reason }) => log.warn(`payments circuit opened: ${reason}`));
 * const res = await breaker.execute(({ signal }) => fetch(url, { signal }));
 */
export class CircuitBreakerPolicy extends BasePolicy {
  readonly kind = 'circuit-breaker' as const;
  /** The strategy deciding when the closed circuit opens. */
  readonly breaker: BreakerStrategy;
  readonly mode: CircuitBreakerMode;
  /** The open period in ms: the fixed one, or the first of a `{ initialMs, … }` backoff; undefined for a function or backoff object. */
  readonly halfOpenAfterMs: number | undefined;
  readonly halfOpenProbes: number;
  readonly halfOpenSuccessThreshold: number;
  readonly halfOpenTimeoutMs: number;
  readonly slowCallDurationMs: number;
  readonly handle: FailureClassifier;

  private readonly enforcing: boolean;
  private readonly checksResults: boolean;
  // Open period: 0 fixed `openMs`; 1 exponential; 2 function; 3 backoff object.
  private readonly openMode: number;
  private readonly openMs: number;
  private readonly openMaxMs: number;
  private readonly openMultiplier: number;
  private readonly openFn: ((n: number) => number) | undefined;
  private readonly openBackoff: OpenBackoff | undefined;
  private backoffState: OpenBackoffState | undefined = undefined;

  private st = CLOSED;
  private epoch = 0;
  private openedAt = 0;
  private halfOpenAt = Infinity;
  private halfOpenedAt = 0;
  private consecutiveOpens = 0;
  private probesAdmitted = 0;
  private probeSuccesses = 0;
  private isolations = 0;
  private isolationGen = 0;

  /** Made on the first subscription to any of the breaker's own events: most breakers have none. */
  private emitters: BreakerEmitters | undefined = undefined;

  /**
   * The clock of the hot path: `performance.now` when the policy runs on the default clock
   * (`nowMs()` is `performance.timeOrigin + performance.now()`; reading the parts saves ~15 ns a read),
   * else the `now` option. `clock() + origin` is on the same scale as `this.now()`.
   */
  private readonly clock: () => number;
  private readonly origin: number;

  constructor(options: CircuitBreakerOptions = {}) {
    super('circuit-breaker', options);
    const fast = this.now === nowMs && FAST_CLOCK;
    this.clock = fast ? perfNow : this.now;
    this.origin = fast ? TIME_ORIGIN : 0;
    const strategy = options.breaker;
    if (strategy === undefined) {
      this.breaker = new ConsecutiveBreaker(5);
    } else {
      if (strategy === null || typeof strategy !== 'object' || typeof strategy.record !== 'function' || typeof strategy.reset !== 'function') {
        throw new LabcoatInputError(`${P} option "breaker"`, 'must be a breaker strategy (ConsecutiveBreaker, CountBreaker, TimeWindowBreaker, or an object with record() and reset())');
      }
      const flagged = strategy as { [STRATEGY_CLAIMED]?: boolean };
      if (flagged[STRATEGY_CLAIMED] === true) {
        throw new LabcoatInputError(`${P} option "breaker"`, 'is already used by another circuit breaker; give each breaker its own strategy object');
      }
      this.breaker = strategy;
    }
    const flag = this.breaker as { [STRATEGY_CLAIMED]?: boolean };
    if (flag[STRATEGY_CLAIMED] === false) flag[STRATEGY_CLAIMED] = true;

    if (options.halfOpenAfter !== undefined && options.halfOpenAfterMs !== undefined) {
      throw new LabcoatInputError(`${P} option "halfOpenAfterMs"`, 'give either halfOpenAfter or halfOpenAfterMs, not both');
    }
    const h: HalfOpenAfter = options.halfOpenAfter ?? checkDuration(P, 'halfOpenAfterMs', options.halfOpenAfterMs, DEFAULT_OPEN_MS);
    let mode = 0;
    let ms = DEFAULT_OPEN_MS;
    let max = Infinity;
    let mult = 1;
    let fn: ((n: number) => number) | undefined;
    let backoff: OpenBackoff | undefined;
    if (typeof h === 'number') {
      ms = checkDuration(P, 'halfOpenAfter', h, DEFAULT_OPEN_MS);
    } else if (typeof h === 'function') {
      mode = 2;
      fn = h;
    } else if (h !== null && typeof h === 'object' && typeof (h as OpenBackoff).next === 'function') {
      mode = 3;
      backoff = h as OpenBackoff;
    } else if (h !== null && typeof h === 'object') {
      mode = 1;
      const o = h as OpenBackoffOptions;
      if (o.initialMs === undefined) throw new LabcoatInputError(`${P} option "halfOpenAfter.initialMs"`, 'is required: the first open period in ms');
      ms = checkDuration(P, 'halfOpenAfter.initialMs', o.initialMs, DEFAULT_OPEN_MS);
      max = checkDuration(P, 'halfOpenAfter.maxMs', o.maxMs, Math.max(60_000, ms));
      if (max < ms) throw new LabcoatInputError(`${P} option "halfOpenAfter.maxMs"`, `must be ≥ initialMs (${ms}); got ${max}`);
      mult = checkRatio(P, 'halfOpenAfter.multiplier', o.multiplier, 2, 1, 1e6);
    } else {
      throw new LabcoatInputError(`${P} option "halfOpenAfter"`, `must be milliseconds, { initialMs, maxMs, multiplier }, a function of the consecutive open count, or a backoff; got ${String(h)}`);
    }
    this.openMode = mode;
    this.halfOpenAfterMs = mode <= 1 ? ms : undefined;
    this.openMs = ms;
    this.openMaxMs = max;
    this.openMultiplier = mult;
    this.openFn = fn;
    this.openBackoff = backoff;

    this.halfOpenProbes = checkInteger(P, 'halfOpenProbes', options.halfOpenProbes, 1, 1);
    this.halfOpenSuccessThreshold = checkInteger(P, 'halfOpenSuccessThreshold', options.halfOpenSuccessThreshold, this.halfOpenProbes, 1, this.halfOpenProbes);
    this.halfOpenTimeoutMs = checkDuration(P, 'halfOpenTimeoutMs', options.halfOpenTimeoutMs, Infinity);
    this.slowCallDurationMs = checkDuration(P, 'slowCallDurationMs', options.slowCallDurationMs, 60_000);
    const handle = options.handle ?? handleAll;
    if (handle === null || typeof handle !== 'object' || typeof handle.error !== 'function' || typeof handle.result !== 'function') {
      throw new LabcoatInputError(`${P} option "handle"`, 'must be a FailureClassifier { error(e), result(v) } such as handleAll or handleType(…)');
    }
    this.handle = handle;
    this.checksResults = handle !== handleAll;
    this.mode = checkChoice(P, 'mode', options.mode, 'enforcing', ['enforcing', 'metrics-only']);
    this.enforcing = this.mode === 'enforcing';
    if (options.initialState !== undefined) this.hydrate(options.initialState);
  }

  // ---------------------------------------------------------------- events

  /** Every state change, before the more specific event (`onBreak`, `onHalfOpen`, `onReset`). */
  get onStateChange(): Event<StateChangeEvent> {
    return (this.emitters ??= new BreakerEmitters()).stateChange.event;
  }
  /** The circuit opened, was forced open or isolated. */
  get onBreak(): Event<BreakEvent> {
    return (this.emitters ??= new BreakerEmitters()).break.event;
  }
  /** The open period ended: the next calls are probes. */
  get onHalfOpen(): Event<HalfOpenEvent> {
    return (this.emitters ??= new BreakerEmitters()).halfOpen.event;
  }
  /** The circuit closed again. */
  get onReset(): Event<ResetEvent> {
    return (this.emitters ??= new BreakerEmitters()).reset.event;
  }
  /** A call was refused (or, in metrics-only mode, would have been). */
  get onReject(): Event<RejectEvent> {
    return (this.emitters ??= new BreakerEmitters()).reject.event;
  }

  // ---------------------------------------------------------------- state

  /**
   * The current state. Reading it ends an open period that is over (the circuit becomes half-open,
   * with its events), as the next call would.
   */
  get state(): CircuitState {
    if (this.st === OPEN) {
      const now = this.now();
      if (now >= this.halfOpenAt) this.toHalfOpen(now);
    }
    return NAMES[this.st]!;
  }

  /**
   * Holds the circuit open, refusing every call with {@link IsolatedCircuitError}, until every
   * handle returned so far is disposed; then the circuit closes. `reset()`, `forceOpen()` and
   * `disable()` end the isolation too (outstanding handles then do nothing).
   *
   * @example
   * const handle = breaker.isolate(); // take the dependency out during maintenance
   * // …
   * handle.dispose();
   */
  isolate(): Disposable {
    const gen = this.isolationGen;
    this.isolations++;
    if (this.st !== ISOLATED) {
      const from = this.st;
      this.openedAt = this.now();
      this.transition(ISOLATED, this.openedAt);
      this.emitBreak('isolated', from, Infinity, undefined, CAUSE_NONE);
    }
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) return;
        disposed = true;
        if (gen !== this.isolationGen || this.st !== ISOLATED) return;
        if (--this.isolations === 0) this.close(this.now(), 'isolation-released');
      },
    };
  }

  /**
   * Opens the circuit until {@link CircuitBreakerPolicy.reset}: every call is refused with
   * {@link BrokenCircuitError}.
   *
   * @example
   * breaker.forceOpen();
   */
  forceOpen(): void {
    this.endIsolation();
    if (this.st === FORCED_OPEN) return;
    const from = this.st;
    this.openedAt = this.now();
    this.transition(FORCED_OPEN, this.openedAt);
    this.emitBreak('forced', from, Infinity, undefined, CAUSE_NONE);
  }

  /**
   * Lets every call through and counts nothing into the strategy until
   * {@link CircuitBreakerPolicy.reset} (stats and success/failure events go on).
   *
   * @example
   * if (process.env.BREAKERS === 'off') breaker.disable();
   */
  disable(): void {
    this.endIsolation();
    if (this.st === DISABLED) return;
    this.transition(DISABLED, this.now());
  }

  /**
   * Closes the circuit from any state, forgetting the strategy's window and the consecutive open
   * count (and ending forced-open, disabled and isolated states).
   *
   * @example
   * breaker.forceOpen();
   * breaker.reset(); // closed again
   */
  reset(): void {
    this.endIsolation();
    if (this.st !== CLOSED) {
      this.close(this.now(), 'reset');
    } else {
      this.breaker.reset();
      this.consecutiveOpens = 0;
      this.backoffState = undefined;
    }
  }

  /**
   * The state as plain JSON, for `initialState` in a later process (so a restarted service keeps
   * an open circuit open). Times are on the breaker's clock: the default clock is epoch ms, so
   * they carry across processes.
   *
   * @example
   * const saved = JSON.stringify(breaker);
   * // after a restart:
   * const breaker = circuitBreaker({ name: 'payments', initialState: JSON.parse(saved) });
   */
  toJSON(): CircuitBreakerSnapshot {
    const state = this.state;
    const st = this.st;
    const opened = st === OPEN || st === HALF_OPEN || st === FORCED_OPEN || st === ISOLATED;
    const halfOpenAt = st === OPEN ? (Number.isFinite(this.halfOpenAt) ? this.halfOpenAt : null) : st === HALF_OPEN ? this.halfOpenedAt : null;
    return {
      v: 1,
      state,
      openedAt: opened ? this.openedAt : null,
      halfOpenAt,
      consecutiveOpens: this.consecutiveOpens,
      strategy: this.breaker.toJSON?.() ?? null,
    };
  }

  // ---------------------------------------------------------------- execution

  run<T>(fn: PolicyFn<T>, ctx: PolicyContext): Promise<T> {
    const signal = ctx.signal;
    if (signal !== NEVER && signal.aborted) {
      this.stats.record(Outcome.cancelled);
      return Promise.reject(abortError(signal, this.name));
    }
    let kind = COUNTED;
    if (this.st !== CLOSED) {
      kind = this.admit(ctx);
      if (kind === REFUSED) {
        // Made here, not in a helper or thrown from admit(): every stack frame captured costs ~0.25 µs, a throw more.
        const st = this.st;
        return Promise.reject(
          st === OPEN
            ? new BrokenCircuitError(this.name)
            : st === ISOLATED
              ? new IsolatedCircuitError(this.name)
              : new BrokenCircuitError(this.name, `circuit breaker "${this.name}" is ${st === FORCED_OPEN ? 'forced open' : 'half-open and its probe calls are in flight'}; the call was not made`),
        );
      }
    } else if (ctx.span !== undefined) {
      ctx.span.setAttribute(ATTR.breakerState, 'closed');
    }
    const epoch = this.epoch;
    const handed = this.origin === 0 ? undefined : this.handedTime();
    const start = handed === undefined ? this.clock() : handed - this.origin;
    let result: PromiseLike<T> | T;
    try {
      result = fn(ctx);
      if (result !== null && (typeof result === 'object' || typeof result === 'function') && typeof (result as PromiseLike<T>).then === 'function') {
        // The breaker never changes an admitted call's outcome, so the caller gets fn's own promise
        // (for a native one) and the breaker watches it from the side. Its reaction is registered
        // first, so the state is up to date when the caller resumes; and a failure travels to the
        // caller without a catch and rethrow (which cost more than the rest of the call).
        const promise = Promise.resolve(result) as Promise<T>;
        promise.then(
          (value) => this.observe(true, value, kind, epoch, start, signal),
          (error: unknown) => this.observe(false, error, kind, epoch, start, signal),
        );
        return promise;
      }
    } catch (error) {
      this.observe(false, error, kind, epoch, start, signal);
      return Promise.reject(error);
    }
    // A plain value: the call is over already.
    this.observe(true, result, kind, epoch, start, signal);
    return Promise.resolve(result);
  }

  /** Books a call's outcome. Never throws: a throwing classifier or strategy is reported, and the call's outcome stands. */
  private observe(ok: boolean, payload: unknown, kind: number, epoch: number, start: number, signal: AbortSignal): void {
    try {
      if (ok) this.succeeded(payload, kind, epoch, start);
      else this.failed(payload, kind, epoch, start, signal);
    } catch (error) {
      process.emitWarning(`circuit breaker "${this.name}": recording an outcome threw (${error instanceof Error ? error.message : String(error)}); check its handle classifier and strategy`, 'LabcoatPolicyWarning');
    }
  }

  /** A call returned (or resolved to) `value`. */
  private succeeded(value: unknown, kind: number, epoch: number, start: number): void {
    // A success's duration is needed only for slow-call rates, success events and (sampled) latency
    // statistics; otherwise the call is booked at its start time and the second clock read saved.
    let d = -1;
    let at: number;
    if (this.breaker.countsSlowCalls || this.successListened || this.latencySampled(start)) {
      const end = this.clock();
      d = end - start;
      if (d < 0) d = 0; // a handed start converted back from epoch ms can be off by a rounding error
      at = end + this.origin;
    } else at = start + this.origin;
    if (this.checksResults && this.handle.result(value)) {
      this.ended(true, CAUSE_VALUE, value, kind, epoch, d, at);
      return;
    }
    this.stats.record(Outcome.success, d, at);
    if (this.successListened) this.emitSuccess(d);
    if (kind === COUNTED) {
      if (this.st === CLOSED && this.epoch === epoch) {
        const reason = this.breaker.record(false, d >= this.slowCallDurationMs, d, at, 'closed');
        if (reason !== undefined) this.trip(reason, at, CAUSE_VALUE, value);
      }
    } else if (kind === PROBE) {
      this.probeEnded(false, CAUSE_VALUE, value, d, at, epoch);
    }
  }

  /** Admission when the circuit is not closed: how the call counts, or REFUSED (stats, span and event done). */
  private admit(ctx: PolicyContext): number {
    let now: number | undefined;
    if (this.st === OPEN) {
      now = this.now();
      if (now >= this.halfOpenAt) this.toHalfOpen(now);
    }
    if (this.st === HALF_OPEN) {
      if (this.probesAdmitted < this.halfOpenProbes) {
        this.probesAdmitted++;
        ctx.span?.setAttribute(ATTR.breakerState, 'half-open');
        return PROBE;
      }
      if (this.halfOpenTimeoutMs !== Infinity) {
        now ??= this.now();
        if (now - this.halfOpenedAt >= this.halfOpenTimeoutMs) this.trip('half-open-timeout', now, CAUSE_NONE, undefined);
      }
    }
    const st = this.st;
    if (st === CLOSED || st === DISABLED) {
      // CLOSED only when a listener of the transitions above closed it again.
      ctx.span?.setAttribute(ATTR.breakerState, NAMES[st]!);
      return st === CLOSED ? COUNTED : PASS;
    }
    const span = ctx.span;
    span?.setAttribute(ATTR.breakerState, NAMES[st]!);
    if (!this.enforcing) {
      this.emitReject(st, false);
      return PASS;
    }
    span?.setAttribute(ATTR.breakerRejected, true);
    this.stats.record(Outcome.shortCircuited, -1, now);
    this.emitReject(st, true);
    return REFUSED;
  }

  /** A call threw (or rejected). */
  private failed(error: unknown, kind: number, epoch: number, start: number, signal: AbortSignal): void {
    const t = this.clock();
    const d = t > start ? t - start : 0;
    const end = t + this.origin;
    if (signal !== NEVER && signal.aborted && (error === signal.reason || error instanceof CancelledError)) {
      // The caller gave up: says nothing about the dependency. Free the probe slot it held.
      this.stats.record(Outcome.cancelled, d, end);
      if (this.failureListened) this.emitFailure(d, false, { error });
      if (kind === PROBE && this.st === HALF_OPEN && this.epoch === epoch) this.probesAdmitted--;
      return;
    }
    this.ended(this.handle.error(error), CAUSE_ERROR, error, kind, epoch, d, end);
  }

  /** Records a failed call (thrown, or a result the classifier counts); `failed` is false for an error the classifier ignores. */
  private ended(failed: boolean, cause: number, payload: unknown, kind: number, epoch: number, d: number, end: number): void {
    this.stats.record(Outcome.failure, d, end);
    if (this.failureListened) this.emitFailure(d, failed, cause === CAUSE_ERROR ? { error: payload } : { value: payload });
    if (kind === COUNTED) {
      if (this.st === CLOSED && this.epoch === epoch) {
        const reason = this.breaker.record(failed, d >= this.slowCallDurationMs, d, end, 'closed');
        if (reason !== undefined) this.trip(reason, end, cause, payload);
      }
    } else if (kind === PROBE) {
      this.probeEnded(failed, cause, payload, d, end, epoch);
    }
  }

  private probeEnded(failed: boolean, cause: number, payload: unknown, d: number, end: number, epoch: number): void {
    if (this.st !== HALF_OPEN || this.epoch !== epoch) return;
    const slow = d >= this.slowCallDurationMs;
    this.breaker.record(failed, slow, d, end, 'half-open');
    if (failed) this.trip('half-open-probe-failed', end, cause, payload);
    else if (slow && this.breaker.countsSlowCalls) this.trip('half-open-probe-slow', end, cause, payload);
    else if (++this.probeSuccesses >= this.halfOpenSuccessThreshold) this.close(end, 'probes-succeeded');
  }

  // ---------------------------------------------------------------- transitions

  private transition(to: number, at: number): void {
    const from = this.st;
    this.st = to;
    this.epoch++;
    this.probesAdmitted = 0;
    this.probeSuccesses = 0;
    const e = this.emitters?.stateChange;
    if (e !== undefined && e.size > 0) e.emit({ from: NAMES[from]!, to: NAMES[to]!, at });
  }

  private trip(reason: string, at: number, cause: number, payload: unknown): void {
    const from = this.st;
    const n = ++this.consecutiveOpens;
    const openForMs = this.openPeriod(n, cause, payload);
    this.openedAt = at;
    this.halfOpenAt = at + openForMs;
    this.transition(OPEN, at);
    this.emitBreak(reason, from, openForMs, payload, cause);
  }

  private toHalfOpen(now: number): void {
    this.halfOpenedAt = now;
    this.transition(HALF_OPEN, now);
    const e = this.emitters?.halfOpen;
    if (e !== undefined && e.size > 0) e.emit({ openedForMs: now - this.openedAt });
  }

  private close(at: number, reason: ResetEvent['reason']): void {
    const from = this.st;
    this.breaker.reset();
    this.consecutiveOpens = 0;
    this.backoffState = undefined;
    this.halfOpenAt = Infinity;
    this.transition(CLOSED, at);
    const e = this.emitters?.reset;
    if (e !== undefined && e.size > 0) e.emit({ from: NAMES[from]!, reason });
  }

  private endIsolation(): void {
    if (this.isolations === 0) return;
    this.isolations = 0;
    this.isolationGen++;
  }

  private emitBreak(reason: string, from: number, openForMs: number, payload: unknown, cause: number): void {
    const e = this.emitters?.break;
    if (e === undefined || e.size === 0) return;
    e.emit({
      reason,
      from: NAMES[from]!,
      openForMs,
      consecutiveOpens: this.consecutiveOpens,
      cause: cause === CAUSE_ERROR ? { error: payload } : cause === CAUSE_VALUE ? { value: payload } : undefined,
    });
  }

  private emitReject(st: number, enforced: boolean): void {
    const e = this.emitters?.reject;
    if (e !== undefined && e.size > 0) e.emit({ state: NAMES[st]!, enforced });
  }

  /** The open period of the n-th open in a row. User schedules that throw or return garbage fall back to sane values. */
  private openPeriod(n: number, cause: number, payload: unknown): number {
    switch (this.openMode) {
      case 0:
        return this.openMs;
      case 1: {
        if (this.openMs === 0) return 0;
        const v = this.openMs * this.openMultiplier ** (n - 1);
        return v < this.openMaxMs ? v : this.openMaxMs;
      }
      default:
        try {
          const v = this.openMode === 2 ? this.openFn!(n) : this.nextBackoff(n, cause, payload);
          return v >= 0 ? v : 0;
        } catch (error) {
          process.emitWarning(`circuit breaker "${this.name}": halfOpenAfter threw (${error instanceof Error ? error.message : String(error)}); staying open ${DEFAULT_OPEN_MS} ms`, 'LabcoatPolicyWarning');
          return DEFAULT_OPEN_MS;
        }
    }
  }

  private nextBackoff(n: number, cause: number, payload: unknown): number {
    const reason = cause === CAUSE_ERROR ? { error: payload } : { value: cause === CAUSE_VALUE ? payload : undefined };
    let s = this.backoffState;
    if (s === undefined || n === 1) {
      // First open, or resumed from a snapshot: replay the schedule up to the n-th open.
      s = this.openBackoff!.next({ attempt: 1, reason });
      for (let k = 2, last = Math.min(n, 1000); k <= last; k++) s = s.next({ attempt: k, reason });
    } else {
      s = s.next({ attempt: n, reason });
    }
    this.backoffState = s;
    return s.delayMs;
  }

  // ---------------------------------------------------------------- snapshot

  private hydrate(json: unknown): void {
    const at = (field: string): string => `${P} option "initialState${field === '' ? '' : `.${field}`}"`;
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new LabcoatInputError(at(''), `must be an object from toJSON(); got ${describeJson(json)}`);
    const o = json as Record<string, unknown>;
    if (o.v !== 1) throw new LabcoatInputError(at('v'), `must be 1 (the snapshot format); got ${describeJson(o.v)}`);
    const st = NAMES.indexOf(o.state as CircuitState);
    if (st < 0) throw new LabcoatInputError(at('state'), `must be one of ${NAMES.map((n) => `"${n}"`).join(', ')}; got ${describeJson(o.state)}`);
    const opens = o.consecutiveOpens;
    if (typeof opens !== 'number' || !Number.isInteger(opens) || opens < 0) throw new LabcoatInputError(at('consecutiveOpens'), `must be a whole number ≥ 0; got ${describeJson(opens)}`);
    const time = (field: 'openedAt' | 'halfOpenAt', required: boolean): number | undefined => {
      const v = o[field];
      if (v === null || v === undefined) {
        if (required) throw new LabcoatInputError(at(field), `must be a time in ms for state "${NAMES[st]}"; got ${describeJson(v)}`);
        return undefined;
      }
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new LabcoatInputError(at(field), `must be a finite time in ms or null; got ${describeJson(v)}`);
      return v;
    };
    const opened = st === OPEN || st === HALF_OPEN || st === FORCED_OPEN || st === ISOLATED;
    const openedAt = time('openedAt', opened);
    const halfOpenAt = time('halfOpenAt', st === HALF_OPEN);
    if (halfOpenAt !== undefined && openedAt !== undefined && halfOpenAt < openedAt) {
      throw new LabcoatInputError(at('halfOpenAt'), `must not be before openedAt (${openedAt}); got ${halfOpenAt}`);
    }
    const strategy = o.strategy;
    if (strategy !== null && strategy !== undefined) {
      if (typeof strategy !== 'object' || Array.isArray(strategy) || typeof (strategy as { kind?: unknown }).kind !== 'string') {
        throw new LabcoatInputError(at('strategy'), `must be null or a strategy's toJSON() with a "kind"; got ${describeJson(strategy)}`);
      }
      // A snapshot of another kind of strategy (the configuration changed) is not an error: the window starts empty.
      if ((strategy as { kind: string }).kind === this.breaker.kind && this.breaker.restore !== undefined) {
        try {
          this.breaker.restore(strategy as JsonValue, 'initialState.strategy');
        } catch (error) {
          if (error instanceof LabcoatInputError) throw new LabcoatInputError(`${P} option "${error.where}"`, error.message.slice(error.where.length + 2));
          throw new LabcoatInputError(at('strategy'), error instanceof Error ? error.message : String(error));
        }
      }
    }
    this.consecutiveOpens = opens;
    switch (st) {
      case OPEN:
        this.st = OPEN;
        this.openedAt = openedAt!;
        this.halfOpenAt = halfOpenAt ?? Infinity;
        if (this.consecutiveOpens === 0) this.consecutiveOpens = 1;
        break;
      case HALF_OPEN:
        this.st = HALF_OPEN;
        this.openedAt = openedAt!;
        this.halfOpenedAt = halfOpenAt!;
        if (this.consecutiveOpens === 0) this.consecutiveOpens = 1;
        break;
      case FORCED_OPEN:
      case ISOLATED:
        // No isolation handle survives a restart: the circuit stays open until reset().
        this.st = FORCED_OPEN;
        this.openedAt = openedAt!;
        break;
      case DISABLED:
        this.st = DISABLED;
        break;
      default:
        this.st = CLOSED;
        this.consecutiveOpens = 0;
    }
  }
}

function describeJson(value: unknown): string {
  try {
    const s = JSON.stringify(value) ?? String(value);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(value);
  }
}

/** The breaker's own events (beyond every policy's success and failure). */
class BreakerEmitters {
  readonly stateChange = new EventEmitter<StateChangeEvent>();
  readonly break = new EventEmitter<BreakEvent>();
  readonly halfOpen = new EventEmitter<HalfOpenEvent>();
  readonly reset = new EventEmitter<ResetEvent>();
  readonly reject = new EventEmitter<RejectEvent>();
}

/**
 * A circuit breaker (see {@link CircuitBreakerPolicy}). Without options: opens after 5 failures in
 * a row, probes after 10 s with one call.
 *
 * @example
 * const breaker = circuitBreaker({
 *   breaker: new TimeWindowBreaker({ windowMs: 30_000, failureRateThreshold: 0.5, slowCallRateThreshold: 0.8, minimumCalls: 20 }),
 *   slowCallDurationMs: 1_000,
 *   halfOpenAfter: { initialMs: 5_000, maxMs: 120_000 },
 *   halfOpenProbes: 3,
 * });
 * const user = await breaker.execute(({ signal }) => api.getUser(id, { signal }));
 */
export function circuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreakerPolicy {
  return new CircuitBreakerPolicy(options);
}
