/**
 * Production attacks through the sidecar proxy: a real `labcoat server` (in-process, SQLite), a
 * service that only forwards trace headers (as a Python service would), an ingress listener that is
 * the attack entry and an egress listener in front of its dependency. The attack fires only on
 * requests the entry marked, never on requests that bypass the entry, and stops at halt-all.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { InMemoryExporter } from '@labcoat/node';
import { createToken } from '../src/server/auth.js';
import { startServer, type ControlPlane } from '../src/server/server.js';
import { ProxyServer } from '../src/proxy/index.js';

const KEY = `proxy-attacks-${randomBytes(12).toString('base64url')}`;
const POINT = 'web->ratings GET /ratings/:id';
let dir: string;
let control: ControlPlane;
let adminToken: string;
let ratings: http.Server;
let web: http.Server;
let proxy: ProxyServer;
let ratingsCalls = 0;
let webUrl = '';

const listen = async (s: http.Server): Promise<string> => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(s.address() as AddressInfo).port}`;
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'labcoat-proxy-attacks-'));
  control = await startServer({ db: join(dir, 'labcoat.db'), port: 0, key: KEY, leaseMs: 1500, log: () => {} });
  adminToken = (await createToken(control.store, 'admin', 'test-admin', { id: 'test', role: 'cli' })).token;
  const serviceToken = (await createToken(control.store, 'service', 'test-proxy', { id: 'test', role: 'cli' })).token;

  ratings = http.createServer((_req, res) => {
    ratingsCalls++;
    res.end('{"stars":4}');
  });
  const ratingsAddress = await listen(ratings);

  // "web" knows nothing of labcoat: it forwards the W3C headers to ratings through its egress proxy.
  let egress = '';
  web = http.createServer((req, res) => {
    const headers: Record<string, string> = {};
    for (const h of ['traceparent', 'tracestate', 'baggage']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
    http
      .get(`http://${egress}/ratings/7`, { headers }, (up) => {
        up.resume();
        up.on('end', () => res.writeHead(up.statusCode === 200 ? 200 : 502).end(String(up.statusCode)));
      })
      .on('error', () => res.writeHead(502).end('error'));
  });
  const webAddress = await listen(web);
  webUrl = `http://${webAddress}`;

  proxy = await ProxyServer.start({
    admin: false,
    key: KEY,
    exporter: new InMemoryExporter(),
    control: { url: control.url, token: serviceToken, entryServices: ['web'] },
    proxies: [
      { name: 'web-in', ingress: true, service: 'web', upstream: webAddress },
      { name: 'web-ratings', caller: 'web', service: 'ratings', upstream: ratingsAddress },
    ],
  });
  egress = proxy.get('web-ratings').listen;
});

after(async () => {
  await proxy?.close();
  for (const s of [web, ratings]) {
    s?.closeAllConnections();
    await new Promise((r) => s?.close(r));
  }
  await control?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function get(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  await res.text();
  return res.status;
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: { id?: string } }> {
  const res = await fetch(`${control.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(5_000),
  });
  return { status: res.status, json: (await res.json()) as { id?: string } };
}

test('an attack reaches marked requests through the proxies, never unmarked ones, and halt-all stops it', async () => {
  const entry = `http://${proxy.get('web-in').listen}`;
  assert.equal(await get(`${entry}/home`), 200, 'no attack yet');

  const created = await api('POST', '/api/attacks', { name: 'ratings 503', target: { points: [POINT] }, fault: { kind: 'status', status: 503 }, percentage: 100, durationMs: 60_000 });
  assert.equal(created.status, 201, JSON.stringify(created.json));

  // The proxy's SDKs subscribe on first use; wait (bounded) until the attack is held and fires.
  const deadline = Date.now() + 5_000;
  let status = 200;
  while (status === 200 && Date.now() < deadline) {
    status = await get(`${entry}/home`);
    if (status === 200) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(status, 502, 'the attack fired on a request through the entry');

  const before = ratingsCalls;
  const marked = await Promise.all(Array.from({ length: 10 }, () => get(`${entry}/home`)));
  assert.deepEqual(marked, Array(10).fill(502), 'every marked request was faulted (100%)');
  assert.equal(ratingsCalls, before, 'the faulted calls never reached ratings');

  // Requests that bypass the entry carry no mark: the same call is never faulted.
  const unmarked = await Promise.all(Array.from({ length: 10 }, () => get(`${webUrl}/home`)));
  assert.deepEqual(unmarked, Array(10).fill(200), 'zero injections on unmarked requests');
  assert.equal(ratingsCalls, before + 10);

  const haltedAt = Date.now();
  assert.equal((await api('POST', '/api/halt-all', {})).status, 200);
  let after = 502;
  while (after !== 200 && Date.now() - haltedAt < 3_000) {
    after = await get(`${entry}/home`);
    if (after !== 200) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(after, 200, 'halt-all stopped the attack');
  assert.ok(Date.now() - haltedAt < 1_000, `halt took ${Date.now() - haltedAt} ms`);
});
