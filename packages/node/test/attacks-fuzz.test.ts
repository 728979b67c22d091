/**
 * Security of production attacks, fuzzed with fast-check: nothing is injected without both a
 * valid signed snapshot from the control plane and a valid signed mark for the request's trace.
 * Random feed envelopes, bodies, signatures and raw SSE bytes hold no attack; random baggage marks
 * inject nothing even while a catch-all attack is held; nothing crashes.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { Agent, request } from 'undici';
import { Baggage } from '@labcoat/core';
import {
  ATTACK_BAGGAGE_KEY,
  encodeMark,
  hmacMac,
  Labcoat,
  labcoatInterceptor,
  point,
  RequestContext,
  runWithContext,
  totalInjections,
  wrapRequestListener,
} from '../src/index.js';
import { SseParser } from '../src/attacks/sse.js';
import { newSpanId, newTraceId } from '../src/ids.js';
import { attack, FeedServer, waitFor } from './attack-feed-server.js';

const KEY = 'attacks-fuzz-key-0123456789abcdef';
const OTHER = 'attacks-fuzz-other-key-0123456789ab';
const mac = hmacMac(KEY);
const CATCH_ALL = attack('atk_1', { target: { services: ['**'] } });
const sign = (body: string, key = KEY): string => createHmac('sha256', key).update(body).digest('base64url');
const snapshotBody = (attacks: unknown[] = [CATCH_ALL], serverTime = Date.now()): string => JSON.stringify({ v: 1, attacks, leaseMs: 60_000, serverTime, seq: 1 });

/** Runs a call at a generic point inside a request with this baggage; true when a fault was injected. */
async function injected(lc: Labcoat, baggage: Baggage, traceId = newTraceId()): Promise<boolean> {
  const ctx = new RequestContext(traceId, newSpanId(), 1, undefined, baggage, undefined);
  try {
    await runWithContext(ctx, () => point('anything:get', () => 'ok', { labcoat: lc }));
    return false;
  } catch (e) {
    if ((e as { labcoatInjected?: boolean }).labcoatInjected) return true;
    throw e;
  }
}

const validMark = (traceId: string): Baggage => Baggage.EMPTY.with(ATTACK_BAGGAGE_KEY, encodeMark({ ids: ['atk_1'], exp: Date.now() + 60_000, t: traceId }, mac));

