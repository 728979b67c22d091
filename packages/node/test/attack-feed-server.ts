/**
 * A real HTTP peer speaking the attack feed protocol (docs/ARCHITECTURE.md, "Wire protocol"), for testing
 * the SDK's client: `GET /api/attacks/feed` as server-sent events (`event: snapshot`, `{body, sig}`
 * envelopes), `?poll=1`, and `POST /api/attacks/{id}/report`. It is not labcoat's server (that one
 * is tested end to end in packages/labcoat/test/attacks-e2e.test.ts); it lets a test break the
 * feed on purpose: go down, stall, sign with the wrong key, refuse the stream.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FeedServerOptions {
  key: string;
  leaseMs: number;
  /** Heartbeat period; default leaseMs / 3. */
  heartbeatMs?: number;
}

export type FeedMode =
  /** Normal service. */
  | 'ok'
  /** Every request gets 503 and open streams are cut. */
  | 'down'
  /** Streams stay open but nothing is sent; polls hang. */
  | 'stall'
  /** The stream endpoint answers 500; polls work. */
  | 'no-sse';

export class FeedServer {
  readonly server: http.Server;
  url = '';
  mode: FeedMode = 'ok';
  /** Key used to sign; change it to sign with a wrong key. */
  signKey: string;
  attacks: unknown[] = [];
  leaseMs: number;
  seq = 0;
  readonly streams = new Set<http.ServerResponse>();
  readonly reports: { id: string; injections: number; auth: string | undefined }[] = [];
  readonly feedRequests: { poll: boolean; auth: string | undefined }[] = [];
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly options: FeedServerOptions) {
    this.signKey = options.key;
    this.leaseMs = options.leaseMs;
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.heartbeat = setInterval(() => {
      if (this.mode === 'ok') this.broadcast();
    }, this.options.heartbeatMs ?? Math.max(20, Math.floor(this.leaseMs / 3)));
    return this;
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const s of this.streams) s.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** The signed envelope of the current snapshot. */
  envelope(): string {
    const body = JSON.stringify({ v: 1, attacks: this.attacks, leaseMs: this.leaseMs, serverTime: Date.now(), seq: ++this.seq });
    const sig = createHmac('sha256', this.signKey).update(body).digest('base64url');
    return JSON.stringify({ body, sig });
  }

  /** Pushes a snapshot to every open stream now (what the server does on create/halt). */
  broadcast(raw?: string): void {
    const data = raw ?? this.envelope();
    for (const s of this.streams) s.write(`event: snapshot\ndata: ${data}\n\n`);
  }

  /** Replaces the attacks and pushes at once. */
  publish(attacks: unknown[]): void {
    this.attacks = attacks;
    this.broadcast();
  }

  /** Cuts every open stream. */
  cut(): void {
    for (const s of this.streams) s.destroy();
    this.streams.clear();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization;
    if (req.method === 'POST' && /^\/api\/attacks\/[^/]+\/report$/.test(url.pathname)) {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (text += c));
      req.on('end', () => {
        if (this.mode === 'down') return void res.writeHead(503).end();
        const id = decodeURIComponent(url.pathname.split('/')[3]!);
        this.reports.push({ id, injections: (JSON.parse(text) as { injections: number }).injections, auth });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
      return;
    }
    if (req.method !== 'GET' || url.pathname !== '/api/attacks/feed') return void res.writeHead(404).end();
    const poll = url.searchParams.get('poll') === '1';
    this.feedRequests.push({ poll, auth });
    if (this.mode === 'down') return void res.writeHead(503).end();
    if (this.mode === 'stall') {
      if (!poll) res.writeHead(200, { 'content-type': 'text/event-stream' }).flushHeaders();
      return; // hangs until the client gives up
    }
    if (poll) return void res.writeHead(200, { 'content-type': 'application/json' }).end(this.envelope());
    if (this.mode === 'no-sse') return void res.writeHead(500).end('no streams here');
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(`: labcoat attack feed\n\nevent: snapshot\ndata: ${this.envelope()}\n\n`);
    this.streams.add(res);
    res.on('close', () => this.streams.delete(res));
  }
}

/** Waits until `cond()` holds, polling every `stepMs`, at most `maxMs`; returns whether it held. */
export async function waitFor(cond: () => boolean, maxMs = 5000, stepMs = 5): Promise<boolean> {
  const until = Date.now() + maxMs;
  while (Date.now() < until) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return cond();
}

/** An attack definition as the control plane sends it. */
export function attack(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    name: `test ${id}`,
    target: { services: ['recs'] },
    fault: { kind: 'status', status: 503 },
    percentage: 100,
    durationMs: 60_000,
    createdAt: Date.now(),
    expiresAt: Date.now() + 60_000,
    state: 'active',
    ...extra,
  };
}
