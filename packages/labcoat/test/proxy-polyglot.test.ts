/**
 * examples/polyglot: Python services behind labcoat proxies. Hand-signed plans show each planted
 * bug through the proxies; `explore()` then finds both on its own, from the proxies' spans alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Collector } from '../src/collector.js';
import { explore } from '../src/explore/api.js';
import { checkPython, POLYGLOT_POINTS, startPolyglot, type Polyglot } from '../src/polyglot.js';
import { KEY, planHeaders, randomHex, request, signPlan } from './proxy-helpers.js';

let python: string | undefined;
try {
  checkPython();
} catch (e) {
  python = (e as Error).message;
}
// CI installs Debian's python3-flask and python3-requests (.ci/run); elsewhere say why it is skipped.
const skip = python !== undefined && !process.env['CI'] ? python : false;

function get(url: string, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; body: string } | 'timeout'> {
  return Promise.race([
    request(url, { headers, agent: false, timeout: timeoutMs }).then((r) => ({ status: r.status, body: r.body.toString() })),
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref()),
  ]);
}

describe('examples/polyglot through labcoat proxies', { skip }, () => {
  let system: Polyglot;
  let collector: Collector;

  before(async () => {
    collector = await Collector.start();
    system = await startPolyglot({ key: KEY, otlpUrl: collector.url });
  });

  after(async () => {
    await system?.stop();
    await collector?.close();
  });

  test('baseline: /home answers with items and recommendations', async () => {
    const r = await get(`${system.url}/home`, {}, 5000);
    assert.notEqual(r, 'timeout');
    if (r === 'timeout') return;
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as { items: unknown[]; recs: unknown[] };
    assert.equal(body.items.length, 3);
    assert.equal(body.recs.length, 2);
  });

  test('bug no-timeout: a hung recommend holds /home past any deadline; errors are covered by the fallback', async () => {
    const hung = await get(`${system.url}/home`, planHeaders(POLYGLOT_POINTS.recommend, { kind: 'hang', maxMs: 2000 }), 1000);
    assert.equal(hung, 'timeout');
    const failed = await get(`${system.url}/home`, planHeaders(POLYGLOT_POINTS.recommend, { kind: 'status', status: 503 }), 3000);
    assert.ok(failed !== 'timeout' && failed.status === 200 && JSON.parse(failed.body).recs.length === 0);
  });

  test('bug same-upstream-fallback: one inventory fault is covered, both of its calls failing break /home', async () => {
    const one = await get(`${system.url}/home`, planHeaders(POLYGLOT_POINTS.stock, { kind: 'error' }), 3000);
    assert.ok(one !== 'timeout' && one.status === 200);
    const traceId = randomHex(32);
    const token = signPlan([
      { match: { point: POLYGLOT_POINTS.stock }, fault: { kind: 'status', status: 503 } },
      { match: { point: POLYGLOT_POINTS.cached }, fault: { kind: 'error' } },
    ]);
    const both = await get(`${system.url}/home`, { traceparent: `00-${traceId}-${randomHex(16)}-01`, baggage: `labcoat.plan=${token}` }, 3000);
    assert.ok(both !== 'timeout' && both.status === 503, JSON.stringify(both));
    const spans = await collector.waitForTrace(traceId, (s) => s.filter((x) => x.attributes['labcoat.fault'] !== undefined).length >= 2, 3000);
    const faulted = spans.filter((s) => s.attributes['labcoat.fault'] !== undefined).map((s) => s.attributes['labcoat.point']).sort();
    assert.deepEqual(faulted, [POLYGLOT_POINTS.stock, POLYGLOT_POINTS.cached].sort());
  });

  test('labcoat explore finds both bugs through the proxies', async () => {
    const report = await explore({
      target: `${system.url}/home`,
      key: KEY,
      collector,
      maxFaults: 2,
      deadlineMs: 1500,
      spanWaitMs: 1000,
      critical: { points: [POLYGLOT_POINTS.catalog] },
      budget: 300,
    });
    const cls = report.classes[0]!;
    const bugs = cls.failureSets.filter((f) => !f.critical).map((f) => f.faults.map((x) => `${x.point} (${x.mode})`).sort().join(' + '));
    assert.ok(
      cls.failureSets.some((f) => !f.critical && f.faults.length === 1 && f.faults[0]!.point === POLYGLOT_POINTS.recommend && f.faults[0]!.mode === 'hang'),
      `bug no-timeout not found; failure sets: ${JSON.stringify(bugs)}`,
    );
    assert.ok(
      cls.failureSets.some((f) => !f.critical && f.faults.length === 2 && new Set(f.faults.map((x) => x.point)).size === 2 && f.faults.every((x) => x.point === POLYGLOT_POINTS.stock || x.point === POLYGLOT_POINTS.cached)),
      `bug same-upstream-fallback not found; failure sets: ${JSON.stringify(bugs)}`,
    );
    assert.ok(cls.points.includes(POLYGLOT_POINTS.cached), 'the fallback call was learnt from the spans');
    assert.equal(cls.incompleteTraces, 0, `proxy spans make complete traces; notes: ${cls.notes.join('; ')}`);
  });
});
