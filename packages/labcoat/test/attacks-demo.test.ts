/**
 * The demo from issue 6 on examples/streaming (16 real processes): the control plane (real server
 * on SQLite) runs an attack on 50% of `GET /home` requests at one non-critical point. Every service
 * subscribes to the signed feed (LABCOAT_CONTROL_URL/TOKEN); only `edge` is an entry
 * (LABCOAT_ATTACK_ENTRY=edge). From the spans: faults only on the requests the edge marked (the draw
 * is `unitFromKey(traceId|attackId)`, so the test knows which), zero leaks, every answer still
 * correct; after the halt, none.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { unitFromKey } from '@labcoat/core';
import { Collector } from '../src/collector.js';
import { runClass, startStreaming, type ExperimentResult, type Streaming } from '../src/streaming.js';
import { KEY, sqliteBackend, startPlane, type Backend, type Plane } from './control-helpers.js';
import { describeResult, mapLimit, pointsIn, spansOf, streamingTestLock } from './streaming-helpers.js';

const POINT = 'edge->trending GET /trending';
const REQUESTS = 120;

let backend: Backend;
let plane: Plane;
let collector: Collector;
let system: Streaming;
let unlock: (() => void) | undefined;
const saved: Record<string, string | undefined> = {};

before(async () => {
  unlock = await streamingTestLock();
  backend = sqliteBackend();
  plane = await startPlane(await backend.newDb(), { leaseMs: 3000 });
  collector = await Collector.start();
  // The services inherit these: every SDK subscribes, the edge decides.
  const env = { LABCOAT_CONTROL_URL: plane.url, LABCOAT_CONTROL_TOKEN: plane.tokens.service, LABCOAT_ATTACK_ENTRY: 'edge' };
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  system = await startStreaming({ key: KEY, bugs: 'none', otlpUrl: collector.url, warmup: 1 });
});

after(async () => {
  await system?.stop();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await collector?.close();
  await plane?.close();
  await backend?.close();
  unlock?.();
});

/** Client spans of a request that an attack injected into: point → attack id. */
function attacked(spans: readonly { kind: string; attributes: Record<string, unknown> }[]): { point: string; attack: string }[] {
  return spans
    .filter((s) => s.kind === 'client' && s.attributes['labcoat.attack.id'] !== undefined)
    .map((s) => ({ point: String(s.attributes['labcoat.point']), attack: String(s.attributes['labcoat.attack.id']) }));
}

describe('attack demo on examples/streaming', () => {
  test('50% of GET /home, one non-critical point: faults on marked requests only, answers correct, then halt and none', async () => {
    const home = system.classes.classes.find((c) => c.name === 'home')!;
    const baseline = await runClass(system, home);
    assert.deepEqual(baseline.violations, [], describeResult(baseline));
    assert.ok(pointsIn(await spansOf(collector, baseline)).has(POINT), `GET /home calls ${POINT}`);

    const created = await plane.api('POST', '/api/attacks', {
      body: {
        name: 'home trending 503',
        target: { points: [POINT] },
        entry: { routes: ['GET /home'] },
        fault: { kind: 'status', status: 503 },
        percentage: 50,
        durationMs: 300_000,
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    const joins = (r: ExperimentResult): boolean => unitFromKey(`${r.traceId}|${id}`) < 0.5;
    // Every service subscribed (16), then the edge holds the attack: a joining request gets its fault.
    const subscribed = async (): Promise<number> => ((await plane.api('GET', '/api/health')).body as { feed: { subscribers: number } }).feed.subscribers;
    for (let i = 0; i < 200 && (await subscribed()) < 16; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await subscribed(), 16);
    let ready = false;
    for (let i = 0; i < 40 && !ready; i++) {
      const r = await runClass(system, home);
      if (joins(r)) ready = attacked(await spansOf(collector, r)).length > 0;
    }
    assert.ok(ready, 'the edge injects for a joining request');

    const results = await mapLimit(Array.from({ length: REQUESTS }), 4, async () => {
      const r = await runClass(system, home);
      return { r, hits: attacked(await spansOf(collector, r)) };
    });
    let marked = 0;
    let injections = 0;
    for (const { r, hits } of results) {
      assert.deepEqual(r.violations, [], describeResult(r));
      if (joins(r)) {
        marked++;
        assert.ok(hits.length >= 1, `marked request ${r.traceId} got its fault`);
      } else assert.deepEqual(hits, [], `leak: unmarked request ${r.traceId} got ${JSON.stringify(hits)}`);
      for (const h of hits) assert.deepEqual(h, { point: POINT, attack: id });
      injections += hits.length;
    }
    // Binomial(120, 0.5): mean 60, sd 5.5; 5 sd either side.
    assert.ok(marked >= 33 && marked <= 87, `${marked}/${REQUESTS} marked`);
    console.log(`# demo: ${marked}/${REQUESTS} GET /home joined ${id}; ${injections} injections at ${POINT}, all on marked requests; 0 leaks; every answer correct`);

    const t0 = performance.now();
    const halted = await plane.api('POST', `/api/attacks/${id}/halt`);
    assert.equal(halted.status, 200);
    const after = await mapLimit(Array.from({ length: 40 }), 4, async () => {
      const r = await runClass(system, home);
      return { r, hits: attacked(await spansOf(collector, r)), at: performance.now() - t0 };
    });
    const lastHit = Math.max(0, ...after.filter((a) => a.hits.length > 0).map((a) => a.at));
    assert.ok(lastHit < 1000, `an injection ${lastHit.toFixed(0)} ms after the halt`);
    console.log(`# demo: halted; last injected request answered ${lastHit.toFixed(0)} ms after the halt request was sent (0 = none after it)`);
    for (const { r } of after) assert.deepEqual(r.violations, [], describeResult(r));
    // None: well past the halt, nothing at all.
    for (const { r } of await mapLimit(Array.from({ length: 20 }), 4, () => runClass(system, home).then((r) => ({ r })))) {
      assert.deepEqual(attacked(await spansOf(collector, r)), []);
    }
    assert.equal((await plane.api('GET', `/api/attacks/${id}`)).body.state, 'halted');
  });
});
