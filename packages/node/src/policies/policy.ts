import { ATTR, type AttributeValue } from '@labcoat/core';
import { nowMs } from '../clock.js';
import { currentContext, storage, type RequestContext } from '../context.js';
import { getLabcoat } from '../global.js';
import type { Labcoat } from '../labcoat.js';
import type { LiveSpan } from '../spans.js';
import { isRejection } from './errors.js';
import { EventEmitter, type Event } from './events.js';
import { RollingStats, type RollingStatsOptions } from './stats.js';
import { checkName } from './validate.js';

/** What a policy hands the function it runs. */
export interface PolicyContext {
  /**
   * Fires when the caller, an enclosing timeout or a lost hedge gives up on this execution. Pass it
   * on to fetch, undici, database drivers: that is what cooperative cancellation means.
   */
  readonly signal: AbortSignal;
  /** 1-based attempt number within the enclosing retry (1 outside a retry). */
  readonly attempt: number;
  /** Which hedged attempt this is (0 = the first, or outside hedging). */
  readonly hedge: number;
  /** The policy span of this execution, when it runs inside a labcoat request. */
  readonly span: PolicySpan | undefined;
}

/** The part of a span policies write to. */
export interface PolicySpan {
  setAttribute(key: string, value: AttributeValue): unknown;
}

/** The function a policy runs. A synchronous throw counts as a failure like a rejection does. */
export type PolicyFn<T> = (context: PolicyContext) => PromiseLike<T> | T;

/** Emitted after a successful execution. */
export interface SuccessEvent {
  readonly durationMs: number;
}

/** Emitted after a failed execution. `handled` says whether the policy counted it as a failure. */
export interface FailureEvent {
  readonly durationMs: number;
  readonly handled: boolean;
  readonly reason: { readonly error: unknown } | { readonly value: unknown };
}

/** Options every policy takes. */
export interface CommonPolicyOptions {
  /** Shows up in metrics, errors and spans (default: the policy's kind). */
  name?: string;
  /** Rolling statistics window (default 10 s in 10 buckets). */
  stats?: RollingStatsOptions;
  /** Millisecond clock for durations, windows and deadlines (default: high resolution). Tests pass a fake one. */
  now?: () => number;
  /** The labcoat SDK whose spans record policy outcomes (default: the one from `init()`). */
  labcoat?: Labcoat;
}

/** The kinds of policy labcoat has. */
export type PolicyKind = 'timeout' | 'retry' | 'circuit-breaker' | 'bulkhead' | 'fallback' | 'hedging' | 'rate-limit' | 'coalesce' | 'noop' | 'pipeline';

/** A resilience policy: runs a function under its rules. */
export interface Policy {
  readonly name: string;
  readonly kind: PolicyKind;
  /** Rolling outcome counts and latencies. */
  readonly stats: RollingStats;
  readonly onSuccess: Event<SuccessEvent>;
  readonly onFailure: Event<FailureEvent>;
  /**
   * Runs `fn` under this policy. `signal` cancels it (the returned promise rejects with the
   * signal's reason, or a `CancelledError`). Inside a labcoat request, the execution is recorded
   * as a span `policy <name>` whose attributes say what the policies did, and calls made in `fn`
   * are its children.
   */
  execute<T>(fn: PolicyFn<T>, signal?: AbortSignal): Promise<T>;
}

/** A signal that never fires, shared by executions started without one. */
export const NEVER: AbortSignal = new AbortController().signal;
const ROOT: PolicyContext = Object.freeze({ signal: NEVER, attempt: 1, hedge: 0, span: undefined });

/**
 * The time a pipeline read when it started, handed to the policies it starts within the same
 * synchronous run (cleared before the user's function is called, and when the pipeline's first
 * step returns). Each policy on the default clock reads it instead of the clock: a clock read is
 * ~50 ns, and a retry + breaker + timeout pipeline would otherwise read it four times in a row.
 * A retry's later attempts, a bulkhead's queued calls and so on start later and read the clock.
 */
let handedTime: number | undefined;

/** @internal Hands `t` to the policies started until the next call (`undefined` ends it). */
export function handTime(t: number | undefined): void {
  handedTime = t;
}

