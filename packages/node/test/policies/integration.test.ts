/**
 * Signed labcoat fault plans drive real HTTP calls through fallback + retry + circuit breaker +
 * timeout, and the spans say what the policies did. Two real servers on loopback: `catalog`
 * (instrumented) calls `ratings` over fetch under a policy pipeline; the test is the workload.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { ATTR, formatTraceparent, type FaultSpec, type SpanData } from '@labcoat/core';
import { Labcoat, installFetchInterceptor, wrapRequestListener } from '../../src/index.js';
import { ConsecutiveBreaker } from '../../src/policies/breaker/index.js';
import { circuitBreaker, type CircuitBreakerPolicy } from '../../src/policies/circuit-breaker.js';
import { constantBackoff } from '../../src/policies/backoff.js';
import { fallback } from '../../src/policies/fallback.js';
import { handleHttp } from '../../src/policies/handle.js';
import { retry } from '../../src/policies/retry.js';
import { timeout } from '../../src/policies/timeout.js';
import { wrap, type Pipeline } from '../../src/policies/wrap.js';

const KEY = 'policy-integration-key-0123456789';
const POINT = 'catalog->ratings GET /ratings/:id';
let sdk: Labcoat;
let ratings: http.Server;
let catalog: http.Server;
let catalogPort = 0;
let ratingsCalls = 0;
let breaker: CircuitBreakerPolicy;
let pipeline: Pipeline;
let undo: () => void;

before(async () => {
  ratings = http.createServer((req, res) => {
    ratingsCalls++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: req.url?.split('/').pop(), stars: 4 }));
  });
  await new Promise<void>((r) => ratings.listen(0, '127.0.0.1', r));
  const ratingsUrl = `http://127.0.0.1:${(ratings.address() as AddressInfo).port}`;
  sdk = new Labcoat({ service: 'catalog', key: KEY, exporter: 'memory', services: { ratings: ratingsUrl.slice(7) } });
  undo = installFetchInterceptor(sdk);

  catalog = http.createServer(
    wrapRequestListener(async (req, res) => {
      const id = req.url?.split('/').pop() ?? '0';
      try {
        const body = await pipeline.execute(async ({ signal }) => {
          const r = await fetch(`${ratingsUrl}/ratings/${id}`, { signal });
          if (r.status !== 200) return { status: r.status, stars: null as number | null };
          return { status: 200, stars: ((await r.json()) as { stars: number }).stars };
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id, stars: body.stars }));
      } catch (e) {
        res.writeHead(500).end(String(e));
      }
    }, sdk),
  );
  await new Promise<void>((r) => catalog.listen(0, '127.0.0.1', r));
  catalogPort = (catalog.address() as AddressInfo).port;
});

beforeEach(() => {
  // A fresh pipeline per test: breaker state must not leak from one test into the next.
  breaker = circuitBreaker({ name: 'ratings-breaker', breaker: new ConsecutiveBreaker(2), halfOpenAfter: 60_000, handle: handleHttp });
  pipeline = wrap(
    fallback(() => ({ status: 0, stars: null }), { name: 'ratings-fallback' }),
    retry({ maxAttempts: 2, backoff: constantBackoff(1), handle: handleHttp }),
    breaker,
    timeout({ timeoutMs: 200, strategy: 'cooperative' }),
    { name: 'ratings', labcoat: sdk },
  );
  sdk.memory!.clear();
});

after(async () => {
  undo();
  catalog.closeAllConnections();
  ratings.closeAllConnections();
  await Promise.all([new Promise((r) => catalog.close(r)), new Promise((r) => ratings.close(r))]);
});

let traceCounter = 0;

/** GET /items/:id on catalog as a workload would: under a signed plan, in a trace of its own. */
async function request(fault?: FaultSpec, when?: { first?: number }, baggage?: string): Promise<{ status: number; body: { stars: number | null }; spans: SpanData[] }> {
  const traceId = (++traceCounter).toString(16).padStart(32, 'a');
  const headers: Record<string, string> = { traceparent: formatTraceparent({ traceId, spanId: '00000000000000ab', flags: 1 }) };
  if (baggage !== undefined) headers['baggage'] = baggage;
  if (fault) {
    const token = sdk.signPlan({ v: 1, id: `it-${traceCounter}`, exp: Date.now() + 60_000, rules: [{ match: { point: POINT }, fault, ...(when ? { when } : {}) }] });
    headers['baggage'] = `labcoat.plan=${token}`;
  }
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: catalogPort, path: '/items/7', headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on('error', reject);
  });
  // The server span ends on the response's close, just after the client sees the end.
  for (let i = 0; i < 50 && !sdk.memory!.trace(traceId).some((s) => s.kind === 'server'); i++) await new Promise((r) => setTimeout(r, 2));
  return { status, body: JSON.parse(text) as { stars: number | null }, spans: sdk.memory!.trace(traceId) };
}

function policySpan(spans: SpanData[]): SpanData {
  const p = spans.find((s) => s.kind === 'internal' && s.attributes[ATTR.policy] === 'ratings');
  assert.ok(p, `a policy span in ${JSON.stringify(spans.map((s) => s.name))}`);
  return p;
}

