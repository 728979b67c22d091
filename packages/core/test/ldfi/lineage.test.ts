import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyseExecution, ATTR, faultAtom, plainSupport, type Attributes, type LineageModes, type SpanData } from '../../src/index.js';

const MODES: LineageModes = {
  modes: ['error', '503', 'hang'],
  labels: new Map([
    ['error', 'error:ECONNREFUSED'],
    ['503', 'status:503'],
    ['hang', 'hang'],
  ]),
  slow: new Set(['hang']),
};

/** A little span-tree builder: ids in order, times as given. */
class Trace {
  readonly spans: SpanData[] = [];
  private next = 1;
  add(kind: SpanData['kind'], parent: string | undefined, attrs: Attributes, opts: { start?: number; end?: number; error?: boolean; name?: string; service?: string } = {}): string {
    const spanId = (this.next++).toString(16).padStart(16, '0');
    this.spans.push({
      traceId: 'a'.repeat(32),
      spanId,
      ...(parent ? { parentSpanId: parent } : {}),
      name: opts.name ?? kind,
      kind,
      service: opts.service ?? 'svc',
      startMs: opts.start ?? 0,
      endMs: opts.end ?? 10,
      status: opts.error ? { code: 'error', message: 'failed' } : { code: 'unset' },
      attributes: attrs,
    });
    return spanId;
  }
  server(parent: string | undefined, calls: number, opts: { error?: boolean; start?: number; end?: number } = {}): string {
    return this.add('server', parent, { [ATTR.calls]: calls }, opts);
  }
  client(parent: string, point: string, opts: { error?: boolean; fault?: string; optional?: boolean; start?: number; end?: number; status?: number } = {}): string {
    const attrs: Attributes = { [ATTR.point]: point };
    if (opts.fault) attrs[ATTR.fault] = opts.fault;
    if (opts.optional) attrs[ATTR.optional] = true;
    if (opts.status !== undefined) attrs['http.response.status_code'] = opts.status;
    return this.add('client', parent, attrs, opts);
  }
  policy(parent: string, kinds: string, outcome: string, extra: Attributes = {}, opts: { start?: number; end?: number } = {}): string {
    return this.add('internal', parent, { [ATTR.policyKinds]: kinds, [ATTR.policyOutcome]: outcome, ...(outcome === 'fallback' ? { [ATTR.fallback]: true } : {}), ...extra }, { ...opts, name: 'policy p' });
  }
}

const all = (point: string): string[] => MODES.modes.map((m) => faultAtom(point, m));
const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

