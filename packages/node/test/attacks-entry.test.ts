/**
 * Joining at the edge and injecting downstream, over real HTTP on loopback: an entry SDK (`edge`)
 * marks ~50% of `GET /home` requests for an attack, a second SDK instance (`mid`, not an entry)
 * injects only for requests carrying a valid mark, and nothing is injected on unmarked requests.
 * The draw is `unitFromKey(traceId|attackId)`, so the test knows which requests must have joined.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { Baggage, unitFromKey } from '@labcoat/core';
import { ATTACK_BAGGAGE_KEY, decodeMark, encodeMark, hmacMac, Labcoat, labcoatInterceptor, wrapRequestListener } from '../src/index.js';
import { newTraceId } from '../src/ids.js';
import { attack, FeedServer, waitFor } from './attack-feed-server.js';

const KEY = 'attacks-entry-key-0123456789abcdef';
const mac = hmacMac(KEY);
const forger = hmacMac('not-the-shared-key-0123456789abcdef');

let feed: FeedServer;
let edge: Labcoat;
let mid: Labcoat;
const servers: http.Server[] = [];
const agents: Agent[] = [];
let edgeUrl = '';
let midUrl = '';
/** The raw attack mark each request reached `mid` with, by trace id. */
const marksAtMid = new Map<string, string | undefined>();

/** A server on loopback, its handler attached later (the SDKs need every port first). */
async function listen(): Promise<{ server: http.Server; host: string }> {
  const server = http.createServer();
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function getStatus(agent: Agent, url: string): Promise<number> {
  const res = await request(url, { dispatcher: agent });
  await res.body.text();
  return res.statusCode;
}

const HOME = attack('atk_home', { target: { services: ['backend'] }, entry: { routes: ['GET /home'] }, percentage: 50 });

before(async () => {
  feed = await new FeedServer({ key: KEY, leaseMs: 10_000 }).start();
  feed.attacks = [HOME];
  const backend = await listen();
  const midSrv = await listen();
  const edgeSrv = await listen();
  midUrl = `http://${midSrv.host}`;
  edgeUrl = `http://${edgeSrv.host}`;
  mid = new Labcoat({ service: 'mid', key: KEY, env: {}, exporter: 'memory', services: { backend: backend.host }, attacks: { url: feed.url, log: () => {} } });
  edge = new Labcoat({
    service: 'edge',
    key: KEY,
    env: {},
    exporter: 'memory',
    services: { backend: backend.host, mid: midSrv.host },
    attacks: { url: feed.url, entry: true, log: () => {} },
  });
  // Two SDK instances in one process: each calls out through its own instrumented agent.
  const midAgent = new Agent().compose(labcoatInterceptor(mid)) as unknown as Agent;
  const edgeAgent = new Agent().compose(labcoatInterceptor(edge)) as unknown as Agent;
  agents.push(midAgent, edgeAgent);
  backend.server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => res.end('ok'));
  midSrv.server.on(
    'request',
    wrapRequestListener((req, res) => {
      void (async () => {
        const traceId = String(req.headers.traceparent).split('-')[1]!;
        marksAtMid.set(traceId, Baggage.parse(req.headers.baggage).getRaw(ATTACK_BAGGAGE_KEY));
        const status = await getStatus(midAgent, `http://${backend.host}/data`);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status }));
      })().catch((e: unknown) => res.writeHead(500).end(String(e)));
    }, mid),
  );
  edgeSrv.server.on(
    'request',
    wrapRequestListener((_req, res) => {
      void (async () => {
        const direct = await getStatus(edgeAgent, `http://${backend.host}/data`);
        const r = await request(`${midUrl}/work`, { dispatcher: edgeAgent });
        const viaMid = (await r.body.json()) as { status: number };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ direct, viaMid: viaMid.status }));
      })().catch((e: unknown) => res.writeHead(500).end(String(e)));
    }, edge),
  );
  assert.ok(await waitFor(() => edge.attacks.state === 'connected' && mid.attacks.state === 'connected'));
});

after(async () => {
  await edge.shutdown();
  await mid.shutdown();
  await Promise.all(agents.map((a) => a.close()));
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await feed.stop();
});

const client = new Agent({ connections: 8 });
after(() => client.close());

interface Outcome {
  traceId: string;
  direct: number;
  viaMid: number;
}

async function send(path: string, headers: Record<string, string> = {}, base = edgeUrl, traceId = newTraceId()): Promise<Outcome> {
  const res = await request(`${base}${path}`, { dispatcher: client, headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, ...headers } });
  assert.equal(res.statusCode, 200);
  const body = (await res.body.json()) as { direct?: number; viaMid?: number; status?: number };
  return { traceId, direct: body.direct ?? -1, viaMid: body.viaMid ?? body.status ?? -1 };
}

async function many(n: number, path: string, headers: Record<string, string> = {}): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (let i = 0; i < n; i += 8) out.push(...(await Promise.all(Array.from({ length: Math.min(8, n - i) }, () => send(path, headers)))));
  return out;
}

