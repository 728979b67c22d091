/**
 * Every fault kind through every client transport, against a real server on loopback:
 * global fetch, undici with a per-agent interceptor, node:http, axios (node:http underneath),
 * and the generic point. Also firing conditions (first N attempts, probability) and aborts.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import axios from 'axios';
import { Agent, request as undiciRequest } from 'undici';
import { Baggage, type FaultSpec, type SpanData } from '@labcoat/core';
import { InjectedStatusError, Labcoat, RequestContext, runWithContext, installFetchInterceptor, installHttpInterceptor, labcoatInterceptor, point } from '../src/index.js';

const KEY = 'transport-test-key-0123456789abcdef';
const BODY = JSON.stringify({ hello: 'world', pad: 'x'.repeat(2000) });
let server: http.Server;
let base: string;
let sdk: Labcoat;
let calls = 0;
const undo: (() => void)[] = [];

before(async () => {
  server = http.createServer((req, res) => {
    calls++;
    req.resume();
    req.on('end', () => {
      if (req.url?.startsWith('/chunked')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(BODY.slice(0, 1000));
        setTimeout(() => res.end(BODY.slice(1000)), 5);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) });
      res.end(BODY);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;
  sdk = new Labcoat({ service: 'client', key: KEY, exporter: 'memory', services: { store: `127.0.0.1:${port}` } });
  undo.push(installFetchInterceptor(sdk), installHttpInterceptor(sdk));
});

after(async () => {
  for (const u of undo.reverse()) u();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function planFor(fault: FaultSpec, when?: { first?: number; p?: number }): string {
  return sdk.signPlan({ v: 1, id: 'transport', exp: Date.now() + 60_000, rules: [{ match: { target: 'store', route: '**/items/*' }, fault, ...(when ? { when } : {}) }] });
}

/** What a caller observed, in one comparable shape across transports. */
type Outcome = { status: number; body: string } | { error: string };

const transports: Record<string, (url: string, signal: AbortSignal) => Promise<Outcome>> = {
  async fetch(url, signal) {
    try {
      const r = await fetch(url, { signal });
      return { status: r.status, body: await r.text() };
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      return { error: signal.aborted ? 'aborted' : (err.cause?.code ?? err.name) };
    }
  },
  async undici(url, signal) {
    const agent = new Agent().compose(labcoatInterceptor(sdk));
    try {
      const r = await undiciRequest(url, { dispatcher: agent, signal });
      return { status: r.statusCode, body: await r.body.text() };
    } catch (e) {
      const err = e as Error & { code?: string };
      return { error: signal.aborted ? 'aborted' : (err.code ?? err.name) };
    } finally {
      await agent.close();
    }
  },
  http(url, signal) {
    return new Promise((resolve) => {
      const req = http.get(url, { signal }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.name }));
      });
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: signal.aborted ? 'aborted' : (e.code ?? e.name) }));
    });
  },
  async axios(url, signal) {
    try {
      const r = await axios.get<string>(url, { signal, responseType: 'text', transformResponse: (x: string) => x, validateStatus: () => true });
      return { status: r.status, body: r.data };
    } catch (e) {
      const err = e as Error & { code?: string; cause?: { code?: string } };
      if (signal.aborted) return { error: 'aborted' };
      return { error: err.cause?.code ?? err.code ?? err.name };
    }
  },
};

function run(transport: string, token: string | undefined, path = '/items/7', timeoutMs = 2000): Promise<{ outcome: Outcome; spans: SpanData[] }> {
  sdk.memory!.clear();
  const signal = AbortSignal.timeout(timeoutMs);
  return sdk.run(async () => {
    const outcome = await transports[transport]!(`${base}${path}`, signal);
    return { outcome, spans: [...sdk.memory!.spans] };
  }, token ? { planToken: token } : {});
}

