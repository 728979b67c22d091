/**
 * Two server replicas on one PostgreSQL database: an attack created on replica 1 reaches a feed
 * subscriber of replica 2 within 1 s (LISTEN/NOTIFY), halt-all on replica 2 pushes an empty
 * snapshot on both, the graph counts spans ingested by either, and a campaign's events stream from
 * either replica. (The SDK side of the same, with real services, is attacks-e2e.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hmacMac, Labcoat } from '@labcoat/node';
import { clientSpan, KEY, makeTokens, otlp, postgresBackend, snapshotOf, SseClient, startPlane, type Backend, type Plane } from './control-helpers.js';

const backend = await postgresBackend();
const mac = hmacMac(KEY);

describe('two replicas on one PostgreSQL', { skip: typeof backend === 'string' ? `SKIP: ${backend}` : false }, () => {
  let r1: Plane;
  let r2: Plane;
  before(async () => {
    const db = await (backend as Backend).newDb();
    const tokens = await makeTokens(db);
    r1 = await startPlane(db, {}, tokens);
    r2 = await startPlane(db, {}, tokens);
  });
  after(async () => {
    await r1?.close();
    await r2?.close();
    if (typeof backend !== 'string') await backend.close();
  });

  test('an attack created on replica 1 reaches replica 2’s feed within 1 s; halt-all on replica 2 empties both', async () => {
    assert.notEqual(r1.server.replica, r2.server.replica);
    const feed1 = new SseClient(`${r1.url}/api/attacks/feed`, r1.tokens.service);
    const feed2 = new SseClient(`${r2.url}/api/attacks/feed`, r2.tokens.service);
    try {
      assert.ok(await feed1.waitFor(() => true));
      assert.ok(await feed2.waitFor(() => true));
      const latencies: number[] = [];
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const from = feed2.events.length;
        const sent = Date.now();
        const c = await r1.api('POST', '/api/attacks', { body: { target: { services: [`svc-${i}`] }, fault: { kind: 'error' }, percentage: 10, durationMs: 60_000 } });
        assert.equal(c.status, 201);
        ids.push(c.body.id);
        const seen = await feed2.waitFor((e) => snapshotOf(e.data).attacks.some((a) => a.id === c.body.id), 3000, from);
        assert.ok(seen, `attack ${i} reached replica 2`);
        const env = JSON.parse(seen.data) as { body: string; sig: string };
        assert.ok(mac.verify(env.body, env.sig));
        latencies.push(seen.at - sent);
      }
      console.log(`# replica 1 → replica 2 feed: ${latencies.join(', ')} ms (create answered + pushed)`);
      for (const l of latencies) assert.ok(l < 1000, `${l} ms`);

      const from1 = feed1.events.length;
      const from2 = feed2.events.length;
      const sent = Date.now();
      const all = await r2.api('POST', '/api/halt-all');
      assert.deepEqual(all.body.halted, [...ids].sort());
      const e1 = await feed1.waitFor((e) => snapshotOf(e.data).attacks.length === 0, 3000, from1);
      const e2 = await feed2.waitFor((e) => snapshotOf(e.data).attacks.length === 0, 3000, from2);
      assert.ok(e1 && e2, 'both replicas pushed an empty snapshot');
      console.log(`# halt-all on replica 2: empty snapshot on replica 1 after ${e1.at - sent} ms, on replica 2 after ${e2.at - sent} ms`);
      assert.ok(e1.at - sent < 1000 && e2.at - sent < 1000);
      assert.deepEqual((await r1.api('GET', '/api/attacks?state=active')).body.attacks, []);
      // and it stays empty on both through the next heartbeats
      const later1 = await feed1.waitFor(() => true, 3000, feed1.events.length);
      assert.ok(later1 && snapshotOf(later1.data).attacks.length === 0);
    } finally {
      feed1.close();
      feed2.close();
    }
  });

  test('SDKs: an attack created on replica 1 is held by an SDK subscribed to replica 2 within 1 s; halt-all drops it everywhere', async () => {
    const sdk = (p: Plane, name: string) =>
      new Labcoat({ service: name, key: KEY, exporter: 'none', env: {}, attacks: { url: p.url, token: p.tokens.service, log: () => {} } });
    const on1 = sdk(r1, 'svc-a');
    const on2 = sdk(r2, 'svc-b');
    const until = async (cond: () => boolean, ms: number): Promise<number | undefined> => {
      const t0 = Date.now();
      for (let i = 0; i < ms / 5; i++) {
        if (cond()) return Date.now() - t0;
        await new Promise((r) => setTimeout(r, 5));
      }
      return cond() ? Date.now() - t0 : undefined;
    };
    try {
      assert.ok((await until(() => on1.attacks.state === 'connected' && on2.attacks.state === 'connected', 10_000)) !== undefined, 'both SDKs connected');
      const t0 = Date.now();
      const c = await r1.api('POST', '/api/attacks', { body: { target: { services: ['db'] }, fault: { kind: 'status', status: 503 }, percentage: 100, durationMs: 60_000 } });
      const held = await until(() => on2.attacks.ids.includes(c.body.id), 3000);
      assert.ok(held !== undefined, 'the SDK on replica 2 holds the attack');
      assert.ok(await until(() => on1.attacks.ids.includes(c.body.id), 3000) !== undefined);
      const createMs = Date.now() - t0;
      const t1 = Date.now();
      await r2.api('POST', '/api/halt-all');
      const dropped = await until(() => on1.attacks.ids.length === 0 && on2.attacks.ids.length === 0, 3000);
      assert.ok(dropped !== undefined, 'both SDKs dropped it');
      const haltMs = Date.now() - t1;
      console.log(`# SDK on replica 2 held the attack created on replica 1 after ${createMs} ms; both SDKs dropped it ${haltMs} ms after halt-all on replica 2`);
      assert.ok(createMs < 1000 && haltMs < 1000, `${createMs} ms, ${haltMs} ms`);
      assert.equal(on1.attacks.active.length + on2.attacks.active.length, 0, 'nothing held, so nothing can be injected');
    } finally {
      await on1.shutdown();
      await on2.shutdown();
    }
  });

  test('the graph counts spans ingested on either replica', async () => {
    const post = (p: Plane, n: number) => p.api('POST', '/v1/traces', { token: null, raw: otlp(Array.from({ length: n }, () => clientSpan('front', 'back', '/b', 5))), headers: { 'content-type': 'application/json' } });
    await Promise.all([post(r1, 30), post(r2, 12), post(r1, 8)]);
    for (const p of [r1, r2]) {
      const g = await p.api('GET', '/api/graph?window=5m');
      assert.equal(g.body.edges.find((e: { caller: string }) => e.caller === 'front').calls, 50);
    }
  });

  test('a mutation on one replica is audited once, visible on both', async () => {
    const c = await r2.api('POST', '/api/attacks', { body: { target: { services: ['x'] }, fault: { kind: 'hang' }, percentage: 1, durationMs: 5000 } });
    await r1.api('POST', `/api/attacks/${c.body.id}/halt`);
    for (const p of [r1, r2]) {
      const entries = (await p.api('GET', '/api/audit?limit=1000')).body.entries.filter((e: { target: string }) => e.target === c.body.id);
      assert.deepEqual(entries.map((e: { action: string }) => e.action), ['attack.halt', 'attack.create']);
    }
  });
});
