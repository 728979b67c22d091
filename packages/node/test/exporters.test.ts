/**
 * Span exporters: OTLP/HTTP JSON against a real local collector (node:http or a raw TCP server
 * that never answers), and the bounded in-memory exporter.
 */
import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { fromOtlpJson, type SpanData } from '@labcoat/core';
import {
  InMemoryExporter,
  init,
  Labcoat,
  newStats,
  OtlpHttpExporter,
  point,
  wrapRequestListener,
  type LabcoatStats,
  type SpanExporter,
} from '../src/index.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';

async function waitFor<T>(pick: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = pick();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function closeServer(server: Server | net.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    if ('closeAllConnections' in server) server.closeAllConnections();
  });
}

async function listen(t: TestContext, server: Server | net.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  t.after(() => closeServer(server));
  return (server.address() as AddressInfo).port;
}

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly url: string;
  readonly body: unknown;
}

/** A node:http OTLP "collector" that records every POST and answers `status`. */
async function startCollector(t: TestContext, status = 200): Promise<{ url: string; port: number; received: Received[] }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, url: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.statusCode = status;
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
  });
  const port = await listen(t, server);
  return { url: `http://127.0.0.1:${port}/v1/traces`, port, received };
}

/**
 * A collector that accepts connections and reads what is sent but never answers a byte. It
 * decodes each request's body (by content-length) so the test can see what was sent.
 */
async function startSilentCollector(t: TestContext): Promise<{ url: string; bodies: unknown[]; connections: () => number }> {
  const bodies: unknown[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.subarray(0, end).toString('latin1');
        const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        bodies.push(JSON.parse(buf.subarray(end + 4, end + 4 + length).toString('utf8')));
        buf = buf.subarray(end + 4 + length);
      }
    });
  });
  const port = await listen(t, server);
  t.after(() => {
    for (const s of sockets) s.destroy();
  });
  return { url: `http://127.0.0.1:${port}/v1/traces`, bodies, connections: () => connections };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface OtlpKeyValue {
  key: string;
  value: { stringValue?: string; intValue?: string; boolValue?: boolean; doubleValue?: number };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpKeyValue[];
  events?: { name: string; timeUnixNano: string; attributes: OtlpKeyValue[] }[];
  status: { code: number; message?: string };
}
interface OtlpBody {
  resourceSpans: { resource: { attributes: OtlpKeyValue[] }; scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[] }[];
}

function spanCount(body: unknown): number {
  return (body as OtlpBody).resourceSpans.reduce((n, rs) => n + rs.scopeSpans.reduce((m, ss) => m + ss.spans.length, 0), 0);
}

function attr(list: readonly OtlpKeyValue[], key: string): OtlpKeyValue['value'] | undefined {
  return list.find((kv) => kv.key === key)?.value;
}

let seq = 0;
function makeSpan(service = 'svc', name = 'op'): SpanData {
  seq++;
  const hex = seq.toString(16).padStart(16, '0');
  return {
    traceId: `${'a'.repeat(16)}${hex}`,
    spanId: hex,
    name: `${name} ${seq}`,
    kind: 'internal',
    service,
    startMs: 1_700_000_000_000 + seq,
    endMs: 1_700_000_000_000 + seq + 0.5,
    status: { code: 'unset' },
    attributes: { n: seq },
  };
}

/** Sends every span to both an in-memory exporter (to see what was produced) and `otlp`. */
class TeeExporter implements SpanExporter {
  readonly memory = new InMemoryExporter();
  constructor(readonly otlp: OtlpHttpExporter) {}
  export(span: SpanData): void {
    this.memory.export(span);
    this.otlp.export(span);
  }
  flush(): Promise<void> {
    return this.otlp.flush();
  }
  shutdown(): Promise<void> {
    return this.otlp.shutdown();
  }
}