describe('every fault kind through every HTTP transport', () => {
  for (const name of Object.keys(transports)) {
    describe(name, () => {
      test('no plan: the real call, with trace headers and a client span at the point', async () => {
        const before = calls;
        const { outcome, spans } = await run(name, undefined);
        assert.deepEqual(outcome, { status: 200, body: BODY });
        assert.equal(calls, before + 1);
        const span = spans.find((s) => s.kind === 'client');
        assert.equal(span?.attributes['labcoat.point'], 'client->store GET /items/:id');
        assert.equal(span?.attributes['labcoat.fault'], undefined);
      });

      test('error: no call is made; the caller sees ECONNREFUSED', async () => {
        const before = calls;
        const { outcome, spans } = await run(name, planFor({ kind: 'error' }));
        assert.deepEqual(outcome, { error: 'ECONNREFUSED' });
        assert.equal(calls, before, 'the server was not called');
        assert.equal(spans.find((s) => s.kind === 'client')?.attributes['labcoat.fault'], 'error:ECONNREFUSED');
      });

      test('status: 503 with body and Retry-After, no call made', async () => {
        const before = calls;
        const { outcome } = await run(name, planFor({ kind: 'status', status: 503, body: 'try later', retryAfter: 2 }));
        assert.deepEqual(outcome, { status: 503, body: 'try later' });
        assert.equal(calls, before);
      });

      test('delay: the real call happens after the delay', async () => {
        const before = calls;
        const { outcome, spans } = await run(name, planFor({ kind: 'delay', ms: 120 }));
        assert.deepEqual(outcome, { status: 200, body: BODY });
        assert.equal(calls, before + 1);
        const span = spans.find((s) => s.kind === 'client')!;
        // The span covers the injected wait (a fact about what was recorded, not a timing assertion on the machine).
        assert.ok(span.endMs - span.startMs >= 100, `span lasted ${span.endMs - span.startMs} ms`);
      });

      test('hang: nothing comes back until the caller aborts', async () => {
        const before = calls;
        const { outcome, spans } = await run(name, planFor({ kind: 'hang' }), '/items/7', 300);
        assert.deepEqual(outcome, { error: 'aborted' });
        assert.equal(calls, before);
        assert.equal(spans.find((s) => s.kind === 'client')?.status.code, 'error');
      });

      test('hang gives up after maxMs with ETIMEDOUT when nobody aborts', async () => {
        const { outcome } = await run(name, planFor({ kind: 'hang', maxMs: 100 }), '/items/7', 5000);
        assert.deepEqual(outcome, { error: 'ETIMEDOUT' });
      });

      for (const path of ['/items/7', '/chunked/items/7']) {
        test(`reset after partial response (${path.includes('chunked') ? 'chunked' : 'content-length'})`, async () => {
          const { outcome } = await run(name, planFor({ kind: 'reset', afterBytes: 100 }), path);
          assert.ok('error' in outcome, `expected an error, got ${JSON.stringify(outcome).slice(0, 100)}`);
          assert.equal(outcome.error, 'ECONNRESET');
        });

        test(`malformed truncate and corrupt (${path.includes('chunked') ? 'chunked' : 'content-length'})`, async () => {
          const cut = await run(name, planFor({ kind: 'malformed', mode: 'truncate', afterBytes: 10 }), path);
          assert.deepEqual(cut.outcome, { status: 200, body: BODY.slice(0, 10) });
          const bad = await run(name, planFor({ kind: 'malformed', mode: 'corrupt', afterBytes: 10 }), path);
          assert.ok('status' in bad.outcome && bad.outcome.status === 200);
          assert.equal(bad.outcome.body.slice(0, 10), BODY.slice(0, 10));
          assert.equal(bad.outcome.body.length > 10, true);
          assert.throws(() => JSON.parse((bad.outcome as { body: string }).body));
        });
      }

      test('a rule for another route injects nothing', async () => {
        const { outcome, spans } = await run(name, planFor({ kind: 'error' }), '/other/7');
        assert.deepEqual(outcome, { status: 200, body: BODY });
        assert.equal(spans.filter((s) => s.attributes['labcoat.fault']).length, 0);
      });
    });
  }
});