describe('analyseExecution: supports', () => {
  it('every mode of every call that completed and was used, in a plain chain', () => {
    const t = new Trace();
    const edge = t.server(undefined, 1);
    const c1 = t.client(edge, 'edge->api GET /x');
    const api = t.server(c1, 1);
    t.client(api, 'api->db query');
    const lin = analyseExecution(t.spans, MODES);
    assert.deepEqual(lin.points, ['edge->api GET /x', 'api->db query']);
    assert.deepEqual(sorted(lin.support), sorted([...all('edge->api GET /x'), ...all('api->db query')]));
    assert.equal(lin.hinted.size, 0);
    assert.equal(lin.complete, true);
    assert.deepEqual(lin.calls.map((c) => c.depth), [0, 1]);
    assert.deepEqual(lin.calls[1]!.ancestors, ['edge->api GET /x']);
  });

  it('a call whose injected failure a fallback absorbed: only its other modes stay, the fallback call joins', () => {
    const t = new Trace();
    const edge = t.server(undefined, 2);
    const pol = t.policy(edge, 'fallback,timeout', 'fallback', {}, { start: 0, end: 6 });
    t.client(pol, 'edge->recs GET /r', { error: true, fault: 'error:ECONNREFUSED', start: 0, end: 1 });
    t.client(pol, 'edge->trending GET /t', { start: 2, end: 5 });
    const planned = [{ point: 'edge->recs GET /r', mode: 'error' }];
    const lin = analyseExecution(t.spans, MODES, planned, true);
    assert.deepEqual(
      sorted(lin.support),
      sorted([faultAtom('edge->recs GET /r', '503'), faultAtom('edge->recs GET /r', 'hang'), ...all('edge->trending GET /t')]),
    );
    assert.deepEqual(lin.fired, planned);
    assert.deepEqual(lin.neverFired, []);
    // The failed call is guarded (timeout inside the fallback: a hang is cut too) and absorbed.
    for (const m of MODES.modes) assert.ok(lin.expected.has(faultAtom('edge->recs GET /r', m)), m);
    // The fallback's own call is guarded by nothing above it.
    for (const m of MODES.modes) assert.equal(lin.expected.has(faultAtom('edge->trending GET /t', m)), false, m);
    assert.equal(lin.calls[0]!.faultMode, 'error');
  });

  it('a fallback outside its timeout does not cut a hang: the hang is not expected to be tolerated', () => {
    const t = new Trace();
    const edge = t.server(undefined, 1);
    const pol = t.policy(edge, 'timeout,fallback', 'success');
    t.client(pol, 'edge->x GET /x');
    const lin = analyseExecution(t.spans, MODES);
    assert.ok(lin.expected.has(faultAtom('edge->x GET /x', 'error')));
    assert.ok(lin.expected.has(faultAtom('edge->x GET /x', '503')));
    assert.equal(lin.expected.has(faultAtom('edge->x GET /x', 'hang')), false);
  });

  it("the primary's work thrown away by a fallback did not support the success (precise), but plain lineage keeps it", () => {
    const t = new Trace();
    const edge = t.server(undefined, 3);
    const pol = t.policy(edge, 'fallback', 'fallback', {}, { start: 0, end: 20 });
    t.client(pol, 'edge->a GET /a', { start: 0, end: 4 });
    t.client(pol, 'edge->b GET /b', { start: 5, end: 9, error: true, status: 500 });
    t.client(pol, 'edge->cache get', { start: 10, end: 12 });
    const lin = analyseExecution(t.spans, MODES, [], true);
    for (const a of all('edge->a GET /a')) {
      assert.equal(lin.support.includes(a), false);
      assert.equal(lin.hinted.get(a), 'discarded');
      assert.ok(lin.expected.has(a));
    }
    // b failed without an injected fault (it cascaded): every mode of it stays.
    for (const a of all('edge->b GET /b')) assert.ok(lin.support.includes(a));
    for (const a of all('edge->cache get')) assert.ok(lin.support.includes(a));
    assert.deepEqual(sorted(plainSupport(lin)), sorted([...all('edge->a GET /a'), ...all('edge->b GET /b'), ...all('edge->cache get')]));
  });

  it('an optional call and everything beneath it are hints, not support', () => {
    const t = new Trace();
    const edge = t.server(undefined, 2);
    t.client(edge, 'edge->profiles GET /p');
    const opt = t.client(edge, 'edge->telemetry POST /events', { optional: true });
    const tel = t.server(opt, 1);
    t.client(tel, 'telemetry->queue publish');
    const lin = analyseExecution(t.spans, MODES, [], true);
    assert.deepEqual(sorted(lin.support), sorted(all('edge->profiles GET /p')));
    for (const a of [...all('edge->telemetry POST /events'), ...all('telemetry->queue publish')]) assert.equal(lin.hinted.get(a), 'optional');
    assert.equal(lin.calls.find((c) => c.point === 'telemetry->queue publish')!.loadBearing, false);
  });

  it('a retry that succeeded on another replica: the failed attempt keeps its other modes, the replica supports', () => {
    const t = new Trace();
    const edge = t.server(undefined, 2);
    const pol = t.policy(edge, 'retry', 'success', { [ATTR.retryAttempts]: 2 });
    t.client(pol, 'edge->cache-a get', { error: true, fault: 'status:503', start: 0, end: 1 });
    t.client(pol, 'edge->cache-b get', { start: 2, end: 3 });
    const lin = analyseExecution(t.spans, MODES, [{ point: 'edge->cache-a get', mode: '503' }], true);
    assert.deepEqual(sorted(lin.support), sorted([faultAtom('edge->cache-a get', 'error'), faultAtom('edge->cache-a get', 'hang'), ...all('edge->cache-b get')]));
    // Absorbed: its fast modes are expected to be tolerated; a hang is not (no timeout anywhere).
    assert.equal(lin.expected.get(faultAtom('edge->cache-a get', 'error')), 'absorbed');
    assert.equal(lin.expected.has(faultAtom('edge->cache-a get', 'hang')), false);
  });

  it('a hedged attempt that lost did not support the success', () => {
    const t = new Trace();
    const edge = t.server(undefined, 2);
    const pol = t.policy(edge, 'hedging', 'success', { [ATTR.hedgeWinner]: 1 });
    t.client(pol, 'edge->art-a POST /batch', { start: 0, end: 9 });
    t.client(pol, 'edge->art-b POST /batch', { start: 3, end: 5 });
    const lin = analyseExecution(t.spans, MODES, [], true);
    assert.deepEqual(sorted(lin.support), sorted(all('edge->art-b POST /batch')));
    assert.equal(lin.hinted.get(faultAtom('edge->art-a POST /batch', 'error')), 'hedge-loser');
  });

  it('beneath a failed call nothing supported the success; the failed call keeps every mode when nothing was injected', () => {
    const t = new Trace();
    const edge = t.server(undefined, 1);
    const pol = t.policy(edge, 'fallback', 'fallback', {}, { start: 0, end: 9 });
    const c = t.client(pol, 'edge->api GET /x', { error: true, status: 500, start: 0, end: 5 });
    const api = t.server(c, 2, { error: true });
    t.client(api, 'api->db query', { start: 1, end: 2 });
    t.client(api, 'api->cache get', { error: true, fault: 'error:ECONNREFUSED', start: 2, end: 3 });
    const lin = analyseExecution(t.spans, MODES, [{ point: 'api->cache get', mode: 'error' }], true);
    for (const a of all('edge->api GET /x')) assert.ok(lin.support.includes(a), a);
    for (const a of all('api->db query')) assert.equal(lin.hinted.get(a), 'under-failed-call');
    assert.equal(lin.support.includes(faultAtom('api->cache get', 'error')), false);
  });
});

