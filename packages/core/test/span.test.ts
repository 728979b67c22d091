import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ATTR, buildTraceTree, fromOtlpJson, toOtlpJson, type Attributes, type SpanData, type SpanEvent, type SpanKind, type SpanNode } from '../src/index.js';
import { RUNS, spanIdArb, traceIdArb } from './helpers.js';

const TID = '4bf92f3577b34da6a3ce929d0e0e4736';
const span = (over: Partial<SpanData> & { spanId: string }): SpanData => ({
  traceId: TID,
  name: 'op',
  kind: 'internal',
  service: 'svc',
  startMs: 1_700_000_000_000,
  endMs: 1_700_000_000_010,
  status: { code: 'unset' },
  attributes: {},
  ...over,
});
/** Through JSON, as a collector would receive it. */
const wire = (spans: readonly SpanData[]) => JSON.parse(JSON.stringify(toOtlpJson(spans))) as unknown;

/** The error thrown by fn, with its `where`. */
function failure(fn: () => unknown): { where: string; message: string; name: string } {
  try {
    fn();
  } catch (e) {
    const err = e as Error & { where: string };
    return { where: err.where, message: err.message, name: err.name };
  }
  assert.fail('expected an error');
}

describe('toOtlpJson', () => {
  it('encodes the OTLP/HTTP JSON shape: hex ids, numeric kind and status, string nanos, typed attributes', () => {
    const s = span({
      spanId: '00f067aa0ba902b7',
      parentSpanId: '1111111111111111',
      name: 'GET /profiles/:id',
      kind: 'client',
      service: 'edge',
      startMs: 1_700_000_000_123.375,
      endMs: 1_700_000_000_124.5,
      status: { code: 'error', message: 'boom' },
      attributes: { [ATTR.point]: 'edge->profiles GET /profiles/:id', [ATTR.attempt]: 2, ratio: 0.25, [ATTR.optional]: true, tags: ['a', 'b'] },
      events: [{ name: 'labcoat.fault', timeMs: 1_700_000_000_123.75, attributes: { [ATTR.fault]: 'status:503' } }],
    });
    const out = toOtlpJson([s]) as any;
    assert.equal(out.resourceSpans.length, 1);
    const rs = out.resourceSpans[0];
    assert.deepEqual(rs.resource.attributes, [{ key: 'service.name', value: { stringValue: 'edge' } }]);
    assert.deepEqual(rs.scopeSpans[0].scope, { name: 'labcoat', version: '0.1.0' });
    const o = rs.scopeSpans[0].spans[0];
    assert.equal(o.traceId, TID);
    assert.equal(o.spanId, '00f067aa0ba902b7');
    assert.equal(o.parentSpanId, '1111111111111111');
    assert.equal(o.kind, 3);
    assert.equal(o.startTimeUnixNano, '1700000000123375000');
    assert.equal(o.endTimeUnixNano, '1700000000124500000');
    assert.deepEqual(o.status, { code: 2, message: 'boom' });
    assert.deepEqual(o.attributes, [
      { key: 'labcoat.point', value: { stringValue: 'edge->profiles GET /profiles/:id' } },
      { key: 'labcoat.attempt', value: { intValue: '2' } },
      { key: 'ratio', value: { doubleValue: 0.25 } },
      { key: 'labcoat.optional', value: { boolValue: true } },
      { key: 'tags', value: { arrayValue: { values: [{ stringValue: 'a' }, { stringValue: 'b' }] } } },
    ]);
    assert.deepEqual(o.events, [{ name: 'labcoat.fault', timeUnixNano: '1700000000123750000', attributes: [{ key: 'labcoat.fault', value: { stringValue: 'status:503' } }] }]);
  });

  it('maps every kind and status code to its OTLP number', () => {
    const kinds: [SpanKind, number][] = [
      ['internal', 1],
      ['server', 2],
      ['client', 3],
      ['producer', 4],
      ['consumer', 5],
    ];
    for (const [kind, n] of kinds) assert.equal((toOtlpJson([span({ spanId: '1'.repeat(16), kind })]) as any).resourceSpans[0].scopeSpans[0].spans[0].kind, n);
    const codes: [SpanData['status']['code'], number][] = [
      ['unset', 0],
      ['ok', 1],
      ['error', 2],
    ];
    for (const [code, n] of codes) assert.deepEqual((toOtlpJson([span({ spanId: '1'.repeat(16), status: { code } })]) as any).resourceSpans[0].scopeSpans[0].spans[0].status, { code: n });
  });

  it('groups spans into one resource per service, in order of first appearance', () => {
    const out = toOtlpJson([span({ spanId: '1'.repeat(16), service: 'a' }), span({ spanId: '2'.repeat(16), service: 'b' }), span({ spanId: '3'.repeat(16), service: 'a' })]) as any;
    assert.deepEqual(
      out.resourceSpans.map((r: any) => [r.resource.attributes[0].value.stringValue, r.scopeSpans[0].spans.map((s: any) => s.spanId[0])]),
      [
        ['a', ['1', '3']],
        ['b', ['2']],
      ],
    );
  });

  it('omits parentSpanId for roots and events when there are none, and accepts a custom scope', () => {
    const out = toOtlpJson([span({ spanId: '1'.repeat(16), events: [] })], { name: 'x', version: '9' }) as any;
    const o = out.resourceSpans[0].scopeSpans[0].spans[0];
    assert.equal('parentSpanId' in o, false);
    assert.equal('events' in o, false);
    assert.deepEqual(out.resourceSpans[0].scopeSpans[0].scope, { name: 'x', version: '9' });
    assert.deepEqual(toOtlpJson([]), { resourceSpans: [] });
  });

  it('carries sub-millisecond precision exactly for times representable in binary', () => {
    const s = span({ spanId: '1'.repeat(16), startMs: 1_700_000_000_000.5, endMs: 1_700_000_000_000.25 + 1 });
    const o = (toOtlpJson([s]) as any).resourceSpans[0].scopeSpans[0].spans[0];
    assert.equal(o.startTimeUnixNano, '1700000000000500000');
    assert.equal(o.endTimeUnixNano, '1700000000001250000');
    const back = fromOtlpJson(wire([s]))[0]!;
    assert.equal(back.startMs, s.startMs);
    assert.equal(back.endMs, s.endMs);
  });
});

