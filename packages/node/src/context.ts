import { AsyncLocalStorage } from 'node:async_hooks';
import { Baggage, type CompiledPlan } from '@labcoat/core';
import type { AttackMark } from './attacks/mark.js';

/**
 * What labcoat knows about the request being served: its trace position, its baggage (forwarded
 * as received), the verified fault plan if any, and per-point attempt counters (for rules that
 * fire on the first N attempts only).
 */
export class RequestContext {
  constructor(
    readonly traceId: string,
    /** The span that outbound calls become children of. */
    readonly spanId: string,
    readonly flags: number,
    readonly tracestate: string | undefined,
    readonly baggage: Baggage,
    readonly plan: CompiledPlan | undefined,
    /** Set by server adapters once the framework knows the route template. */
    public route?: string,
    /** Shared by a request's context and its children (policy scopes). */
    private readonly counters: RequestCounters = { calls: 0, attempts: undefined, mark: undefined },
  ) {}

  /** The request's verified attack mark: undefined until first looked at, null when absent or invalid. */
  get attackMark(): AttackMark | null | undefined {
    return this.counters.mark;
  }
  set attackMark(mark: AttackMark | null | undefined) {
    this.counters.mark = mark;
  }

  /** Dependency calls started so far by this request in this process. */
  get calls(): number {
    return this.counters.calls;
  }
  set calls(n: number) {
    this.counters.calls = n;
  }

  /**
   * The same request seen from inside a child span (a policy execution): calls made in it become
   * that span's children, and attempts and calls are still counted per request.
   */
  child(spanId: string): RequestContext {
    return new RequestContext(this.traceId, spanId, this.flags, this.tracestate, this.baggage, this.plan, this.route, this.counters);
  }

  /** Counts one more attempt at a point and returns its 1-based number. */
  nextAttempt(pointId: string): number {
    const attempts = (this.counters.attempts ??= new Map());
    const n = (attempts.get(pointId) ?? 0) + 1;
    attempts.set(pointId, n);
    return n;
  }

}

/** Per-request counters; attempts per injection point id are made on first use. */
interface RequestCounters {
  calls: number;
  attempts: Map<string, number> | undefined;
  mark: AttackMark | null | undefined;
}

/** One store for the whole process, so every labcoat instance and adapter sees the same request. */
const KEY = Symbol.for('labcoat.context.storage');
const globalSlot = globalThis as unknown as Record<symbol, AsyncLocalStorage<RequestContext> | undefined>;
export const storage: AsyncLocalStorage<RequestContext> = (globalSlot[KEY] ??= new AsyncLocalStorage<RequestContext>());

/** The context of the request being served, if any. */
export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Runs `fn` with `ctx` as the current request context. */
export function runWithContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}
