import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  LabcoatInputError,
  PLAN_BAGGAGE_KEY,
  PLAN_MAX_BYTES,
  PLAN_MAX_RULES,
  Baggage,
  compilePlan,
  decodePlan,
  encodePlan,
  encodeBase64url,
  utf8ToBase64url,
  type FaultPlan,
} from '../src/index.js';
import { anyString, RUNS, testMac } from './helpers.js';

const NOW = 1_700_000_000_000;
const plan = (rules: unknown[], extra: Record<string, unknown> = {}): FaultPlan =>
  ({ v: 1, id: 'exp-1', exp: NOW + 60_000, rules, ...extra }) as unknown as FaultPlan;
const rule503 = { match: { target: 'profiles' }, fault: { kind: 'status', status: 503 } };
const point = { caller: 'edge', target: 'profiles', method: 'GET', route: '/profiles/:id' };
const pointIdStr = 'edge->profiles GET /profiles/:id';

/** Expects compilePlan to throw a LabcoatInputError at `where`. */
function refuses(input: unknown, where: string, message?: RegExp): void {
  let err: unknown;
  try {
    compilePlan(input);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof LabcoatInputError, `expected a LabcoatInputError at ${where}, got ${String(err)}`);
  assert.equal(err.where, where);
  assert.ok(err.message.startsWith(`${where}: `), err.message);
  if (message) assert.match(err.message, message);
}

describe('LabcoatInputError', () => {
  it('carries where, name and a message prefixed by where', () => {
    const e = new LabcoatInputError('plan.id', 'bad');
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'LabcoatInputError');
    assert.equal(e.where, 'plan.id');
    assert.equal(e.message, 'plan.id: bad');
  });
});