describe('entry marking and downstream injection', () => {
  test('50% of GET /home join; faults on exactly the marked requests, at both SDKs; zero on the others', async () => {
    const before = { edge: edge.stats.attacks.injections['atk_home'] ?? 0, mid: mid.stats.attacks.injections['atk_home'] ?? 0 };
    const outcomes = await many(400, '/home');
    let joined = 0;
    for (const o of outcomes) {
      const shouldJoin = unitFromKey(`${o.traceId}|atk_home`) < 0.5;
      const mark = marksAtMid.get(o.traceId);
      assert.ok(mark, 'every request from the entry carries a mark, joined or not');
      const decoded = decodeMark(mark, mac);
      assert.ok(typeof decoded === 'object');
      assert.deepEqual(decoded.ids, shouldJoin ? ['atk_home'] : []);
      assert.equal(decoded.t, o.traceId);
      // Injected exactly when marked: the edge's own call and mid's call.
      assert.equal(o.direct, shouldJoin ? 503 : 200, `edge->backend for ${o.traceId}`);
      assert.equal(o.viaMid, shouldJoin ? 503 : 200, `mid->backend for ${o.traceId}`);
      if (shouldJoin) joined++;
    }
    // Binomial(400, 0.5): mean 200, sd 10; 5 sd either side.
    assert.ok(joined >= 150 && joined <= 250, `${joined} of 400 joined`);
    assert.equal((edge.stats.attacks.injections['atk_home'] ?? 0) - before.edge, joined);
    assert.equal((mid.stats.attacks.injections['atk_home'] ?? 0) - before.mid, joined);
    console.log(`# ${joined}/400 GET /home requests joined atk_home at 50%; injections edge ${joined}, mid ${joined}, on unmarked 0`);
    // Injected client spans name the attack.
    const spans = edge.memory!.spans.filter((s) => s.attributes['labcoat.attack.id'] === 'atk_home');
    assert.ok(spans.length >= joined && spans.every((s) => s.attributes['labcoat.fault'] === 'status:503'));
  });

  test('requests on other routes get an empty mark and no fault', async () => {
    const outcomes = await many(40, '/other');
    for (const o of outcomes) {
      assert.deepEqual([o.direct, o.viaMid], [200, 200]);
      const decoded = decodeMark(marksAtMid.get(o.traceId)!, mac);
      assert.deepEqual(typeof decoded === 'object' ? decoded.ids : decoded, []);
    }
  });

  test('labels: only requests whose baggage matches join', async () => {
    feed.publish([attack('atk_beta', { target: { services: ['backend'] }, labels: { 'user.tier': 'beta*' }, percentage: 100 })]);
    assert.ok(await waitFor(() => edge.attacks.ids[0] === 'atk_beta' && mid.attacks.ids[0] === 'atk_beta', 1000));
    const beta = await many(16, '/home', { baggage: 'user.tier=beta-7' });
    const others = [...(await many(8, '/home', { baggage: 'user.tier=gold' })), ...(await many(8, '/home'))];
    assert.ok(beta.every((o) => o.direct === 503 && o.viaMid === 503));
    assert.ok(others.every((o) => o.direct === 200 && o.viaMid === 200));
    feed.publish([HOME]);
    assert.ok(await waitFor(() => edge.attacks.ids[0] === 'atk_home' && mid.attacks.ids[0] === 'atk_home', 1000));
  });

  test('forged, foreign, expired and replayed marks inject nothing anywhere', async () => {
    const midInvalid = mid.stats.attacks.invalidMark;
    const edgeMarked = edge.stats.attacks.marked;
    const forged = (traceId: string): string => encodeMark({ ids: ['atk_home'], exp: Date.now() + 60_000, t: traceId }, forger);
    // At the entry: a request already carrying a (forged) mark is not re-decided; downstream refuses the mark.
    for (let i = 0; i < 20; i++) {
      const traceId = newTraceId();
      const o = await send('/home', { baggage: `${ATTACK_BAGGAGE_KEY}=${forged(traceId)}` }, edgeUrl, traceId);
      assert.deepEqual([o.direct, o.viaMid], [200, 200]);
    }
    assert.equal(edge.stats.attacks.marked, edgeMarked, 'the entry did not re-decide');
    // Straight to mid.
    const cases: ((t: string) => string)[] = [
      forged,
      () => encodeMark({ ids: ['atk_home'], exp: Date.now() + 60_000, t: newTraceId() }, mac), // another trace's mark
      (t) => encodeMark({ ids: ['atk_home'], exp: Date.now() - 1, t }, mac), // expired
      (t) => encodeMark({ ids: ['atk_home'], exp: Date.now() + 60_000, t }, mac).slice(0, -2) + 'AA', // bad signature
      (t) => {
        const [v, , sig] = encodeMark({ ids: [], exp: Date.now() + 60_000, t }, mac).split('.');
        const payload = Buffer.from(JSON.stringify({ ids: ['atk_home'], exp: Date.now() + 60_000, t })).toString('base64url');
        return `${v}.${payload}.${sig}`; // ids swapped in under another payload's signature
      },
    ];
    for (const make of cases) {
      for (let i = 0; i < 5; i++) {
        const traceId = newTraceId();
        const o = await send('/work', { baggage: `${ATTACK_BAGGAGE_KEY}=${make(traceId)}` }, midUrl, traceId);
        assert.equal(o.viaMid, 200);
      }
    }
    assert.equal(mid.stats.attacks.invalidMark - midInvalid, 20 + cases.length * 5);
    // Control: a valid mark for this trace does inject at mid.
    const traceId = newTraceId();
    const o = await send('/work', { baggage: `${ATTACK_BAGGAGE_KEY}=${encodeMark({ ids: ['atk_home'], exp: Date.now() + 60_000, t: traceId }, mac)}` }, midUrl, traceId);
    assert.equal(o.viaMid, 503);
  });

  test('mid without a mark (requests not through the entry) injects nothing', async () => {
    const unmarked = mid.stats.attacks.unmarked;
    for (let i = 0; i < 20; i++) assert.equal((await send('/work', {}, midUrl)).viaMid, 200);
    assert.equal(mid.stats.attacks.unmarked - unmarked, 20);
  });
});
