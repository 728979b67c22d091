/**
 * The data plane across three real processes on loopback: edge (node:http server, fetch client)
 * → catalog (Fastify, node:http client) → ratings (Hono, generic point). Context and baggage
 * propagate across every hop; a signed plan aimed at catalog→ratings fails exactly that call, with
 * each fault kind, and nothing else; forged and expired plans inject nothing; the spans of all
 * three processes assemble into one tree.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTraceTree, encodePlan, type FaultSpec, type SpanData, type SpanNode } from '@labcoat/core';
import { hmacMac } from '@labcoat/node';
import { Collector } from '../src/collector.js';
import { startChain, type Chain } from '../src/chain.js';

const KEY = 'integration-test-key-0123456789abcdef';
const mac = hmacMac(KEY);
let chain: Chain;
let collector: Collector;

before(async () => {
  collector = await Collector.start();
  chain = await startChain({ key: KEY, otlpUrl: collector.url });
});

after(async () => {
  await chain?.stop();
  await collector?.close();
});

let traceCounter = 0;
function newTrace(): { traceId: string; traceparent: string } {
  traceCounter++;
  const traceId = `4bf92f3577b34da6a3ce929d${String(traceCounter).padStart(8, '0')}`;
  return { traceId, traceparent: `00-${traceId}-00f067aa0ba902b7-01` };
}

function plan(fault: FaultSpec, point: string, expInMs = 60_000): string {
  return encodePlan({ v: 1, id: `it-${fault.kind}`, exp: Date.now() + expInMs, rules: [{ match: { point }, fault }] }, mac);
}

interface EdgeAnswer {
  service: string;
  planId: string | null;
  downstream: { status?: number; error?: string; body?: { service: string; planId: string | null; baggage: string | null; ratings: Record<string, unknown> & { body?: Record<string, unknown> } } };
}

async function callEdge(traceparent: string, baggage: string): Promise<{ status: number; body: EdgeAnswer }> {
  const res = await fetch(`${chain.edge.url}/chain/42`, { headers: { traceparent, baggage }, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as EdgeAnswer };
}

/** Waits for spans of the trace until the edge's server span (the last to end) has arrived. */
async function spansOf(traceId: string, expected: number): Promise<SpanData[]> {
  return collector.waitForTrace(traceId, (s) => s.length >= expected && s.some((x) => x.service === 'edge' && x.kind === 'server'), 15_000);
}

function faulted(spans: SpanData[]): SpanData[] {
  return spans.filter((s) => s.attributes['labcoat.fault'] !== undefined);
}

