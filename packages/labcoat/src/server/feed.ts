/**
 * The attack feed: what SDKs subscribe to (`GET /api/attacks/feed`, docs/ARCHITECTURE.md "Wire
 * protocol"). Every message is a signed snapshot of the active attacks, `{"body":"<JSON>","sig":"<MAC>"}`,
 * sent on connect, at once on every change (this replica's, or another's through the store's
 * notifications), when an attack expires, and as a heartbeat every `leaseMs / 3`. When the store
 * cannot be read, no heartbeat goes out, so the SDKs' leases lapse and they stop injecting.
 */
import type { PlanMac } from '@labcoat/core';
import type { AttackRecord, Store } from '../store/types.js';
import type { SseWriter } from './http.js';

/** An attack as the feed carries it. */
export function feedAttack(a: AttackRecord): Record<string, unknown> {
  return {
    id: a.id,
    ...(a.name !== undefined ? { name: a.name } : {}),
    target: a.target,
    ...(a.labels !== undefined ? { labels: a.labels } : {}),
    ...(a.entry !== undefined ? { entry: a.entry } : {}),
    fault: a.fault,
    percentage: a.percentage,
    durationMs: a.durationMs,
    createdAt: a.createdAt,
    expiresAt: a.expiresAt,
    state: 'active',
  };
}

export class AttackFeed {
  private readonly clients = new Set<SseWriter>();
  private attacks: readonly AttackRecord[] = [];
  private loaded = false;
  private seq = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private expiry: NodeJS.Timeout | undefined;
  private failing = false;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly mac: PlanMac | undefined,
    readonly leaseMs: number,
    private readonly log: (line: string) => void,
  ) {}

  get enabled(): boolean {
    return this.mac !== undefined;
  }

  get subscribers(): number {
    return this.clients.size;
  }

  start(): void {
    const every = Math.max(50, Math.floor(this.leaseMs / 3));
    this.heartbeat = setInterval(() => void this.refresh(), every);
    this.heartbeat.unref();
    void this.store.expireAttacks(Date.now()).catch(() => {});
    void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.expiry) clearTimeout(this.expiry);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  /** Reloads the active attacks and pushes a snapshot to every subscriber; concurrent calls coalesce. */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      for (let round = 0; round < 10; round++) {
        this.again = false;
        await this.reload();
        if (!this.again || this.stopped) break;
      }
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async reload(): Promise<void> {
    const now = Date.now();
    try {
      if (this.attacks.some((a) => a.expiresAt <= now)) await this.store.expireAttacks(now);
      this.attacks = await this.store.activeAttacks(now);
      this.loaded = true;
      if (this.failing) this.log('labcoat: the store answers again; attack feed resumed');
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.log(`labcoat: cannot read attacks from the store (${(e as Error).message}); the feed sends nothing until it can, so SDK leases lapse`);
      this.failing = true;
      return;
    }
    this.scheduleExpiry();
    if (this.clients.size === 0 || !this.mac) return;
    const message = this.message();
    for (const c of this.clients) if (!c.send('snapshot', message)) this.clients.delete(c);
  }

  private scheduleExpiry(): void {
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = undefined;
    if (this.attacks.length === 0 || this.stopped) return;
    const next = Math.min(...this.attacks.map((a) => a.expiresAt));
    const wait = next - Date.now();
    if (wait > this.leaseMs) return; // a heartbeat comes first and reschedules
    this.expiry = setTimeout(() => void this.refresh(), Math.max(0, wait) + 1);
    this.expiry.unref();
  }

  /** The signed envelope of the current snapshot, as the SSE `data` and the poll answer carry it. */
  message(): string {
    if (!this.mac) throw new Error('no key');
    const now = Date.now();
    const body = JSON.stringify({ v: 1, attacks: this.attacks.filter((a) => a.expiresAt > now).map(feedAttack), leaseMs: this.leaseMs, serverTime: now, seq: ++this.seq });
    return JSON.stringify({ body, sig: this.mac.sign(body) });
  }

  /** The current snapshot, freshly read (poll fallback); throws when the store cannot be read. */
  async poll(): Promise<string> {
    const now = Date.now();
    this.attacks = await this.store.activeAttacks(now);
    this.loaded = true;
    return this.message();
  }

  /** Adds an SSE subscriber and sends it a fresh snapshot at once. */
  async subscribe(writer: SseWriter, onClose: (fn: () => void) => void): Promise<void> {
    if (!this.loaded || this.failing) await this.reload();
    else this.attacks = await this.store.activeAttacks(Date.now());
    this.clients.add(writer);
    onClose(() => this.clients.delete(writer));
    writer.send('snapshot', this.message());
  }
}
