/**
 * An EVCache-like client: a cache replicated in three zones (one process each, `evcache-a`,
 * `evcache-b`, `evcache-c`). Writes go to every zone; reads try the reader's local zone first,
 * then the other zones in order, and finally the source of truth, writing what it returned back
 * to every zone.
 *
 * The zones speak a tiny line protocol over TCP (one JSON object per line, like memcached's text
 * protocol in spirit), so the HTTP interceptors do not see these calls: each zone call is a generic
 * injection point, `point('evcache-<zone>:get' | ':set', …, { route: <app> })`, whose id is
 * `<caller>->evcache-<zone> get <app>`. The trace context of the calling request travels in the
 * line, so the zones' spans join the request's trace (as children of the caller's span).
 */
import net from 'node:net';
import { currentContext, outboundHeaders, point } from '@labcoat/node';
import { timeout, type TimeoutPolicy } from '@labcoat/node/policies';
import { bugOn } from './bugs.js';
import { addressOf } from './service.js';

export type Zone = 'a' | 'b' | 'c';
export const ZONES: readonly Zone[] = ['a', 'b', 'c'];

/** One request line. */
export interface KvRequest {
  op: 'get' | 'set';
  /** The cache's application namespace (`titles`, `artwork`). */
  app: string;
  keys?: string[];
  items?: Record<string, string>;
  traceparent?: string;
  tracestate?: string;
  baggage?: string;
}

/** One answer line. */
export interface KvResponse {
  ok: boolean;
  values?: Record<string, string | null>;
  error?: string;
}

/** Sends one request line to a zone and reads one answer line. Aborts (destroying the socket) with the signal. */
export function kvCall(host: string, port: number, request: KvRequest, signal?: AbortSignal): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const socket = net.connect({ host, port });
    let buf = '';
    let done = false;
    const finish = (err: unknown, line?: string): void => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(line!);
    };
    const onAbort = (): void => finish(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl !== -1) finish(undefined, buf.slice(0, nl));
      else if (buf.length > 1_000_000) finish(new Error('evcache: answer too long'));
    });
    socket.on('error', (e) => finish(e));
    socket.on('close', () => finish(Object.assign(new Error('evcache: connection closed before the answer'), { code: 'ECONNRESET' })));
    socket.write(`${JSON.stringify(request)}\n`);
  });
}

/** What one read found, zone by zone (for the response bodies that show how a request was served). */
export interface ReadTrace {
  /** `a:hit`, `a:miss`, `b:error`, `source:hit`… in the order tried. */
  readonly steps: string[];
}

export interface EVCacheOptions {
  /** The cache's application namespace, part of every point id (`titles`, `artwork`). */
  app: string;
  /** The reader's own zone: read first. */
  localZone: Zone;
  /** Timeout of each zone read (default 60 ms). */
  readTimeoutMs?: number;
}

/**
 * A client for one cache application. `getMany` answers what the zones have; `getOrLoad` also asks
 * the source of truth for what no zone had, and writes that back to every zone.
 */
export class EVCache {
  readonly app: string;
  readonly localZone: Zone;
  /** Local zone first, then the others in a fixed order. */
  readonly readOrder: readonly Zone[];
  private readonly readTimeout: TimeoutPolicy;

  constructor(options: EVCacheOptions) {
    this.app = options.app;
    this.localZone = options.localZone;
    this.readOrder = [options.localZone, ...ZONES.filter((z) => z !== options.localZone)];
    this.readTimeout = timeout({ timeoutMs: options.readTimeoutMs ?? 60, name: `evcache-${options.app}-read` });
  }

  /** Reads keys zone by zone: each zone is asked for what the previous ones did not have. */
  async getMany(keys: readonly string[], signal: AbortSignal, trace?: ReadTrace): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    let missing = [...new Set(keys)];
    for (const [i, zone] of this.readOrder.entries()) {
      if (missing.length === 0) break;
      const ask = missing;
      const read = (s: AbortSignal): Promise<Record<string, string | null>> => this.readZone(zone, ask, s);
      let values: Record<string, string | null>;
      try {
        // BUG evcache-fallback-no-timeout: only the local read was given a timeout; a hung
        // fallback zone holds the request until its deadline.
        values = i > 0 && bugOn('evcache-fallback-no-timeout') ? await read(signal) : await this.readTimeout.execute(({ signal: s }) => read(s), signal);
      } catch (e) {
        if (signal.aborted) throw e;
        trace?.steps.push(`${zone}:error`);
        continue;
      }
      const still: string[] = [];
      for (const k of ask) {
        const v = values[k];
        if (typeof v === 'string') found.set(k, v);
        else still.push(k);
      }
      trace?.steps.push(`${zone}:${still.length === 0 ? 'hit' : still.length === ask.length ? 'miss' : 'partial'}`);
      missing = still;
    }
    return found;
  }

  /**
   * Reads keys from the zones, then loads what none had from the source of truth and writes it back
   * to every zone (without waiting). `load` gets the missing keys and returns what it found.
   */
  async getOrLoad(keys: readonly string[], load: (missing: string[], signal: AbortSignal) => Promise<Map<string, string>>, signal: AbortSignal, trace?: ReadTrace): Promise<Map<string, string>> {
    const found = await this.getMany(keys, signal, trace);
    const missing = [...new Set(keys)].filter((k) => !found.has(k));
    if (missing.length === 0) return found;
    const loaded = await load(missing, signal);
    trace?.steps.push(`source:${loaded.size === missing.length ? 'hit' : loaded.size === 0 ? 'miss' : 'partial'}`);
    if (loaded.size > 0) void this.setAll(Object.fromEntries(loaded)).catch(() => {});
    for (const [k, v] of loaded) found.set(k, v);
    return found;
  }

  /** Writes to every zone; resolves with the zones that stored it. */
  async setAll(items: Record<string, string>): Promise<Zone[]> {
    const results = await Promise.allSettled(
      ZONES.map((zone) =>
        point(
          `evcache-${zone}:set`,
          async (signal) => {
            const line = await this.call(zone, { op: 'set', app: this.app, items }, signal ?? AbortSignal.timeout(200));
            if (!(JSON.parse(line) as KvResponse).ok) throw new Error(`evcache-${zone}: set refused`);
          },
          { route: this.app, signal: AbortSignal.timeout(200) },
        ),
      ),
    );
    return ZONES.filter((_, i) => results[i]!.status === 'fulfilled');
  }

  private async readZone(zone: Zone, keys: string[], signal: AbortSignal): Promise<Record<string, string | null>> {
    // The point returns the raw answer line, so a damaged answer (a malformed fault) fails to parse here.
    const line = await point(`evcache-${zone}:get`, (s) => this.call(zone, { op: 'get', app: this.app, keys }, s ?? signal), { route: this.app, signal });
    const answer = JSON.parse(line) as KvResponse;
    if (!answer.ok || answer.values === null || typeof answer.values !== 'object') throw new Error(`evcache-${zone}: ${answer.error ?? 'bad answer'}`);
    return answer.values;
  }

  private call(zone: Zone, request: KvRequest, signal: AbortSignal): Promise<string> {
    const ctx = currentContext();
    if (ctx) {
      const h = outboundHeaders(ctx.traceId, ctx.spanId, ctx.flags, ctx.tracestate, ctx.baggage);
      Object.assign(request, h);
    }
    const { host, port } = addressOf(`evcache-${zone}`);
    return kvCall(host, port, request, signal);
  }
}
