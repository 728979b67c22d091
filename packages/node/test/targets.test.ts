/**
 * Target names: a caller asks a callee it has no name for (`labcoat-ask: service`) a few times at
 * most, an instrumented callee answers only when asked (`labcoat-service`), and the caller's
 * injection points use the learned name from then on. Through global fetch and node:http, against
 * real servers on loopback.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { ASK_HEADER, installFetchInterceptor, installHttpInterceptor, Labcoat, SERVICE_HEADER, TargetResolver, wrapRequestListener } from '../src/index.js';
import { ASK_LIMIT } from '../src/targets.js';

test('TargetResolver.shouldAsk: unknown targets are asked at most ASK_LIMIT times, learned and mapped ones never', () => {
  const r = new TargetResolver({ mapped: '127.0.0.1:9001' });
  const asks = Array.from({ length: ASK_LIMIT + 4 }, () => r.shouldAsk('127.0.0.1', 9002));
  assert.equal(asks.filter(Boolean).length, ASK_LIMIT);
  assert.deepEqual(asks.slice(ASK_LIMIT), [false, false, false, false]);
  assert.equal(r.shouldAsk('127.0.0.1', 9001), false, 'an explicitly mapped target');
  assert.equal(r.shouldAsk('127.0.0.1', 9003), true);
  r.learn('127.0.0.1', 9003, 'ratings');
  assert.equal(r.shouldAsk('127.0.0.1', 9003), false, 'a learned target');
  assert.equal(r.resolve('127.0.0.1', 9003), 'ratings');
});

interface Seen {
  asks: (string | undefined)[];
  base: string;
  port: number;
}

async function serve(t: TestContext, listener: http.RequestListener, seen: (string | undefined)[]): Promise<Seen> {
  const server = http.createServer((req, res) => {
    seen.push(req.headers[ASK_HEADER] as string | undefined);
    listener(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const port = (server.address() as AddressInfo).port;
  return { asks: seen, base: `http://127.0.0.1:${port}`, port };
}

async function getVia(transport: 'fetch' | 'http', url: string): Promise<{ status: number; announced: string | null }> {
  if (transport === 'fetch') {
    const r = await fetch(url);
    await r.arrayBuffer();
    return { status: r.status, announced: r.headers.get(SERVICE_HEADER) };
  }
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, announced: (res.headers[SERVICE_HEADER] as string | undefined) ?? null }));
      })
      .on('error', reject);
  });
}

for (const transport of ['fetch', 'http'] as const) {
  test(`${transport}: the first call asks, the callee announces, later calls neither ask nor carry the header, points use the name`, async (t) => {
    const callee = new Labcoat({ service: 'profiles', exporter: 'memory', env: {} });
    const seen: (string | undefined)[] = [];
    const { base } = await serve(t, wrapRequestListener((_req, res) => res.end('ok'), callee), seen);
    const caller = new Labcoat({ service: 'edge', exporter: 'memory', env: {} });
    const undo = transport === 'fetch' ? installFetchInterceptor(caller) : installHttpInterceptor(caller);
    t.after(async () => {
      undo();
      await caller.shutdown();
      await callee.shutdown();
    });

    const first = await getVia(transport, `${base}/profiles/1`);
    assert.deepEqual(first, { status: 200, announced: 'profiles' });
    const later = [];
    for (let i = 0; i < 5; i++) later.push(await getVia(transport, `${base}/profiles/${i + 2}`));
    assert.deepEqual(seen, ['service', undefined, undefined, undefined, undefined, undefined]);
    assert.ok(later.every((r) => r.status === 200 && r.announced === null), JSON.stringify(later));

    const targets = caller.memory!.spans.filter((s) => s.kind === 'client').map((s) => s.attributes['labcoat.point']);
    assert.equal(targets.length, 6);
    assert.match(String(targets[0]), /^edge->127\.0\.0\.1:\d+ /, 'the first call went out before the name was known');
    for (const p of targets.slice(1)) assert.match(String(p), /^edge->profiles GET /);
  });
}

test('a callee without labcoat is asked ASK_LIMIT times, then no more', async (t) => {
  const seen: (string | undefined)[] = [];
  const { base } = await serve(t, (_req, res) => res.end('plain'), seen);
  const caller = new Labcoat({ service: 'edge', exporter: 'memory', env: {} });
  const undo = installFetchInterceptor(caller);
  t.after(async () => {
    undo();
    await caller.shutdown();
  });
  for (let i = 0; i < ASK_LIMIT + 5; i++) assert.equal((await getVia('fetch', `${base}/x`)).status, 200);
  assert.equal(seen.filter((a) => a === 'service').length, ASK_LIMIT);
  assert.deepEqual(seen.slice(ASK_LIMIT), [undefined, undefined, undefined, undefined, undefined]);
});

test('a caller with an explicit services map never asks', async (t) => {
  const seen: (string | undefined)[] = [];
  const { base, port } = await serve(t, (_req, res) => res.end('plain'), seen);
  const caller = new Labcoat({ service: 'edge', exporter: 'memory', env: {}, services: { store: `127.0.0.1:${port}` } });
  const undo = installHttpInterceptor(caller);
  t.after(async () => {
    undo();
    await caller.shutdown();
  });
  for (let i = 0; i < 3; i++) await getVia('http', `${base}/x`);
  assert.deepEqual(seen, [undefined, undefined, undefined]);
});