describe('three-process chain', () => {
  test('context and baggage propagate across every hop; spans assemble into one tree', async () => {
    const { traceId, traceparent } = newTrace();
    const { status, body } = await callEdge(traceparent, 'user=alice;tier=gold,device=tv%20set');
    assert.equal(status, 200, JSON.stringify(body));
    const ratings = body.downstream.body!.ratings as { status: number; body: { traceparent: string; baggage: string; stars: number } };
    assert.equal(ratings.status, 200);
    assert.equal(ratings.body.stars, 5);
    // Same trace at the last hop, a different parent span at every hop.
    assert.match(ratings.body.traceparent, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    assert.notEqual(ratings.body.traceparent, traceparent);
    // Baggage members we do not own arrive byte for byte.
    assert.equal(body.downstream.body!.baggage, 'user=alice;tier=gold,device=tv%20set');
    assert.equal(ratings.body.baggage, 'user=alice;tier=gold,device=tv%20set');

    const spans = await spansOf(traceId, 6);
    assert.deepEqual(new Set(spans.map((s) => s.service)), new Set(['edge', 'catalog', 'ratings']));
    const roots = buildTraceTree(spans);
    assert.equal(roots.length, 1, `one root expected, got ${roots.map((r) => r.span.name).join(', ')}`);
    const path: string[] = [];
    for (let n: SpanNode | undefined = roots[0]; n; n = n.children[0]) path.push(`${n.span.service}:${n.span.kind}:${String(n.span.attributes['labcoat.point'] ?? n.span.attributes['http.route'])}`);
    assert.deepEqual(path, [
      'edge:server:/chain/:id',
      `edge:client:${chain.points.edgeToCatalog}`,
      'catalog:server:/items/:id',
      `catalog:client:${chain.points.catalogToRatings}`,
      'ratings:server:/ratings/:id',
      `ratings:client:${chain.points.ratingsToDb}`,
    ]);
    assert.equal(roots[0]!.span.parentSpanId, '00f067aa0ba902b7', 'the edge continues the caller’s trace');
    assert.equal(faulted(spans).length, 0);
  });

  const cases: { name: string; fault: FaultSpec; check: (r: Record<string, unknown>) => void; reachesRatings: boolean; edgeStatus: number }[] = [
    { name: 'error', fault: { kind: 'error' }, check: (r) => assert.equal(r['error'], 'ECONNREFUSED'), reachesRatings: false, edgeStatus: 502 },
    {
      name: 'status',
      fault: { kind: 'status', status: 503, body: '{"error":"injected"}', retryAfter: 3 },
      check: (r) => assert.deepEqual(r, { status: 503, body: { error: 'injected' } }),
      reachesRatings: false,
      edgeStatus: 502,
    },
    { name: 'delay', fault: { kind: 'delay', ms: 150 }, check: (r) => assert.equal(r['status'], 200), reachesRatings: true, edgeStatus: 200 },
    { name: 'hang', fault: { kind: 'hang', maxMs: 20_000 }, check: (r) => assert.equal(r['error'], 'TIMEOUT'), reachesRatings: false, edgeStatus: 502 },
    { name: 'reset', fault: { kind: 'reset', afterBytes: 10 }, check: (r) => assert.equal(r['error'], 'ECONNRESET'), reachesRatings: true, edgeStatus: 502 },
    {
      name: 'malformed (truncate)',
      fault: { kind: 'malformed', mode: 'truncate', afterBytes: 5 },
      check: (r) => assert.deepEqual([r['error'], r['status']], ['BAD_JSON', 200]),
      reachesRatings: true,
      edgeStatus: 502,
    },
    {
      name: 'malformed (corrupt)',
      fault: { kind: 'malformed', mode: 'corrupt', afterBytes: 1 },
      check: (r) => assert.deepEqual([r['error'], r['status']], ['BAD_JSON', 200]),
      reachesRatings: true,
      edgeStatus: 502,
    },
  ];

  for (const c of cases) {
    test(`a signed plan fails exactly catalog→ratings with ${c.name}`, async () => {
      const { traceId, traceparent } = newTrace();
      const token = plan(c.fault, chain.points.catalogToRatings);
      const { status, body } = await callEdge(traceparent, `user=bob,labcoat.plan=${token}`);
      assert.equal(status, c.edgeStatus, JSON.stringify(body));
      // edge → catalog was not faulted: catalog answered and reported on its own call.
      assert.equal(body.downstream.status, c.edgeStatus === 200 ? 200 : 502);
      assert.equal(body.planId, `it-${c.fault.kind}`);
      c.check(body.downstream.body!.ratings);

      const expected = c.reachesRatings ? 6 : 4;
      const spans = await spansOf(traceId, expected);
      const hit = faulted(spans);
      assert.equal(hit.length, 1, `exactly one faulted call, got ${hit.map((s) => s.attributes['labcoat.point']).join(', ')}`);
      assert.equal(hit[0]!.attributes['labcoat.point'], chain.points.catalogToRatings);
      assert.equal(hit[0]!.service, 'catalog');
      assert.equal(hit[0]!.attributes['labcoat.plan.id'], `it-${c.fault.kind}`);
      assert.equal(spans.some((s) => s.service === 'ratings' && s.kind === 'server'), c.reachesRatings, 'whether ratings was called');
    });
  }

  test('a plan aimed at the generic point fails only the store read inside ratings', async () => {
    const { traceId, traceparent } = newTrace();
    const { body } = await callEdge(traceparent, `labcoat.plan=${plan({ kind: 'error' }, chain.points.ratingsToDb)}`);
    const ratings = body.downstream.body!.ratings as { status: number; body: { error: string } };
    assert.equal(ratings.status, 503);
    assert.match(ratings.body.error, /ECONNREFUSED/);
    const spans = await spansOf(traceId, 6);
    assert.deepEqual(faulted(spans).map((s) => s.attributes['labcoat.point']), [chain.points.ratingsToDb]);
  });

  for (const [name, token] of [
    ['forged', () => { const t = plan({ kind: 'error' }, chain.points.catalogToRatings); return t.slice(0, -2) + (t.endsWith('AA') ? 'BB' : 'AA'); }],
    ['expired', () => plan({ kind: 'error' }, chain.points.catalogToRatings, -1000)],
    ['signed with another key', () => encodePlan({ v: 1, id: 'x', exp: Date.now() + 60_000, rules: [{ match: { point: chain.points.catalogToRatings }, fault: { kind: 'error' } }] }, hmacMac('some-other-key-0123456789abcdef'))],
    ['unsigned', () => 'v1.eyJ2IjoxfQ'],
  ] as const) {
    test(`a ${name} plan injects nothing`, async () => {
      const { traceId, traceparent } = newTrace();
      const { status, body } = await callEdge(traceparent, `labcoat.plan=${token()}`);
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.planId, null);
      const spans = await spansOf(traceId, 6);
      assert.equal(faulted(spans).length, 0);
    });
  }
});
