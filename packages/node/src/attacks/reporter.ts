import type { LabcoatStats } from '../stats.js';

/** Sends one attack's count; see FeedTransport.report. */
export type SendReport = (id: string, injections: number, timeoutMs: number) => Promise<'ok' | 'drop' | 'retry'>;

/** Attacks counted at once; counts of more are held until the next batch. */
const MAX_PENDING = 1000;
const MAX_PER_BATCH = 100;
const REQUEST_TIMEOUT_MS = 5000;

/**
 * Counts injections per attack and reports them in batches (`POST /api/attacks/{id}/report
 * {injections}`) every `intervalMs`. The timer runs only while there is something to send and is
 * unref'd; a failed report keeps its count for the next batch (bounded by MAX_PENDING attacks).
 */
export class InjectionReporter {
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly send: SendReport,
    private readonly intervalMs: number,
    private readonly stats: LabcoatStats,
  ) {}

  count(id: string): void {
    if (this.closed) return;
    const n = this.pending.get(id);
    if (n !== undefined) this.pending.set(id, n + 1);
    else if (this.pending.size < MAX_PENDING) this.pending.set(id, 1);
    if (!this.timer && !this.sending) this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.pending.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Sends what is pending (one batch). */
  flush(timeoutMs = REQUEST_TIMEOUT_MS): Promise<void> {
    if (this.sending) return this.sending;
    if (this.pending.size === 0) return Promise.resolve();
    const batch: [string, number][] = [];
    for (const entry of this.pending) {
      batch.push(entry);
      if (batch.length >= MAX_PER_BATCH) break;
    }
    for (const [id] of batch) this.pending.delete(id);
    this.sending = (async () => {
      for (const [id, n] of batch) {
        const result = await this.send(id, n, timeoutMs);
        if (result === 'ok') this.stats.attacks.reported += n;
        else if (result === 'retry') {
          this.stats.attacks.reportFailures++;
          if (!this.closed) this.pending.set(id, (this.pending.get(id) ?? 0) + n);
        }
      }
    })().finally(() => {
      this.sending = undefined;
      if (!this.timer) this.schedule();
    });
    return this.sending;
  }

  /** Stops the timer and makes a last, short attempt to send what is pending. */
  async close(timeoutMs: number): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.closed = true;
    if (this.sending) await this.sending;
    await this.flush(timeoutMs);
  }
}