describe('feed fuzz: nothing unauthentic is ever held', () => {
  let feed: FeedServer;
  let lc: Labcoat;
  before(async () => {
    feed = await new FeedServer({ key: KEY, leaseMs: 60_000, heartbeatMs: 3_600_000 }).start();
    feed.mode = 'down'; // the transport gets nothing valid; envelopes come from the test
    lc = new Labcoat({ service: 'fuzz', key: KEY, env: {}, attacks: { url: feed.url, log: () => {} } });
  });
  after(async () => {
    await lc.shutdown();
    await feed.stop();
  });

  const body = snapshotBody();
  const envelope: fc.Arbitrary<string> = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.record({ body: fc.string({ maxLength: 300 }), sig: fc.string({ maxLength: 60 }) }).map((e) => JSON.stringify(e)),
    fc.stringMatching(/^[A-Za-z0-9_-]{43}$/).map((sig) => JSON.stringify({ body, sig })),
    fc.constant(JSON.stringify({ body, sig: sign(body, OTHER) })),
    fc.constant(JSON.stringify({ body, sig: sign(body) + 'A' })),
    fc.constant(JSON.stringify({ body: body + ' ', sig: sign(body) })),
    fc.constant(JSON.stringify({ body: JSON.parse(body) as unknown, sig: sign(body) })),
    fc.constant(JSON.stringify({ body, sig: sign(body).toUpperCase() })),
    fc.nat({ max: body.length - 1 }).chain((i) =>
      fc.string({ minLength: 1, maxLength: 1 }).map((c: string) => JSON.stringify({ body: body.slice(0, i) + c + body.slice(i + 1), sig: sign(body) })).filter((e: string) => (JSON.parse(e) as { body: string }).body !== body),
    ),
    // Genuinely signed (the control plane's key) but not a valid snapshot: must not crash, holds nothing.
    fc.jsonValue().map((v) => {
      const b = JSON.stringify(v);
      return JSON.stringify({ body: b, sig: sign(b) });
    }),
    fc.jsonValue().map((attacks) => {
      const b = JSON.stringify({ v: 1, attacks: [attacks], leaseMs: 60_000, serverTime: Date.now() });
      return JSON.stringify({ body: b, sig: sign(b) });
    }),
  );

  test('random envelopes: never throw, never hold an attack, never inject', async () => {
    await fc.assert(
      fc.asyncProperty(envelope, async (text) => {
        assert.equal(lc.attacks.acceptEnvelope(text, 'sse') && lc.attacks.active.length > 0, false);
        assert.deepEqual(lc.attacks.ids, []);
        const traceId = newTraceId();
        assert.equal(await injected(lc, validMark(traceId), traceId), false);
      }),
      { numRuns: 400 },
    );
    assert.equal(totalInjections(lc.stats), 0);
    assert.ok(lc.stats.attacks.badSignature > 0 && lc.stats.attacks.malformedSnapshots > 0);
    // Control: the genuine envelope is taken and the same kind of request then injects.
    assert.equal(lc.attacks.acceptEnvelope(JSON.stringify({ body: snapshotBody(), sig: sign(snapshotBody()) }), 'sse'), true);
    const traceId = newTraceId();
    assert.equal(await injected(lc, validMark(traceId), traceId), true);
    lc.attacks.acceptEnvelope(JSON.stringify({ body: snapshotBody([]), sig: sign(snapshotBody([])) }), 'sse');
  });

  test('raw bytes on the wire: the stream parser survives and holds nothing', async () => {
    // A feed signed with a key this SDK does not share; its own envelopes are in the mix.
    const wire = await new FeedServer({ key: OTHER, leaseMs: 60_000, heartbeatMs: 3_600_000 }).start();
    wire.attacks = [CATCH_ALL];
    const sdk = new Labcoat({ service: 'wire', key: KEY, env: {}, attacks: { url: wire.url, log: () => {} } });
    try {
      assert.ok(await waitFor(() => wire.streams.size === 1 && sdk.stats.attacks.badSignature === 1, 10_000));
      const line = fc.oneof(
        fc.string({ maxLength: 80 }),
        fc.constantFrom('event: snapshot', 'data: {', 'data: {"body":"x","sig":"y"}', ':', 'retry: 1', 'id: 1', '', 'event:', 'data'),
        fc.constant(`data: ${wire.envelope()}`),
      );
      const chunk = fc.array(line, { maxLength: 8 }).chain((lines) => fc.constantFrom('\n', '\r\n', '\r').map((eol) => lines.join(eol) + eol));
      await fc.assert(
        fc.asyncProperty(chunk, async (text) => {
          for (const s of wire.streams) s.write(text);
          await new Promise((r) => setImmediate(r));
        }),
        { numRuns: 150 },
      );
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(sdk.attacks.ids, []);
      assert.equal(sdk.attacks.state, 'suspended');
      assert.equal(sdk.stats.attacks.snapshots, 0);
      const traceId = newTraceId();
      assert.equal(await injected(sdk, validMark(traceId), traceId), false);
      assert.equal(totalInjections(sdk.stats), 0);
    } finally {
      await sdk.shutdown();
      await wire.stop();
    }
  });

  test('SseParser: any split of a stream yields the same events', () => {
    const stream = 'event: snapshot\r\ndata: {"a":1}\r\n\r\n: c\n\ndata: x\ndata: y\n\nevent: e\rdata: z\r\r\n';
    const whole: string[] = [];
    new SseParser((e, d) => whole.push(`${e}|${d}`)).push(stream);
    assert.deepEqual(whole, ['snapshot|{"a":1}', 'message|x\ny', 'e|z']);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: stream.length }), { maxLength: 10 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const got: string[] = [];
        const p = new SseParser((e, d) => got.push(`${e}|${d}`));
        let at = 0;
        for (const c of [...points, stream.length]) {
          p.push(stream.slice(at, c));
          at = c;
        }
        assert.deepEqual(got, whole);
      }),
    );
    const tiny = new SseParser(() => {}, 16);
    assert.equal(tiny.push(`data: ${'x'.repeat(40)}\n`), false);
  });
});

