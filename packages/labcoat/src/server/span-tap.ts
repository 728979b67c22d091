/**
 * Where a campaign's explore run reads spans from: the spans this server ingests. While a campaign
 * runs, committed spans are also kept in memory by trace (bounded); a trace that is not complete
 * there is also read from the store, which holds what other replicas ingested.
 */
import type { SpanData } from '@labcoat/core';
import type { SpanSource } from '../explore/trace.js';
import type { Store } from '../store/types.js';

export class SpanTap {
  private readonly byTrace = new Map<string, SpanData[]>();
  private readonly all: SpanData[] = [];
  private readonly waiters = new Set<() => void>();
  private users = 0;

  constructor(
    private readonly store: Store,
    /** Where services send spans (for the explore run's error messages). */
    public ingestUrl: string,
    private readonly maxSpans = 200_000,
  ) {}

  /** Called with every committed batch. */
  add(spans: readonly SpanData[]): void {
    if (this.users === 0) return;
    for (const s of spans) {
      let list = this.byTrace.get(s.traceId);
      if (!list) this.byTrace.set(s.traceId, (list = []));
      list.push(s);
      this.all.push(s);
    }
    if (this.all.length > this.maxSpans) {
      const dropped = this.all.splice(0, this.all.length - this.maxSpans);
      for (const s of dropped) {
        const list = this.byTrace.get(s.traceId);
        if (!list) continue;
        const i = list.indexOf(s);
        if (i !== -1) list.splice(i, 1);
        if (list.length === 0) this.byTrace.delete(s.traceId);
      }
    }
    for (const w of [...this.waiters]) w();
  }

  /** A span source for one campaign; call `release` when it ends. */
  acquire(): { source: SpanSource; release: () => void } {
    this.users++;
    let released = false;
    const tap = this;
    const source: SpanSource = {
      url: this.ingestUrl,
      get spans() {
        return tap.all;
      },
      trace: (traceId) => this.byTrace.get(traceId) ?? [],
      waitForTrace: (traceId, done, timeoutMs) => this.waitForTrace(traceId, done, timeoutMs),
    };
    return {
      source,
      release: () => {
        if (released) return;
        released = true;
        this.users--;
        if (this.users === 0) {
          this.byTrace.clear();
          this.all.length = 0;
        }
      },
    };
  }

  private async waitForTrace(traceId: string, done: (spans: SpanData[]) => boolean, timeoutMs: number): Promise<readonly SpanData[]> {
    const deadline = Date.now() + timeoutMs;
    let nextStoreRead = Date.now() + 250;
    for (let round = 0; round < 100_000; round++) {
      const local = this.byTrace.get(traceId) ?? [];
      if (done(local)) return local;
      const now = Date.now();
      if (now >= nextStoreRead || now >= deadline) {
        nextStoreRead = now + 250;
        const stored = await this.store.trace(traceId).catch(() => [] as SpanData[]);
        if (stored.length > local.length && done(stored)) return stored;
        if (now >= deadline) return stored.length > local.length ? stored : local;
      }
      const left = Math.min(deadline, nextStoreRead) - Date.now();
      await new Promise<void>((resolve) => {
        const finish = (): void => {
          clearTimeout(timer);
          this.waiters.delete(finish);
          resolve();
        };
        const timer = setTimeout(finish, Math.max(1, left));
        this.waiters.add(finish);
      });
    }
    return this.byTrace.get(traceId) ?? [];
  }
}
