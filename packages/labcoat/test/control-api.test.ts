/**
 * The control plane's API against a real server (node:http on loopback) on SQLite and on a real
 * PostgreSQL: every route, every kind of bad input (400, 413, 415, 422 with field errors, 404, 405,
 * 401, 403), the OpenAPI document, token roles, the signed attack feed (push on change, heartbeat,
 * expiry, poll), campaigns run through the server against examples/chain, and an audit entry for
 * every change.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { hmacMac } from '@labcoat/node';
import { startChain, type Chain } from '../src/chain.js';
import { CHAIN_CLASS } from '../src/explore/demo.js';
import { clientSpan, KEY, otlp, postgresBackend, serverSpan, snapshotOf, SseClient, sqliteBackend, startPlane, type Backend, type Plane } from './control-helpers.js';

const pgBackend = await postgresBackend();
const mac = hmacMac(KEY);
const validAttack = { name: 'ratings 503', target: { services: ['ratings'] }, fault: { kind: 'status', status: 503 }, percentage: 50, durationMs: 60_000 };

function suite(backend: Backend | string, label: string): void {
  describe(`API on ${label}`, { skip: typeof backend === 'string' ? `SKIP: ${backend}` : false }, () => {
    const b = backend as Backend;
    let plane: Plane;
    const created: string[] = [];
    before(async () => {
      plane = await startPlane(await b.newDb(), { leaseMs: 900 });
    });
    after(async () => {
      await plane?.close();
      if (b.name === 'sqlite') await b.close();
    });

    test('health is public; /openapi.json is OpenAPI 3.1 and lists every route', async () => {
      const h = await plane.api('GET', '/api/health', { token: null });
      assert.equal(h.status, 200);
      assert.equal(h.body.ok, true);
      assert.equal(h.body.store, label === 'SQLite' ? 'sqlite' : 'postgres');
      const doc = await plane.api('GET', '/openapi.json', { token: null });
      assert.equal(doc.status, 200);
      assert.match(doc.headers.get('content-type') ?? '', /application\/json/);
      assert.equal(doc.body.openapi, '3.1.0');
      assert.ok(plane.server.routes.length >= 19);
      for (const r of plane.server.routes) {
        const op = doc.body.paths[r.path]?.[r.method.toLowerCase()];
        assert.ok(op, `${r.method} ${r.path} is documented`);
        assert.ok(op.summary && (op.responses['200'] ?? op.responses['201']), `${r.method} ${r.path} has a summary and a success response`);
        if (r.access !== 'public') assert.ok(op.responses['401'], `${r.method} ${r.path} documents 401`);
      }
      for (const path of ['/api/health', '/v1/traces', '/api/graph', '/api/attacks', '/api/attacks/{id}', '/api/attacks/{id}/halt', '/api/halt-all', '/api/campaigns', '/api/campaigns/{id}', '/api/attacks/feed']) {
        assert.ok(doc.body.paths[path], `${path} documented`);
      }
      // every $ref resolves
      const refs = JSON.stringify(doc.body).match(/#\/components\/schemas\/\w+/g) ?? [];
      for (const ref of refs) assert.ok(doc.body.components.schemas[ref.split('/').pop()!], ref);
    });

    test('unknown routes are 404 JSON, wrong methods 405 with Allow', async () => {
      const r = await plane.api('GET', '/api/nope');
      assert.equal(r.status, 404);
      assert.match(r.headers.get('content-type') ?? '', /json/);
      assert.match(r.body.error, /no route for GET \/api\/nope/);
      // Outside /api, /v1 and /openapi.json a GET is the web console's (console-static.ts; console-e2e
      // tests it): a missing file is a plain 404, never JSON from the router.
      assert.equal((await plane.api('GET', '/assets/no-such-file.js', { token: null })).status, 404);
      assert.equal((await plane.api('GET', '/v1/nope', { token: null })).status, 404);
      const m = await plane.api('DELETE', '/api/attacks');
      assert.equal(m.status, 405);
      assert.equal(m.headers.get('allow'), 'GET, POST');
      assert.equal((await plane.api('POST', '/api/attacks/feed')).status, 405);
    });

    test('tokens: missing or wrong → 401, a role without the right → 403', async () => {
      const t = plane.tokens;
      const none = await plane.api('GET', '/api/attacks', { token: null });
      assert.equal(none.status, 401);
      assert.match(none.body.error, /missing bearer token/);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="labcoat"');
      assert.equal((await plane.api('GET', '/api/attacks', { token: 'lc_a_not-a-real-token' })).status, 401);
      assert.equal((await plane.api('GET', '/api/attacks', { token: null, headers: { authorization: 'Basic Zm9vOmJhcg==' } })).status, 401);
      assert.equal((await plane.api('GET', '/api/attacks', { token: t.viewer })).status, 200);
      assert.equal((await plane.api('GET', '/api/attacks', { token: t.admin })).status, 200);
      const viewerWrites = await plane.api('POST', '/api/attacks', { token: t.viewer, body: validAttack });
      assert.equal(viewerWrites.status, 403);
      assert.match(viewerWrites.body.error, /needs an admin token; this one is viewer/);
      assert.equal((await plane.api('POST', '/api/halt-all', { token: t.viewer })).status, 403);
      assert.equal((await plane.api('POST', '/api/campaigns', { token: t.service, body: {} })).status, 403);
      assert.equal((await plane.api('GET', '/api/attacks', { token: t.service })).status, 403, 'a service token does not read the API');
      assert.equal((await plane.api('GET', '/api/attacks/feed?poll=1', { token: t.viewer })).status, 403, 'a viewer token does not get the feed');
      assert.equal((await plane.api('GET', '/api/attacks/feed?poll=1', { token: t.service })).status, 200);
      assert.equal((await plane.api('GET', '/api/audit', { token: t.viewer })).status, 200);
      for (const role of ['admin', 'viewer', 'service'] as const) {
        const me = await plane.api('GET', '/api/whoami', { token: t[role] });
        assert.equal(me.status, 200);
        assert.equal(me.body.role, role);
        assert.match(me.body.tokenId, /^tok_/);
        assert.equal(me.body.name, `test ${role}`);
      }
      assert.equal((await plane.api('GET', '/api/whoami', { token: null })).status, 401);
    });

    test('OTLP ingestion: stored before 200; gzip; malformed → 400 with the reason; oversized → 413; protobuf → 415', async () => {
      const traceId = 'ab'.repeat(16);
      const spans = [serverSpan('edge', '/home', 10, { traceId }), clientSpan('edge', 'profiles', '/profiles/:id', 4, { traceId })];
      const ok = await plane.api('POST', '/v1/traces', { token: null, raw: otlp(spans), headers: { 'content-type': 'application/json' } });
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.body, { partialSuccess: {} });
      const stored = await plane.api('GET', `/api/traces/${traceId}`, { token: plane.tokens.viewer });
      assert.equal(stored.status, 200);
      assert.deepEqual(stored.body.spans.map((s: { spanId: string }) => s.spanId).sort(), spans.map((s) => s.spanId).sort());
      assert.equal((await plane.api('GET', '/api/traces/not-hex', { token: plane.tokens.viewer })).status, 400);

      const zipped = await plane.api('POST', '/v1/traces', { token: null, raw: gzipSync(otlp([serverSpan('edge', '/gz', 1, { traceId: 'cd'.repeat(16) })])), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
      assert.equal(zipped.status, 200);
      assert.equal((await plane.api('GET', `/api/traces/${'cd'.repeat(16)}`)).body.spans.length, 1);

      const notJson = await plane.api('POST', '/v1/traces', { token: null, raw: '{"resourceSpans": [', headers: { 'content-type': 'application/json' } });
      assert.equal(notJson.status, 400);
      assert.match(notJson.body.error, /body is not JSON/);
      const noArray = await plane.api('POST', '/v1/traces', { token: null, raw: '{"resource": 1}', headers: { 'content-type': 'application/json' } });
      assert.equal(noArray.status, 400);
      assert.match(noArray.body.error, /resourceSpans: expected an array/);
      const bad = JSON.parse(otlp([serverSpan('edge', '/x', 1)]));
      bad.resourceSpans[0].scopeSpans[0].spans[0].traceId = 'AAAA';
      const badId = await plane.api('POST', '/v1/traces', { token: null, raw: JSON.stringify(bad), headers: { 'content-type': 'application/json' } });
      assert.equal(badId.status, 400);
      assert.match(badId.body.error, /resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.traceId: expected 32 hex characters/);
      const proto = await plane.api('POST', '/v1/traces', { token: null, raw: Buffer.from([1, 2, 3]), headers: { 'content-type': 'application/x-protobuf' } });
      assert.equal(proto.status, 415);
      assert.match(proto.body.error, /only OTLP\/HTTP JSON/);
      const huge = await plane.api('POST', '/v1/traces', { token: null, raw: 'x'.repeat(9 << 20), headers: { 'content-type': 'application/json' } });
      assert.equal(huge.status, 413);
      assert.match(huge.body.error, /limit is 8388608/);
      const bomb = await plane.api('POST', '/v1/traces', { token: null, raw: gzipSync(Buffer.alloc(20 << 20, 32)), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
      assert.equal(bomb.status, 413, 'a small gzip body that inflates past the limit');
      assert.equal((await plane.api('POST', '/v1/traces', { token: null, raw: '{}', headers: { 'content-type': 'application/json', 'content-encoding': 'br' } })).status, 415);
      assert.equal((await plane.api('GET', '/api/health', { token: null })).status, 200, 'still serving');
    });

    test('graph over the API, with its query parameters checked', async () => {
      const spans = [...Array.from({ length: 9 }, () => clientSpan('web', 'api', '/v/:id', 12)), clientSpan('web', 'api', '/v/:id', 12, { error: true })];
      assert.equal((await plane.api('POST', '/v1/traces', { token: null, raw: otlp(spans), headers: { 'content-type': 'application/json' } })).status, 200);
      const g = await plane.api('GET', '/api/graph?window=5m', { token: plane.tokens.viewer });
      assert.equal(g.status, 200);
      const e = g.body.edges.find((x: { caller: string }) => x.caller === 'web');
      assert.equal(e.calls, 10);
      assert.equal(e.errors, 1);
      assert.equal(e.errorRate, 0.1);
      assert.ok(Math.abs(e.p50Ms - 12) / 12 < 0.05 && Math.abs(e.p99Ms - 12) / 12 < 0.05);
      const byPoint = await plane.api('GET', `/api/graph?by=point&service=api&since=${Date.now() - 60_000}&until=${new Date(Date.now() + 1000).toISOString()}`);
      assert.deepEqual(byPoint.body.edges.map((x: { points: string[] }) => x.points), [['web->api GET /v/:id']]);
      for (const q of ['window=soon', 'by=edge', 'since=yesterday', `since=${Date.now()}&until=${Date.now() - 1000}`]) {
        const r = await plane.api('GET', `/api/graph?${q}`);
        assert.equal(r.status, 400, q);
        assert.ok(r.body.error, q);
      }
    });

    test('spans of an edge: newest first, by caller and callee (point, limit, since), checked parameters', async () => {
      const traceId = 'ab'.repeat(16);
      const old = { ...clientSpan('sp-web', 'sp-api', '/x/:id', 5, { traceId }), startMs: Date.now() - 120_000, endMs: Date.now() - 119_000 };
      const spans = [old, ...Array.from({ length: 4 }, (_, i) => ({ ...clientSpan('sp-web', 'sp-api', i % 2 ? '/x/:id' : '/y', 3), startMs: Date.now() - 10_000 + i * 1000 }))];
      const other = [clientSpan('sp-web', 'sp-db', '/q', 2), serverSpan('sp-web', '/x', 9), { ...clientSpan('sp-other', 'sp-api', '/x/:id', 1) }];
      const peer = { ...clientSpan('sp-web', 'ignored', '/p', 1), attributes: { 'peer.service': 'sp-api', 'http.request.method': 'GET', 'http.route': '/p' }, startMs: Date.now() - 60_000 };
      assert.equal((await plane.api('POST', '/v1/traces', { token: null, raw: otlp([...spans, ...other, peer]), headers: { 'content-type': 'application/json' } })).status, 200);
      const r = await plane.api('GET', '/api/spans?caller=sp-web&callee=sp-api', { token: plane.tokens.viewer });
      assert.equal(r.status, 200);
      assert.equal(r.body.spans.length, 6);
      const starts = r.body.spans.map((s: { startMs: number }) => s.startMs);
      assert.deepEqual(starts, [...starts].sort((a: number, b: number) => b - a), 'newest first');
      assert.ok(r.body.spans.every((s: { service: string; kind: string }) => s.service === 'sp-web' && s.kind === 'client'));
      assert.equal(r.body.spans.at(-1).traceId, traceId);
      assert.equal(r.body.spans.at(-1).attributes['labcoat.point'], 'sp-web->sp-api GET /x/:id');
      const limited = await plane.api('GET', '/api/spans?caller=sp-web&callee=sp-api&limit=2');
      assert.deepEqual(limited.body.spans, r.body.spans.slice(0, 2));
      const byPoint = await plane.api('GET', `/api/spans?caller=sp-web&callee=sp-api&point=${encodeURIComponent('sp-web->sp-api GET /x/:id')}`);
      assert.equal(byPoint.body.spans.length, 3);
      const recent = await plane.api('GET', `/api/spans?caller=sp-web&callee=sp-api&since=${Date.now() - 30_000}`);
      assert.equal(recent.body.spans.length, 4);
      assert.deepEqual((await plane.api('GET', '/api/spans?caller=nobody&callee=sp-api')).body, { spans: [] });
      for (const q of ['callee=sp-api', 'caller=sp-web', 'caller=sp-web&callee=sp-api&limit=0', 'caller=sp-web&callee=sp-api&limit=501', 'caller=sp-web&callee=sp-api&since=soon']) {
        const bad = await plane.api('GET', `/api/spans?${q}`);
        assert.equal(bad.status, 400, q);
        assert.ok(bad.body.error, q);
      }
      assert.equal((await plane.api('GET', '/api/spans?caller=sp-web&callee=sp-api', { token: plane.tokens.service })).status, 403);
      assert.equal((await plane.api('GET', '/api/spans?caller=sp-web&callee=sp-api', { token: null })).status, 401);
    });

    test('traces by request class of their entry span, newest first; the classes with counts', async () => {
      const now = Date.now();
      const traces: string[] = [];
      const all = [];
      for (let i = 0; i < 4; i++) {
        const traceId = `${String(i).repeat(2)}${'c'.repeat(30)}`;
        traces.push(traceId);
        const root = { ...serverSpan('tr-edge', '/tr-home', 20, { traceId, error: i === 3 }), startMs: now - 40_000 + i * 5000, endMs: now - 40_000 + i * 5000 + 20 };
        root.attributes = { ...root.attributes, 'http.request.method': 'GET' };
        const call = { ...clientSpan('tr-edge', 'tr-api', '/v', 5, { traceId, parent: root.spanId }), startMs: root.startMs + 2, endMs: root.startMs + 30 };
        if (i === 1) call.attributes = { ...call.attributes, 'labcoat.fault': 'status:503' };
        const child = { ...serverSpan('tr-api', '/v', 5, { traceId, parent: call.spanId }), startMs: root.startMs + 3, endMs: root.startMs + 8 };
        all.push(root, call, child);
      }
      // another class, and a trace whose root's parent is not stored (an entry span too)
      const other = { ...serverSpan('tr-edge', '/tr-other', 3), startMs: now - 1000, endMs: now - 997, attributes: { 'http.request.method': 'POST', 'http.route': '/tr-other' } };
      const orphan = { ...serverSpan('tr-edge', '/tr-home', 4, { parent: 'ef'.repeat(8) }), startMs: now - 50_000, endMs: now - 49_996, attributes: { 'http.method': 'get', 'http.route': '/tr-home' } };
      assert.equal((await plane.api('POST', '/v1/traces', { token: null, raw: otlp([...all, other, orphan]), headers: { 'content-type': 'application/json' } })).status, 200);

      const r = await plane.api('GET', `/api/traces?class=${encodeURIComponent('GET /tr-home')}`, { token: plane.tokens.viewer });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.traces.map((t: { traceId: string }) => t.traceId), [...traces.reverse(), orphan.traceId]);
      const [t3, , t1] = r.body.traces;
      assert.deepEqual(
        { service: t3.service, class: t3.class, spans: t3.spans, errors: t3.errors, faults: t3.faults, status: t3.status, durationMs: t3.durationMs },
        { service: 'tr-edge', class: 'GET /tr-home', spans: 3, errors: 1, faults: 0, status: 'error', durationMs: 30 },
      );
      assert.equal(t3.startMs, now - 40_000 + 3 * 5000);
      assert.equal(t1.faults, 1);
      assert.equal(t1.status, 'ok');
      assert.equal(r.body.traces.at(-1).spans, 1);
      const limited = await plane.api('GET', `/api/traces?class=${encodeURIComponent('GET /tr-home')}&limit=2&service=tr-edge`);
      assert.deepEqual(limited.body.traces, r.body.traces.slice(0, 2));
      assert.deepEqual((await plane.api('GET', `/api/traces?class=${encodeURIComponent('GET /tr-home')}&service=tr-api`)).body, { traces: [] });
      const since = await plane.api('GET', `/api/traces?class=${encodeURIComponent('GET /tr-home')}&since=${now - 30_000}`);
      assert.equal(since.body.traces.length, 2);
      const any = await plane.api('GET', '/api/traces?limit=1&service=tr-edge');
      assert.equal(any.body.traces[0].class, 'POST /tr-other');
      for (const q of ['limit=0', 'limit=201', 'since=soon']) assert.equal((await plane.api('GET', `/api/traces?${q}`)).status, 400, q);
      // the trace by id is still there (literal /classes does not shadow it, nor the reverse)
      assert.equal((await plane.api('GET', `/api/traces/${traces[0]}`)).body.spans.length, 3);

      const c = await plane.api('GET', '/api/traces/classes?window=1h', { token: plane.tokens.viewer });
      assert.equal(c.status, 200);
      const home = c.body.classes.find((x: { class: string; service: string }) => x.class === 'GET /tr-home' && x.service === 'tr-edge');
      assert.equal(home.count, 5);
      assert.equal(home.lastMs, now - 40_000 + 3 * 5000);
      assert.ok(c.body.classes.some((x: { class: string; count: number }) => x.class === 'POST /tr-other' && x.count === 1));
      assert.ok(!c.body.classes.some((x: { service: string }) => x.service === 'tr-api'), 'non-entry server spans are not classes');
      assert.equal((await plane.api('GET', '/api/traces/classes?window=soon')).status, 400);
      assert.equal((await plane.api('GET', '/api/traces/classes', { token: null })).status, 401);
    });

    test('critical services: GET (viewer), PUT (admin, audited, stored), marked in the graph; --critical option', async () => {
      const first = await plane.api('GET', '/api/critical', { token: plane.tokens.viewer });
      assert.deepEqual(first.body, { services: [], source: 'none' });
      assert.ok(!(await plane.api('GET', '/api/graph?window=5m')).body.services.some((s: { critical?: boolean }) => 'critical' in s), 'no mark when none is named');
      assert.equal((await plane.api('PUT', '/api/critical', { token: plane.tokens.viewer, body: { services: ['api'] } })).status, 403);
      for (const body of [{}, { services: 'api' }, { services: [1] }, { services: [''] }, []]) {
        const bad = await plane.api('PUT', '/api/critical', { body });
        assert.equal(bad.status, 422, JSON.stringify(body));
        assert.ok(bad.body.fields?.length > 0);
      }
      const put = await plane.api('PUT', '/api/critical', { body: { services: ['api', ' web ', 'api'] } });
      assert.equal(put.status, 200);
      assert.deepEqual(put.body, { services: ['api', 'web'], source: 'setting' });
      assert.deepEqual((await plane.api('GET', '/api/critical')).body, { services: ['api', 'web'], source: 'setting' });
      const audit = await plane.api('GET', '/api/audit?action=critical.set');
      assert.deepEqual(audit.body.entries[0].details, { services: ['api', 'web'] });
      assert.equal(audit.body.entries[0].role, 'admin');
      const g = await plane.api('GET', '/api/graph?window=5m');
      const mark = Object.fromEntries(g.body.services.map((s: { name: string; critical: boolean }) => [s.name, s.critical]));
      assert.equal(mark['api'], true);
      assert.equal(mark['web'], true);
      assert.equal(mark['sp-web'], false);
      assert.equal((await plane.api('PUT', '/api/critical', { body: { services: [] } })).status, 200);
      assert.equal((await plane.api('GET', '/api/graph?window=5m')).body.services.find((s: { name: string }) => s.name === 'api').critical, false);

      const other = await startPlane(await b.newDb(), { critical: ['auth', 'licensing'] });
      try {
        assert.deepEqual((await other.api('GET', '/api/critical')).body, { services: ['auth', 'licensing'], source: 'option' });
        await other.api('POST', '/v1/traces', { token: null, raw: otlp([serverSpan('auth', '/login', 2), serverSpan('shop', '/cart', 2)]), headers: { 'content-type': 'application/json' } });
        const og = await other.api('GET', '/api/graph?window=5m');
        assert.deepEqual(Object.fromEntries(og.body.services.map((s: { name: string; critical: boolean }) => [s.name, s.critical])), { auth: true, shop: false });
        assert.deepEqual((await other.api('PUT', '/api/critical', { body: { services: ['shop'] } })).body, { services: ['shop'], source: 'setting' });
      } finally {
        await other.close();
      }
    });

    test('attacks: create, read, list; invalid definitions → 422 with every bad field', async () => {
      const c = await plane.api('POST', '/api/attacks', { body: validAttack });
      assert.equal(c.status, 201);
      assert.match(c.body.id, /^atk_/);
      assert.equal(c.headers.get('location'), `/api/attacks/${c.body.id}`);
      assert.equal(c.body.state, 'active');
      assert.equal(c.body.expiresAt - c.body.createdAt, 60_000);
      created.push(c.body.id);
      const got = await plane.api('GET', `/api/attacks/${c.body.id}`, { token: plane.tokens.viewer });
      assert.deepEqual(got.body, c.body);
      const list = await plane.api('GET', '/api/attacks?state=active');
      assert.ok(list.body.attacks.some((a: { id: string }) => a.id === c.body.id));
      assert.equal((await plane.api('GET', '/api/attacks?state=halted')).body.attacks.some((a: { id: string }) => a.id === c.body.id), false);
      assert.equal((await plane.api('GET', '/api/attacks?state=dead')).status, 400);
      assert.equal((await plane.api('GET', '/api/attacks?limit=0')).status, 400);
      assert.equal((await plane.api('GET', '/api/attacks/atk_nope')).status, 404);

      const invalid = await plane.api('POST', '/api/attacks', {
        body: { target: { services: [''], planets: ['x'] }, labels: { 'bad key': 'x', 'user.id': 5 }, entry: { routes: ['GET POST /x'] }, fault: { kind: 'explode' }, percentage: 0, durationMs: 500, extra: true },
      });
      assert.equal(invalid.status, 422);
      assert.equal(invalid.body.error, 'invalid attack definition');
      const fields = invalid.body.fields.map((f: { field: string }) => f.field).sort();
      assert.deepEqual(fields, ['durationMs', 'entry.routes[0]', 'extra', 'fault.kind', 'labels.bad key', 'labels.user.id', 'percentage', 'target.planets', 'target.services[0]'].sort());
      for (const f of invalid.body.fields) assert.ok(f.message.length > 5);
      const missing = await plane.api('POST', '/api/attacks', { body: {} });
      assert.deepEqual(missing.body.fields.map((f: { field: string }) => f.field).sort(), ['durationMs', 'fault', 'percentage', 'target']);
      const noSelector = await plane.api('POST', '/api/attacks', { body: { ...validAttack, target: {} } });
      assert.match(noSelector.body.fields[0].message, /at least one of services, points, callers, routes/);
      const badStatus = await plane.api('POST', '/api/attacks', { body: { ...validAttack, fault: { kind: 'status', status: 99 } } });
      assert.deepEqual(badStatus.body.fields, [{ field: 'fault.status', message: 'expected an integer from 100 to 599, got 99' }]);
      assert.equal((await plane.api('POST', '/api/attacks', { body: [1, 2] })).status, 422);
      assert.equal((await plane.api('POST', '/api/attacks', { raw: '{nope', headers: { 'content-type': 'application/json' } })).status, 400);
      assert.equal((await plane.api('POST', '/api/attacks', { raw: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 415);
      assert.equal((await plane.api('POST', '/api/attacks', { raw: JSON.stringify({ ...validAttack, name: 'x'.repeat(2 << 20) }), headers: { 'content-type': 'application/json' } })).status, 413);
    });

    test('feed: signed snapshots on connect, at once on create and halt, heartbeats every lease/3; poll; reports; halt-all', async () => {
      const feed = new SseClient(`${plane.url}/api/attacks/feed`, plane.tokens.service);
      try {
        const first = await feed.waitFor((e) => e.event === 'snapshot');
        assert.ok(first, 'a snapshot on connect');
        assert.equal(feed.status, 200);
        const env = JSON.parse(first.data) as { body: string; sig: string };
        assert.ok(mac.verify(env.body, env.sig), 'signed with the shared key');
        const snap = snapshotOf(first.data);
        assert.equal(snap.v, 1);
        assert.equal(snap.leaseMs, 900);
        // heartbeats: more snapshots without any change, with growing seq
        const n = feed.events.length;
        const beat = await feed.waitFor(() => true, 3000, n);
        assert.ok(beat, 'a heartbeat within the lease');
        assert.ok(snapshotOf(beat.data).seq > snap.seq);

        const sent = Date.now();
        const c = await plane.api('POST', '/api/attacks', { body: { ...validAttack, labels: { 'user.id': 'u-1*' }, entry: { routes: ['GET /home'] } } });
        created.push(c.body.id);
        const withIt = await feed.waitFor((e) => snapshotOf(e.data).attacks.some((a) => a.id === c.body.id), 2000);
        assert.ok(withIt, 'the new attack is pushed');
        assert.ok(withIt.at - sent < 1000, `pushed in ${withIt.at - sent} ms`);
        const inFeed = snapshotOf(withIt.data).attacks.find((a) => a.id === c.body.id) as Record<string, unknown>;
        assert.deepEqual(Object.keys(inFeed), ['id', 'name', 'target', 'labels', 'entry', 'fault', 'percentage', 'durationMs', 'createdAt', 'expiresAt', 'state']);

        const polled = await plane.api('GET', '/api/attacks/feed?poll=1', { token: plane.tokens.service });
        assert.equal(polled.status, 200);
        assert.ok(mac.verify(polled.body.body, polled.body.sig));
        assert.ok(JSON.parse(polled.body.body).attacks.some((a: { id: string }) => a.id === c.body.id));

        const rep = await plane.api('POST', `/api/attacks/${c.body.id}/report`, { token: plane.tokens.service, body: { injections: 7 } });
        assert.equal(rep.status, 200);
        await plane.api('POST', `/api/attacks/${c.body.id}/report`, { token: plane.tokens.service, body: { injections: 5 } });
        assert.equal((await plane.api('GET', `/api/attacks/${c.body.id}`)).body.injections, 12);
        assert.equal((await plane.api('POST', `/api/attacks/${c.body.id}/report`, { token: plane.tokens.service, body: { injections: -1 } })).status, 422);
        assert.equal((await plane.api('POST', '/api/attacks/atk_nope/report', { token: plane.tokens.service, body: { injections: 1 } })).status, 404);

        const halted = await plane.api('POST', `/api/attacks/${c.body.id}/halt`);
        assert.equal(halted.status, 200);
        assert.equal(halted.body.halted, true);
        assert.equal(halted.body.attack.state, 'halted');
        const from = feed.events.length;
        const without = await feed.waitFor((e) => !snapshotOf(e.data).attacks.some((a) => a.id === c.body.id), 2000, from);
        assert.ok(without && without.at - halted.body.attack.haltedAt < 1000, 'the halt is pushed within 1 s');
        const again = await plane.api('POST', `/api/attacks/${c.body.id}/halt`);
        assert.equal(again.status, 200);
        assert.equal(again.body.halted, false, 'halting twice is harmless');
        assert.equal((await plane.api('POST', '/api/attacks/atk_nope/halt')).status, 404);

        const all = await plane.api('POST', '/api/halt-all');
        assert.equal(all.status, 200);
        assert.ok(all.body.halted.includes(created[0]));
        const empty = await feed.waitFor((e) => snapshotOf(e.data).attacks.length === 0, 2000, feed.events.length - 1);
        assert.ok(empty, 'halt-all pushes an empty snapshot');
        assert.deepEqual((await plane.api('GET', '/api/attacks?state=active')).body.attacks, []);
      } finally {
        feed.close();
      }
    });

    test('an attack expires by itself: pushed out of the feed, state expired, audited', async () => {
      const feed = new SseClient(`${plane.url}/api/attacks/feed`, plane.tokens.admin);
      try {
        const c = await plane.api('POST', '/api/attacks', { body: { ...validAttack, durationMs: 1000 } });
        created.push(c.body.id);
        assert.ok(await feed.waitFor((e) => snapshotOf(e.data).attacks.some((a) => a.id === c.body.id)));
        const gone = await feed.waitFor((e) => e.at >= c.body.expiresAt && !snapshotOf(e.data).attacks.some((a) => a.id === c.body.id), 3000);
        assert.ok(gone, 'a snapshot without it after expiry');
        assert.ok(gone.at - c.body.expiresAt < 1000, `pushed ${gone.at - c.body.expiresAt} ms after expiry`);
        assert.equal((await plane.api('GET', `/api/attacks/${c.body.id}`)).body.state, 'expired');
        const deadline = Date.now() + 3000;
        let audited = false;
        while (!audited && Date.now() < deadline) {
          audited = (await plane.api('GET', '/api/audit?action=attack.expire')).body.entries.some((e: { target: string }) => e.target === c.body.id);
          if (!audited) await new Promise((r) => setTimeout(r, 100));
        }
        assert.ok(audited, 'expiry is in the audit log');
      } finally {
        feed.close();
      }
    });

    test('campaigns: 422 for invalid options; a run against examples/chain streams stored progress and stores the report', async () => {
      const bad = await plane.api('POST', '/api/campaigns', { body: { maxFaults: 99, command: 'rm -rf /', faults: 'explode', reset: { url: 'file:///x' } } });
      assert.equal(bad.status, 422);
      assert.deepEqual(bad.body.fields.map((f: { field: string }) => f.field).sort(), ['command', 'faults', 'maxFaults', 'reset', 'target']);
      const badClass = await plane.api('POST', '/api/campaigns', { body: { target: 'http://127.0.0.1:1', classes: [{ name: 'x', expect: { status: ['weird'] } }] } });
      assert.equal(badClass.status, 422);
      assert.equal(badClass.body.fields[0].field, 'classes');
      assert.equal((await plane.api('GET', '/api/campaigns/cmp_nope')).status, 404);
      assert.equal((await plane.api('GET', '/api/campaigns/cmp_nope/events')).status, 404);

      let chain: Chain | undefined;
      try {
        chain = await startChain({ key: KEY, otlpUrl: `${plane.url}/v1/traces` });
        const c = await plane.api('POST', '/api/campaigns', { body: { name: 'chain k=2', target: chain.edge.url, classes: [CHAIN_CLASS], maxFaults: 2, faults: 'error,503' } });
        assert.equal(c.status, 201, JSON.stringify(c.body));
        assert.equal(c.body.state, 'running');
        const events = new SseClient(`${plane.url}/api/campaigns/${c.body.id}/events`, plane.tokens.viewer);
        const end = await events.waitFor((e) => e.event === 'end', 90_000);
        events.close();
        assert.ok(end, 'the stream ends when the campaign does');
        const types = events.events.map((e) => e.event);
        assert.equal(types[0], 'state');
        assert.ok(types.includes('class-start') && types.includes('progress') && types.includes('class-end'), types.join(','));
        const last = JSON.parse(events.events.at(-2)!.data);
        assert.equal(last.type, 'state');
        assert.equal(last.data.state, 'finished', JSON.stringify(last.data));
        const seqs = events.events.filter((e) => e.event !== 'end').map((e) => JSON.parse(e.data).seq);
        assert.deepEqual(seqs, seqs.map((_: number, i: number) => i + 1), 'every stored event, in order');

        const done = await plane.api('GET', `/api/campaigns/${c.body.id}`, { token: plane.tokens.viewer });
        assert.equal(done.body.state, 'finished');
        assert.equal(done.body.result.tool, 'labcoat');
        assert.ok(done.body.result.experiments > 1);
        assert.deepEqual(done.body.summary, { experiments: done.body.result.experiments, bugs: done.body.result.bugs, certified: done.body.result.certified });
        const json = await plane.api('GET', `/api/campaigns/${c.body.id}/events?after=1`);
        assert.equal(json.body.events[0].seq, 2);
        assert.equal(json.body.events.length, seqs.length - 1);
        const list = await plane.api('GET', '/api/campaigns');
        assert.equal(list.body.campaigns[0].id, c.body.id);
        assert.equal(list.body.campaigns[0].result, null, 'lists leave the report out');
        const stop = await plane.api('POST', `/api/campaigns/${c.body.id}/stop`);
        assert.deepEqual(stop.body, { stopping: false, state: 'finished' });
        const html = await fetch(`${plane.url}/api/campaigns/${c.body.id}/report.html`, { headers: { authorization: `Bearer ${plane.tokens.viewer}` } });
        assert.equal(html.status, 200);
        assert.match(html.headers.get('content-type') ?? '', /^text\/html/);
        assert.match(await html.text(), /<html[\s>]/i);

        // A campaign can be stopped while it runs; it keeps the report so far.
        const slow = await plane.api('POST', '/api/campaigns', { body: { target: chain.edge.url, classes: [CHAIN_CLASS], maxFaults: 3, settleMs: 300 } });
        const slowEvents = new SseClient(`${plane.url}/api/campaigns/${slow.body.id}/events`, plane.tokens.viewer);
        assert.ok(await slowEvents.waitFor((e) => e.event === 'progress', 30_000));
        const early = await plane.api('GET', `/api/campaigns/${slow.body.id}/report.html`);
        assert.equal(early.status, 409);
        assert.match(early.body.error, /has no report yet \(it is running\)/);
        assert.equal((await plane.api('POST', `/api/campaigns/${slow.body.id}/stop`)).body.stopping, true);
        assert.ok(await slowEvents.waitFor((e) => e.event === 'end', 30_000));
        slowEvents.close();
        const stopped = await plane.api('GET', `/api/campaigns/${slow.body.id}`);
        assert.equal(stopped.body.state, 'stopped');
        assert.equal(stopped.body.result.tool, 'labcoat');
      } finally {
        await chain?.stop();
      }
    });

    test('a server without a key refuses the feed and campaigns, and says why', async () => {
      const p = await startPlane(await b.newDb(), { key: '' });
      try {
        const feed = await p.api('GET', '/api/attacks/feed', { token: p.tokens.service });
        assert.equal(feed.status, 503);
        assert.match(feed.body.error, /no key \(--key or LABCOAT_KEY\)/);
        const cmp = await p.api('POST', '/api/campaigns', { body: { target: 'http://127.0.0.1:9/home' } });
        assert.equal(cmp.status, 503);
        assert.match(cmp.body.error, /no key/);
        assert.equal((await p.api('POST', '/api/attacks', { body: validAttack })).status, 201, 'attacks can still be created');
      } finally {
        await p.close();
      }
    });

    test('ingestion can require a service token', async () => {
      const p = await startPlane(await b.newDb(), { ingestAuth: 'token' });
      try {
        const body = otlp([serverSpan('a', '/', 1)]);
        assert.equal((await p.api('POST', '/v1/traces', { token: null, raw: body, headers: { 'content-type': 'application/json' } })).status, 401);
        assert.equal((await p.api('POST', '/v1/traces', { token: p.tokens.viewer, raw: body, headers: { 'content-type': 'application/json' } })).status, 403);
        assert.equal((await p.api('POST', '/v1/traces', { token: p.tokens.service, raw: body, headers: { 'content-type': 'application/json' } })).status, 200);
      } finally {
        await p.close();
      }
    });

    test('the audit log has an entry for every change, with who made it', async () => {
      const entries: { id: number; action: string; actor: string; role: string; target: string | null }[] = (await plane.api('GET', '/api/audit?limit=1000', { token: plane.tokens.viewer })).body.entries;
      const count = (action: string) => entries.filter((e) => e.action === action).length;
      assert.equal(count('token.create'), 3);
      assert.equal(count('attack.create'), created.length);
      assert.equal(count('attack.halt'), 2, 'both halt calls, even the one that changed nothing');
      assert.equal(count('attack.halt-all'), 1);
      assert.equal(count('attack.report'), 2);
      assert.equal(count('attack.expire'), 1);
      assert.equal(count('campaign.create'), 2);
      assert.equal(count('campaign.stop'), 1);
      const create = entries.find((e) => e.action === 'attack.create')!;
      assert.equal(create.role, 'admin');
      assert.match(create.actor, /^tok_/);
      const page = await plane.api('GET', `/api/audit?limit=2&before=${entries[1]!.id}`);
      assert.equal(page.body.entries.length, 2);
      assert.ok(page.body.entries[0].id < entries[1]!.id);
    });
  });
}

suite(sqliteBackend(), 'SQLite');
suite(pgBackend, 'PostgreSQL');
after(async () => {
  if (typeof pgBackend !== 'string') await pgBackend.close();
});
