/**
 * Server adapters: node:http (`wrapRequestListener`, also under Express), Fastify and Hono. Each
 * test starts real servers on 127.0.0.1:0 with its own Labcoat instance and an in-memory exporter,
 * and closes them when it ends.
 */
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { serve } from '@hono/node-server';
import type { SpanData } from '@labcoat/core';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { labcoatFastify } from '../src/adapters/fastify.js';
import { labcoatHono } from '../src/adapters/hono.js';
import { currentContext, Labcoat, wrapRequestListener, type RequestContext } from '../src/index.js';

const KEY = 'adapters-test-signing-key-0123456789';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;
/** What a labcoat caller sends to learn the callee's name: servers announce only when asked. */
const ASK = { 'labcoat-ask': 'service' };

function newSdk(service = 'api'): Labcoat {
  return new Labcoat({ service, key: KEY, exporter: 'memory', env: {} });
}

function spansOf(sdk: Labcoat): SpanData[] {
  return sdk.memory!.spans;
}

/** Polls until `pick` returns a value (bounded), so no test depends on event timing. */
async function waitFor<T>(pick: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = pick();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function serverSpan(sdk: Labcoat, pred: (s: SpanData) => boolean = () => true): Promise<SpanData> {
  return waitFor(() => spansOf(sdk).find((s) => s.kind === 'server' && pred(s)), 'a server span');
}

async function listen(t: TestContext, server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  t.after(() => closeServer(server));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function trackSdk(t: TestContext, sdk: Labcoat): Labcoat {
  t.after(() => sdk.shutdown());
  return sdk;
}

/** What a handler saw of the labcoat context at different points of a request. */
interface Seen {
  sync?: RequestContext | undefined;
  data?: RequestContext | undefined;
  end?: RequestContext | undefined;
  afterAwait?: RequestContext | undefined;
  timeout?: RequestContext | undefined;
}

// ---- node:http ---------------------------------------------------------------------------------

test('node:http: server span continues the incoming traceparent and context reaches every callback', async (t) => {
  const sdk = trackSdk(t, newSdk());
  const seen: Seen = {};
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    seen.sync = currentContext();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      seen.data ??= currentContext();
      chunks.push(c);
    });
    req.on('end', async () => {
      seen.end = currentContext();
      await sleep(1);
      seen.afterAwait = currentContext();
      setTimeout(() => {
        seen.timeout = currentContext();
        currentContext()!.route = '/items/:itemId';
        res.statusCode = 201;
        res.end(`got ${Buffer.concat(chunks).length} bytes`);
      }, 1);
    });
  };
  const base = await listen(t, http.createServer(wrapRequestListener(listener, sdk)));

  const res = await fetch(`${base}/items/abc?x=1`, { method: 'POST', headers: { traceparent: TRACEPARENT, ...ASK }, body: 'x'.repeat(100_000) });
  assert.equal(res.status, 201);
  assert.equal(await res.text(), 'got 100000 bytes');
  assert.equal(res.headers.get('labcoat-service'), 'api');

  const span = await serverSpan(sdk);
  assert.equal(span.traceId, TRACE_ID);
  assert.equal(span.parentSpanId, PARENT_ID);
  assert.notEqual(span.spanId, PARENT_ID);
  assert.equal(span.name, 'POST /items/:itemId');
  assert.equal(span.attributes['http.route'], '/items/:itemId');
  assert.equal(span.attributes['http.request.method'], 'POST');
  assert.equal(span.attributes['http.response.status_code'], 201);
  assert.equal(span.status.code, 'unset');
  assert.equal(span.service, 'api');

  for (const [where, ctx] of Object.entries(seen)) {
    assert.ok(ctx, `context visible in ${where}`);
    assert.equal(ctx.traceId, TRACE_ID, `trace id in ${where}`);
    assert.equal(ctx.spanId, span.spanId, `outbound parent in ${where} is the server span`);
  }
  assert.deepEqual(Object.keys(seen).sort(), ['afterAwait', 'data', 'end', 'sync', 'timeout']);
  assert.equal(currentContext(), undefined, 'nothing leaks into the test');
});