describe('fromOtlpJson', () => {
  it('round-trips a span with every attribute type, events, status and kind', () => {
    const s = span({
      spanId: '00f067aa0ba902b7',
      parentSpanId: 'abcdefabcdefabcd',
      name: 'GET /profiles/:id',
      kind: 'server',
      service: 'profiles',
      startMs: 1_700_000_000_123.456,
      endMs: 1_700_000_000_223.789,
      status: { code: 'ok' },
      attributes: { s: 'str', i: -42, big: 2 ** 40, d: 3.5, neg: -0.125, t: true, f: false, arr: ['x', '', 'z'], empty: [] },
      events: [
        { name: 'e1', timeMs: 1_700_000_000_150.001, attributes: { k: 'v', n: 1 } },
        { name: 'e2', timeMs: 1_700_000_000_151, attributes: {} },
      ],
    });
    const [back] = fromOtlpJson(wire([s]));
    assert.ok(back);
    assert.deepEqual({ ...back, startMs: 0, endMs: 0, events: undefined }, { ...s, startMs: 0, endMs: 0, events: undefined });
    assert.ok(Math.abs(back.startMs - s.startMs) < 1e-3);
    assert.ok(Math.abs(back.endMs - s.endMs) < 1e-3);
    assert.ok(Math.abs(back.endMs - back.startMs - 100.333) < 1e-3, 'sub-millisecond durations survive');
    assert.equal(back.events?.length, 2);
    assert.deepEqual(back.events?.[0]?.attributes, { k: 'v', n: 1 });
    assert.ok(Math.abs((back.events?.[0]?.timeMs ?? 0) - 1_700_000_000_150.001) < 1e-3);
  });

  it('round-trips generated spans (property)', () => {
    const attrValue = fc.oneof(
      fc.string({ maxLength: 10 }),
      fc.integer({ min: -1e9, max: 1e9 }),
      fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).filter((d) => !Object.is(d, -0)),
      fc.boolean(),
      fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
    );
    const attrs = fc.dictionary(fc.stringMatching(/^[a-z][a-z._]{0,10}$/), attrValue, { maxKeys: 5, noNullPrototype: true });
    // Epoch-scale times in ms with microsecond fractions (a double holds ~0.24 µs at this scale).
    const time = fc.integer({ min: 1_600_000_000_000_000, max: 1_900_000_000_000_000 }).map((us) => us / 1000);
    const event = fc.record({ name: fc.string({ maxLength: 8 }), timeMs: time, attributes: attrs }, { noNullPrototype: true });
    const spanArb = fc.record(
      {
        traceId: traceIdArb,
        spanId: spanIdArb,
        parentSpanId: fc.option(spanIdArb, { nil: undefined }),
        name: fc.string({ maxLength: 20 }),
        kind: fc.constantFrom<SpanKind>('internal', 'server', 'client', 'producer', 'consumer'),
        service: fc.constantFrom('edge', 'profiles', 'ratings'),
        startMs: time,
        durUs: fc.integer({ min: 0, max: 10_000_000 }),
        status: fc.oneof(
          fc.constant({ code: 'unset' as const }),
          fc.constant({ code: 'ok' as const }),
          fc.string({ minLength: 1, maxLength: 10 }).map((message) => ({ code: 'error' as const, message })),
        ),
        attributes: attrs,
        events: fc.option(fc.array(event, { minLength: 1, maxLength: 3 }), { nil: undefined }),
      },
      { noNullPrototype: true },
    );
    fc.assert(
      fc.property(fc.array(spanArb, { maxLength: 6 }), (raw) => {
        const spans: SpanData[] = raw.map(({ durUs, parentSpanId, events, ...s }) => ({
          ...s,
          endMs: s.startMs + durUs / 1000,
          ...(parentSpanId ? { parentSpanId } : {}),
          ...(events ? { events } : {}),
        }));
        const back = fromOtlpJson(wire(spans));
        // Spans come back grouped by service (one resource each), otherwise in order.
        const services = [...new Set(spans.map((s) => s.service))];
        const expected = services.flatMap((svc) => spans.filter((s) => s.service === svc));
        assert.equal(back.length, expected.length);
        back.forEach((b, i) => {
          const e = expected[i]!;
          const strip = (x: SpanData) => ({ ...x, startMs: 0, endMs: 0, events: x.events?.map((ev: SpanEvent) => ({ ...ev, timeMs: 0 })) });
          assert.deepEqual(strip(b), strip(e));
          assert.ok(Math.abs(b.startMs - e.startMs) <= 5e-4, `start ${b.startMs} vs ${e.startMs}`);
          assert.ok(Math.abs(b.endMs - e.endMs) <= 5e-4, `end ${b.endMs} vs ${e.endMs}`);
          b.events?.forEach((ev, j) => assert.ok(Math.abs(ev.timeMs - e.events![j]!.timeMs) <= 5e-4));
        });
      }),
      { numRuns: 200 },
    );
  });

  it('reads upper-case hex ids, lower-casing them', () => {
    const body = { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: TID.toUpperCase(), spanId: 'ABCDEFABCDEFABCD', parentSpanId: '0123456789ABCDEF', startTimeUnixNano: '1', endTimeUnixNano: '2' }] }] }] };
    const [s] = fromOtlpJson(body);
    assert.equal(s?.traceId, TID);
    assert.equal(s?.spanId, 'abcdefabcdefabcd');
    assert.equal(s?.parentSpanId, '0123456789abcdef');
  });

  it('fills defaults: unknown_service, internal kind, unset status, empty name', () => {
    const body = { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: TID, spanId: '1'.repeat(16), startTimeUnixNano: 1_000_000, endTimeUnixNano: '2000000', parentSpanId: '' }] }] }] };
    const [s] = fromOtlpJson(body);
    assert.deepEqual(s, { traceId: TID, spanId: '1'.repeat(16), name: '', kind: 'internal', service: 'unknown_service', startMs: 1, endMs: 2, status: { code: 'unset' }, attributes: {} });
  });

  it('accepts enum names for status codes and ignores unknown kinds', () => {
    const mk = (status: unknown, kind: unknown) => fromOtlpJson({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: TID, spanId: '1'.repeat(16), startTimeUnixNano: '0', endTimeUnixNano: '0', status, kind }] }] }] })[0]!;
    assert.equal(mk({ code: 'STATUS_CODE_ERROR', message: 'x' }, 2).status.code, 'error');
    assert.equal(mk({ code: 'STATUS_CODE_OK' }, 2).status.code, 'ok');
    assert.equal(mk({ code: 7 }, 2).status.code, 'unset');
    assert.equal(mk(undefined, 9).kind, 'internal');
    assert.equal(mk(undefined, 'SPAN_KIND_SERVER').kind, 'internal');
    assert.equal(mk(undefined, 5).kind, 'consumer');
  });

  it('skips attributes it cannot read and reads intValue given as a number', () => {
    const attributes = [{ key: 'ok', value: { stringValue: 'v' } }, { key: 'n', value: { intValue: 7 } }, { key: 'nothing', value: {} }, { value: { stringValue: 'no key' } }, null, { key: 'kv', value: { kvlistValue: { values: [] } } }];
    const [s] = fromOtlpJson({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: TID, spanId: '1'.repeat(16), startTimeUnixNano: '0', endTimeUnixNano: '0', attributes }] }] }] });
    assert.deepEqual(s?.attributes, { ok: 'v', n: 7 });
  });

  it('tolerates scopeSpans without spans and empty resourceSpans', () => {
    assert.deepEqual(fromOtlpJson({ resourceSpans: [] }), []);
    assert.deepEqual(fromOtlpJson({ resourceSpans: [{ scopeSpans: [{}, { spans: [] }] }] }), []);
  });

  it('names the path of the bad span in errors', () => {
    const good = { traceId: TID, spanId: '1'.repeat(16), startTimeUnixNano: '1', endTimeUnixNano: '2' };
    const body = (bad: Record<string, unknown>) => ({ resourceSpans: [{ scopeSpans: [{ spans: [good] }] }, { scopeSpans: [{ spans: [] }, { spans: [good, bad] }] }] });
    const at = 'resourceSpans[1].scopeSpans[1].spans[1]';
    const cases: [Record<string, unknown>, string][] = [
      [{ ...good, traceId: 'xyz' }, `${at}.traceId`],
      [{ ...good, traceId: TID.slice(1) }, `${at}.traceId`],
      [{ ...good, traceId: undefined }, `${at}.traceId`],
      [{ ...good, spanId: '1'.repeat(15) }, `${at}.spanId`],
      [{ ...good, spanId: 42 }, `${at}.spanId`],
      [{ ...good, parentSpanId: 'nope' }, `${at}.parentSpanId`],
      [{ ...good, parentSpanId: 7 }, `${at}.parentSpanId`],
      [{ ...good, startTimeUnixNano: 'soon' }, at],
      [{ ...good, endTimeUnixNano: '-5' }, at],
      [{ ...good, endTimeUnixNano: undefined }, at],
    ];
    for (const [bad, where] of cases) {
      const f = failure(() => fromOtlpJson(body(bad)));
      assert.equal(f.where, where, JSON.stringify(bad));
      assert.ok(f.message.startsWith(`${where}: `), f.message);
      assert.equal(f.name, 'LabcoatInputError');
    }
    assert.equal(failure(() => fromOtlpJson({ resourceSpans: [{ scopeSpans: [{ spans: [good, null] }] }] })).where, 'resourceSpans[0].scopeSpans[0].spans[1]');
  });

  it('names the bad container', () => {
    assert.equal(failure(() => fromOtlpJson(null)).where, 'body');
    assert.equal(failure(() => fromOtlpJson('spans')).where, 'body');
    assert.equal(failure(() => fromOtlpJson({})).where, 'resourceSpans');
    assert.equal(failure(() => fromOtlpJson({ resourceSpans: {} })).where, 'resourceSpans');
    assert.equal(failure(() => fromOtlpJson({ resourceSpans: [{ scopeSpans: [] }, {}] })).where, 'resourceSpans[1].scopeSpans');
    assert.equal(failure(() => fromOtlpJson({ resourceSpans: [null] })).where, 'resourceSpans[0].scopeSpans');
    assert.equal(failure(() => fromOtlpJson({ resourceSpans: [{ scopeSpans: [{ spans: 'x' }] }] })).where, 'resourceSpans[0].scopeSpans[0].spans');
  });

  it('throws only errors with a where on arbitrary JSON (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (body) => {
        try {
          fromOtlpJson(body);
        } catch (e) {
          assert.equal((e as Error).name, 'LabcoatInputError');
          assert.equal(typeof (e as { where?: unknown }).where, 'string');
        }
      }),
      RUNS,
    );
  });
});

