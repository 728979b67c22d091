/**
 * Exploring services that run in the test's own process, instrumented by @labcoat/node with the
 * in-memory span exporter: no collector, no child processes. (The SDK patches this process's fetch
 * and node:http; the runner's own requests must stay untraced and unfaulted.)
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { init, InMemoryExporter, wrapRequestListener, type Initialized } from '@labcoat/node';
import { explore } from '../src/explore/api.js';
import { assertResilient } from '../src/explore/report.js';

const KEY = 'explore-inprocess-test-key-0123456789';
const spans = new InMemoryExporter();
let sdk: Initialized;
let back: http.Server;
let front: http.Server;
let frontUrl = '';

const listen = async (server: http.Server): Promise<number> => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
};

before(async () => {
  back = http.createServer(wrapRequestListener((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"stars":5}')));
  const backPort = await listen(back);
  sdk = init({ service: 'front', key: KEY, exporter: spans, services: { back: `127.0.0.1:${backPort}` } });
  front = http.createServer(
    wrapRequestListener(async (req, res) => {
      let stars: number | null = null;
      try {
        const r = await fetch(`http://127.0.0.1:${backPort}/stars/1`, { signal: AbortSignal.timeout(500) });
        if (!r.ok) throw new Error(`back answered ${r.status}`);
        stars = ((await r.json()) as { stars: number }).stars;
      } catch (e) {
        // /strict has no fallback; /tolerant answers without the stars.
        if (req.url?.startsWith('/strict')) return void res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (e as Error).message }));
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ stars }));
    }),
  );
  frontUrl = `http://127.0.0.1:${await listen(front)}`;
});

after(async () => {
  front?.closeAllConnections();
  back?.closeAllConnections();
  await new Promise((r) => front?.close(r));
  await new Promise((r) => back?.close(r));
  await sdk?.close();
});

test('a fallback tolerates every fault: certified; without it, each fault mode is a failure set', async () => {
  const tolerant = await explore({ target: `${frontUrl}/tolerant`, key: KEY, collector: spans, faults: 'error,503,hang', deadlineMs: 2000, spanWaitMs: 500 });
  assert.deepEqual(tolerant.classes[0]!.points, ['front->back GET /stars/:id']);
  assert.equal(tolerant.classes[0]!.certified.complete, true);
  assertResilient(tolerant, { certified: true });

  const strict = await explore({ target: `${frontUrl}/strict`, key: KEY, collector: spans, faults: 'error,503', deadlineMs: 2000, spanWaitMs: 500 });
  const sets = strict.classes[0]!.failureSets;
  assert.deepEqual(sets.map((f) => f.faults.map((x) => `${x.point} ${x.mode}`)).sort(), [['front->back GET /stars/:id 503'], ['front->back GET /stars/:id error']]);
  assert.deepEqual(sets.find((f) => f.faults[0]!.mode === '503')!.symptom, 'HTTP 502 "back answered 503"');
  assert.equal(sdk.stats.plansRejected['bad-signature'] ?? 0, 0);
});
