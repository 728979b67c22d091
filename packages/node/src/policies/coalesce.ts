import { ATTR } from '@labcoat/core';
import { EventEmitter, type Event } from './events.js';
import { BasePolicy, invoke, NEVER, type CommonPolicyOptions, type PolicyContext, type PolicyFn } from './policy.js';
import { abortError, addAbortListener, removeAbortListener } from './signals.js';
import { Outcome } from './stats.js';
import { checkFunction } from './validate.js';

/** Options of {@link coalesce}. */
export interface CoalesceOptions extends CommonPolicyOptions {
  /**
   * The key of a call made through `execute` (or inside `wrap()`); calls with the same key while
   * one is in flight share it. Keys compare like Map keys (strings, numbers, the same object).
   * Default: the function itself, so `execute(refreshToken)` with one shared function coalesces.
   * `executeKeyed` ignores it.
   */
  key?: (fn: PolicyFn<unknown>) => unknown;
}

/** Emitted when a call joins one already in flight. */
export interface CoalesceEvent {
  readonly key: unknown;
  /** Callers now waiting for the shared call, this one included. */
  readonly callers: number;
}

/** One caller waiting for a shared call. */
class Caller {
  onAbort: (() => void) | undefined = undefined;
  /** False once it gave up (aborted) or got its answer. */
  attached = true;
  constructor(
    readonly ctx: PolicyContext,
    readonly start: number,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}

/** A shared call in flight and the callers waiting for it. */
class Flight {
  readonly controller = new AbortController();
  readonly callers: Caller[] = [];
  /** Callers still attached. */
  attached = 0;
  constructor(readonly key: unknown) {}
}

/**
 * Request coalescing ("singleflight"): while a call with a given key is in flight, identical calls
 * join it instead of making their own, and every caller gets the same result or rejection. Use it
 * for reads that many concurrent requests make at once (a cache miss stampede, a token refresh,
 * the same profile asked for by ten requests).
 *
 * Each caller keeps its own cancellation: a caller whose signal aborts detaches (rejecting with its
 * reason) and the others keep waiting; the shared call's signal aborts only once every caller has
 * given up, and a new call with that key then starts afresh. The shared call runs with the context
 * of the caller that started it. The key is forgotten as soon as the shared call settles, so results
 * are never cached. Spans of callers that joined get `labcoat.coalesced`.
 *
 * @example
 * const users = coalesce({ name: 'users' });
 * // 100 concurrent requests for user 42 make one database query.
 * const user = await users.executeKeyed(`user:${id}`, ({ signal }) => db.users.find(id, { signal }));
 */
export class CoalescePolicy extends BasePolicy {
  readonly kind = 'coalesce' as const;
  private readonly keyOf: ((fn: PolicyFn<unknown>) => unknown) | undefined;
  private readonly flights = new Map<unknown, Flight>();
  /** Key handed from `executeKeyed` to `run` (which `execute` calls synchronously). */
  private handoffSet = false;
  private handoffKey: unknown = undefined;
  private readonly joinEmitter = new EventEmitter<CoalesceEvent>();
  /** Fires when a call joins one already in flight. */
  readonly onJoin: Event<CoalesceEvent> = this.joinEmitter.event;

  constructor(options: CoalesceOptions = {}) {
    super('coalesce', options);
    this.keyOf = checkFunction('coalesce', 'key', options.key);
  }

  /** Keys with a shared call in flight. */
  get inFlight(): number {
    return this.flights.size;
  }

  /**
   * Runs `fn` under `key`: joins the call with that key already in flight, or starts it. Opens a
   * policy span inside a labcoat request, like `execute`.
   */
  executeKeyed<T>(key: unknown, fn: PolicyFn<T>, signal?: AbortSignal): Promise<T> {
    this.handoffSet = true;
    this.handoffKey = key;
    try {
      return this.execute(fn, signal);
    } finally {
      this.handoffSet = false;
      this.handoffKey = undefined;
    }
  }