describe('analyseExecution: planned vs fired', () => {
  it('says which planned faults fired, which never did, and which fired unplanned', () => {
    const t = new Trace();
    const edge = t.server(undefined, 2);
    t.client(edge, 'edge->a GET /a', { error: true, fault: 'error:ECONNREFUSED' });
    t.client(edge, 'edge->z GET /z', { error: true, fault: 'hang' });
    const planned = [
      { point: 'edge->a GET /a', mode: 'error' },
      { point: 'edge->b GET /b', mode: 'hang' },
    ];
    const lin = analyseExecution(t.spans, MODES, planned, false);
    assert.deepEqual(lin.fired, [planned[0]]);
    assert.deepEqual(lin.neverFired, [planned[1]]);
    assert.deepEqual(lin.unplanned, [{ point: 'edge->z GET /z', label: 'hang' }]);
    // Armed atoms are never in the support, fired or not.
    assert.equal(lin.support.includes(faultAtom('edge->a GET /a', 'error')), false);
  });

  it('names the mode of a fault from its label', () => {
    const t = new Trace();
    const edge = t.server(undefined, 1);
    t.client(edge, 'edge->a GET /a', { error: true, fault: 'status:503', status: 503 });
    const lin = analyseExecution(t.spans, MODES, [], false);
    assert.equal(lin.calls[0]!.faultMode, '503');
  });
});

describe('analyseExecution: incomplete traces', () => {
  it('notices a server span that started more calls than arrived', () => {
    const t = new Trace();
    const edge = t.server(undefined, 3);
    t.client(edge, 'edge->a GET /a');
    const lin = analyseExecution(t.spans, MODES);
    assert.equal(lin.complete, false);
    assert.match(lin.problems.join(), /reported 3 calls, 1 arrived/);
  });

  it('counts calls under policy spans, not under the callee', () => {
    const t = new Trace();
    const edge = t.server(undefined, 2);
    const pol = t.policy(edge, 'retry', 'success');
    t.client(pol, 'edge->a GET /a', { error: true });
    const c = t.client(pol, 'edge->a GET /a');
    const a = t.server(c, 1);
    t.client(a, 'a->db query');
    assert.equal(analyseExecution(t.spans, MODES).complete, true);
  });

  it('notices spans whose parent never arrived, and an empty trace', () => {
    const t = new Trace();
    const edge = t.server(undefined, 1);
    t.client(edge, 'edge->a GET /a');
    t.client('00000000000000ff', 'a->db query');
    const lin = analyseExecution(t.spans, MODES);
    assert.equal(lin.complete, false);
    assert.match(lin.problems.join(), /parent never arrived/);
    assert.deepEqual(analyseExecution([], MODES).problems, ['no spans']);
  });
});