describe('mark fuzz: random baggage marks inject nothing while a catch-all attack is held', () => {
  let feed: FeedServer;
  let front: Labcoat;
  let entry: Labcoat;
  const servers: http.Server[] = [];
  let agent: Agent;
  let entryAgent: Agent;
  let frontUrl = '';
  let entryUrl = '';
  let backendCalls = 0;
  const client = new Agent({ connections: 4 });

  before(async () => {
    feed = await new FeedServer({ key: KEY, leaseMs: 60_000 }).start();
    // Percentage 100, every service: any mark that got through would inject.
    feed.attacks = [CATCH_ALL];
    const backend = http.createServer((_req, res) => {
      backendCalls++;
      res.end('ok');
    });
    servers.push(backend);
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const backendHost = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
    front = new Labcoat({ service: 'front', key: KEY, env: {}, services: { backend: backendHost }, attacks: { url: feed.url, log: () => {} } });
    entry = new Labcoat({ service: 'entry', key: KEY, env: {}, services: { backend: backendHost }, attacks: { url: feed.url, entry: true, log: () => {} } });
    agent = new Agent().compose(labcoatInterceptor(front)) as unknown as Agent;
    entryAgent = new Agent().compose(labcoatInterceptor(entry)) as unknown as Agent;
    const serve = (lc: Labcoat, a: Agent): http.Server =>
      http.createServer(
        wrapRequestListener((_req, res) => {
          void (async () => {
            const r = await request(`http://${backendHost}/x`, { dispatcher: a });
            await r.body.text();
            const cached = await point('cache:get', () => 'hit', { labcoat: lc }).catch(() => 'fault');
            res.writeHead(r.statusCode === 200 && cached === 'hit' ? 200 : 500).end();
          })().catch(() => res.writeHead(500).end());
        }, lc),
      );
    for (const [lc, a] of [
      [front, agent],
      [entry, entryAgent],
    ] as const) {
      const s = serve(lc, a);
      servers.push(s);
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    }
    frontUrl = `http://127.0.0.1:${(servers[1]!.address() as AddressInfo).port}/x`;
    entryUrl = `http://127.0.0.1:${(servers[2]!.address() as AddressInfo).port}/x`;
    assert.ok(await waitFor(() => front.attacks.state === 'connected' && entry.attacks.state === 'connected'));
  });

  after(async () => {
    await front.shutdown();
    await entry.shutdown();
    await Promise.all([agent.close(), entryAgent.close(), client.close()]);
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await feed.stop();
  });

  const other = hmacMac(OTHER);
  /** Marks for `traceId` that must all be refused. */
  const badMark = (traceId: string): fc.Arbitrary<string> => {
    const good = encodeMark({ ids: ['atk_1'], exp: Date.now() + 60_000, t: traceId }, mac);
    const [v, payload, sig] = good.split('.') as [string, string, string];
    return fc.oneof(
      fc.string({ maxLength: 120 }),
      fc.stringMatching(/^[A-Za-z0-9_.-]{0,300}$/),
      fc.constant(encodeMark({ ids: ['atk_1'], exp: Date.now() + 60_000, t: traceId }, other)),
      fc.constant(encodeMark({ ids: ['atk_1'], exp: Date.now() + 60_000, t: newTraceId() }, mac)),
      fc.constant(encodeMark({ ids: ['atk_1'], exp: Date.now() - 1000, t: traceId }, mac)),
      fc.constant(`${v}.${payload}`),
      fc.constant(`${v}.${payload}.`),
      fc.constant(`v2.${payload}.${sig}`),
      fc.constant(`${v}.${payload}.${sig.slice(1)}`),
      fc.constant(`${v}.${payload}x.${sig}`),
      fc.constant(`${v}.${payload}.${sig}.${sig}`),
      fc.jsonValue().map((j) => `${v}.${Buffer.from(JSON.stringify(j)).toString('base64url')}.${sig}`),
      fc.nat({ max: good.length - 1 }).chain((i) =>
        fc.constantFrom(...'ABCabc012-_.'.split('')).map((c) => good.slice(0, i) + c + good.slice(i + 1)).filter((m) => m !== good),
      ),
    );
  };
  const caseArb = fc.tuple(fc.constant(null).map(() => newTraceId()), fc.boolean()).chain(([traceId, viaEntry]) => badMark(traceId).map((mark) => ({ traceId, mark, viaEntry })));

  test('through real HTTP: status 200, zero injections, at a plain SDK and at an entry', async () => {
    const calls = backendCalls;
    let n = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ traceId, mark, viaEntry }) => {
        n++;
        // Sent raw, the way any client could; invalid baggage members are dropped by the parser.
        const res = await request(viaEntry ? entryUrl : frontUrl, {
          dispatcher: client,
          headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, baggage: `${ATTACK_BAGGAGE_KEY}=${mark.replace(/[^\x21-\x7e]|[",;\\]/g, '')}` },
        });
        await res.body.text();
        assert.equal(res.statusCode, 200);
      }),
      { numRuns: 300 },
    );
    assert.equal(totalInjections(front.stats), 0);
    assert.equal(totalInjections(entry.stats), 0);
    assert.equal(backendCalls - calls, n, 'every request reached the real dependency');
    assert.equal(front.stats.internalErrors + entry.stats.internalErrors, 0);
  });

  test('through the API: random baggage, random marks, never a throw or an injection', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, fc.string({ maxLength: 200 }), async ({ traceId, mark }, junk) => {
        let baggage = Baggage.parse(junk);
        try {
          baggage = baggage.with(ATTACK_BAGGAGE_KEY, mark);
        } catch {
          // keys are fixed; values are percent-encoded
        }
        assert.equal(await injected(front, baggage, traceId), false);
      }),
      { numRuns: 500 },
    );
    assert.equal(totalInjections(front.stats), 0);
    // Control: the same harness sees a valid mark inject.
    const traceId = newTraceId();
    assert.equal(await injected(front, validMark(traceId), traceId), true);
  });
});