  run<T>(fn: PolicyFn<T>, ctx: PolicyContext): Promise<T> {
    let key: unknown;
    if (this.handoffSet) {
      key = this.handoffKey;
      this.handoffSet = false;
      this.handoffKey = undefined;
    } else {
      try {
        key = this.keyOf === undefined ? fn : this.keyOf(fn as PolicyFn<unknown>);
      } catch (error) {
        this.stats.record(Outcome.failure, 0);
        this.emitFailure(0, true, { error });
        return Promise.reject(error);
      }
    }
    const start = this.startTime();
    const signal = ctx.signal;
    if (signal.aborted) {
      const error = abortError(signal, this.name);
      this.stats.record(Outcome.cancelled, 0);
      this.emitFailure(0, false, { error });
      return Promise.reject(error);
    }
    let flight = this.flights.get(key);
    const joined = flight !== undefined;
    if (flight === undefined) {
      flight = new Flight(key);
      this.flights.set(key, flight);
    }
    const f = flight;
    const promise = new Promise<T>((resolve, reject) => {
      const c = new Caller(ctx, start, resolve as (value: unknown) => void, reject);
      f.callers.push(c);
      f.attached++;
      if (signal !== NEVER) {
        c.onAbort = () => this.detach(f, c);
        addAbortListener(signal, c.onAbort);
      }
    });
    if (joined) {
      ctx.span?.setAttribute(ATTR.coalesced, true);
      if (this.joinEmitter.size > 0) this.joinEmitter.emit({ key, callers: f.attached });
    } else {
      const shared: PolicyContext = { signal: f.controller.signal, attempt: ctx.attempt, hedge: ctx.hedge, span: ctx.span };
      invoke(fn, shared).then(
        (value) => this.land(f, false, value),
        (error: unknown) => this.land(f, true, error),
      );
    }
    return promise;
  }

  /** A caller gave up: it leaves; the shared call is aborted when nobody is left. */
  private detach(f: Flight, c: Caller): void {
    if (!c.attached) return;
    c.attached = false;
    c.onAbort = undefined; // registered with { once: true }: already removed
    f.attached--;
    const signal = c.ctx.signal;
    const error = abortError(signal, this.name);
    const d = this.now() - c.start;
    this.stats.record(Outcome.cancelled, d);
    this.emitFailure(d, false, { error });
    c.reject(error);
    if (f.attached === 0) {
      if (this.flights.get(f.key) === f) this.flights.delete(f.key);
      f.callers.length = 0;
      f.controller.abort(signal.reason);
    }
  }

  /** The shared call settled: every caller still attached gets its outcome; the key is forgotten. */
  private land(f: Flight, isError: boolean, x: unknown): void {
    if (this.flights.get(f.key) === f) this.flights.delete(f.key);
    const callers = f.callers;
    const end = this.now();
    for (let i = 0; i < callers.length; i++) {
      const c = callers[i]!;
      if (!c.attached) continue;
      c.attached = false;
      if (c.onAbort !== undefined) {
        removeAbortListener(c.ctx.signal, c.onAbort);
        c.onAbort = undefined;
      }
      const d = end - c.start;
      if (isError) {
        this.stats.record(Outcome.failure, d);
        this.emitFailure(d, true, { error: x });
        c.reject(x);
      } else {
        this.stats.record(Outcome.success, d);
        this.emitSuccess(d);
        c.resolve(x);
      }
    }
    callers.length = 0;
    f.attached = 0;
  }
}

/**
 * Makes a {@link CoalescePolicy}.
 *
 * @example
 * const refresh = coalesce({ name: 'token-refresh' });
 * const fetchToken = ({ signal }) => oauth.refresh({ signal });
 * // Concurrent callers share one refresh.
 * const [a, b] = await Promise.all([refresh.execute(fetchToken), refresh.execute(fetchToken)]);
 */
export function coalesce(options: CoalesceOptions = {}): CoalescePolicy {
  return new CoalescePolicy(options);
}
