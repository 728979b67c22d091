/**
 * HTTPS: an instrumented https server, and faults on https clients (node:https and undici). The
 * `proceed` faults open a real TLS connection after the delay, with the request's own TLS options.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import type { FaultSpec } from '@labcoat/core';
import { Labcoat, installHttpInterceptor, labcoatInterceptor, wrapRequestListener, currentContext } from '../src/index.js';

const cert = readFileSync(new URL('../../test/fixtures/localhost-cert.pem', import.meta.url));
const key = readFileSync(new URL('../../test/fixtures/localhost-key.pem', import.meta.url));
const SIGNING_KEY = 'https-test-key-0123456789abcdef';
const BODY = JSON.stringify({ secure: true, pad: 'y'.repeat(500) });

let server: https.Server;
let base: string;
let port: number;
let calls = 0;
const serverSdk = new Labcoat({ service: 'vault', key: SIGNING_KEY, exporter: 'memory', env: {} });
let client: Labcoat;
let undo: () => void;
let seenTrace: string | undefined;

before(async () => {
  server = https.createServer(
    { key, cert },
    wrapRequestListener((req, res) => {
      calls++;
      seenTrace = currentContext()?.traceId;
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) }).end(BODY));
    }, serverSdk),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  base = `https://127.0.0.1:${port}`;
  client = new Labcoat({ service: 'shop', key: SIGNING_KEY, exporter: 'memory', services: { vault: `127.0.0.1:${port}` }, env: {} });
  undo = installHttpInterceptor(client);
});

after(async () => {
  undo();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const plan = (fault: FaultSpec) => client.signPlan({ v: 1, id: 'tls', exp: Date.now() + 60_000, rules: [{ match: { point: 'shop->vault GET /secrets/:id' }, fault }] });

function viaHttps(token: string | undefined): Promise<{ status: number; body: string } | { error: string }> {
  return client.run(
    () =>
      new Promise((resolve) => {
        const req = https.get(`${base}/secrets/9`, { ca: cert, timeout: 3000 }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.name }));
        });
        req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
        req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.name }));
      }),
    token ? { planToken: token } : {},
  );
}

async function viaUndici(token: string | undefined): Promise<{ status: number; body: string } | { error: string }> {
  const agent = new Agent({ connect: { ca: cert } }).compose(labcoatInterceptor(client));
  try {
    return await client.run(async () => {
      try {
        const r = await fetch(`${base}/secrets/9`, { dispatcher: agent } as unknown as RequestInit);
        return { status: r.status, body: await r.text() };
      } catch (e) {
        return { error: (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name };
      }
    }, token ? { planToken: token } : {});
  } finally {
    await agent.close();
  }
}

for (const [name, call] of [['node:https', viaHttps], ['undici', viaUndici]] as const) {
  describe(`${name} client to an https server`, () => {
    test('no plan: real TLS call, trace continues into the server', async () => {
      const r = await call(undefined);
      assert.deepEqual(r, { status: 200, body: BODY });
      const clientSpan = client.memory!.spans.at(-1)!;
      assert.equal(clientSpan.attributes['labcoat.point'], 'shop->vault GET /secrets/:id');
      assert.equal(seenTrace, clientSpan.traceId);
    });

    test('delay: the real TLS call is made after the wait', async () => {
      const before = calls;
      assert.deepEqual(await call(plan({ kind: 'delay', ms: 50 })), { status: 200, body: BODY });
      assert.equal(calls, before + 1);
    });

    test('status: answered without a TLS connection', async () => {
      const before = calls;
      assert.deepEqual(await call(plan({ kind: 'status', status: 502, body: 'bad gateway' })), { status: 502, body: 'bad gateway' });
      assert.equal(calls, before);
    });

    test('error, reset and malformed over TLS', async () => {
      assert.deepEqual(await call(plan({ kind: 'error', code: 'EHOSTUNREACH' })), { error: 'EHOSTUNREACH' });
      assert.deepEqual(await call(plan({ kind: 'reset', afterBytes: 20 })), { error: 'ECONNRESET' });
      assert.deepEqual(await call(plan({ kind: 'malformed', afterBytes: 20 })), { status: 200, body: BODY.slice(0, 20) });
    });
  });
}
