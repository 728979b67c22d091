/**
 * The sidecar proxy's HTTP data plane on loopback: every HTTP fault (from signed plans and from
 * HTTP toxics), streaming and chunked bodies, keep-alive, WebSocket upgrades, bad input, aborted
 * clients, and the spans it exports.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseTraceparent } from '@labcoat/core';
import { InMemoryExporter } from '@labcoat/node';
import { WebSocket, WebSocketServer } from 'ws';
import { Collector, isTraceComplete } from '../src/collector.js';
import { ProxyServer } from '../src/proxy/index.js';
import { eventually, KEY, planHeaders, randomHex, raw, request, signPlan, sleep, startProxyProcess, startUpstream, type Upstream } from './proxy-helpers.js';

const POINT = 'web->catalog GET /items/:id';

describe('labcoat proxy: HTTP', () => {
  let upstream: Upstream;
  let server: ProxyServer;
  let exporter: InMemoryExporter;
  let base: string;
  let port: number;
  let upstreamConnections = 0;
  let wss: WebSocketServer;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/big') {
        const size = Number(url.searchParams.get('size'));
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        let sent = 0;
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const pump = (): void => {
          while (sent < size) {
            const n = Math.min(chunk.length, size - sent);
            sent += n;
            if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      if (url.pathname === '/echo') {
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => res.end(JSON.stringify({ bytes: n, chunked: req.headers['transfer-encoding'] === 'chunked' })));
        return;
      }
      if (url.pathname === '/len') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1000 });
        return res.end(Buffer.alloc(1000, 0x62));
      }
      if (url.pathname === '/slow') {
        const t = setTimeout(() => res.end('late'), 1500);
        res.on('close', () => clearTimeout(t));
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: true, url: req.url }));
    });
    upstream.server.on('connection', () => upstreamConnections++);
    wss = new WebSocketServer({ server: upstream.server });
    wss.on('connection', (ws, req) => {
      ws.on('message', (m) => ws.send(`echo:${String(m)}:${req.headers.traceparent ? 'traced' : 'untraced'}`));
    });
    exporter = new InMemoryExporter();
    server = await ProxyServer.start({
      admin: '127.0.0.1:0',
      key: KEY,
      exporter,
      proxies: [
        { name: 'web-catalog', caller: 'web', service: 'catalog', upstream: upstream.address },
        { name: 'timed', caller: 'web', service: 'catalog', upstream: upstream.address, timeoutMs: 300 },
        { name: 'down', caller: 'web', service: 'gone', upstream: '127.0.0.1:1' },
      ],
    });
    base = `http://${server.get('web-catalog').listen}`;
    port = Number(server.get('web-catalog').listen.split(':')[1]);
  });

  after(async () => {
    wss.close();
    await server.close();
    await upstream.close();
  });

  test('forwards with the proxy span as parent, keeps baggage, strips labcoat-caller', async () => {
    const traceId = randomHex(32);
    const parent = randomHex(16);
    const r = await request(`${base}/items/42?x=1`, { headers: { traceparent: `00-${traceId}-${parent}-01`, baggage: 'user=alice', 'labcoat-caller': 'x' } });
    assert.equal(r.status, 200);
    const seen = upstream.seen.at(-1)!;
    assert.equal(seen.url, '/items/42?x=1');
    assert.equal(seen.headers['labcoat-caller'], undefined);
    assert.equal(seen.headers.baggage, 'user=alice');
    const tp = parseTraceparent(seen.headers.traceparent as string)!;
    assert.equal(tp.traceId, traceId);
    const spans = exporter.spans.filter((s) => s.traceId === traceId);
    const client = spans.find((s) => s.kind === 'client')!;
    const srv = spans.find((s) => s.kind === 'server')!;
    assert.equal(client.service, 'web');
    assert.equal(client.attributes['labcoat.point'], POINT);
    assert.equal(client.parentSpanId, parent);
    assert.equal(srv.service, 'catalog');
    assert.equal(srv.parentSpanId, client.spanId);
    assert.equal(srv.name, 'GET /items/:id');
    assert.equal(tp.spanId, srv.spanId, 'the upstream sees the proxy span as its parent');
  });

  test('plan fault status: synthetic answer, upstream not called', async () => {
    const before = upstream.seen.length;
    const r = await request(`${base}/items/7`, { headers: planHeaders(POINT, { kind: 'status', status: 503, body: '{"error":"injected"}' }) });
    assert.equal(r.status, 503);
    assert.equal(r.body.toString(), '{"error":"injected"}');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(upstream.seen.length, before);
  });

  test('plan fault error: the connection is reset before any byte', async () => {
    const before = upstream.seen.length;
    await assert.rejects(request(`${base}/items/7`, { headers: planHeaders(POINT, { kind: 'error' }), agent: false }), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
    assert.equal(upstream.seen.length, before);
    const span = [...exporter.spans].reverse().find((s) => s.kind === 'client' && s.attributes['labcoat.fault'] === 'error:ECONNREFUSED');
    assert.ok(span, 'the client span names the fault');
    assert.equal(span.status.code, 'error');
  });

  test('plan fault delay: the real call, after the wait', async () => {
    const t0 = performance.now();
    const r = await request(`${base}/items/8`, { headers: planHeaders(POINT, { kind: 'delay', ms: 150 }) });
    assert.equal(r.status, 200);
    assert.ok(performance.now() - t0 >= 140, 'the answer comes after the injected delay');
    assert.equal(upstream.seen.at(-1)!.url, '/items/8');
  });

  test('plan fault hang: no answer until the caller gives up; maxMs ends it with a reset', async () => {
    const before = upstream.seen.length;
    const aborted = await new Promise<string>((resolve) => {
      const req = http.get(`${base}/items/9`, { headers: planHeaders(POINT, { kind: 'hang' }), timeout: 200, agent: false }, () => resolve('answered'));
      req.on('timeout', () => req.destroy(new Error('caller timeout')));
      req.on('error', (e) => resolve(e.message));
    });
    assert.equal(aborted, 'caller timeout');
    await assert.rejects(request(`${base}/items/9`, { headers: planHeaders(POINT, { kind: 'hang', maxMs: 100 }), agent: false }), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
    assert.equal(upstream.seen.length, before, 'a hung call never reaches the upstream');
    assert.ok(await eventually(() => server.stats().proxies[0]!.inflight === 0));
  });

  test('plan fault reset: headers and afterBytes of body, then the connection resets', async () => {
    const err = await request(`${base}/len`, { headers: planHeaders('web->catalog GET /len', { kind: 'reset', afterBytes: 10 }), agent: false }).then(
      () => undefined,
      (e: NodeJS.ErrnoException & { partial?: Buffer; status?: number }) => e,
    );
    assert.ok(err, 'the response does not complete');
    assert.equal(err.code, 'ECONNRESET');
    if (err.partial) assert.ok(err.partial.length <= 10);
  });

  test('plan fault malformed: truncate ends the body cleanly and early; corrupt keeps its length', async () => {
    const t = await request(`${base}/len`, { headers: planHeaders('web->catalog GET /len', { kind: 'malformed', mode: 'truncate', afterBytes: 100 }) });
    assert.equal(t.status, 200);
    assert.equal(t.body.length, 100);
    const c = await request(`${base}/len`, { headers: planHeaders('web->catalog GET /len', { kind: 'malformed', mode: 'corrupt', afterBytes: 100 }) });
    assert.equal(c.body.length, 1000);
    assert.equal(c.body[99], 0x62);
    assert.equal(c.body[100], 0xff);
    assert.equal(c.body[999], 0xff);
  });

  test('fail the first N attempts within a request, then pass', async () => {
    const headers = planHeaders(POINT, { kind: 'status', status: 503 }, { first: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await request(`${base}/items/1`, { headers })).status);
    assert.deepEqual(statuses, [503, 503, 200]);
    const attempts = exporter.spans.filter((s) => s.kind === 'client' && s.traceId === parseTraceparent(headers['traceparent']!)!.traceId).map((s) => s.attributes['labcoat.attempt']);
    assert.deepEqual(attempts, [1, 2, 3]);
  });

  test('an invalid plan (forged, expired, another point) injects nothing', async () => {
    const rejected = server.plane.totals().plansRejected['bad-signature'];
    const forged = signPlan([{ match: { point: POINT }, fault: { kind: 'status', status: 500 } }]).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    const r = await request(`${base}/items/1`, { headers: { traceparent: `00-${randomHex(32)}-${randomHex(16)}-01`, baggage: `labcoat.plan=${forged}` } });
    assert.equal(r.status, 200);
    assert.equal(server.plane.totals().plansRejected['bad-signature'], rejected + 1);
    const other = await request(`${base}/items/1`, { headers: planHeaders('web->ratings GET /r', { kind: 'status', status: 500 }) });
    assert.equal(other.status, 200);
    const junk = await request(`${base}/items/1`, { headers: { baggage: 'labcoat.plan=v1.%%%.zzz', traceparent: 'garbage' } });
    assert.equal(junk.status, 200);
  });

  test('HTTP toxics: status with body for the first N requests, then pass', async () => {
    const p = server.get('web-catalog');
    p.addToxic({ name: 'flaky', type: 'http_status', attributes: { status: 502, body: 'bad gateway (toxic)', first: 2 } });
    try {
      const got = [];
      for (let i = 0; i < 3; i++) {
        const r = await request(`${base}/items/3`);
        got.push(`${r.status}:${r.body.toString().slice(0, 3)}`);
      }
      assert.deepEqual(got, ['502:bad', '502:bad', '200:{"o']);
    } finally {
      p.removeToxic('flaky');
    }
  });

  test('HTTP toxics: delay, hang, reset, error, toxicity 0', async () => {
    const p = server.get('web-catalog');
    p.addToxic({ name: 'd', type: 'http_delay', attributes: { latency: 120 } });
    let t0 = performance.now();
    assert.equal((await request(`${base}/items/1`)).status, 200);
    assert.ok(performance.now() - t0 >= 110);
    p.removeToxic('d');
    p.addToxic({ name: 'h', type: 'http_hang', attributes: { timeout: 100 } });
    await assert.rejects(request(`${base}/items/1`, { agent: false }), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
    p.removeToxic('h');
    p.addToxic({ name: 'r', type: 'http_reset', attributes: { after_bytes: 0 } });
    await assert.rejects(request(`${base}/len`, { agent: false }), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
    p.removeToxic('r');
    p.addToxic({ name: 'e', type: 'http_error' });
    await assert.rejects(request(`${base}/items/1`, { agent: false }), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
    p.removeToxic('e');
    p.addToxic({ name: 'never', type: 'http_status', toxicity: 0, attributes: { status: 500 } });
    for (let i = 0; i < 5; i++) assert.equal((await request(`${base}/items/1`)).status, 200);
    p.removeToxic('never');
    t0 = performance.now();
    assert.equal((await request(`${base}/items/1`)).status, 200);
  });

  test('HTTP toxics: slow body (bandwidth) downstream and upstream', async () => {
    const p = server.get('web-catalog');
    p.addToxic({ name: 'slow', type: 'http_bandwidth', attributes: { rate: 100 } });
    try {
      const t0 = performance.now();
      const r = await request(`${base}/big?size=30000`);
      assert.equal(r.body.length, 30000);
      assert.ok(performance.now() - t0 >= 250, '30 KB at 100 KB/s takes about 300 ms');
    } finally {
      p.removeToxic('slow');
    }
    p.addToxic({ name: 'slowup', type: 'http_bandwidth', stream: 'upstream', attributes: { rate: 100 } });
    try {
      const t0 = performance.now();
      const r = await request(`${base}/echo`, { method: 'POST', body: Buffer.alloc(30000, 1), headers: { 'content-length': '30000' } });
      assert.equal(JSON.parse(r.body.toString()).bytes, 30000);
      assert.ok(performance.now() - t0 >= 250);
    } finally {
      p.removeToxic('slowup');
    }
  });

  test('streams 100 MB both ways without buffering it (RSS of a labcoat proxy process)', async (t) => {
    const size = 100 * 1024 * 1024;
    const proc = await startProxyProcess({ proxies: [{ name: 'p', caller: 'web', service: 'catalog', upstream: upstream.address }] }, ['--no-admin']);
    const url = `http://${proc.listen('p')}`;
    try {
      // A fresh Node process reaches a heap and allocator high-water mark of about 30 MB during its
      // first large streams, whatever the body size: read buffers are garbage that V8 collects only
      // once enough external memory has piled up. So a 50 MB round trip warms it up; then 100 MB
      // each way must grow it by far less than a body: a proxy that buffered would grow by 100 MB.
      for (let i = 0; i < 20; i++) await request(`${url}/big?size=65536`);
      const warmSize = 50 * 1024 * 1024;
      assert.equal((await request(`${url}/big?size=${warmSize}`)).body.length, warmSize);
      await request(`${url}/echo`, { method: 'POST', body: Buffer.alloc(warmSize, 1) });
      const warm = proc.rss();
      const rss0 = proc.rss();
      let peak = rss0;
      const sampler = setInterval(() => (peak = Math.max(peak, proc.rss())), 10);
      try {
        const n = await new Promise<number>((resolve, reject) => {
          http.get(`${url}/big?size=${size}`, (res) => {
            let got = 0;
            res.on('data', (c: Buffer) => (got += c.length));
            res.on('end', () => resolve(got));
            res.on('error', reject);
          }).on('error', reject);
        });
        assert.equal(n, size);
        const echoed = await new Promise<{ bytes: number; chunked: boolean }>((resolve, reject) => {
          const req = http.request(`${url}/echo`, { method: 'POST' }, (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () => resolve(JSON.parse(body)));
          });
          req.on('error', reject);
          const chunk = Buffer.alloc(64 * 1024, 7);
          let sent = 0;
          const pump = (): void => {
            while (sent < size) {
              sent += chunk.length;
              if (!req.write(chunk)) return void req.once('drain', pump);
            }
            req.end();
          };
          pump();
        });
        assert.equal(echoed.bytes, size);
        assert.equal(echoed.chunked, true, 'a chunked request stays chunked');
      } finally {
        clearInterval(sampler);
      }
      const growth = (peak - rss0) / 1024 / 1024;
      t.diagnostic(`proxy RSS: ${(warm / 1048576).toFixed(0)} MB after warm-up, +${growth.toFixed(1)} MB at most while 200 MB went through`);
      assert.ok(growth < 32, `the proxy's RSS grew by ${growth.toFixed(1)} MB while 200 MB went through it (${(warm / 1048576).toFixed(0)} MB after warm-up)`);
    } finally {
      await proc.stop();
    }
  });

  test('keep-alive: many requests share one client connection and one upstream connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const before = upstreamConnections;
    const clientConns = new Set<net.Socket>();
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = http.get(`${base}/items/${i}`, { agent }, (res) => {
          clientConns.add(res.socket as net.Socket);
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
      });
    }
    agent.destroy();
    assert.equal(clientConns.size, 1);
    assert.ok(upstreamConnections - before <= 1, `upstream connections opened: ${upstreamConnections - before}`);
  });

  test('WebSocket upgrade passes through, with trace context', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket`, { headers: { traceparent: `00-${randomHex(32)}-${randomHex(16)}-01` } });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => ws.send('hi'));
      ws.on('message', (m) => resolve(String(m)));
      ws.on('error', reject);
    });
    assert.equal(reply, 'echo:hi:traced');
    ws.close();
    await new Promise((r) => ws.on('close', r));
  });

  test('bad input: malformed request line → 400, oversized headers → 431, then close', async () => {
    const bad = await raw(port, 'GARBAGE\r\n\r\n');
    assert.match(bad, /^HTTP\/1\.1 400 /);
    assert.match(bad, /malformed HTTP request/);
    const big = await raw(port, `GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20000)}\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 431 /);
    const ok = await request(`${base}/items/1`);
    assert.equal(ok.status, 200, 'the proxy still serves');
  });

  test('random and truncated requests never crash the proxy nor leave a connection open', async () => {
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pieces = ['GET', 'POST', ' ', '/items/1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/9.9', '\r\n', '\n', ':', 'content-length: ', '5', '-1', 'transfer-encoding: chunked', 'chunked', '0\r\n\r\n', 'zz\r\n', 'host: x', 'baggage: labcoat.plan=v1.x.y', 'connection: upgrade', 'expect: 100-continue', '\u0000', '\u00ff'];
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Array.from({ length: 30 }, () => {
          let text = '';
          for (let i = rand(40); i > 0; i--) text += pieces[rand(pieces.length)];
          return raw(port, Buffer.from(text, 'latin1'), 300);
        }),
      );
    }
    assert.equal((await request(`${base}/items/1`)).status, 200, 'still serving');
    assert.ok(await eventually(() => server.get('web-catalog').stats().inflight === 0, 5000));
  });

  test('upstream down → 502 with a clear body; slow upstream past timeoutMs → 504', async () => {
    const down = await request(`http://${server.get('down').listen}/x`);
    assert.equal(down.status, 502);
    assert.match(down.body.toString(), /upstream gone \(127\.0\.0\.1:1\) cannot be reached: ECONNREFUSED/);
    assert.equal(down.headers['labcoat-proxy-error'], 'upstream-unreachable');
    const slow = await request(`http://${server.get('timed').listen}/slow`);
    assert.equal(slow.status, 504);
    assert.match(slow.body.toString(), /did not answer within 300 ms/);
  });

  test('slow upstream, caller gives up: the upstream request is closed too', async () => {
    const before = upstream.server.listenerCount('request');
    const err = await new Promise<string>((resolve) => {
      const req = http.get(`${base}/slow`, { timeout: 100, agent: false }, () => resolve('answered'));
      req.on('timeout', () => req.destroy(new Error('gave up')));
      req.on('error', (e) => resolve(e.message));
    });
    assert.equal(err, 'gave up');
    assert.ok(await eventually(() => server.get('web-catalog').stats().inflight === 0));
    assert.equal(upstream.server.listenerCount('request'), before);
  });

  test('200 clients that disconnect mid-body leak no socket', async () => {
    const upstreamBefore = await new Promise<number>((r) => upstream.server.getConnections((_e, n) => r(n)));
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        new Promise<void>((resolve) => {
          const s = net.connect(port, '127.0.0.1', () => {
            s.write(`POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n${'x'.repeat(1000)}`);
            setTimeout(() => (i % 2 === 0 ? s.destroy() : s.resetAndDestroy()), 5 + (i % 20));
          });
          s.on('error', () => {});
          s.on('close', () => resolve());
        }),
      ),
    );
    const p = server.get('web-catalog');
    assert.ok(await eventually(() => p.stats().clientConnections === 0 && p.stats().inflight === 0, 5000), JSON.stringify(p.stats()));
    let open = Infinity;
    for (let i = 0; i < 100 && open > upstreamBefore; i++) {
      open = await new Promise<number>((r) => upstream.server.getConnections((_e, n) => r(n)));
      if (open > upstreamBefore) await sleep(20);
    }
    assert.ok(open <= upstreamBefore, `upstream connections still open: ${open} (before: ${upstreamBefore})`);
    assert.equal((await request(`${base}/items/1`)).status, 200);
  });

  test('spans reach an OTLP collector: caller, callee and a complete trace through ingress and egress', async () => {
    const collector = await Collector.start();
    const chain = await startUpstream((req, res) => {
      // A service that merely forwards the trace headers to its dependency (through its egress proxy).
      const fwd: Record<string, string> = {};
      for (const h of ['traceparent', 'tracestate', 'baggage']) if (typeof req.headers[h] === 'string') fwd[h] = req.headers[h] as string;
      http.get(`http://${egress.get('front-catalog').listen}/items/5`, { headers: fwd, agent: false }, (r) => {
        r.resume();
        r.on('end', () => res.end('front ok'));
      });
    });
    const egress = await ProxyServer.start({
      admin: false,
      key: KEY,
      otlpUrl: collector.url,
      proxies: [
        { name: 'front-in', ingress: true, service: 'front', upstream: chain.address },
        { name: 'front-catalog', caller: 'front', service: 'catalog', upstream: upstream.address },
      ],
    });
    try {
      const traceId = randomHex(32);
      const entry = randomHex(16);
      const r = await request(`http://${egress.get('front-in').listen}/home`, { headers: { traceparent: `00-${traceId}-${entry}-01` } });
      assert.equal(r.status, 200);
      await egress.plane.flush();
      const spans = await collector.waitForTrace(traceId, (s) => isTraceComplete(s, entry), 5000);
      assert.ok(isTraceComplete(spans, entry), JSON.stringify(spans.map((s) => [s.kind, s.service, s.name])));
      const front = spans.find((s) => s.kind === 'server' && s.service === 'front')!;
      const call = spans.find((s) => s.kind === 'client')!;
      const cat = spans.find((s) => s.kind === 'server' && s.service === 'catalog')!;
      assert.equal(front.parentSpanId, entry);
      assert.equal(front.attributes['labcoat.calls'], 1);
      assert.equal(call.parentSpanId, front.spanId);
      assert.equal(call.service, 'front');
      assert.equal(call.attributes['labcoat.point'], 'front->catalog GET /items/:id');
      assert.equal(cat.parentSpanId, call.spanId);
    } finally {
      await egress.close();
      await chain.close();
      await collector.close();
    }
  });

  test('caller from the parent span: a listener without a caller names the service whose request it is', async () => {
    const mid = await startUpstream((req, res) => {
      http.get(`http://${shared.get('any-catalog').listen}/items/9`, { headers: { traceparent: req.headers.traceparent as string }, agent: false }, (r) => {
        r.resume();
        r.on('end', () => res.end('ok'));
      });
    });
    const mem = new InMemoryExporter();
    const shared = await ProxyServer.start({
      admin: false,
      exporter: mem,
      proxies: [
        { name: 'in', ingress: true, service: 'mid', upstream: mid.address },
        { name: 'any-catalog', service: 'catalog', upstream: upstream.address },
      ],
    });
    try {
      await request(`http://${shared.get('in').listen}/x`, { headers: { traceparent: `00-${randomHex(32)}-${randomHex(16)}-01` } });
      assert.ok(await eventually(() => mem.spans.some((s) => s.kind === 'client')));
      assert.equal(mem.spans.find((s) => s.kind === 'client')!.attributes['labcoat.point'], 'mid->catalog GET /items/:id');
      await request(`http://${shared.get('any-catalog').listen}/items/1`);
      assert.equal([...mem.spans].reverse().find((s) => s.kind === 'client')!.attributes['labcoat.point'], 'unknown->catalog GET /items/:id');
    } finally {
      await shared.close();
      await mid.close();
    }
  });

  test('an attack source (the control plane\'s, later) is asked when no plan fault fires', async () => {
    const asked: string[] = [];
    const attacked = await ProxyServer.start({
      admin: false,
      key: KEY,
      exporter,
      attacks: [
        {
          decide: (call) => {
            asked.push(call.pointId ?? '');
            if (call.pointId !== POINT) return undefined;
            return { label: 'status:418', source: 'attack:a-1', action: { type: 'respond', delayMs: 0, status: 418, headers: {}, body: 'attacked' } };
          },
        },
        { decide: () => { throw new Error('a broken source counts as no fault'); } },
      ],
      proxies: [
        { name: 'a', caller: 'web', service: 'catalog', upstream: upstream.address },
        { name: 'b', caller: 'web', service: 'other', upstream: upstream.address },
      ],
    });
    try {
      const hit = await request(`http://${attacked.get('a').listen}/items/1`);
      assert.equal(hit.status, 418);
      assert.equal(hit.body.toString(), 'attacked');
      assert.equal((await request(`http://${attacked.get('b').listen}/items/1`)).status, 200);
      assert.deepEqual(asked, [POINT, 'web->other GET /items/:id']);
      const span = [...exporter.spans].reverse().find((s) => s.attributes['labcoat.fault.source'] === 'attack:a-1');
      assert.equal(span?.attributes['labcoat.fault'], 'status:418');
      // A plan fault wins: the attack source is not asked.
      const planned = await request(`http://${attacked.get('a').listen}/items/1`, { headers: planHeaders(POINT, { kind: 'status', status: 503 }) });
      assert.equal(planned.status, 503);
      assert.equal(asked.length, 2);
    } finally {
      await attacked.close();
    }
  });

  test('after all of the above, no request is in flight and no client connection is open', async () => {
    await sleep(10);
    assert.ok(await eventually(() => server.stats().proxies.every((p) => p.inflight === 0 && p.clientConnections === 0), 5000), JSON.stringify(server.stats().proxies));
  });
});
