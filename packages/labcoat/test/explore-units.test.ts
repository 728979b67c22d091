/** The explore runner's pure parts: oracles, plans and fault mapping, config validation, trace reading, reports. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodePlan, type SpanData } from '@labcoat/core';
import { hmacMac } from '@labcoat/node';
import { parseClassesFile, loadClassesFile } from '../src/explore/config.js';
import { ExploreError } from '../src/explore/errors.js';
import { renderHtml } from '../src/explore/html.js';
import { httpSymptom, Oracle, parseJsonCheck, parseStatusList, readPointer } from '../src/explore/oracle.js';
import { faultModes, faultRef, faultSetKey, signFaults } from '../src/explore/plans.js';
import { assertResilient, certificateLine, exitCodeOf, renderText } from '../src/explore/report.js';
import { callPath, escapedCalls, executionComplete, firedFaults, GraphBuilder, missingHops } from '../src/explore/trace.js';
import { optionsFromFlags, parseCritical, type ExploreFlags } from '../src/explore/cli-explore.js';
import type { ClassReport, ExplorationReport, OracleContext, WorkloadOutcome } from '../src/explore/types.js';

const KEY = 'explore-unit-test-key-0123456789';
const ctx: OracleContext = { experiment: { id: 1, purpose: 'hypothesis' }, planned: [], fired: [], spans: [] };
const http = (status: number, body?: unknown, durationMs = 10): WorkloadOutcome => ({
  kind: 'http',
  durationMs,
  status,
  ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
});

describe('oracle', () => {
  test('status set: default 2xx, explicit list, classes like 5xx', async () => {
    assert.deepEqual(await new Oracle({}).judge(http(204), ctx), { ok: true });
    assert.deepEqual(await new Oracle({}).judge(http(502, { error: 'ratings unavailable' }), ctx), { ok: false, symptom: 'HTTP 502 "ratings unavailable"' });
    assert.equal((await new Oracle({ status: [200] }).judge(http(204), ctx)).ok, false);
    assert.equal((await new Oracle({ status: ['5xx'] }).judge(http(503), ctx)).ok, true);
    assert.deepEqual(parseStatusList('200, 204,5xx'), [200, 204, '5xx']);
    assert.throws(() => parseStatusList('200,abc'), /--expect-status: "abc" is not an HTTP status/);
  });

  test('JSON pointer checks, literal and matchers, with the symptom the user would see', async () => {
    const body = { profile: { id: 'guest', 'a/b': 1 }, rows: [{ items: [] }], n: 4 };
    const o = (json: Record<string, unknown>) => new Oracle({ json });
    assert.deepEqual(await o({ '/profile/id': '7' }).judge(http(200, body), ctx), { ok: false, symptom: '/profile/id was "guest", expected "7"' });
    assert.deepEqual(await o({ '/profile/a~1b': 1, '/n': 4 }).judge(http(200, body), ctx), { ok: true });
    assert.deepEqual(await o({ '/plan': 'premium' }).judge(http(200, body), ctx), { ok: false, symptom: '/plan is missing, expected "premium"' });
    assert.deepEqual(await o({ '/rows/0/items': { $type: 'array', $minItems: 1 } }).judge(http(200, body), ctx), {
      ok: false,
      symptom: '/rows/0/items was [], expected an array of at least 1 item',
    });
    assert.equal((await o({ '/n': { $in: [3, 4] } }).judge(http(200, body), ctx)).ok, true);
    assert.equal((await o({ '/error': { $exists: false } }).judge(http(200, body), ctx)).ok, true);
    assert.deepEqual(await o({ '/n': 4 }).judge(http(200, 'not json'), ctx), { ok: false, symptom: 'HTTP 200 with a body that is not JSON ("not json")' });
    assert.deepEqual(parseJsonCheck('/user/id=42'), ['/user/id', 42]);
    assert.deepEqual(parseJsonCheck('/name=Alex'), ['/name', 'Alex']);
    assert.deepEqual(parseJsonCheck('/x'), ['/x', { $exists: true }]);
    assert.throws(() => parseJsonCheck('user=1'), /expected \/json\/pointer=value/);
    assert.deepEqual(readPointer([1, [2, 3]], '/1/0'), { found: true, value: 2 });
    assert.deepEqual(readPointer([1], '/01'), { found: false });
    assert.throws(() => new Oracle({ json: { '/x': { $typo: 1 } } }), /unknown matcher \$typo/);
  });

  test('JSON Schema via ajv', async () => {
    const o = new Oracle({ schema: { type: 'object', required: ['url'], properties: { url: { type: 'string' } } } });
    assert.equal((await o.judge(http(200, { url: 'x' }), ctx)).ok, true);
    assert.deepEqual(await o.judge(http(200, { url: 3 }), ctx), { ok: false, symptom: 'body /url must be string' });
    assert.throws(() => new Oracle({ schema: { type: 'nonsense' } }), /expect\.schema is not a valid JSON Schema/);
  });

  test('latency budget, no answer, exit codes', async () => {
    assert.deepEqual(await new Oracle({ deadlineMs: 100 }).judge(http(200, {}, 250), ctx), { ok: false, symptom: 'answered in 250 ms, over the 100 ms budget' });
    assert.deepEqual(await new Oracle({}).judge({ kind: 'http', durationMs: 2000, failure: { reason: 'timeout', message: 'no answer within 2 s' } }, ctx), { ok: false, symptom: 'no answer within 2 s' });
    const cmd = (exitCode: number | null, stderr = ''): WorkloadOutcome => ({ kind: 'command', durationMs: 5, exitCode, signal: exitCode === null ? 'SIGKILL' : null, stderr });
    assert.deepEqual(await new Oracle({}).judge(cmd(0), ctx), { ok: true });
    assert.deepEqual(await new Oracle({}).judge(cmd(3, 'line 1\nboom: profile missing\n'), ctx), { ok: false, symptom: 'exit code 3: boom: profile missing' });
    assert.deepEqual(await new Oracle({ exitCode: 3 }).judge(cmd(3), ctx), { ok: true });
  });

  test('a custom oracle sees what fired; a thrown assertion is the symptom', async () => {
    let seen: OracleContext | undefined;
    const fired = { ...ctx, fired: [{ point: 'a->b GET /x', kind: 'error', mode: 'error' }] };
    const o = new Oracle({}, (out, c) => {
      seen = c;
      assert.equal(out.status, 200, 'expected 200 from the edge');
      return c.fired.length === 0 ? true : { ok: false, symptom: 'served while b was down' };
    });
    assert.deepEqual(await o.judge(http(200), fired), { ok: false, symptom: 'served while b was down' });
    assert.equal(seen?.fired[0]?.point, 'a->b GET /x');
    assert.deepEqual(await o.judge(http(200), ctx), { ok: true });
    // Built-in checks first: a 500 never reaches the custom oracle.
    assert.deepEqual(await o.judge(http(500), ctx), { ok: false, symptom: 'HTTP 500' });
    const throwing = new Oracle({ status: ['5xx'] }, (out) => assert.equal(out.status, 200, 'expected 200 from the edge'));
    assert.deepEqual(await throwing.judge(http(503), ctx), { ok: false, symptom: 'expected 200 from the edge' });
  });

  test('HTTP symptoms are short and stable', () => {
    assert.equal(httpSymptom(502, '{"service":"edge","traceparent":"00-abc"}'), 'HTTP 502');
    assert.equal(httpSymptom(503, '{"error":"auth unavailable"}'), 'HTTP 503 "auth unavailable"');
    assert.equal(httpSymptom(500, 'Internal Server Error\nstack…'), 'HTTP 500 "Internal Server Error"');
  });
});

describe('plans and fault modes', () => {
  test('modes from shorthands; a hang gets a bounded maxMs; the report maps mode to kind', () => {
    const modes = faultModes('error,503,hang', 3000);
    assert.deepEqual(modes, { error: { kind: 'error' }, '503': { kind: 'status', status: 503 }, hang: { kind: 'hang', maxMs: 3000 } });
    assert.deepEqual(faultRef({ point: 'edge->ratings GET /r/:id', mode: '503' }, modes), { point: 'edge->ratings GET /r/:id', kind: 'status', mode: '503' });
    assert.deepEqual(Object.keys(faultModes(undefined)).sort(), ['503', 'error', 'hang']);
    assert.throws(() => faultModes('error,explode'), (e: Error) => e instanceof ExploreError && /--faults: .*unknown fault kind "explode"/.test(e.message));
    assert.throws(() => faultModes({ slow: { kind: 'delay' } }), /faults\.slow\.ms/);
  });

  test('one rule per fault, signed with the key, short expiry', () => {
    const modes = faultModes('error,503');
    const mac = hmacMac(KEY);
    const now = Date.now();
    const token = signFaults([{ point: 'catalog->ratings GET /ratings/:id', mode: '503' }, { point: 'edge->catalog GET /items/:id', mode: 'error' }], modes, mac, 'lc-1-7', 30_000, now);
    const decoded = decodePlan(token, mac, now);
    assert.equal(decoded.ok, true);
    if (!decoded.ok) return;
    assert.equal(decoded.plan.id, 'lc-1-7');
    assert.equal(decoded.plan.exp, now + 30_000);
    assert.deepEqual(
      decoded.plan.rules.map((r) => [r.fault.kind, r.fault.label]),
      [
        ['status', 'status:503'],
        ['error', 'error:ECONNREFUSED'],
      ],
    );
    assert.equal(decodePlan(token, hmacMac('another-key-0123456789abcdef'), now).ok, false);
    assert.throws(() => signFaults([{ point: 'a->b x', mode: 'hang' }], modes, mac, 'x', 1000), /fault mode "hang", which is not one of (503, error|error, 503)/);
    const many = Array.from({ length: 60 }, (_, i) => ({ point: `service-${i}->dependency-${i} GET /a/rather/long/route/template/:id`, mode: 'error' }));
    assert.throws(() => signFaults(many, modes, mac, 'big', 1000), (e: Error) => e instanceof ExploreError && /do not fit in one plan/.test(e.message));
    assert.equal(faultSetKey([{ point: 'b', mode: 'x' }, { point: 'a', mode: 'y' }]), faultSetKey([{ point: 'a', mode: 'y' }, { point: 'b', mode: 'x' }]));
  });
});

describe('request-class file', () => {
  const bad = (input: unknown, re: RegExp, target?: string) =>
    assert.throws(() => parseClassesFile(input, target, 'classes.json'), (e: Error) => e instanceof ExploreError && re.test(e.message), `expected ${re}`);

  test('errors name the field', () => {
    bad([], /^classes\.json: expected an object/);
    bad({ classes: [] }, /^classes\.json\.classes: expected a non-empty array/);
    bad({ classes: [{ path: '/x' }] }, /^classes\.json\.classes\[0\]\.name: expected a non-empty string, got nothing/);
    bad({ target: 'http://x', classes: [{ name: 'a', path: '/x', expect: { status: [200, 99] } }] }, /classes\[0\]\.expect\.status\[1\]: expected an integer from 100 to 599, got 99/);
    bad({ target: 'http://x', classes: [{ name: 'a', path: '/x', expect: { stauts: [200] } }] }, /classes\[0\]\.expect\.stauts: unknown field; expected one of status, json, schema, deadlineMs, exitCode/);
    bad({ classes: [{ name: 'a', path: '/x' }] }, /classes\[0\]\.path: a relative path needs a base URL/);
    bad({ target: 'http://x', classes: [{ name: 'a', path: 'x' }] }, /classes\[0\]\.path: expected a path starting with "\/"/);
    bad({ target: 'http://x', classes: [{ name: 'a', path: '/x' }, { name: 'a', path: '/y' }] }, /classes\[1\]\.name: "a" is used by two classes/);
    bad({ target: 'http://x', classes: [{ name: 'a', path: '/x', expect: { json: { 'user/id': 1 } } }] }, /expect\.json: "user\/id" is not a JSON pointer/);
    bad({ target: 'http://x', classes: [{ name: 'a', path: '/x', method: 'FETCH' }] }, /classes\[0\]\.method: expected an HTTP method/);
    bad({ classes: [{ name: 'a', command: 'true', path: '/x' }] }, /classes\[0\]\.path: a command class sends no HTTP request/);
    bad({ target: 'http://x', critical: { services: 'auth' }, classes: [{ name: 'a', path: '/x' }] }, /classes\.json\.critical\.services: expected an array of strings/);
    bad({ classes: [{ name: 'a', path: '/x' }] }, /--target: "nope" is not a URL/, 'nope');
  });

  test('a valid file: paths resolve against --target, bodies become JSON, critical with its clean-failure expectation', () => {
    const f = parseClassesFile(
      {
        target: 'http://127.0.0.1:1',
        description: 'ignored',
        critical: { services: ['auth'], points: ['edge->licensing POST /licenses/:id'], expect: { status: [503] } },
        classes: [
          { name: 'play', method: 'post', path: '/play/42', body: { device: 'tv' }, expect: { status: ['2xx'], deadlineMs: 800 } },
          { name: 'cli', command: 'node client.js', expect: { exitCode: 0 } },
        ],
      },
      'http://127.0.0.1:9999',
    );
    assert.equal(f.target, 'http://127.0.0.1:9999');
    assert.deepEqual(f.classes[0]!.http, { method: 'POST', url: 'http://127.0.0.1:9999/play/42', headers: { 'content-type': 'application/json' }, body: '{"device":"tv"}' });
    assert.equal(f.classes[1]!.command, 'node client.js');
    assert.deepEqual(f.critical, { services: ['auth'], points: ['edge->licensing POST /licenses/:id'], expect: { status: [503] } });
  });

  test("examples/streaming/classes.json is accepted as it is", () => {
    const file = fileURLToPath(new URL('../../../../examples/streaming/classes.json', import.meta.url));
    const f = loadClassesFile(file, 'http://127.0.0.1:1234');
    assert.ok(f.classes.length >= 3);
    assert.ok(f.classes.every((c) => c.http?.url.startsWith('http://127.0.0.1:1234/')));
    assert.ok(f.critical?.services?.includes('auth'));
    assert.throws(() => loadClassesFile('/nonexistent/classes.json'), /--config \/nonexistent\/classes\.json: no such file/);
  });
});

const T = 'a'.repeat(32);
const span = (spanId: string, parentSpanId: string | undefined, kind: SpanData['kind'], service: string, attributes: SpanData['attributes'] = {}): SpanData => ({
  traceId: T,
  spanId,
  parentSpanId,
  name: spanId,
  kind,
  service,
  startMs: 0,
  endMs: 1,
  status: { code: 'unset' },
  attributes,
});

describe('reading traces', () => {
  const edge = span('s1', 'p0', 'server', 'edge', { 'labcoat.calls': 1 });
  const call = span('c1', 's1', 'client', 'edge', { 'labcoat.point': 'edge->catalog GET /items/:id', 'url.full': 'http://127.0.0.1:1/items/1' });
  const catalog = span('s2', 'c1', 'server', 'catalog', { 'labcoat.calls': 1 });
  const db = span('c2', 's2', 'client', 'catalog', { 'labcoat.point': 'catalog->db select items', 'labcoat.fault': 'error:ECONNREFUSED', 'labcoat.plan.id': 'lc-x-3' });

  test('completeness, for an HTTP entry and for a command with several roots', () => {
    assert.equal(executionComplete([edge, call, catalog, db], 'p0', false), true);
    assert.equal(executionComplete([edge, call, db], 'p0', false), false);
    const second = span('s9', 'p0', 'server', 'edge', { 'labcoat.calls': 0 });
    assert.equal(executionComplete([edge, call, catalog, db, second], 'p0', false), false, 'two roots: not one HTTP request');
    assert.equal(executionComplete([edge, call, catalog, db, second], 'p0', true), true, 'a command may make several calls');
    assert.equal(executionComplete([edge, call, db], 'p0', true), false);
  });

  test('names the hop that did not join the trace', () => {
    assert.deepEqual(missingHops([edge, call], 'p0', 'http://127.0.0.1:4318/v1/traces'), [
      'edge → catalog did not join the trace: does catalog take the trace context (traceparent) from its requests and export spans to http://127.0.0.1:4318/v1/traces?',
    ]);
    assert.match(missingHops([edge, db], 'p0')[0]!, /catalog's span "c2" hangs under a span that never arrived/);
    const refused = span('c1', 's1', 'client', 'edge', { ...call.attributes, 'labcoat.fault': 'error:ECONNREFUSED' });
    assert.deepEqual(missingHops([edge, refused], 'p0'), [], 'a refused call has no callee span to wait for');
  });

  test('a call that left the trace (its service dropped the context) is named', () => {
    const lost = { ...span('x1', undefined, 'client', 'catalog', { 'labcoat.point': 'catalog->db select items' }), traceId: 'b'.repeat(32), startMs: 5 };
    const background = { ...lost, spanId: 'x2', service: 'cron', startMs: 5 };
    const late = { ...lost, spanId: 'x3', startMs: 500 };
    assert.deepEqual(escapedCalls([edge, call, catalog, lost, background, late], [edge, call, catalog], 0, 100), [
      'catalog → db left the trace: catalog made this call in a new trace, so it drops the request\'s context (is the call made inside the request\'s async context, with an instrumented client?)',
    ]);
  });

  test('fired vs planned, and the path of a faulted call', () => {
    const modes = faultModes('error,hang');
    const planned = [
      { point: 'catalog->db select items', mode: 'error' },
      { point: 'catalog->cache get items', mode: 'hang' },
    ];
    assert.deepEqual(firedFaults([edge, call, catalog, db], planned, modes, 'lc-x-3'), {
      fired: [{ point: 'catalog->db select items', kind: 'error', mode: 'error' }],
      neverFired: [{ point: 'catalog->cache get items', kind: 'hang', mode: 'hang' }],
    });
    assert.equal(firedFaults([db], planned, modes, 'another-plan').fired.length, 0, "another plan's fault is not ours");
    assert.deepEqual(callPath([edge, call, catalog, db], 'catalog->db select items'), ['edge', 'catalog', 'db']);
    assert.deepEqual(callPath([], 'catalog->db select items'), ['catalog', 'db']);
    const g = new GraphBuilder();
    g.add([edge, call, catalog, db]);
    assert.deepEqual(g.toJSON(), {
      services: ['catalog', 'db', 'edge'],
      edges: [
        { point: 'catalog->db select items', from: 'catalog', to: 'db' },
        { point: 'edge->catalog GET /items/:id', from: 'edge', to: 'catalog' },
      ],
    });
  });
});

function classReport(over: Partial<ClassReport> = {}): ClassReport {
  return {
    name: 'home',
    request: 'GET http://127.0.0.1:1/home',
    experiments: 12,
    byPurpose: { baseline: 3, hypothesis: 9 },
    points: ['edge->profiles GET /profiles/:id', 'edge->auth GET /session'],
    supports: 2,
    failureSets: [],
    certified: { maxFaults: 2, complete: true },
    stopped: 'certified',
    notes: [],
    neverFired: [],
    orderDependent: [],
    incompleteTraces: 0,
    graph: {
      services: ['auth', 'edge', 'profiles'],
      edges: [
        { point: 'edge->auth GET /session', from: 'edge', to: 'auth' },
        { point: 'edge->profiles GET /profiles/:id', from: 'edge', to: 'profiles' },
      ],
    },
    durationMs: 1000,
    log: [],
    ...over,
  };
}

function report(classes: ClassReport[]): ExplorationReport {
  return {
    tool: 'labcoat',
    version: 1,
    startedAt: new Date(0).toISOString(),
    durationMs: 1000,
    experiments: classes.reduce((n, c) => n + c.experiments, 0),
    maxFaults: 2,
    faults: faultModes('error,hang'),
    bugs: classes.reduce((n, c) => n + c.failureSets.filter((f) => !f.critical).length, 0),
    certified: classes.every((c) => c.certified.complete),
    classes,
  };
}

describe('report', () => {
  const bug = { faults: [{ point: 'edge->profiles GET /profiles/:id', kind: 'error', mode: 'error', path: ['edge', 'profiles'] }], critical: false, symptom: 'HTTP 502', experiment: 7, neverFired: [] };
  const crit = { faults: [{ point: 'edge->auth GET /session', kind: 'hang', mode: 'hang', path: ['edge', 'auth'] }], critical: true, symptom: 'HTTP 503 "auth unavailable"', experiment: 9, neverFired: [] };

  test('the certificate line says what was proved', () => {
    assert.equal(certificateLine(classReport()), 'certified: no combination of ≤ 2 faults among 2 injection points breaks home (12 experiments).');
    assert.match(certificateLine(classReport({ failureSets: [crit] })), /^certified: .* \(1 failure set made only of critical points, expected\)/);
    assert.match(certificateLine(classReport({ failureSets: [bug] })), /^complete for ≤ 2 faults among 2 injection points: the 1 minimal failure set above is the only one/);
    assert.match(certificateLine(classReport({ certified: { maxFaults: 2, complete: false }, stopped: 'budget' })), /^not certified: the experiment budget ran out after 12 experiments/);
  });

  test('text, exit code and assertResilient', () => {
    const ok = report([classReport({ failureSets: [crit] })]);
    assert.equal(exitCodeOf(ok), 0);
    assert.doesNotThrow(() => assertResilient(ok));
    const bad = report([classReport({ failureSets: [bug, crit] })]);
    assert.equal(exitCodeOf(bad), 1);
    const text = renderText(bad);
    assert.match(text, /edge->profiles GET \/profiles\/:id · error/);
    assert.match(text, /edge → profiles/);
    assert.match(text, /critical/);
    assert.match(text, /1 failure set found/);
    assert.throws(() => assertResilient(bad), /home: edge->profiles GET \/profiles\/:id \(error\) → HTTP 502/);
    assert.throws(() => assertResilient(report([classReport({ certified: { maxFaults: 2, complete: false }, stopped: 'budget' })]), { certified: true }), /not certified/);
  });

  test('the HTML report is one self-contained file with the call graph as SVG and the faulted points marked', () => {
    const html = renderHtml(report([classReport({ failureSets: [bug, crit], notes: ['<script>alert(1)</script>'] })]));
    assert.match(html, /^<!doctype html>/);
    assert.equal((html.match(/<svg /g) ?? []).length, 1);
    assert.match(html, /<g class="edge bad" data-point="edge-&gt;profiles GET \/profiles\/:id">/);
    assert.match(html, /<g class="edge crit" data-point="edge-&gt;auth GET \/session">/);
    assert.doesNotMatch(html, /(src|href)\s*=\s*["']?(https?:)?\/\//i, 'no external resource');
    assert.doesNotMatch(html, /<link|@import|url\(\s*['"]?https?:/i);
    assert.doesNotMatch(html, /<script>alert/, 'notes are escaped');
  });
});

describe('CLI flags', () => {
  const flags = (o: Partial<ExploreFlags>): ExploreFlags => ({ method: 'GET', header: [], expectJson: [], maxFaults: '2', skipCritical: true, batching: true, resetBefore: 'each', ...o });
  test('map to library options, with usage errors for nonsense', () => {
    const o = optionsFromFlags(flags({ target: 'http://127.0.0.1:1/x', expectStatus: '200,204', expectJson: ['/a=1'], deadline: '2s', critical: 'auth,edge->licensing POST /licenses/:id', budget: '50', settle: '100ms' }));
    assert.equal(o.target, 'http://127.0.0.1:1/x');
    assert.deepEqual(o.expect, { status: [200, 204], json: { '/a': 1 } });
    assert.equal(o.deadlineMs, 2000);
    assert.equal(o.settleMs, 100);
    assert.equal(o.budget, 50);
    assert.deepEqual(o.critical, { services: ['auth'], points: ['edge->licensing POST /licenses/:id'] });
    assert.deepEqual(parseCritical('a, b->c GET /x'), { services: ['a'], points: ['b->c GET /x'] });
    const usage = (f: Partial<ExploreFlags>, re: RegExp) => assert.throws(() => optionsFromFlags(flags(f)), (e: Error) => e instanceof ExploreError && e.exitCode === 2 && re.test(e.message));
    usage({}, /say what to explore: --target URL/);
    usage({ target: 'not a url' }, /--target "not a url" is not a URL/);
    usage({ target: 'http://x/', maxFaults: '0' }, /--max-faults: expected an integer from 1 to 8/);
    usage({ target: 'http://x/', deadline: 'soon' }, /--deadline: expected a duration/);
    usage({ command: 'true', target: 'http://x/' }, /--command cannot be combined/);
    usage({ command: 'true', expectStatus: '200' }, /judged by its exit code/);
    usage({ target: 'http://x/', header: ['nocolon'] }, /--header "nocolon": expected "name: value"/);
    usage({ target: 'http://x/', reset: 'true', resetUrl: 'http://x/reset' }, /--reset or --reset-url, not both/);
  });
});
