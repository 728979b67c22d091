import { ATTR, LabcoatInputError } from '@labcoat/core';
import { BulkheadRejectedError } from './errors.js';
import { EventEmitter, type Event } from './events.js';
import { BasePolicy, invoke, NEVER, type CommonPolicyOptions, type PolicyContext, type PolicyFn } from './policy.js';
import { abortError, addAbortListener, removeAbortListener } from './signals.js';
import { Outcome } from './stats.js';
import { checkDuration, checkInteger } from './validate.js';

/** Options of {@link bulkhead}. */
export interface BulkheadOptions extends CommonPolicyOptions {
  /** How many executions may run at once (≥ 1). */
  maxConcurrent: number;
  /** How many more may wait, first in first out, for a free slot (≥ 0, `Infinity` allowed; default 0). */
  maxQueue?: number;
  /**
   * How long a call may wait in the queue before it is refused with a `BulkheadRejectedError`
   * (ms, default: as long as it takes).
   */
  queueTimeoutMs?: number;
}

/** Emitted when the bulkhead refuses a call. */
export interface BulkheadRejectEvent {
  /** `full`: no slot and no room in the queue; `queue-timeout`: it waited `queueTimeoutMs` in vain. */
  readonly reason: 'full' | 'queue-timeout';
  /** Executions running when it was refused. */
  readonly active: number;
  /** Calls waiting when it was refused. */
  readonly queued: number;
}

/** A call waiting for a slot: a node of the bulkhead's doubly linked FIFO queue. */
class Waiter<T> {
  prev: Waiter<unknown> | undefined = undefined;
  next: Waiter<unknown> | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  resolve!: (value: T | PromiseLike<T>) => void;
  reject!: (error: unknown) => void;
  constructor(
    readonly fn: PolicyFn<T>,
    readonly ctx: PolicyContext,
    readonly start: number,
  ) {}
}

/**
 * Limits how many executions run at once, with an optional FIFO queue for the ones that arrive
 * while it is full; anything beyond is refused at once with a {@link BulkheadRejectedError}, so a
 * slow dependency cannot take every socket, worker or connection of the process with it.
 *
 * A queued call whose signal aborts leaves the queue at once (rejecting with the signal's reason),
 * and one that waited `queueTimeoutMs` is refused. A slot is held until the function settles,
 * whether or not its caller still waits for it. Spans get `labcoat.bulkhead.queued` when the call
 * waited and `labcoat.bulkhead.rejected` when it was refused.
 *
 * @example
 * const pool = bulkhead({ maxConcurrent: 10, maxQueue: 50, queueTimeoutMs: 2_000 });
 * pool.onReject(({ reason }) => log.warn(`bulkhead refused a call: ${reason}`));
 * const rows = await pool.execute(({ signal }) => db.query(sql, { signal }));
 */
export class BulkheadPolicy extends BasePolicy {
  readonly kind = 'bulkhead' as const;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  /** Queue wait limit in ms (`Infinity`: none). */
  readonly queueTimeoutMs: number;
  private running = 0;
  private waiting = 0;
  private head: Waiter<unknown> | undefined = undefined;
  private tail: Waiter<unknown> | undefined = undefined;
  private readonly rejectEmitter = new EventEmitter<BulkheadRejectEvent>();
  /** Fires when a call is refused (bulkhead and queue full, or the queue wait timed out). */
  readonly onReject: Event<BulkheadRejectEvent> = this.rejectEmitter.event;

  constructor(options: BulkheadOptions) {
    super('bulkhead', options);
    const o = options ?? ({} as BulkheadOptions);
    if (o.maxConcurrent === undefined) throw new LabcoatInputError('bulkhead option "maxConcurrent"', 'is required: a whole number ≥ 1');
    this.maxConcurrent = checkInteger('bulkhead', 'maxConcurrent', o.maxConcurrent, 1, 1);
    this.maxQueue = checkInteger('bulkhead', 'maxQueue', o.maxQueue, 0, 0, Infinity);
    this.queueTimeoutMs = o.queueTimeoutMs === Infinity ? Infinity : checkDuration('bulkhead', 'queueTimeoutMs', o.queueTimeoutMs, Infinity);
  }

  /** Execution slots free right now. */
  get executionSlots(): number {
    return this.maxConcurrent - this.running;
  }

  /** Queue places free right now. */
  get queueSlots(): number {
    return this.maxQueue - this.waiting;
  }

  /** Executions running. */
  get active(): number {
    return this.running;
  }

  /** Calls waiting in the queue. */
  get queued(): number {
    return this.waiting;
  }

