/**
 * The control plane's store on SQLite and on PostgreSQL: the service graph from ingested spans
 * (edges, counts, error rate, p50/p99, windows), duplicates, retention by age, count and size that
 * keeps the graph, aggregate thinning, migrations, and (PostgreSQL) concurrent ingestion by two
 * replicas losing no addition.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SpanData } from '@labcoat/core';
import { openStore, SqliteStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { addPairs, binOf, binValueMs, encodeHist, histPairs, pairQuantilesMs, quantileMs, subtractPairs } from '../src/store/hist.js';
import { clientSpan, hex, postgresBackend, serverSpan, sqliteBackend, type Backend } from './control-helpers.js';

const pgBackend = await postgresBackend();

test('latency histogram bins are within ±4.5% and quantiles pick the right rank', () => {
  for (const ms of [0.001, 0.5, 1, 7.3, 50, 99, 1234, 60_000]) {
    const v = binValueMs(binOf(ms));
    assert.ok(Math.abs(v - ms) / ms <= 0.046, `${ms} → ${v}`);
  }
  const h = new Map<number, number>();
  for (let i = 1; i <= 100; i++) h.set(binOf(i), (h.get(binOf(i)) ?? 0) + 1);
  assert.ok(Math.abs(quantileMs(h, 0.5)! - 50) / 50 < 0.05);
  assert.ok(Math.abs(quantileMs(h, 0.99)! - 99) / 99 < 0.05);
  assert.equal(quantileMs(new Map(), 0.5), undefined);
  // the graph's fast path reads what encodeHist wrote, and falls back on anything else
  assert.deepEqual(histPairs(encodeHist(h)), [...h].sort((a, b) => a[0] - b[0]).flat());
  assert.deepEqual(histPairs('{"7":2,"3":1}'), [3, 1, 7, 2]);
  assert.deepEqual(histPairs('garbage'), []);
  assert.deepEqual(histPairs('{"5":-2}'), [5, -2]);
  assert.deepEqual(subtractPairs([1, 5, 2, 3, 9, 1], [1, 5, 2, 1]), [2, 2, 9, 1]);
  assert.deepEqual(addPairs([1, 5, 9, 1], [2, 1, 9, 1]), [1, 5, 2, 1, 9, 2]);
  const pairs = histPairs(encodeHist(h));
  assert.deepEqual(pairQuantilesMs(pairs, [0.5, 0.99]), [quantileMs(h, 0.5), quantileMs(h, 0.99)]);
  assert.deepEqual(pairQuantilesMs([], [0.5]), [undefined]);
});

function suite(backend: Backend | string, label: string): void {
  describe(`store on ${label}`, { skip: typeof backend === 'string' ? `SKIP: ${backend}` : false }, () => {
    const b = backend as Backend;
    let store: Store;
    before(async () => {
      store = await openStore(await b.newDb());
    });
    after(async () => {
      await store?.close();
      if (label === 'SQLite') await b.close();
    });

    test('graph: edges with calls, errors, error rate and p50/p99; services with spans and requests', async () => {
      const now = Date.now();
      const spans: SpanData[] = [];
      for (let i = 1; i <= 100; i++) spans.push(clientSpan('edge', 'profiles', '/profiles/:id', i, { error: i % 10 === 0 }));
      for (let i = 0; i < 50; i++) spans.push(clientSpan('edge', 'recs', '/recs/:id', 20));
      for (let i = 0; i < 40; i++) spans.push(clientSpan('edge', 'recs', '/trending', 40, { error: i < 4 }));
      // a client span without labcoat.point: the callee from peer.service
      for (let i = 0; i < 30; i++)
        spans.push({ ...clientSpan('profiles', 'x', '/x', 3), attributes: { 'peer.service': 'profiles-db', 'http.request.method': 'post', 'url.full': 'http://db:5432/rows/12345' } });
      for (let i = 0; i < 120; i++) spans.push(serverSpan('edge', '/home', 150, { error: i < 6 }));
      // internal spans and client spans to an unknown callee are not edges
      spans.push({ ...serverSpan('edge', '/x', 1), kind: 'internal' });
      spans.push({ ...clientSpan('edge', 'y', '/y', 1), attributes: {} });
      const r = await store.ingest(spans, now);
      assert.deepEqual(r, { inserted: spans.length, duplicates: 0 });

      const g = await store.graph({ sinceMs: now - 60_000, untilMs: now + 1 });
      const edge = (caller: string, callee: string) => g.edges.find((e) => e.caller === caller && e.callee === callee)!;
      assert.equal(g.edges.length, 3);
      const p = edge('edge', 'profiles');
      assert.equal(p.calls, 100);
      assert.equal(p.errors, 10);
      assert.equal(p.errorRate, 0.1);
      assert.ok(Math.abs(p.p50Ms! - 50) / 50 < 0.05, `p50 ${p.p50Ms}`);
      assert.ok(Math.abs(p.p99Ms! - 99) / 99 < 0.05, `p99 ${p.p99Ms}`);
      const recs = edge('edge', 'recs');
      assert.equal(recs.calls, 90);
      assert.equal(recs.errors, 4);
      assert.deepEqual(recs.points, ['edge->recs GET /recs/:id', 'edge->recs GET /trending']);
      assert.ok(Math.abs(recs.p50Ms! - 20) / 20 < 0.05);
      assert.ok(Math.abs(recs.p99Ms! - 40) / 40 < 0.05);
      const db = edge('profiles', 'profiles-db');
      assert.equal(db.calls, 30);
      assert.deepEqual(db.points, ['profiles->profiles-db POST /rows/:id']);
      const svc = new Map(g.services.map((s) => [s.name, s]));
      assert.deepEqual(svc.get('edge'), { name: 'edge', spans: 100 + 50 + 40 + 120 + 2, requests: 120, errors: 6 });
      assert.deepEqual(svc.get('profiles-db'), { name: 'profiles-db', spans: 0, requests: 0, errors: 0 });
      assert.deepEqual(svc.get('recs'), { name: 'recs', spans: 0, requests: 0, errors: 0 });

      const byPoint = await store.graph({ sinceMs: now - 60_000, untilMs: now + 1, by: 'point' });
      assert.equal(byPoint.edges.length, 4);
      const trending = byPoint.edges.find((e) => e.points[0] === 'edge->recs GET /trending')!;
      assert.equal(trending.calls, 40);
      assert.equal(trending.errorRate, 0.1);

      const onlyDb = await store.graph({ sinceMs: now - 60_000, untilMs: now + 1, service: 'profiles-db' });
      assert.deepEqual(onlyDb.edges.map((e) => `${e.caller}->${e.callee}`), ['profiles->profiles-db']);
      assert.deepEqual(onlyDb.services.map((s) => s.name), ['profiles', 'profiles-db']);

      // The same spans again are duplicates: stored once, counted once.
      const again = await store.ingest(spans.slice(0, 10), now);
      assert.deepEqual(again, { inserted: 0, duplicates: 10 });
      assert.equal((await store.graph({ sinceMs: now - 60_000, untilMs: now + 1 })).edges.find((e) => e.callee === 'profiles')!.calls, 100);
    });

    test('graph windows: what was ingested before or after the window does not count', async () => {
      const s = await openStore(await b.newDb());
      try {
        const t0 = Date.now() - 3 * 3_600_000;
        await s.ingest(Array.from({ length: 10 }, () => clientSpan('a', 'b', '/b', 5)), t0);
        await s.ingest(Array.from({ length: 20 }, () => clientSpan('a', 'b', '/b', 5)), t0 + 3_600_000);
        await s.ingest(Array.from({ length: 40 }, () => clientSpan('a', 'b', '/b', 5)), t0 + 2 * 3_600_000);
        const calls = async (since: number, until: number) => (await s.graph({ sinceMs: since, untilMs: until })).edges[0]?.calls ?? 0;
        assert.equal(await calls(t0 - 60_000, t0 + 60_000), 10);
        assert.equal(await calls(t0 + 30 * 60_000, t0 + 90 * 60_000), 20);
        assert.equal(await calls(t0 + 30 * 60_000, t0 + 3 * 3_600_000), 60);
        assert.equal(await calls(t0 - 60_000, t0 + 3 * 3_600_000), 70);
        assert.equal(await calls(t0 + 2 * 3_600_000 + 120_000, t0 + 4 * 3_600_000), 0);
        assert.equal(await calls(t0 - 3_600_000, t0 - 60_000), 0);
      } finally {
        await s.close();
      }
    });

    test('retention by age, count and size deletes spans and keeps the graph; old aggregates are thinned, totals kept', async () => {
      const s = await openStore(await b.newDb());
      try {
        const now = Date.now();
        const old = Array.from({ length: 30 }, (_, i) => clientSpan('a', 'b', '/b', i + 1));
        const recent = Array.from({ length: 20 }, (_, i) => clientSpan('a', 'b', '/b', i + 1, { error: i < 2 }));
        // aggregates over three hours, one batch every 5 minutes, so there is something to thin
        for (let m = 180; m >= 10; m -= 5) await s.ingest([clientSpan('a', 'c', '/c', 7)], now - m * 60_000);
        await s.ingest(old, now - 10 * 60_000);
        await s.ingest(recent, now);
        const window = { sinceMs: now - 4 * 3_600_000, untilMs: now + 1 };
        const before = await s.graph(window);
        const beforeRecent = await s.graph({ sinceMs: now - 15 * 60_000, untilMs: now + 1 });
        assert.equal((await s.spanTotals()).spans, 30 + 20 + 35);

        const byAge = await s.retain({ maxAgeMs: 5 * 60_000 }, now);
        assert.equal(byAge.deletedSpans, 30 + 35);
        assert.ok(byAge.thinnedAggregates > 0, 'old aggregate rows were thinned');
        assert.equal((await s.trace(old[0]!.traceId)).length, 0);
        assert.equal((await s.trace(recent[0]!.traceId)).length, 1);
        assert.equal((await s.spanTotals()).spans, 20);
        assert.deepEqual(await s.graph(window), before);
        assert.deepEqual(await s.graph({ sinceMs: now - 15 * 60_000, untilMs: now + 1 }), beforeRecent);

        const totals = await s.spanTotals();
        assert.ok(totals.bytes > 0);
        const bySize = await s.retain({ maxBytes: totals.bytes - 1 }, now);
        assert.equal(bySize.deletedSpans, 20);
        await s.ingest([clientSpan('a', 'b', '/b', 1)], now + 60_000);
        await s.ingest([clientSpan('a', 'b', '/b', 1)], now + 120_000);
        const byCount = await s.retain({ maxSpans: 1 }, now + 120_000);
        assert.equal(byCount.deletedSpans, 1);
        assert.equal((await s.spanTotals()).spans, 1);
        const afterAll = await s.graph(window);
        assert.deepEqual(afterAll, before, 'the graph survives retention');
      } finally {
        await s.close();
      }
    });

    test('migrations apply once; a database from a newer labcoat is refused', async () => {
      const db = await b.newDb();
      const s1 = await openStore(db);
      await s1.ingest([clientSpan('a', 'b', '/b', 1)], Date.now());
      await s1.close();
      const s2 = await openStore(db);
      assert.equal((await s2.spanTotals()).spans, 1);
      await s2.close();
      if (label === 'SQLite') {
        const raw = SqliteStore.open(db);
        (raw as unknown as { db: { exec(sql: string): void } }).db.exec("INSERT INTO schema_migrations VALUES (999, 'future', 0)");
        await raw.close();
      } else {
        const pg = (await import('pg')).default;
        const c = new pg.Client({ connectionString: db });
        await c.connect();
        await c.query("INSERT INTO schema_migrations VALUES (999, 'future', 0)");
        await c.end();
      }
      await assert.rejects(openStore(db), /written by a newer labcoat \(schema version 999/);
    });

    if (label === 'PostgreSQL') {
      test('two replicas ingesting the same edges at once lose no addition', async () => {
        const db = await b.newDb();
        const [r1, r2] = [await openStore(db), await openStore(db)];
        try {
          const now = Date.now();
          const batches = (n: number) => Array.from({ length: n }, () => [clientSpan('x', 'y', '/y', 3), clientSpan('x', 'z', '/z', 9), serverSpan('x', '/', 1)]);
          await Promise.all([...batches(40).map((s) => r1.ingest(s, now)), ...batches(40).map((s) => r2.ingest(s, now))]);
          const g = await r1.graph({ sinceMs: now - 60_000, untilMs: now + 1 });
          assert.deepEqual(g.edges.map((e) => [e.callee, e.calls]), [['y', 80], ['z', 80]]);
          assert.equal(g.services.find((s) => s.name === 'x')!.spans, 240);
          assert.equal((await r2.spanTotals()).spans, 240);
        } finally {
          await r1.close();
          await r2.close();
        }
      });
    }
  });
}

suite(sqliteBackend(), 'SQLite');
suite(pgBackend, 'PostgreSQL');
after(async () => {
  if (typeof pgBackend !== 'string') await pgBackend.close();
});
void hex;
