/**
 * Span ingestion with group commit: OTLP requests that arrive while a transaction is being written
 * wait and go into the next one together, so a busy server makes few, large transactions. A
 * request is answered 200 only after the transaction holding its spans has committed. The queue is
 * bounded: past `maxQueuedSpans` the server answers 503 with Retry-After (OTLP clients retry).
 */
import type { SpanData } from '@labcoat/core';
import type { Store } from '../store/types.js';

interface Pending {
  readonly spans: readonly SpanData[];
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

export class IngestQueue {
  private pending: Pending[] = [];
  private queued = 0;
  private writing = false;
  private scheduled = false;
  private idle: (() => void)[] = [];
  /** Spans written since start, and transactions. */
  spans = 0;
  transactions = 0;

  constructor(
    private readonly store: Store,
    private readonly onCommitted: (spans: readonly SpanData[]) => void,
    private readonly maxQueuedSpans = 200_000,
    private readonly maxSpansPerTransaction = 20_000,
  ) {}

  get full(): boolean {
    return this.queued >= this.maxQueuedSpans;
  }

  submit(spans: readonly SpanData[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ spans, resolve, reject });
      this.queued += spans.length;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.writing || this.scheduled) return;
    this.scheduled = true;
    // setImmediate lets the requests already read in this turn join the same transaction.
    setImmediate(() => {
      this.scheduled = false;
      void this.write();
    });
  }

  private async write(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.pending.length > 0) {
        const group: Pending[] = [];
        let n = 0;
        while (this.pending.length > 0 && (group.length === 0 || n + this.pending[0]!.spans.length <= this.maxSpansPerTransaction)) {
          const p = this.pending.shift()!;
          group.push(p);
          n += p.spans.length;
        }
        const all = group.length === 1 ? group[0]!.spans : group.flatMap((p) => p.spans);
        try {
          await this.store.ingest(all, Date.now());
          this.spans += all.length;
          this.transactions++;
          this.queued -= n;
          for (const p of group) p.resolve();
          try {
            this.onCommitted(all);
          } catch {
            // a listener's problem is not the client's
          }
        } catch (e) {
          this.queued -= n;
          for (const p of group) p.reject(e as Error);
        }
      }
    } finally {
      this.writing = false;
      const waiters = this.idle;
      this.idle = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves when everything submitted so far is written (or failed). */
  async flush(): Promise<void> {
    if (!this.writing && !this.scheduled && this.pending.length === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
    if (this.pending.length > 0) await this.flush();
  }
}