  run<T>(fn: PolicyFn<T>, ctx: PolicyContext): Promise<T> {
    const start = this.startTime();
    if (ctx.signal.aborted) return this.cancelled(ctx.signal, start);
    if (this.running < this.maxConcurrent) {
      this.running++;
      return this.start(fn, ctx, start);
    }
    if (this.waiting < this.maxQueue) return this.enqueue(fn, ctx, start);
    return this.refuse(ctx, start, 'full');
  }

  /** Runs `fn` in a slot already taken for it; the slot goes to the next waiter when it settles. */
  private start<T>(fn: PolicyFn<T>, ctx: PolicyContext, start: number): Promise<T> {
    return invoke(fn, ctx).then(
      (value) => {
        this.release();
        const end = this.now();
        const d = end - start;
        this.stats.record(Outcome.success, d, end);
        this.emitSuccess(d);
        return value;
      },
      (error: unknown) => {
        this.release();
        const end = this.now();
        const d = end - start;
        const cancelled = ctx.signal.aborted;
        this.stats.record(cancelled ? Outcome.cancelled : Outcome.failure, d, end);
        this.emitFailure(d, !cancelled, { error });
        throw error;
      },
    );
  }

  /** Frees a slot: hands it straight to the oldest waiter, if any. */
  private release(): void {
    const w = this.head;
    if (w === undefined) {
      this.running--;
      return;
    }
    this.unlink(w);
    w.resolve(this.start(w.fn, w.ctx, w.start));
  }

  private enqueue<T>(fn: PolicyFn<T>, ctx: PolicyContext, start: number): Promise<T> {
    ctx.span?.setAttribute(ATTR.bulkheadQueued, true);
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
    this.waiting++;
    const signal = ctx.signal;
    if (signal !== NEVER) {
      w.onAbort = () => {
        this.unlink(node);
        w.reject(this.cancelledError(signal, start));
      };
      addAbortListener(signal, w.onAbort);
    }
    if (this.queueTimeoutMs !== Infinity) {
      w.timer = setTimeout(() => {
        w.timer = undefined;
        this.unlink(node);
        w.reject(this.refusal(ctx, start, 'queue-timeout'));
      }, this.queueTimeoutMs);
    }
    return promise;
  }

  /** Takes a waiter out of the queue and drops its timer and abort listener. */
  private unlink(w: Waiter<unknown>): void {
    if (w.prev === undefined) this.head = w.next;
    else w.prev.next = w.next;
    if (w.next === undefined) this.tail = w.prev;
    else w.next.prev = w.prev;
    w.prev = w.next = undefined;
    this.waiting--;
    if (w.timer !== undefined) {
      clearTimeout(w.timer);
      w.timer = undefined;
    }
    if (w.onAbort !== undefined) {
      removeAbortListener(w.ctx.signal, w.onAbort);
      w.onAbort = undefined;
    }
  }

  private refuse<T>(ctx: PolicyContext, start: number, reason: BulkheadRejectEvent['reason']): Promise<T> {
    return Promise.reject(this.refusal(ctx, start, reason));
  }

  private refusal(ctx: PolicyContext, start: number, reason: BulkheadRejectEvent['reason']): BulkheadRejectedError {
    ctx.span?.setAttribute(ATTR.bulkheadRejected, true);
    this.stats.record(Outcome.rejected, this.now() - start);
    if (this.rejectEmitter.size > 0) this.rejectEmitter.emit({ reason, active: this.running, queued: this.waiting });
    return new BulkheadRejectedError(this.name, this.running, this.waiting);
  }

  private cancelled<T>(signal: AbortSignal, start: number): Promise<T> {
    return Promise.reject(this.cancelledError(signal, start));
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
 * Makes a {@link BulkheadPolicy}: `bulkhead(10, 50)` runs at most 10 executions at once with up to
 * 50 more waiting; or `bulkhead({ maxConcurrent, maxQueue, queueTimeoutMs })`.
 *
 * @example
 * const limit = bulkhead(4, 16, { name: 'thumbnails' });
 * await limit.execute(() => render(image));
 */
export function bulkhead(options: BulkheadOptions): BulkheadPolicy;
export function bulkhead(maxConcurrent: number, maxQueue?: number, options?: Omit<BulkheadOptions, 'maxConcurrent' | 'maxQueue'>): BulkheadPolicy;
export function bulkhead(limit: number | BulkheadOptions, queue = 0, options: Omit<BulkheadOptions, 'maxConcurrent' | 'maxQueue'> = {}): BulkheadPolicy {
  return typeof limit === 'object' && limit !== null ? new BulkheadPolicy(limit) : new BulkheadPolicy({ ...options, maxConcurrent: limit, maxQueue: queue });
}