/** Calls `fn`, turning a synchronous throw into a rejection. */
export function invoke<T>(fn: PolicyFn<T>, ctx: PolicyContext): Promise<T> {
  try {
    return Promise.resolve(fn(ctx));
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * What every policy shares: name, clock, stats, success/failure events, and the one entry point
 * that opens a policy span inside a labcoat request. Subclasses implement {@link BasePolicy.run},
 * which composition calls directly so a pipeline makes one span, not one per policy.
 */
export abstract class BasePolicy implements Policy {
  abstract readonly kind: PolicyKind;
  readonly name: string;
  private rolling: RollingStats | undefined = undefined;
  private readonly statsOptions: RollingStatsOptions | undefined;

  /** Rolling outcome counts and latencies (made on first use: creating a policy stays cheap). */
  get stats(): RollingStats {
    return (this.rolling ??= new RollingStats(this.statsOptions === undefined ? { now: this.now } : { now: this.now, ...this.statsOptions }));
  }
  protected readonly now: () => number;
  protected readonly sdk: Labcoat | undefined;
  // Made on first subscription: policies are sometimes created per request, and most are never listened to.
  private successes: EventEmitter<SuccessEvent> | undefined = undefined;
  private failures: EventEmitter<FailureEvent> | undefined = undefined;

  get onSuccess(): Event<SuccessEvent> {
    return (this.successes ??= new EventEmitter()).event;
  }

  get onFailure(): Event<FailureEvent> {
    return (this.failures ??= new EventEmitter()).event;
  }

  /** True when someone listens for successes (build the event only then). */
  protected get successListened(): boolean {
    return this.successes !== undefined && this.successes.size > 0;
  }

  protected get failureListened(): boolean {
    return this.failures !== undefined && this.failures.size > 0;
  }

  /** True on the default clock; false with a caller's (tests), where every duration is then measured. */
  protected readonly defaultClock: boolean;
  private latencyCalls = 0;
  private latencySampledAt = -Infinity;

  constructor(kind: PolicyKind, options: CommonPolicyOptions = {}) {
    this.name = checkName(kind, options.name);
    this.now = options.now ?? nowMs;
    this.defaultClock = options.now === undefined;
    this.statsOptions = options.stats;
    this.sdk = options.labcoat;
  }

  execute<T>(fn: PolicyFn<T>, signal?: AbortSignal): Promise<T> {
    const ctx = signal === undefined ? ROOT : { signal, attempt: 1, hedge: 0, span: undefined };
    const request = currentContext();
    if (request === undefined) return this.run(fn, ctx);
    const sdk = this.sdk ?? getLabcoat();
    if (sdk === undefined) return this.run(fn, ctx);
    return this.traced(sdk, request, fn, ctx);
  }

  /** Runs `fn` under this policy with the context the enclosing policy made. */
  abstract run<T>(fn: PolicyFn<T>, ctx: PolicyContext): Promise<T>;

  /** The policy kinds this execution goes through, outermost first. */
  get kinds(): readonly PolicyKind[] {
    return [this.kind];
  }

  private traced<T>(sdk: Labcoat, request: RequestContext, fn: PolicyFn<T>, ctx: PolicyContext): Promise<T> {
    const span: LiveSpan = sdk.startSpan(`policy ${this.name}`, 'internal', request.traceId, request.spanId);
    span.setAttribute(ATTR.policy, this.name);
    span.setAttribute(ATTR.policyKinds, this.kinds.join(','));
    const inner: PolicyContext = { signal: ctx.signal, attempt: ctx.attempt, hedge: ctx.hedge, span };
    return storage.run(request.child(span.spanId), () => this.run(fn, inner)).then(
      (value) => {
        span.setAttribute(ATTR.policyOutcome, span.attributes[ATTR.fallback] === true ? 'fallback' : 'success');
        span.end();
        return value;
      },
      (error: unknown) => {
        span.setAttribute(ATTR.policyOutcome, isRejection(error) ? 'rejected' : 'failure');
        span.recordError(error);
        span.end();
        throw error;
      },
    );
  }

  /**
   * Whether to measure this call's duration for the latency statistics, where a policy needs the
   * duration for nothing else: every call at low rates, one in eight (and at least one per 50 ms)
   * at high rates. Percentiles from such a sample are as good as from every call; a clock read is
   * ~40 ns, a noticeable part of a fast call. Counts are always exact.
   */
  protected latencySampled(start: number): boolean {
    if (!this.defaultClock || (++this.latencyCalls & 7) === 0 || start - this.latencySampledAt >= 50) {
      this.latencySampledAt = start;
      return true;
    }
    return false;
  }

  /** The time an execution starts: the one its pipeline handed down, if any, else the clock's. */
  protected startTime(): number {
    const t = handedTime;
    return t !== undefined && this.defaultClock ? t : this.now();
  }

  /** The time a pipeline handed down to the policies it is starting (default clock only), if any. */
  protected handedTime(): number | undefined {
    return this.defaultClock ? handedTime : undefined;
  }

  /** Emits a success event (allocating it only when someone listens). */
  protected emitSuccess(durationMs: number): void {
    const e = this.successes;
    if (e !== undefined && e.size > 0) e.emit({ durationMs });
  }

  protected emitFailure(durationMs: number, handled: boolean, reason: FailureEvent['reason']): void {
    const e = this.failures;
    if (e !== undefined && e.size > 0) e.emit({ durationMs, handled, reason });
  }
}

/** A policy that runs the function as is: a placeholder in pipelines built from configuration. */
export class NoopPolicy extends BasePolicy {
  readonly kind = 'noop' as const;
  constructor(options: CommonPolicyOptions = {}) {
    super('noop', options);
  }
  run<T>(fn: PolicyFn<T>, ctx: PolicyContext): Promise<T> {
    return invoke(fn, ctx);
  }
}