function newExporter(t: TestContext, options: ConstructorParameters<typeof OtlpHttpExporter>[0], stats: LabcoatStats = newStats()): OtlpHttpExporter {
  const exporter = new OtlpHttpExporter(options, stats);
  t.after(() => exporter.shutdown());
  return exporter;
}

function trackUnhandled(t: TestContext): unknown[] {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    seen.push(reason);
  };
  process.on('unhandledRejection', onRejection);
  t.after(() => {
    process.off('unhandledRejection', onRejection);
  });
  return seen;
}

// ---- OTLP/HTTP JSON ----------------------------------------------------------------------------

test('otlp: spans arrive as OTLP/HTTP JSON and decode back to what was recorded', async (t) => {
  const collector = await startCollector(t);
  const exportStats = newStats();
  const tee = new TeeExporter(newExporter(t, { url: collector.url, intervalMs: 60_000, headers: { 'x-api-key': 'secret-1' } }, exportStats));
  const sdk = new Labcoat({ service: 'edge', exporter: tee, env: {} });
  t.after(() => sdk.shutdown());

  const app = http.createServer(
    wrapRequestListener(async (_req, res) => {
      await point('cache:get', () => 'hit', { labcoat: sdk, route: 'users' });
      await point('users-db:select', () => Promise.reject(new Error('db down')), { labcoat: sdk }).catch(() => undefined);
      res.end('ok');
    }, sdk),
  );
  const port = await listen(t, app);
  const res = await fetch(`http://127.0.0.1:${port}/home/42`, { headers: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` } });
  assert.equal(await res.text(), 'ok');
  await waitFor(() => tee.memory.spans.some((s) => s.kind === 'server'), 'the server span');
  assert.equal(collector.received.length, 0, 'nothing is sent before the interval or a flush');

  await sdk.flush();
  assert.equal(collector.received.length, 1);
  const got = collector.received[0]!;
  assert.equal(got.url, '/v1/traces');
  assert.equal(got.headers['content-type'], 'application/json');
  assert.equal(got.headers['x-api-key'], 'secret-1');
  assert.equal(got.headers['traceparent'], undefined, 'the export request carries no trace context');

  const body = got.body as OtlpBody;
  assert.equal(body.resourceSpans.length, 1);
  const rs = body.resourceSpans[0]!;
  assert.deepEqual(attr(rs.resource.attributes, 'service.name'), { stringValue: 'edge' });
  assert.equal(rs.scopeSpans[0]!.scope.name, 'labcoat');
  const spans = rs.scopeSpans.flatMap((ss) => ss.spans);
  assert.equal(spans.length, 3);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  for (const s of spans) {
    assert.match(s.traceId, /^[0-9a-f]{32}$/);
    assert.equal(s.traceId, TRACE_ID);
    assert.match(s.spanId, /^[0-9a-f]{16}$/);
    assert.equal(typeof s.startTimeUnixNano, 'string');
    assert.match(s.startTimeUnixNano, /^\d{19}$/);
    assert.match(s.endTimeUnixNano, /^\d{19}$/);
    assert.ok(BigInt(s.startTimeUnixNano) <= BigInt(s.endTimeUnixNano));
    assert.ok(nowNs - BigInt(s.startTimeUnixNano) < 60_000_000_000n, 'start time is recent, in nanoseconds');
  }
  const server = spans.find((s) => s.kind === 2);
  assert.ok(server, 'a server span (kind 2)');
  assert.equal(server.parentSpanId, PARENT_ID);
  assert.equal(server.name, 'GET /home/:id');
  assert.deepEqual(attr(server.attributes, 'http.response.status_code'), { intValue: '200' });
  assert.deepEqual(server.status, { code: 0 });
  const clients = spans.filter((s) => s.kind === 3);
  assert.equal(clients.length, 2, 'two client spans (kind 3)');
  for (const c of clients) assert.equal(c.parentSpanId, server.spanId);
  const cache = clients.find((c) => c.name === 'cache get');
  assert.ok(cache);
  assert.deepEqual(attr(cache.attributes, 'labcoat.point'), { stringValue: 'edge->cache get users' });
  assert.deepEqual(attr(cache.attributes, 'labcoat.attempt'), { intValue: '1' });
  const db = clients.find((c) => c.name === 'users-db select');
  assert.ok(db);
  assert.equal(db.status.code, 2);
  assert.equal(db.status.message, 'db down');
  assert.equal(db.events?.[0]?.name, 'exception');
  assert.match(db.events?.[0]?.timeUnixNano ?? '', /^\d{19}$/);

  // The JSON decodes back to the spans that were recorded.
  const decoded = fromOtlpJson(body);
  const recorded = tee.memory.spans;
  assert.equal(decoded.length, recorded.length);
  for (const d of decoded) {
    const r = recorded.find((x) => x.spanId === d.spanId);
    assert.ok(r, `span ${d.spanId} was recorded`);
    const { startMs: ds, endMs: de, events: devents, ...dRest } = d;
    const { startMs: rs2, endMs: re, events: revents, ...rRest } = r;
    assert.deepEqual(dRest, rRest);
    assert.ok(Math.abs(ds - rs2) < 0.001 && Math.abs(de - re) < 0.001, 'times survive to the microsecond');
    assert.deepEqual(devents?.map((e) => [e.name, e.attributes]), revents?.map((e) => [e.name, e.attributes]));
  }
  assert.equal(exportStats.spansExported, 3);
  assert.equal(exportStats.exportFailures, 0);
});

test('otlp: spans of several services go out as one resource per service', async (t) => {
  const collector = await startCollector(t);
  const exporter = newExporter(t, { url: collector.url, intervalMs: 60_000 });
  exporter.export(makeSpan('a'));
  exporter.export(makeSpan('b'));
  exporter.export(makeSpan('a'));
  await exporter.flush();
  assert.equal(collector.received.length, 1);
  const body = collector.received[0]!.body as OtlpBody;
  const byService = new Map(body.resourceSpans.map((rs) => [attr(rs.resource.attributes, 'service.name')?.stringValue, rs.scopeSpans[0]!.spans.length]));
  assert.deepEqual(Object.fromEntries(byService), { a: 2, b: 1 });
  assert.deepEqual(
    fromOtlpJson(body).map((s) => s.service).sort(),
    ['a', 'a', 'b'],
  );
});

test('otlp: batches are at most maxBatch spans', async (t) => {
  const collector = await startCollector(t);
  const stats = newStats();
  const exporter = newExporter(t, { url: collector.url, maxBatch: 3, intervalMs: 60_000 }, stats);
  const sent = Array.from({ length: 7 }, () => makeSpan());
  for (const s of sent) exporter.export(s);
  await exporter.flush();
  const sizes = collector.received.map((r) => spanCount(r.body));
  assert.deepEqual([...sizes].sort(), [1, 3, 3]);
  const ids = collector.received.flatMap((r) => fromOtlpJson(r.body).map((s) => s.spanId));
  assert.deepEqual(ids.sort(), sent.map((s) => s.spanId).sort(), 'every span is sent exactly once');
  assert.equal(stats.spansExported, 7);
  assert.equal(stats.spansDropped, 0);
});

test('otlp: flush sends what is queued, and nothing when the queue is empty', async (t) => {
  const collector = await startCollector(t);
  const stats = newStats();
  const exporter = newExporter(t, { url: collector.url, intervalMs: 60_000 }, stats);
  await exporter.flush();
  assert.equal(collector.received.length, 0);
  exporter.export(makeSpan());
  exporter.export(makeSpan());
  await exporter.flush();
  assert.equal(collector.received.length, 1);
  assert.equal(spanCount(collector.received[0]!.body), 2);
  await exporter.flush();
  assert.equal(collector.received.length, 1);
  exporter.export(makeSpan());
  await exporter.shutdown();
  assert.equal(collector.received.length, 2, 'shutdown flushes');
  assert.equal(stats.spansExported, 3);
});

test('otlp: spans are sent on the interval without a flush', async (t) => {
  const collector = await startCollector(t);
  const exporter = newExporter(t, { url: collector.url, intervalMs: 10 });
  exporter.export(makeSpan());
  await waitFor(() => collector.received.length === 1, 'the interval export');
  assert.equal(spanCount(collector.received[0]!.body), 1);
});

test('otlp: a collector that never answers cannot block or grow the application', async (t) => {
  const unhandled = trackUnhandled(t);
  const collector = await startSilentCollector(t);
  const stats = newStats();
  const exporter = newExporter(t, { url: collector.url, maxQueue: 10, timeoutMs: 100, intervalMs: 10 }, stats);
  const sdk = new Labcoat({ service: 'edge', exporter, env: {} });
  t.after(() => sdk.shutdown());

  assert.doesNotThrow(() => {
    for (let i = 0; i < 1000; i++) exporter.export(makeSpan());
  });
  assert.equal(stats.spansDropped, 990, 'past maxQueue, spans are dropped and counted');

  // The application's own requests, recorded by the same SDK, complete normally.
  const port = await listen(
    t,
    http.createServer(
      wrapRequestListener((_req, res) => {
        res.end('served');
      }, sdk),
    ),
  );
  const replies = await Promise.all(Array.from({ length: 20 }, () => fetch(`http://127.0.0.1:${port}/x`).then((r) => r.text())));
  assert.deepEqual(new Set(replies), new Set(['served']));

  await waitFor(() => stats.exportFailures >= 1, 'the export to time out');
  assert.ok(collector.connections() >= 1, 'the exporter did reach the collector');
  await waitFor(() => collector.bodies.length >= 1, 'the collector to read a request');
  for (const body of collector.bodies) assert.ok(spanCount(body) <= 10, 'no batch is larger than the queue');
  assert.equal(stats.spansExported, 0);
  assert.ok(stats.spansDropped >= 1000, 'the batch that timed out is counted as dropped too');
  assert.ok(sdk.stats.spansStarted >= 20);
  await exporter.flush(); // bounded: returns although the collector never answers
  assert.deepEqual(unhandled, []);
});

test('otlp: a collector answering 500 counts export failures', async (t) => {
  const collector = await startCollector(t, 500);
  const stats = newStats();
  const exporter = newExporter(t, { url: collector.url, intervalMs: 60_000, maxBatch: 2 }, stats);
  for (let i = 0; i < 3; i++) exporter.export(makeSpan());
  await exporter.flush();
  assert.equal(collector.received.length, 2);
  assert.equal(stats.exportFailures, 2);
  assert.equal(stats.spansExported, 0);
  assert.equal(stats.spansDropped, 3);
});

test('otlp: an unreachable collector counts failures, never throws, leaves no unhandled rejection', async (t) => {
  const unhandled = trackUnhandled(t);
  const port = await closedPort();
  const stats = newStats();
  const exporter = newExporter(t, { url: `http://127.0.0.1:${port}/v1/traces`, intervalMs: 5, timeoutMs: 200 }, stats);
  assert.doesNotThrow(() => exporter.export(makeSpan()));
  await waitFor(() => stats.exportFailures >= 1, 'the timer-driven export to fail');
  assert.doesNotThrow(() => exporter.export(makeSpan()));
  await exporter.flush();
  assert.equal(stats.exportFailures, 2);
  assert.equal(stats.spansDropped, 2);
  assert.equal(stats.spansExported, 0);
  await exporter.shutdown();
  await sleep(20); // give any stray rejection a turn to surface
  assert.deepEqual(unhandled, []);
});

test('otlp: a non-http(s) URL is refused at construction', () => {
  assert.throws(() => new OtlpHttpExporter({ url: 'ftp://127.0.0.1/v1/traces' }, newStats()), /must be http\(s\)/);
});

test('otlp: export requests are not traced even when init() patched node:http', async (t) => {
  const collector = await startCollector(t);
  const exportStats = newStats();
  const tee = new TeeExporter(new OtlpHttpExporter({ url: collector.url, intervalMs: 60_000, maxBatch: 2 }, exportStats));
  const sdk = init({ service: 'edge', exporter: tee, env: {} });
  t.after(() => sdk.close());

  const downstream = await listen(t, http.createServer((_req, res) => res.end('down')));
  const app = await listen(
    t,
    http.createServer(
      wrapRequestListener((_req, res) => {
        // Through the patched node:http client: recorded as a client span.
        http.get(`http://127.0.0.1:${downstream}/d`, (r) => {
          r.resume();
          r.on('end', () => res.end('up'));
        });
      }),
    ),
  );
  for (let i = 0; i < 3; i++) assert.equal(await (await fetch(`http://127.0.0.1:${app}/u`)).text(), 'up');
  await waitFor(() => tee.memory.spans.filter((s) => s.kind === 'server').length === 3, 'three server spans');
  // The test's own fetch calls (global fetch, patched by init) and the app's http.get calls are client spans.
  const clientSpans = tee.memory.spans.filter((s) => s.kind === 'client');
  assert.equal(clientSpans.filter((s) => String(s.attributes['url.full']).includes(`:${downstream}/`)).length, 3, 'node:http is patched');
  assert.equal(clientSpans.filter((s) => String(s.attributes['url.full']).includes(`:${app}/`)).length, 3, 'fetch is patched');
  const recorded = tee.memory.spans.length;

  await sdk.flush();
  await sdk.flush();
  assert.ok(collector.received.length >= 3, 'spans were exported in several requests');
  for (const r of collector.received) assert.equal(r.headers['traceparent'], undefined);
  const isCollectorCall = (s: SpanData): boolean => String(s.attributes['url.full'] ?? '').includes(`:${collector.port}`) || s.name.includes(`:${collector.port}`);
  assert.deepEqual(tee.memory.spans.filter(isCollectorCall), [], 'no span for the collector was recorded');
  const exported = collector.received.flatMap((r) => fromOtlpJson(r.body));
  assert.equal(tee.memory.spans.length, recorded, 'exporting recorded no new spans');
  assert.equal(exported.length, recorded);
  assert.deepEqual(exported.filter(isCollectorCall), []);
  assert.equal(exportStats.spansExported, recorded);
});

// ---- in-memory ---------------------------------------------------------------------------------

test('memory: the in-memory exporter keeps the last N spans', async () => {
  const exporter = new InMemoryExporter(5);
  const spans = Array.from({ length: 8 }, () => makeSpan());
  for (const s of spans) exporter.export(s);
  assert.equal(exporter.spans.length, 5);
  assert.deepEqual(
    exporter.spans.map((s) => s.spanId),
    spans.slice(3).map((s) => s.spanId),
  );
  assert.deepEqual(exporter.trace(spans[7]!.traceId), [spans[7]]);
  assert.deepEqual(exporter.trace(spans[0]!.traceId), [], 'evicted spans are gone');
  exporter.clear();
  assert.equal(exporter.spans.length, 0);
  await exporter.flush();
  await exporter.shutdown();
});

test("memory: Labcoat's 'memory' exporter records spans through sdk.memory", async () => {
  const sdk = new Labcoat({ service: 'm', exporter: 'memory', env: {} });
  await point('x:y', () => 1, { labcoat: sdk });
  assert.equal(sdk.memory?.spans.length, 1);
  assert.equal(sdk.memory?.spans[0]?.name, 'x y');
  const none = new Labcoat({ service: 'n', exporter: 'none', env: {} });
  assert.equal(none.memory, undefined);
  assert.equal(none.exporter, undefined);
});