test('node:http: without a route set, the span route strips ids from the path; 5xx marks the span failed', async (t) => {
  const sdk = trackSdk(t, newSdk());
  const base = await listen(
    t,
    http.createServer(
      wrapRequestListener((_req, res) => {
        res.statusCode = 503;
        res.end();
      }, sdk),
    ),
  );
  const res = await fetch(`${base}/orders/12345/lines?page=2`);
  assert.equal(res.status, 503);
  await res.arrayBuffer();
  const span = await serverSpan(sdk);
  assert.equal(span.attributes['http.route'], '/orders/:id/lines');
  assert.equal(span.name, 'GET /orders/:id/lines');
  assert.equal(span.attributes['http.response.status_code'], 503);
  assert.equal(span.status.code, 'error');
  assert.equal(span.parentSpanId, undefined);
});

test('node:http: an invalid traceparent starts a new trace', async (t) => {
  const sdk = trackSdk(t, newSdk());
  const seen: { ctx?: RequestContext | undefined } = {};
  const base = await listen(
    t,
    http.createServer(
      wrapRequestListener((_req, res) => {
        seen.ctx = currentContext();
        res.end('ok');
      }, sdk),
    ),
  );
  const bad = [
    `00-${'0'.repeat(32)}-${PARENT_ID}-01`, // all-zero trace id
    `00-${TRACE_ID}-${'0'.repeat(16)}-01`, // all-zero span id
    `ff-${TRACE_ID}-${PARENT_ID}-01`, // forbidden version
    `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`, // upper-case hex
    'garbage',
  ];
  for (const traceparent of bad) {
    sdk.memory!.clear();
    const res = await fetch(`${base}/`, { headers: { traceparent, tracestate: 'vendor=1' } });
    assert.equal(await res.text(), 'ok');
    const span = await serverSpan(sdk);
    assert.match(span.traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(span.traceId, TRACE_ID, traceparent);
    assert.notEqual(span.traceId, '0'.repeat(32), traceparent);
    assert.equal(span.parentSpanId, undefined, traceparent);
    const ctx = seen.ctx;
    assert.ok(ctx);
    assert.equal(ctx.traceId, span.traceId);
    assert.equal(ctx.tracestate, undefined, 'tracestate without a valid traceparent is dropped');
  }
});

test('node:http: a request with no headers at all is served', async (t) => {
  const sdk = trackSdk(t, newSdk());
  let ctx: RequestContext | undefined;
  const server = http.createServer(
    wrapRequestListener((_req, res) => {
      ctx = currentContext();
      res.end('bare');
    }, sdk),
  );
  const base = await listen(t, server);
  const port = Number(new URL(base).port);
  // HTTP/1.0 allows a request without a single header line (no Host, no anything).
  const raw = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /bare HTTP/1.0\r\n\r\n'));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
  assert.match(raw, /^HTTP\/1\.[01] 200 /);
  assert.doesNotMatch(raw, /labcoat-service/i, 'announces only when asked');
  assert.ok(raw.endsWith('bare'));
  assert.ok(ctx);
  assert.equal(ctx.baggage.size, 0);
  assert.equal(ctx.plan, undefined);
  const span = await serverSpan(sdk);
  assert.equal(span.traceId, ctx.traceId);
  assert.equal(span.attributes['http.route'], '/bare');
  assert.equal(span.attributes['http.response.status_code'], 200);
});

test('node:http: baggage members are readable from the context and forwarded as received', async (t) => {
  const sdk = trackSdk(t, newSdk());
  let ctx: RequestContext | undefined;
  const base = await listen(
    t,
    http.createServer(
      wrapRequestListener((_req, res) => {
        ctx = currentContext();
        res.end();
      }, sdk),
    ),
  );
  const res = await fetch(`${base}/b`, { headers: { traceparent: TRACEPARENT, baggage: 'userId=alice, team=core%20platform;ttl=60,bad member' } });
  await res.arrayBuffer();
  assert.ok(ctx);
  assert.equal(ctx.baggage.get('userId'), 'alice');
  assert.equal(ctx.baggage.get('team'), 'core platform');
  assert.equal(ctx.baggage.get('missing'), undefined);
  assert.equal(ctx.baggage.size, 2, 'the invalid member is dropped');
  assert.equal(ctx.baggage.toString(), 'userId=alice,team=core%20platform;ttl=60');
});

test('node:http: announce:false sends no labcoat-service header', async (t) => {
  const sdk = trackSdk(t, new Labcoat({ service: 'quiet', exporter: 'memory', announce: false, env: {} }));
  const base = await listen(t, http.createServer(wrapRequestListener((_req, res) => res.end(), sdk)));
  const res = await fetch(base, { headers: ASK });
  await res.arrayBuffer();
  assert.equal(res.headers.get('labcoat-service'), null);
});

test('node:http: a client that goes away before the response ends leaves an error span', async (t) => {
  const sdk = trackSdk(t, newSdk());
  const base = await listen(
    t,
    http.createServer(
      wrapRequestListener((_req, res) => {
        res.writeHead(200);
        res.write('partial');
        // never ends
      }, sdk),
    ),
  );
  const ac = new AbortController();
  const res = await fetch(`${base}/slow`, { signal: ac.signal });
  assert.equal(res.status, 200);
  ac.abort();
  const span = await serverSpan(sdk);
  assert.equal(span.status.code, 'error');
  assert.equal(span.attributes['http.route'], '/slow');
});

// ---- Express -----------------------------------------------------------------------------------

test('express: span route is the matched route template, with the mount path of a Router', async (t) => {
  const sdk = trackSdk(t, newSdk('users'));
  const app = express();
  const seen: (RequestContext | undefined)[] = [];
  app.get('/users/:id', (req, res) => {
    seen.push(currentContext());
    res.json({ id: req.params.id });
  });
  const router = express.Router();
  router.get('/users/:id', async (req, res) => {
    await sleep(1);
    seen.push(currentContext());
    res.json({ id: req.params.id, api: true });
  });
  app.use('/api', router);
  const base = await listen(t, http.createServer(wrapRequestListener(app, sdk)));

  const r1 = await fetch(`${base}/users/u-17?verbose=1`, { headers: { traceparent: TRACEPARENT, ...ASK } });
  assert.deepEqual(await r1.json(), { id: 'u-17' });
  assert.equal(r1.headers.get('labcoat-service'), 'users');
  const s1 = await serverSpan(sdk, (s) => s.traceId === TRACE_ID);
  assert.equal(s1.attributes['http.route'], '/users/:id');
  assert.equal(s1.name, 'GET /users/:id');
  assert.equal(s1.parentSpanId, PARENT_ID);

  const r2 = await fetch(`${base}/api/users/u-18`);
  assert.deepEqual(await r2.json(), { id: 'u-18', api: true });
  const s2 = await serverSpan(sdk, (s) => s.traceId !== TRACE_ID);
  assert.equal(s2.attributes['http.route'], '/api/users/:id');
  assert.equal(s2.name, 'GET /api/users/:id');

  assert.equal(seen.length, 2);
  assert.equal(seen[0]?.traceId, TRACE_ID);
  assert.equal(seen[1]?.traceId, s2.traceId);
});

test('express: json body parsing keeps the context; unmatched routes fall back to the path template', async (t) => {
  const sdk = trackSdk(t, newSdk('users'));
  const app = express();
  app.use(express.json());
  let seen: RequestContext | undefined;
  app.post('/users', (req, res) => {
    seen = currentContext();
    res.status(201).json({ name: (req.body as { name: string }).name });
  });
  const base = await listen(t, http.createServer(wrapRequestListener(app, sdk)));

  const res = await fetch(`${base}/users`, { method: 'POST', headers: { 'content-type': 'application/json', traceparent: TRACEPARENT }, body: '{"name":"ada"}' });
  assert.equal(res.status, 201);
  assert.deepEqual(await res.json(), { name: 'ada' });
  assert.equal(seen?.traceId, TRACE_ID);
  const post = await serverSpan(sdk, (s) => s.traceId === TRACE_ID);
  assert.equal(post.name, 'POST /users');

  const miss = await fetch(`${base}/nothing/42`);
  assert.equal(miss.status, 404);
  await miss.arrayBuffer();
  const s404 = await serverSpan(sdk, (s) => s.attributes['http.response.status_code'] === 404);
  assert.equal(s404.attributes['http.route'], '/nothing/:id');
});

// ---- Fastify -----------------------------------------------------------------------------------

test('fastify: route template, context in hooks and handler, JSON body', async (t) => {
  const sdk = trackSdk(t, newSdk('catalog'));
  const app = Fastify();
  t.after(() => app.close());
  await app.register(labcoatFastify, { labcoat: sdk });
  const seen: Record<string, RequestContext | undefined> = {};
  app.addHook('preHandler', async (request) => {
    seen[`preHandler ${request.method}`] = currentContext();
  });
  app.get('/titles/:id', async (request) => {
    await sleep(1);
    seen['GET'] = currentContext();
    return { id: (request.params as { id: string }).id };
  });
  app.post('/titles/:id/ratings', async (request, reply) => {
    seen['POST'] = currentContext();
    reply.code(201);
    return { stars: (request.body as { stars: number }).stars };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  const r1 = await fetch(`${base}/titles/80100172`, { headers: { traceparent: TRACEPARENT, ...ASK } });
  assert.deepEqual(await r1.json(), { id: '80100172' });
  assert.equal(r1.headers.get('labcoat-service'), 'catalog');
  const s1 = await serverSpan(sdk, (s) => s.traceId === TRACE_ID);
  assert.equal(s1.attributes['http.route'], '/titles/:id');
  assert.equal(s1.name, 'GET /titles/:id');
  assert.equal(s1.parentSpanId, PARENT_ID);
  assert.equal(seen['GET']?.traceId, TRACE_ID);
  assert.equal(seen['preHandler GET']?.traceId, TRACE_ID);
  assert.equal(seen['GET']?.spanId, s1.spanId);

  const r2 = await fetch(`${base}/titles/7/ratings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', baggage: 'userId=bob' },
    body: JSON.stringify({ stars: 4 }),
  });
  assert.equal(r2.status, 201);
  assert.deepEqual(await r2.json(), { stars: 4 });
  const s2 = await serverSpan(sdk, (s) => s.name.startsWith('POST'));
  assert.equal(s2.attributes['http.route'], '/titles/:id/ratings');
  assert.equal(s2.attributes['http.response.status_code'], 201);
  assert.equal(seen['POST']?.traceId, s2.traceId);
  assert.equal(seen['POST']?.baggage.get('userId'), 'bob');
  assert.equal(seen['preHandler POST']?.traceId, s2.traceId);
});

// ---- Hono --------------------------------------------------------------------------------------

async function serveHono(t: TestContext, app: Hono): Promise<string> {
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  t.after(() => closeServer(server));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('fastify: inject() (no server involved) also runs in the request context and records the span', async (t) => {
  const sdk = newSdk('titles');
  const app = Fastify();
  t.after(() => app.close());
  await app.register(labcoatFastify, { labcoat: sdk });
  let seen: RequestContext | undefined;
  let seenAfterBody: RequestContext | undefined;
  app.post<{ Params: { id: string } }>('/titles/:id', async (request) => {
    seenAfterBody = currentContext();
    await sleep(1);
    seen = currentContext();
    return { id: request.params.id, body: request.body };
  });
  await app.ready();
  const res = await app.inject({ method: 'POST', url: '/titles/77', headers: { traceparent: TRACEPARENT, 'content-type': 'application/json', ...ASK }, payload: { a: 1 } });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { id: '77', body: { a: 1 } });
  assert.equal(res.headers['labcoat-service'], 'titles');
  assert.equal(seen?.traceId, TRACE_ID);
  assert.equal(seenAfterBody?.traceId, TRACE_ID);
  const span = await serverSpan(sdk);
  assert.equal(span.name, 'POST /titles/:id');
  assert.equal(span.parentSpanId, PARENT_ID);
  // Each inject gets its own context: a second request is not mixed up with the first.
  const second = await app.inject({ method: 'POST', url: '/titles/78', payload: { b: 2 } });
  assert.equal(second.statusCode, 200);
  assert.notEqual(seen?.traceId, TRACE_ID);
});

test('hono: app.all routes and unmatched paths still get a route template', async (t) => {
  const sdk = newSdk('any');
  const app = new Hono();
  app.use(labcoatHono({ labcoat: sdk }));
  app.all('/any/:id', (c) => c.text('ok'));
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  await new Promise<void>((r) => server.once('listening', () => r()));
  t.after(() => closeServer(server));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  assert.equal((await fetch(`${base}/any/4`)).status, 200);
  assert.equal((await fetch(`${base}/missing/12345`)).status, 404);
  const routes = await waitFor(() => {
    const r = spansOf(sdk).filter((s) => s.kind === 'server').map((s) => s.attributes['http.route']);
    return r.length === 2 ? r : undefined;
  }, 'two server spans');
  assert.deepEqual(routes, ['/any/:id', '/missing/:id']);
});

test('hono: route template, context in the handler, labcoat-service header', async (t) => {
  const sdk = trackSdk(t, newSdk('ratings'));
  const app = new Hono();
  app.use(labcoatHono({ labcoat: sdk }));
  let seen: RequestContext | undefined;
  app.get('/ratings/:id', async (c) => {
    await sleep(1);
    seen = currentContext();
    return c.json({ id: c.req.param('id') });
  });
  const base = await serveHono(t, app);

  const res = await fetch(`${base}/ratings/42`, { headers: { traceparent: TRACEPARENT, baggage: 'userId=carol', ...ASK } });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { id: '42' });
  assert.equal(res.headers.get('labcoat-service'), 'ratings');
  const span = await serverSpan(sdk);
  assert.equal(span.attributes['http.route'], '/ratings/:id');
  assert.equal(span.name, 'GET /ratings/:id');
  assert.equal(span.traceId, TRACE_ID);
  assert.equal(span.parentSpanId, PARENT_ID);
  assert.equal(span.attributes['http.response.status_code'], 200);
  assert.ok(seen);
  assert.equal(seen.traceId, TRACE_ID);
  assert.equal(seen.spanId, span.spanId);
  assert.equal(seen.baggage.get('userId'), 'carol');
});

test('hono: a sub-app mounted with app.route reports the full route template', async (t) => {
  const sdk = trackSdk(t, newSdk('ratings'));
  const sub = new Hono();
  sub.get('/ratings/:id', (c) => c.text(`rating ${c.req.param('id')} in ${currentContext()?.traceId ?? 'no context'}`));
  const app = new Hono();
  app.use(labcoatHono({ labcoat: sdk }));
  app.route('/api', sub);
  const base = await serveHono(t, app);
  const res = await fetch(`${base}/api/ratings/5`, { headers: { traceparent: TRACEPARENT } });
  assert.equal(await res.text(), `rating 5 in ${TRACE_ID}`);
  const span = await serverSpan(sdk);
  assert.equal(span.attributes['http.route'], '/api/ratings/:id');
  assert.equal(span.name, 'GET /api/ratings/:id');
});

test('hono: an error thrown by a handler gives a 500 and an error span', async (t) => {
  const sdk = trackSdk(t, newSdk('ratings'));
  const app = new Hono();
  app.use(labcoatHono({ labcoat: sdk }));
  app.get('/ratings/:id', () => {
    throw new Error('ratings store is down');
  });
  const base = await serveHono(t, app);

  const res = await fetch(`${base}/ratings/9`, { headers: ASK });
  assert.equal(res.status, 500);
  await res.arrayBuffer();
  assert.equal(res.headers.get('labcoat-service'), 'ratings');
  const span = await serverSpan(sdk);
  assert.equal(span.status.code, 'error');
  assert.equal(span.attributes['http.response.status_code'], 500);
  assert.equal(span.attributes['http.route'], '/ratings/:id');
  const exception = span.events?.find((e) => e.name === 'exception');
  assert.ok(exception, 'the error is recorded on the span');
  assert.equal(exception.attributes?.['exception.message'], 'ratings store is down');
});

test('hono: a handler that returns a fetched Response (immutable headers) still works and is recorded', async (t) => {
  const sdk = trackSdk(t, newSdk('gateway'));
  const upstream = await listen(
    t,
    http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end('from upstream');
    }),
  );
  const app = new Hono();
  app.use(labcoatHono({ labcoat: sdk }));
  app.get('/proxy/:id', () => fetch(`${upstream}/x`));
  const base = await serveHono(t, app);

  const res = await fetch(`${base}/proxy/1`, { headers: ASK });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'from upstream');
  assert.equal(res.headers.get('labcoat-service'), 'gateway');
  assert.equal(sdk.stats.internalErrors, 0);
  const span = await serverSpan(sdk);
  assert.equal(span.attributes['http.route'], '/proxy/:id');
  assert.equal(span.status.code, 'unset');
});

// ---- signed plans ------------------------------------------------------------------------------

async function planServer(t: TestContext, sdk: Labcoat): Promise<{ base: string; seen: () => RequestContext | undefined }> {
  let ctx: RequestContext | undefined;
  const base = await listen(
    t,
    http.createServer(
      wrapRequestListener((_req, res) => {
        ctx = currentContext();
        res.end();
      }, sdk),
    ),
  );
  return { base, seen: () => ctx };
}

const RULES = [{ match: { target: 'profiles' }, fault: { kind: 'status', status: 503 } }] as const;

test('plans: a signed plan in baggage is verified and put in the context', async (t) => {
  const sdk = trackSdk(t, newSdk());
  const { base, seen } = await planServer(t, sdk);
  const token = sdk.signPlan({ v: 1, id: 'exp-42', exp: Date.now() + 60_000, rules: RULES });
  const res = await fetch(`${base}/p`, { headers: { traceparent: TRACEPARENT, baggage: `userId=dave,labcoat.plan=${token}` } });
  await res.arrayBuffer();
  assert.equal(seen()?.plan?.id, 'exp-42');
  assert.equal(seen()?.baggage.get('userId'), 'dave');
  assert.equal(sdk.stats.plansAccepted, 1);
  const span = await serverSpan(sdk);
  assert.equal(span.attributes['labcoat.plan.id'], 'exp-42');

  // A second service with the same key accepts it too; one with another key does not.
  const other = trackSdk(t, new Labcoat({ service: 'other', key: 'a-completely-different-key-000', exporter: 'memory', env: {} }));
  const { base: otherBase, seen: otherSeen } = await planServer(t, other);
  await (await fetch(otherBase, { headers: { baggage: `labcoat.plan=${token}` } })).arrayBuffer();
  assert.equal(otherSeen()?.plan, undefined);
  assert.equal(other.stats.plansRejected['bad-signature'], 1);
});

test('plans: a forged signature is rejected and counted', async (t) => {
  const sdk = trackSdk(t, newSdk());
  const { base, seen } = await planServer(t, sdk);
  const token = sdk.signPlan({ v: 1, id: 'exp-forged', exp: Date.now() + 60_000, rules: RULES });
  const i = token.length - 5;
  const forged = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
  assert.notEqual(forged, token);

  const res = await fetch(`${base}/p`, { headers: { baggage: `labcoat.plan=${forged}` } });
  await res.arrayBuffer();
  assert.ok(seen(), 'the request is still served');
  assert.equal(seen()?.plan, undefined);
  assert.equal(sdk.stats.plansRejected['bad-signature'], 1);
  assert.equal(sdk.stats.plansAccepted, 0);

  // Tampering with the payload (e.g. a longer expiry) is a bad signature as well.
  const [v, payload, sig] = token.split('.') as [string, string, string];
  const json = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp: number };
  json.exp += 3_600_000;
  const tampered = `${v}.${Buffer.from(JSON.stringify(json)).toString('base64url')}.${sig}`;
  await (await fetch(`${base}/p`, { headers: { baggage: `labcoat.plan=${tampered}` } })).arrayBuffer();
  assert.equal(seen()?.plan, undefined);
  assert.equal(sdk.stats.plansRejected['bad-signature'], 2);

  // The same forged token again: still rejected and counted (verdicts are cached, counting is not).
  await (await fetch(`${base}/p`, { headers: { baggage: `labcoat.plan=${forged}` } })).arrayBuffer();
  assert.equal(seen()?.plan, undefined);
  assert.equal(sdk.stats.plansRejected['bad-signature'], 3);
});

test('plans: an expired plan is rejected and counted', async (t) => {
  const sdk = trackSdk(t, newSdk());
  const { base, seen } = await planServer(t, sdk);
  const token = sdk.signPlan({ v: 1, id: 'exp-old', exp: Date.now() - 1000, rules: RULES });
  const res = await fetch(`${base}/p`, { headers: { baggage: `labcoat.plan=${token}` } });
  await res.arrayBuffer();
  assert.ok(seen());
  assert.equal(seen()?.plan, undefined);
  assert.equal(sdk.stats.plansRejected.expired, 1);
  assert.equal(sdk.stats.plansAccepted, 0);
  const span = await serverSpan(sdk);
  assert.equal(span.attributes['labcoat.plan.id'], undefined);
});

test('plans: without a key no plan is ever accepted', async (t) => {
  const signer = newSdk('signer');
  const sdk = trackSdk(t, new Labcoat({ service: 'keyless', exporter: 'memory', env: {} }));
  const { base, seen } = await planServer(t, sdk);
  const token = signer.signPlan({ v: 1, id: 'exp-1', exp: Date.now() + 60_000, rules: RULES });
  await (await fetch(base, { headers: { baggage: `labcoat.plan=${token}` } })).arrayBuffer();
  assert.equal(seen()?.plan, undefined);
  assert.equal(sdk.stats.plansRejected['bad-signature'], 1);
});