describe('firing conditions', () => {
  test('first N attempts: a retry loop sees N failures then the real answer', async () => {
    const token = planFor({ kind: 'status', status: 503 }, { first: 2 });
    const statuses = await sdk.run(async () => {
      const seen: number[] = [];
      for (let i = 0; i < 4; i++) seen.push((await fetch(`${base}/items/1`)).status);
      return seen;
    }, { planToken: token });
    assert.deepEqual(statuses, [503, 503, 200, 200]);
    const attempts = sdk.memory!.spans.filter((s) => s.kind === 'client').slice(-4).map((s) => s.attributes['labcoat.attempt']);
    assert.deepEqual(attempts, [1, 2, 3, 4]);
  });

  test('probability p: about p of requests fail, and the draw is the same for the same trace', async () => {
    const token = planFor({ kind: 'error' }, { p: 0.3 });
    let failed = 0;
    for (let i = 0; i < 200; i++) {
      const r = await run('fetch', token, `/items/${i}`);
      if ('error' in r.outcome) failed++;
    }
    assert.ok(failed > 30 && failed < 90, `${failed} of 200 failed with p=0.3`);
  });

  test('probability is deterministic per trace, point and attempt', async () => {
    const sdk2 = new Labcoat({ service: 'client', key: KEY, exporter: 'none' });
    const token = sdk2.signPlan({ v: 1, id: 'p', exp: Date.now() + 60_000, rules: [{ match: { target: 'store' }, fault: { kind: 'error' }, when: { p: 0.5 } }] });
    const plan = sdk2.verifyPlan(token);
    const outcomesFor = (traceId: string) =>
      runWithContext(new RequestContext(traceId, '00f067aa0ba902b7', 1, undefined, Baggage.EMPTY, plan), async () => {
        const seen: string[] = [];
        for (let i = 0; i < 20; i++) seen.push(await point('store:get', () => 'ok', { labcoat: sdk2 }).catch(() => 'x'));
        return seen.join('');
      });
    const a = await outcomesFor('0af7651916cd43dd8448eb211c80319c');
    const b = await outcomesFor('0af7651916cd43dd8448eb211c80319c');
    const c = await outcomesFor('1bf7651916cd43dd8448eb211c80319d');
    assert.equal(a, b);
    assert.ok(a.includes('x') && a.includes('ok'), a);
    assert.notEqual(a, c);
  });
});

describe('generic point', () => {
  const token = (fault: FaultSpec) => sdk.signPlan({ v: 1, id: 'pt', exp: Date.now() + 60_000, rules: [{ match: { point: 'client->cache get' }, fault }] });
  const get = (fn: () => unknown = () => 'value', signal?: AbortSignal) => point('cache:get', fn, { labcoat: sdk, ...(signal ? { signal } : {}) });

  test('no plan runs the function and records the point', async () => {
    sdk.memory!.clear();
    assert.equal(await sdk.run(() => get()), 'value');
    assert.equal(sdk.memory!.spans[0]?.attributes['labcoat.point'], 'client->cache get');
  });

  test('error and status throw without calling the function', async () => {
    let called = 0;
    const fn = () => ++called;
    await assert.rejects(sdk.run(() => get(fn), { planToken: token({ kind: 'error', code: 'ECONNRESET' }) }), { code: 'ECONNRESET' });
    await assert.rejects(sdk.run(() => get(fn), { planToken: token({ kind: 'status', status: 429, retryAfter: 1 }) }), (e: unknown) => {
      assert.ok(e instanceof InjectedStatusError);
      assert.equal(e.status, 429);
      assert.equal(e.headers['retry-after'], '1');
      return true;
    });
    assert.equal(called, 0);
  });

  test('delay then call; hang until the signal aborts; reset after the work; malformed results', async () => {
    assert.equal(await sdk.run(() => get(undefined), { planToken: token({ kind: 'delay', ms: 20 }) }), 'value');
    await assert.rejects(sdk.run(() => get(undefined, AbortSignal.timeout(50)), { planToken: token({ kind: 'hang' }) }), { name: 'TimeoutError' });
    let worked = false;
    await assert.rejects(sdk.run(() => get(() => (worked = true)), { planToken: token({ kind: 'reset' }) }), { code: 'ECONNRESET' });
    assert.equal(worked, true);
    assert.equal(await sdk.run(() => get(() => 'abcdef'), { planToken: token({ kind: 'malformed', afterBytes: 2 }) }), 'ab');
    const corrupt = await sdk.run(() => get(() => '{"a":1}'), { planToken: token({ kind: 'malformed', mode: 'corrupt', afterBytes: 1 }) });
    assert.throws(() => JSON.parse(corrupt as string));
  });
});

describe('aborts reach a fault that is still waiting', () => {
  test('fetch aborted during an injected delay rejects promptly and never calls the server', async () => {
    const before = calls;
    const { outcome } = await run('fetch', planFor({ kind: 'delay', ms: 5000 }), '/items/7', 100);
    assert.deepEqual(outcome, { error: 'aborted' });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(calls, before);
  });
});

describe('optional points', () => {
  test('calls matching an `optional` glob are marked on their spans, others are not', async () => {
    const lc = new Labcoat({ service: 'edge', exporter: 'memory', optional: ['edge->telemetry **'], env: {} });
    await lc.run(async () => {
      await point('telemetry:send', () => 'sent', { labcoat: lc });
      await point('profiles:get', () => 'alice', { labcoat: lc });
    });
    const marks = lc.memory!.spans.map((s) => [s.attributes['labcoat.point'], s.attributes['labcoat.optional'] ?? false]);
    assert.deepEqual(marks, [
      ['edge->telemetry send', true],
      ['edge->profiles get', false],
    ]);
  });
});
