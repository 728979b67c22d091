import { AsyncLocalStorage } from 'node:async_hooks';
import { Baggage, type CompiledPlan } from '@labcoat/core';

/**
 * What labcoat knows about the request being served: its trace position, its baggage (forwarded
 * as received), the verified fault plan if any, and per-point attempt counters (for rules that
 * fire on the first N attempts only).
 */
export class RequestContext {
  /** Attempts made so far per injection point id, within this request in this process (made on first use). */
  private attemptsByPoint: Map<string, number> | undefined;
  /** Dependency calls started so far by this request in this process. */
  calls = 0;
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
  ) {}

  /** Counts one more attempt at a point and returns its 1-based number. */
  nextAttempt(pointId: string): number {
    const attempts = (this.attemptsByPoint ??= new Map());
    const n = (attempts.get(pointId) ?? 0) + 1;
    attempts.set(pointId, n);
    return n;
  }

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