const clientSpans = (spans: SpanData[]): SpanData[] => spans.filter((s) => s.kind === 'client').sort((a, b) => a.startMs - b.startMs);

test('no plan: one call, the policy span says success and parents the call', async () => {
  const { status, body, spans } = await request();
  assert.equal(status, 200);
  assert.equal(body.stars, 4);
  const p = policySpan(spans);
  const server = spans.find((s) => s.kind === 'server')!;
  assert.equal(p.parentSpanId, server.spanId);
  assert.equal(p.attributes[ATTR.policyOutcome], 'success');
  assert.equal(p.attributes[ATTR.policyKinds], 'fallback,retry,circuit-breaker,timeout');
  assert.equal(p.attributes[ATTR.retryAttempts], 1);
  assert.equal(p.attributes[ATTR.breakerState], 'closed');
  const calls = clientSpans(spans);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.parentSpanId, p.spanId, 'the call is a child of the policy span');
  assert.equal(calls[0]!.attributes[ATTR.point], POINT);
  assert.equal(server.attributes[ATTR.calls], 1);
});

test('a 503 on the first attempt only: the retry absorbs it and both attempts are recorded', async () => {
  const before = ratingsCalls;
  const { status, body, spans } = await request({ kind: 'status', status: 503 }, { first: 1 });
  assert.equal(status, 200);
  assert.equal(body.stars, 4, 'the second attempt reached ratings');
  assert.equal(ratingsCalls - before, 1, 'the faulted attempt never reached ratings');
  const p = policySpan(spans);
  assert.equal(p.attributes[ATTR.retryAttempts], 2);
  assert.equal(p.attributes[ATTR.policyOutcome], 'success');
  const [first, second] = clientSpans(spans);
  assert.equal(first!.attributes[ATTR.fault], 'status:503');
  assert.equal(first!.attributes[ATTR.attempt], 1);
  assert.equal(second!.attributes[ATTR.attempt], 2);
  assert.equal(second!.attributes[ATTR.fault], undefined);
  assert.equal(breaker.state, 'closed', 'one failure is below the breaker threshold');
});

test('connection errors on every attempt: retries run out, the breaker opens, the fallback answers', async () => {
  const before = ratingsCalls;
  const { status, body, spans } = await request({ kind: 'error' });
  assert.equal(status, 200, 'the fallback saved the request');
  assert.equal(body.stars, null);
  assert.equal(ratingsCalls, before);
  const p = policySpan(spans);
  assert.equal(p.attributes[ATTR.fallback], true);
  assert.equal(p.attributes[ATTR.policyOutcome], 'fallback');
  assert.equal(p.attributes[ATTR.retryAttempts], 2);
  const calls = clientSpans(spans);
  assert.equal(calls.length, 2);
  for (const c of calls) {
    assert.equal(c.attributes[ATTR.fault], 'error:ECONNREFUSED');
    assert.equal(c.status.code, 'error');
  }
  assert.equal(breaker.state, 'open', 'two consecutive failures opened the breaker');

  // Now without any plan: the open breaker refuses, no call is made, the fallback answers again.
  const next = await request();
  assert.equal(next.status, 200);
  assert.equal(next.body.stars, null);
  assert.equal(clientSpans(next.spans).length, 0, 'the open circuit made no call');
  const np = policySpan(next.spans);
  assert.equal(np.attributes[ATTR.breakerState], 'open');
  assert.equal(np.attributes[ATTR.breakerRejected], true);
  assert.equal(np.attributes[ATTR.fallback], true);
  assert.equal(breaker.stats.snapshot().counts.shortCircuited >= 1, true);
});

test('a hang is cut by the timeout, counted as a timeout, and the fallback answers', async () => {
  const { status, body, spans } = await request({ kind: 'hang', maxMs: 5_000 });
  assert.equal(status, 200);
  assert.equal(body.stars, null);
  const p = policySpan(spans);
  assert.equal(p.attributes[ATTR.timedOut], true);
  assert.equal(p.attributes[ATTR.fallback], true);
  const calls = clientSpans(spans);
  assert.equal(calls.length, 2, 'each attempt hung until its own deadline');
  for (const c of calls) assert.equal(c.attributes[ATTR.fault], 'hang');
  assert.ok(p.endMs - p.startMs < 2_000, `bounded by the timeouts, took ${p.endMs - p.startMs} ms`);
});

test('a forged plan injects nothing even through the pipeline', async () => {
  const before = ratingsCalls;
  const genuine = sdk.signPlan({ v: 1, id: 'forged', exp: Date.now() + 60_000, rules: [{ match: { point: POINT }, fault: { kind: 'error' } }] });
  const forged = genuine.slice(0, -4) + (genuine.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  const { status, body, spans } = await request(undefined, undefined, `labcoat.plan=${forged}`);
  assert.equal(status, 200);
  assert.equal(body.stars, 4);
  assert.equal(ratingsCalls - before, 1);
  assert.equal(clientSpans(spans)[0]!.attributes[ATTR.fault], undefined);
  assert.equal(policySpan(spans).attributes[ATTR.retryAttempts], 1);
});