describe('compilePlan', () => {
  it('compiles a valid plan into matchers and faults', () => {
    const compiled = compilePlan(plan([rule503, { match: { point: pointIdStr }, fault: { kind: 'hang' }, when: { first: 2, p: 0.5 } }]));
    assert.equal(compiled.id, 'exp-1');
    assert.equal(compiled.exp, NOW + 60_000);
    assert.equal(compiled.rules.length, 2);
    const [r0, r1] = compiled.rules;
    assert.ok(r0 && r1);
    assert.equal(r0.index, 0);
    assert.equal(r0.first, Infinity);
    assert.equal(r0.p, 1);
    assert.equal(r0.fault.label, 'status:503');
    assert.equal(r0.matches(point, pointIdStr), true);
    assert.equal(r0.matches({ ...point, target: 'ratings' }, 'x'), false);
    assert.equal(r1.index, 1);
    assert.equal(r1.first, 2);
    assert.equal(r1.p, 0.5);
    assert.equal(r1.fault.kind, 'hang');
    assert.equal(r1.matches(point, pointIdStr), true);
    assert.equal(r1.matches(point, `${pointIdStr}/x`), false);
  });

  it('accepts an empty rule list', () => {
    assert.deepEqual(compilePlan(plan([])).rules, []);
  });

  it('refuses non-objects', () => {
    for (const bad of [null, undefined, 1, 'plan', [], true]) refuses(bad, 'plan');
  });

  it('names plan.v, plan.id, plan.exp and plan.rules', () => {
    refuses(plan([], { v: 2 }), 'plan.v', /expected 1, got 2/);
    refuses({ id: 'x', exp: NOW, rules: [] }, 'plan.v');
    refuses(plan([], { id: '' }), 'plan.id');
    refuses(plan([], { id: 'has space' }), 'plan.id');
    refuses(plan([], { id: 'x'.repeat(65) }), 'plan.id');
    refuses(plan([], { id: 7 }), 'plan.id');
    assert.equal(compilePlan(plan([], { id: 'A.b_c:d-9' })).id, 'A.b_c:d-9');
    assert.equal(compilePlan(plan([], { id: 'x'.repeat(64) })).id.length, 64);
    for (const exp of [0, -1, NaN, Infinity, '1', null]) refuses(plan([], { exp }), 'plan.exp');
    refuses(plan([], { rules: {} }), 'plan.rules');
    refuses(plan([], { rules: undefined }), 'plan.rules');
  });

  it(`accepts ${PLAN_MAX_RULES} rules and refuses more`, () => {
    assert.equal(compilePlan(plan(Array.from({ length: PLAN_MAX_RULES }, () => rule503))).rules.length, PLAN_MAX_RULES);
    refuses(plan(Array.from({ length: PLAN_MAX_RULES + 1 }, () => rule503)), 'plan.rules', /at most 64/);
  });

  it('names the bad rule by index', () => {
    refuses(plan([rule503, null]), 'plan.rules[1]');
    refuses(plan([rule503, rule503, []]), 'plan.rules[2]');
  });

  it('refuses a rule with a missing, non-object or empty match', () => {
    refuses(plan([{ fault: { kind: 'hang' } }]), 'plan.rules[0].match');
    refuses(plan([{ match: 'profiles', fault: { kind: 'hang' } }]), 'plan.rules[0].match');
    refuses(plan([{ match: [], fault: { kind: 'hang' } }]), 'plan.rules[0].match');
    refuses(plan([{ match: {}, fault: { kind: 'hang' } }]), 'plan.rules[0].match', /at least one selector/);
  });

  it('refuses unknown selectors and bad selector values, naming them', () => {
    refuses(plan([{ match: { host: 'x' }, fault: { kind: 'hang' } }]), 'plan.rules[0].match.host', /unknown selector/);
    refuses(plan([{ match: { target: '' }, fault: { kind: 'hang' } }]), 'plan.rules[0].match.target');
    refuses(plan([{ match: { method: 1 }, fault: { kind: 'hang' } }]), 'plan.rules[0].match.method');
    refuses(plan([{ match: { route: 'x'.repeat(513) }, fault: { kind: 'hang' } }]), 'plan.rules[0].match.route');
    refuses(JSON.parse('{"v":1,"id":"a","exp":1,"rules":[{"match":{"__proto__":"x"},"fault":{"kind":"hang"}}]}'), 'plan.rules[0].match.__proto__');
  });

  it('names the fault field that is wrong', () => {
    refuses(plan([rule503, { match: { target: 'x' }, fault: { kind: 'status', status: 700 } }]), 'plan.rules[1].fault.status', /100 to 599, got 700/);
    refuses(plan([{ match: { target: 'x' } }]), 'plan.rules[0].fault');
    refuses(plan([{ match: { target: 'x' }, fault: { kind: 'explode' } }]), 'plan.rules[0].fault.kind', /unknown fault kind "explode"/);
    refuses(plan([{ match: { target: 'x' }, fault: { kind: 'delay', ms: -1 } }]), 'plan.rules[0].fault.ms');
    refuses(plan([{ match: { target: 'x' }, fault: { kind: 'error', delayMs: 1.5 } }]), 'plan.rules[0].fault.delayMs');
  });

  it('validates when.first', () => {
    const withWhen = (when: unknown) => plan([{ ...rule503, when }]);
    for (const first of [0, -1, 1.5, 1_000_001, '2', null]) refuses(withWhen({ first }), 'plan.rules[0].when.first', /integer from 1 to 1000000/);
    assert.equal(compilePlan(withWhen({ first: 1 })).rules[0]?.first, 1);
    assert.equal(compilePlan(withWhen({ first: 1_000_000 })).rules[0]?.first, 1_000_000);
  });

  it('validates when.p', () => {
    const withWhen = (when: unknown) => plan([{ ...rule503, when }]);
    for (const p of [-0.01, 1.01, NaN, Infinity, '0.5', null]) refuses(withWhen({ p }), 'plan.rules[0].when.p', /probability/);
    assert.equal(compilePlan(withWhen({ p: 0 })).rules[0]?.p, 0);
    assert.equal(compilePlan(withWhen({ p: 1 })).rules[0]?.p, 1);
    assert.equal(compilePlan(withWhen({})).rules[0]?.p, 1);
  });

  it('throws only LabcoatInputError, whatever it is given (property)', () => {
    const anything = fc.anything({ withBigInt: true, withBoxedValues: true, withMap: true, withNullPrototype: true, maxDepth: 4 });
    const almostPlan = fc.record(
      {
        v: fc.oneof(fc.constant(1), anything),
        id: fc.oneof(fc.constant('exp-1'), anything),
        exp: fc.oneof(fc.constant(NOW), anything),
        rules: fc.oneof(
          anything,
          fc.array(
            fc.record(
              {
                match: fc.oneof(fc.constant({ target: 'x' }), fc.dictionary(fc.constantFrom('target', 'point', 'host'), anything), anything),
                fault: fc.oneof(fc.constant({ kind: 'hang' }), fc.record({ kind: fc.constantFrom('status', 'delay', 'error', 'hang'), status: anything, ms: anything, code: anything, maxMs: anything, delayMs: anything }, { requiredKeys: ['kind'] }), anything),
                when: anything,
              },
              { requiredKeys: [] },
            ),
            { maxLength: 3 },
          ),
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(anything, almostPlan), (input) => {
        try {
          compilePlan(input);
        } catch (e) {
          assert.ok(e instanceof LabcoatInputError, `${String(e)}`);
          assert.ok(e.message.startsWith(`${e.where}: `));
          assert.match(e.where, /^plan(\.|\[|$)/);
        }
      }),
      RUNS,
    );
  });

  it('describes values JSON cannot show instead of throwing something else', () => {
    refuses(plan([], { v: 1n }), 'plan.v', /got 1n/);
    refuses(plan([], { v: undefined }), 'plan.v', /got nothing/);
  });

  it('refuses a non-object when', () => {
    for (const when of [null, 3, 'first', []]) refuses(plan([{ ...rule503, when }]), 'plan.rules[0].when');
  });
});

describe('encodePlan / decodePlan', () => {
  const mac = testMac('shared-key');

  it('produces v1.<payload>.<mac>, all legal baggage octets', () => {
    const token = encodePlan(plan([rule503]), mac);
    assert.match(token, /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const [, payload] = token.split('.');
    assert.equal(payload, utf8ToBase64url(JSON.stringify(plan([rule503]))));
    // Carried in baggage untouched.
    const carried = Baggage.parse(`other=1,${Baggage.EMPTY.with(PLAN_BAGGAGE_KEY, token).toString()}`);
    assert.equal(carried.getRaw(PLAN_BAGGAGE_KEY), token);
    assert.equal(PLAN_BAGGAGE_KEY, 'labcoat.plan');
  });

  it('round-trips a plan', () => {
    const p = plan([rule503, { match: { caller: 'edge', method: 'get' }, fault: { kind: 'delay', ms: 200, jitterMs: 50 }, when: { first: 1, p: 0.25 } }]);
    const decoded = decodePlan(encodePlan(p, mac), mac, NOW);
    assert.ok(decoded.ok, JSON.stringify(decoded));
    assert.equal(decoded.plan.id, p.id);
    assert.equal(decoded.plan.exp, p.exp);
    assert.equal(decoded.plan.rules.length, 2);
    assert.equal(decoded.plan.rules[1]?.fault.label, 'delay:200ms');
    assert.equal(decoded.plan.rules[1]?.first, 1);
    assert.equal(decoded.plan.rules[1]?.p, 0.25);
    assert.equal(decoded.plan.rules[1]?.matches(point, pointIdStr), true);
  });

  it('round-trips unicode in plan ids-adjacent text (fault body)', () => {
    const p = plan([{ match: { target: 'x' }, fault: { kind: 'status', status: 500, body: '{"msg":"réseau ☃ 😀"}' } }]);
    const decoded = decodePlan(encodePlan(p, mac), mac, NOW);
    assert.ok(decoded.ok);
    const action = decoded.plan.rules[0]?.fault.action(0);
    assert.equal(action?.type, 'respond');
    assert.equal(action?.type === 'respond' ? action.body : '', '{"msg":"réseau ☃ 😀"}');
  });

  it('refuses to encode an invalid plan', () => {
    assert.throws(() => encodePlan(plan([{ match: {}, fault: { kind: 'hang' } }]), mac), (e: unknown) => e instanceof LabcoatInputError && e.where === 'plan.rules[0].match');
  });

  it('refuses to encode a plan whose token would exceed PLAN_MAX_BYTES', () => {
    const big = plan([{ match: { target: 'x' }, fault: { kind: 'status', status: 500, body: 'x'.repeat(PLAN_MAX_BYTES) } }]);
    assert.throws(() => encodePlan(big, mac), /limit is 4096/);
  });

  it('tampered payload → bad-signature, and the payload is never parsed', () => {
    const token = encodePlan(plan([rule503]), mac);
    const [v, payload, sig] = token.split('.') as [string, string, string];
    const other = utf8ToBase64url(JSON.stringify(plan([{ match: { target: '**' }, fault: { kind: 'hang' } }])));
    for (const forged of [`${v}.${other}.${sig}`, `${v}.${payload.slice(0, -1)}${payload.endsWith('A') ? 'B' : 'A'}.${sig}`, `${v}.${payload}x.${sig}`]) {
      const d = decodePlan(forged, mac, NOW);
      assert.equal(d.ok, false);
      assert.equal(d.ok ? '' : d.reason, 'bad-signature');
    }
    // A garbage payload that is nonetheless unsigned is refused for its signature, not its content.
    const d = decodePlan(`v1.!!!notbase64!!!.${sig}`, mac, NOW);
    assert.equal(d.ok ? '' : d.reason, 'bad-signature');
  });

  it('tampered signature → bad-signature', () => {
    const token = encodePlan(plan([rule503]), mac);
    const flipped = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    const d = decodePlan(flipped, mac, NOW);
    assert.equal(d.ok ? '' : d.reason, 'bad-signature');
    const empty = decodePlan(token.slice(0, token.lastIndexOf('.') + 1), mac, NOW);
    assert.equal(empty.ok ? '' : empty.reason, 'bad-signature');
  });

  it('wrong key → bad-signature', () => {
    const token = encodePlan(plan([rule503]), testMac('key-A'));
    const d = decodePlan(token, testMac('key-B'), NOW);
    assert.equal(d.ok ? '' : d.reason, 'bad-signature');
    assert.equal(decodePlan(token, testMac('key-A'), NOW).ok, true);
  });

  it('expired → expired (exp is exclusive)', () => {
    const token = encodePlan(plan([rule503], { exp: NOW }), mac);
    const at = decodePlan(token, mac, NOW);
    assert.equal(at.ok ? '' : at.reason, 'expired');
    assert.match(at.ok ? '' : at.detail, /2023-11-14T22:13:20\.000Z/);
    assert.equal(decodePlan(token, mac, NOW + 1).ok, false);
    assert.equal(decodePlan(token, mac, NOW - 1).ok, true);
  });

  it('oversized token → oversized, without calling the MAC', () => {
    const counting = testMac('shared-key');
    const d = decodePlan(`v1.${'A'.repeat(PLAN_MAX_BYTES)}.sig`, counting, NOW);
    assert.equal(d.ok ? '' : d.reason, 'oversized');
    assert.equal(counting.calls.verify, 0);
    const exactly = `v1.${'A'.repeat(PLAN_MAX_BYTES - 7)}.sig`;
    assert.equal(exactly.length, PLAN_MAX_BYTES);
    const e = decodePlan(exactly, counting, NOW);
    assert.notEqual(e.ok ? '' : e.reason, 'oversized');
  });

  it('garbage → malformed, without calling the MAC', () => {
    const counting = testMac('shared-key');
    for (const garbage of ['', 'v1', 'v1.', 'v1.abc', 'v2.abc.def', 'V1.abc.def', '.abc.def', 'hello world', '{"v":1}']) {
      const d = decodePlan(garbage, counting, NOW);
      assert.equal(d.ok ? '' : d.reason, 'malformed', garbage);
    }
    assert.equal(counting.calls.verify, 0);
  });

  it('signed but not base64url / not UTF-8 / not JSON → malformed', () => {
    const signed = (payload: string) => `v1.${payload}.${mac.sign(`v1.${payload}`)}`;
    const cases = [signed('ab.cd'), signed('Zg=='), signed(encodeBase64url(new Uint8Array([0xff, 0xfe]))), signed(utf8ToBase64url('{not json'))];
    for (const token of cases) {
      const d = decodePlan(token, mac, NOW);
      assert.equal(d.ok ? '' : d.reason, 'malformed', token);
    }
  });

  it('signed, well-formed but invalid plan → invalid, naming the field', () => {
    const payload = utf8ToBase64url(JSON.stringify(plan([{ match: { target: 'x' }, fault: { kind: 'status', status: 99 } }])));
    const token = `v1.${payload}.${mac.sign(`v1.${payload}`)}`;
    const d = decodePlan(token, mac, NOW);
    assert.equal(d.ok ? '' : d.reason, 'invalid');
    assert.match(d.ok ? '' : d.detail, /^plan\.rules\[0\]\.fault\.status: /);
  });

  it('never throws on arbitrary strings (property)', () => {
    const valid = encodePlan(plan([rule503]), mac);
    fc.assert(
      fc.property(
        fc.oneof(
          anyString(200),
          fc.string({ unit: fc.constantFrom('v', '1', '.', 'A', 'Z', '_', '-', 'e', 'y'), maxLength: 80 }),
          // Mutations of a valid token: none of them may decode unless unchanged.
          fc.tuple(fc.nat({ max: valid.length - 1 }), fc.constantFrom('A', 'B', '.', '-', '_', '')).map(([i, c]) => valid.slice(0, i) + c + valid.slice(i + 1)),
        ),
        (s) => {
          const d = decodePlan(s, mac, NOW);
          if (d.ok) assert.equal(s, valid);
          else assert.ok(['oversized', 'malformed', 'bad-signature', 'expired', 'invalid'].includes(d.reason));
        },
      ),
      RUNS,
    );
  });

  it('round-trips generated plans (property)', () => {
    const selectorArb = fc
      .record(
        {
          caller: fc.constantFrom('edge', 'api', '*'),
          target: fc.constantFrom('profiles', 'ratings', 'evcache', '**'),
          method: fc.constantFrom('GET', 'post', 'get'),
          route: fc.constantFrom('/profiles/:id', '/**', '/titles/*'),
        },
        { requiredKeys: [], noNullPrototype: true },
      )
      .filter((m) => Object.keys(m).length > 0);
    const faultArb = fc.oneof(
      fc.record({ kind: fc.constant('status'), status: fc.integer({ min: 100, max: 599 }) }, { noNullPrototype: true }),
      fc.record({ kind: fc.constant('delay'), ms: fc.integer({ min: 0, max: 600_000 }) }, { noNullPrototype: true }),
      fc.record({ kind: fc.constant('error'), code: fc.constantFrom('ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT') }, { noNullPrototype: true }),
      fc.record({ kind: fc.constantFrom('hang', 'reset', 'malformed') }, { noNullPrototype: true }),
    );
    const ruleArb = fc.record(
      { match: selectorArb, fault: faultArb, when: fc.record({ first: fc.integer({ min: 1, max: 5 }), p: fc.double({ min: 0, max: 1, noNaN: true }) }, { requiredKeys: [], noNullPrototype: true }) },
      { requiredKeys: ['match', 'fault'], noNullPrototype: true },
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/), fc.integer({ min: NOW + 1, max: NOW + 1e9 }), fc.array(ruleArb, { maxLength: 6 }), (id, exp, rules) => {
        const p = { v: 1, id, exp, rules } as unknown as FaultPlan;
        const token = encodePlan(p, mac);
        assert.ok(token.length <= PLAN_MAX_BYTES);
        const d = decodePlan(token, mac, NOW);
        assert.ok(d.ok, JSON.stringify(d));
        assert.equal(d.plan.id, id);
        assert.equal(d.plan.exp, exp);
        assert.equal(d.plan.rules.length, rules.length);
        d.plan.rules.forEach((r, i) => {
          const src = rules[i]!;
          assert.equal(r.index, i);
          assert.equal(r.first, src.when?.first ?? Infinity);
          assert.equal(r.p, src.when?.p ?? 1);
          assert.deepEqual(r.fault.spec, src.fault);
        });
        // A different key never accepts it.
        const other = decodePlan(token, testMac('other-key'), NOW);
        assert.equal(other.ok ? '' : other.reason, 'bad-signature');
      }),
      { numRuns: 200 },
    );
  });
});