/** Every span in the forest, depth first; fails on a cycle. */
function flatten(roots: readonly SpanNode[]): string[] {
  const out: string[] = [];
  const onPath = new Set<SpanNode>();
  const walk = (n: SpanNode) => {
    assert.ok(!onPath.has(n), `cycle at ${n.span.spanId}`);
    onPath.add(n);
    out.push(n.span.spanId);
    n.children.forEach(walk);
    onPath.delete(n);
  };
  roots.forEach(walk);
  return out;
}

describe('buildTraceTree', () => {
  const id = (n: number) => n.toString(16).padStart(16, '0');

  it('builds parent/child trees with children ordered by start time', () => {
    const spans = [
      span({ spanId: id(3), parentSpanId: id(1), name: 'late child', startMs: 30 }),
      span({ spanId: id(1), name: 'root', startMs: 0 }),
      span({ spanId: id(2), parentSpanId: id(1), name: 'early child', startMs: 10 }),
      span({ spanId: id(4), parentSpanId: id(2), name: 'grandchild', startMs: 12 }),
    ];
    const roots = buildTraceTree(spans);
    assert.equal(roots.length, 1);
    const root = roots[0]!;
    assert.equal(root.span.name, 'root');
    assert.deepEqual(
      root.children.map((c) => c.span.name),
      ['early child', 'late child'],
    );
    assert.deepEqual(
      root.children[0]!.children.map((c) => c.span.name),
      ['grandchild'],
    );
    assert.deepEqual(root.children[1]!.children, []);
  });

  it('makes orphan spans (parent never arrived) extra roots, ordered by start', () => {
    const spans = [
      span({ spanId: id(1), name: 'root', startMs: 5 }),
      span({ spanId: id(2), parentSpanId: id(99), name: 'orphan', startMs: 1 }),
      span({ spanId: id(3), parentSpanId: id(2), name: 'orphan child', startMs: 2 }),
    ];
    const roots = buildTraceTree(spans);
    assert.deepEqual(
      roots.map((r) => r.span.name),
      ['orphan', 'root'],
    );
    assert.deepEqual(
      roots[0]!.children.map((c) => c.span.name),
      ['orphan child'],
    );
  });

  it('returns nothing for no spans', () => {
    assert.deepEqual(buildTraceTree([]), []);
  });

  it('keeps spans whose parent links form a cycle, as roots, without cycles', () => {
    const self = buildTraceTree([span({ spanId: id(1), parentSpanId: id(1) })]);
    assert.deepEqual(flatten(self), [id(1)]);
    const loop = buildTraceTree([
      span({ spanId: id(1), name: 'root', startMs: 0 }),
      span({ spanId: id(2), parentSpanId: id(3), startMs: 2 }),
      span({ spanId: id(3), parentSpanId: id(2), startMs: 3 }),
      span({ spanId: id(4), parentSpanId: id(3), startMs: 4 }),
    ]);
    assert.deepEqual(flatten(loop).sort(), [id(1), id(2), id(3), id(4)]);
    assert.equal(loop.length, 2);
  });

  it('contains every span exactly once, acyclic, with each child under its parent (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }).chain((n) =>
          fc.tuple(
            fc.constant(n),
            fc.array(fc.option(fc.integer({ min: 0, max: n + 5 }), { nil: undefined }), { minLength: n, maxLength: n }),
            fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: n, maxLength: n }),
          ),
        ),
        ([n, parents, starts]) => {
          const spans = Array.from({ length: n }, (_, i) =>
            span({ spanId: id(i + 1), ...(parents[i] !== undefined ? { parentSpanId: id(parents[i]! + 1) } : {}), startMs: starts[i]! }),
          );
          const roots = buildTraceTree(spans);
          const all = flatten(roots);
          assert.deepEqual([...all].sort(), spans.map((s) => s.spanId).sort());
          const check = (node: SpanNode) => {
            for (let k = 1; k < node.children.length; k++) assert.ok(node.children[k - 1]!.span.startMs <= node.children[k]!.span.startMs);
            for (const c of node.children) {
              assert.equal(c.span.parentSpanId, node.span.spanId);
              check(c);
            }
          };
          roots.forEach(check);
          // A span with no parent id, or a parent id that is not in the trace, is always a root.
          const ids = new Set(spans.map((s) => s.spanId));
          for (const s of spans) {
            if (!s.parentSpanId || !ids.has(s.parentSpanId)) assert.ok(roots.some((r) => r.span === s));
          }
        },
      ),
      RUNS,
    );
  });
});

// Type-level check that Attributes accepts every documented value type.
const _attrs: Attributes = { s: 's', n: 1, b: true, a: ['x'] };
void _attrs;
