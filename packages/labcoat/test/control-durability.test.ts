/**
 * `kill -9` of `labcoat server` loses nothing it acknowledged: while senders post OTLP batches the
 * server is SIGKILLed; after a restart on the same database every span of every batch answered 200
 * is there, and the graph's aggregates agree with the spans stored (same transaction). Likewise
 * for a campaign: every progress event a client received over SSE before the kill is stored, and
 * the campaign is marked interrupted. On SQLite and on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { SpanData } from '@labcoat/core';
import { startChain, type Chain } from '../src/chain.js';
import { CHAIN_CLASS } from '../src/explore/demo.js';
import { clientSpan, hex, KEY, makeTokens, otlp, postgresBackend, request, SseClient, spawnServer, sqliteBackend, type Backend } from './control-helpers.js';

const pgBackend = await postgresBackend();
const sqlite = sqliteBackend();
after(async () => {
  await sqlite.close();
  if (typeof pgBackend !== 'string') await pgBackend.close();
});

function suite(backend: Backend | string, label: string): void {
  describe(`kill -9 on ${label}`, { skip: typeof backend === 'string' ? `SKIP: ${backend}` : false }, () => {
    const b = backend as Backend;

    test('during ingestion: every acknowledged span survives', async () => {
      const db = await b.newDb();
      const tokens = await makeTokens(db);
      let server = await spawnServer(db);
      const acked: { traceId: string; spans: number }[] = [];
      let failed = 0;
      let stop = false;
      const sender = async (): Promise<void> => {
        for (let i = 0; i < 10_000 && !stop; i++) {
          const traceId = hex(16);
          const spans: SpanData[] = Array.from({ length: 200 }, () => clientSpan('loader', 'sink', '/sink', 2, { traceId }));
          try {
            const res = await fetch(`${server.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: otlp(spans), signal: AbortSignal.timeout(10_000) });
            await res.arrayBuffer();
            if (res.status === 200) acked.push({ traceId, spans: spans.length });
            else failed++;
          } catch {
            failed++;
            return; // the server is gone
          }
        }
      };
      const senders = Array.from({ length: 6 }, sender);
      for (let i = 0; i < 400 && acked.length < 40; i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(acked.length >= 40, `${acked.length} batches acknowledged before the kill`);
      server.child.kill('SIGKILL');
      stop = true;
      await Promise.all(senders);
      const acknowledged = acked.length;
      console.log(`# ${label}: ${acknowledged} batches (${acknowledged * 200} spans) acknowledged, ${failed} cut off by the kill`);

      server = await spawnServer(db);
      try {
        for (const a of acked) {
          const r = await request(server.url, 'GET', `/api/traces/${a.traceId}`, { token: tokens.viewer });
          assert.equal(r.body.spans.length, a.spans, `trace ${a.traceId}: every acknowledged span is there`);
        }
        const stats = await request(server.url, 'GET', '/api/stats', { token: tokens.viewer });
        const stored = stats.body.spans.spans as number;
        assert.ok(stored >= acknowledged * 200, `${stored} spans stored`);
        const g = await request(server.url, 'GET', '/api/graph?window=10m', { token: tokens.viewer });
        assert.equal(g.body.edges.find((e: { caller: string }) => e.caller === 'loader').calls, stored, 'aggregates committed with their spans, no more, no less');
      } finally {
        await server.stop();
      }
    });

    test('during a campaign: every event a client received survives; the campaign is marked interrupted', async () => {
      const db = await b.newDb();
      const tokens = await makeTokens(db);
      let server = await spawnServer(db, ['--campaign-stale', '3s']);
      let chain: Chain | undefined;
      try {
        chain = await startChain({ key: KEY, otlpUrl: `${server.url}/v1/traces` });
        const c = await request(server.url, 'POST', '/api/campaigns', { token: tokens.admin, body: { target: chain.edge.url, classes: [CHAIN_CLASS], maxFaults: 3, settleMs: 100 } });
        assert.equal(c.status, 201, JSON.stringify(c.body));
        const events = new SseClient(`${server.url}/api/campaigns/${c.body.id}/events`, tokens.viewer);
        const enough = await events.waitFor(() => events.events.filter((e) => e.event === 'progress').length >= 5, 60_000);
        assert.ok(enough, 'progress arrives');
        server.child.kill('SIGKILL');
        await events.done;
        const received = events.events.filter((e) => e.event !== 'end').map((e) => JSON.parse(e.data) as { seq: number; type: string; data: unknown });
        assert.ok(!events.events.some((e) => e.event === 'end'), 'it was cut off mid-run');

        server = await spawnServer(db, ['--campaign-stale', '3s']);
        let state = '';
        for (let i = 0; i < 100 && state !== 'interrupted'; i++) {
          state = (await request(server.url, 'GET', `/api/campaigns/${c.body.id}`, { token: tokens.viewer })).body.state;
          if (state !== 'interrupted') await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(state, 'interrupted');
        const stored = (await request(server.url, 'GET', `/api/campaigns/${c.body.id}/events`, { token: tokens.viewer })).body.events as { seq: number; type: string; data: unknown }[];
        for (const e of received) assert.deepEqual(stored.find((s) => s.seq === e.seq), e, `event ${e.seq} survived as it was sent`);
        assert.ok(stored.length >= received.length + 1);
        assert.deepEqual(stored.at(-1)!.data, { state: 'interrupted', error: 'the server running this campaign stopped before it finished' });
        console.log(`# ${label}: ${received.length} campaign events received before the kill, ${stored.length} stored (with the interruption)`);
        const audit = await request(server.url, 'GET', '/api/audit?action=campaign.interrupt', { token: tokens.viewer });
        assert.equal(audit.body.entries[0].target, c.body.id);
      } finally {
        await chain?.stop();
        await server.stop();
      }
    });
  });
}

suite(sqlite, 'SQLite');
suite(pgBackend, 'PostgreSQL');
