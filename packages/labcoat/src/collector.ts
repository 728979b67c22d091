import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fromOtlpJson, type SpanData } from '@labcoat/core';

export interface CollectorOptions {
  port?: number;
  host?: string;
  /** Largest accepted request body; larger gets 413. Default 8 MiB. */
  maxBodyBytes?: number;
  /** Spans kept at most (oldest dropped first). Default 200,000. */
  maxSpans?: number;
}

/**
 * An in-process OTLP/HTTP JSON receiver (`POST /v1/traces`) that keeps spans in memory. Malformed
 * bodies get 400 with the reason, oversized ones 413; nothing a client sends can crash it.
 *
 * @example
 * const collector = await startCollector();
 * // services export to collector.url
 * const spans = await collector.waitForTrace(traceId, (s) => s.length >= 3);
 */
export class Collector {
  readonly spans: SpanData[] = [];
  /** The same spans by trace id, so that looking up one trace does not scan them all. */
  private readonly byTrace = new Map<string, SpanData[]>();
  private waiters = new Set<() => void>();
  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    private readonly maxSpans: number,
  ) {}

  static async start(options: CollectorOptions = {}): Promise<Collector> {
    const maxBody = options.maxBodyBytes ?? 8 * 1024 * 1024;
    let collector: Collector | undefined;
    const server = http.createServer((req, res) => {
      const reply = (status: number, body: object): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/v1/traces') return reply(404, { error: 'POST /v1/traces only' });
      const type = req.headers['content-type'] ?? '';
      if (!type.includes('json')) return reply(415, { error: 'only OTLP/HTTP JSON (content-type: application/json) is accepted' });
      const chunks: Buffer[] = [];
      let size = 0;
      let tooBig = false;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBody) tooBig = true;
        else chunks.push(c);
      });
      req.on('end', () => {
        if (tooBig) return reply(413, { error: `body over ${maxBody} bytes` });
        let spans: SpanData[];
        try {
          spans = fromOtlpJson(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          return reply(400, { error: e instanceof SyntaxError ? `body is not JSON: ${e.message}` : (e as Error).message });
        }
        collector?.add(spans);
        reply(200, { partialSuccess: {} });
      });
      req.on('error', () => res.destroy());
    });
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    const { port } = server.address() as AddressInfo;
    collector = new Collector(server, `http://${options.host ?? '127.0.0.1'}:${port}/v1/traces`, options.maxSpans ?? 200_000);
    return collector;
  }

  private add(spans: SpanData[]): void {
    this.spans.push(...spans);
    for (const s of spans) {
      const list = this.byTrace.get(s.traceId);
      if (list) list.push(s);
      else this.byTrace.set(s.traceId, [s]);
    }
    if (this.spans.length > this.maxSpans) {
      // Drop a tenth more than needed, so the index is not rebuilt on every batch once full.
      this.spans.splice(0, this.spans.length - Math.floor(this.maxSpans * 0.9));
      this.byTrace.clear();
      for (const s of this.spans) {
        const list = this.byTrace.get(s.traceId);
        if (list) list.push(s);
        else this.byTrace.set(s.traceId, [s]);
      }
    }
    for (const w of this.waiters) w();
  }

  /** Spans of one trace received so far. */
  trace(traceId: string): SpanData[] {
    return [...(this.byTrace.get(traceId) ?? [])];
  }

  /** Waits until the trace's spans satisfy `done`, or `timeoutMs` passes; returns what arrived. */
  async waitForTrace(traceId: string, done: (spans: SpanData[]) => boolean, timeoutMs = 10_000): Promise<SpanData[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const spans = this.trace(traceId);
      const left = deadline - Date.now();
      if (done(spans) || left <= 0) return spans;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(finish, Math.min(left, 200));
        function finish(): void {
          clearTimeout(timer);
          waiters.delete(finish);
          resolve();
        }
        const waiters = this.waiters;
        waiters.add(finish);
      });
    }
  }

  clear(): void {
    this.spans.length = 0;
    this.byTrace.clear();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Faults under which the dependency is never called, so no server span follows the client span. */
const NO_CALL_FAULTS = /^(error|status|hang)(:|$)/;

/**
 * The rule for "this execution's spans have all arrived": exactly one span has no parent in the
 * trace, and it is the entry service's server span — the one whose parent is the span id the
 * workload sent in its `traceparent` (`entryParent`), or that has no parent; every other span's parent
 * has arrived; every server span that says how many calls it started (`labcoat.calls`) has that
 * many client spans as children; and every HTTP client span (one with `url.full`) whose call was
 * really made has its callee's server span as a child. Calls faulted with error, status or hang
 * were never made; generic points have no server side. A service that drops context breaks the
 * first condition; a call started after the response ended is not waited for.
 */
export function isTraceComplete(spans: readonly SpanData[], entryParent?: string): boolean {
  const ids = new Set(spans.map((s) => s.spanId));
  const orphans = spans.filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId));
  const entry = orphans[0];
  if (orphans.length !== 1 || entry!.kind !== 'server' || (entry!.parentSpanId ?? undefined) !== entryParent) return false;
  const served = new Set(spans.filter((s) => s.kind === 'server' && s.parentSpanId).map((s) => s.parentSpanId));
  // A call made under a resilience policy is a child of the policy's internal span, not of the
  // server span that counted it: charge it to the nearest server ancestor.
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const serverOf = (s: SpanData): string | undefined => {
    let parent = s.parentSpanId === undefined ? undefined : byId.get(s.parentSpanId);
    for (let hops = 0; parent && parent.kind === 'internal' && hops < 64; hops++) parent = parent.parentSpanId === undefined ? undefined : byId.get(parent.parentSpanId);
    return parent?.kind === 'server' ? parent.spanId : undefined;
  };
  const callsUnder = new Map<string, number>();
  for (const s of spans) {
    if (s.kind !== 'client') continue;
    const server = serverOf(s);
    if (server !== undefined) callsUnder.set(server, (callsUnder.get(server) ?? 0) + 1);
  }
  return spans.every((s) => {
    const calls = s.attributes['labcoat.calls'];
    if (s.kind === 'server' && typeof calls === 'number' && (callsUnder.get(s.spanId) ?? 0) < calls) return false;
    if (s.kind !== 'client' || s.attributes['url.full'] === undefined) return true;
    const fault = s.attributes['labcoat.fault'];
    if (typeof fault === 'string' && NO_CALL_FAULTS.test(fault)) return true;
    return served.has(s.spanId);
  });
}
