import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BAGGAGE_MAX_BYTES, BAGGAGE_MAX_MEMBERS, Baggage } from '../src/index.js';
import { anyString, RUNS, baggageValueArb, tokenArb } from './helpers.js';

const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;

describe('Baggage.parse', () => {
  it('parses simple members and keeps their order', () => {
    const b = Baggage.parse('userId=alice,serverNode=DF%2028,isProduction=false');
    assert.equal(b.size, 3);
    assert.deepEqual(
      b.members.map((m) => m.key),
      ['userId', 'serverNode', 'isProduction'],
    );
    assert.equal(b.get('userId'), 'alice');
    assert.equal(b.get('isProduction'), 'false');
    assert.equal(b.toString(), 'userId=alice,serverNode=DF%2028,isProduction=false');
  });

  it('allows optional whitespace around members, commas, = and ;', () => {
    const b = Baggage.parse(' a = 1 ,\tb=2 ; p1 ; p2 = x\t, c=3');
    assert.equal(b.size, 3);
    assert.equal(b.get('a'), '1');
    assert.equal(b.get('b'), '2');
    assert.equal(b.get('c'), '3');
    assert.deepEqual(
      b.members.map((m) => m.raw),
      ['a = 1', 'b=2 ; p1 ; p2 = x', 'c=3'],
      'raw members are trimmed at the ends only',
    );
  });

  it('reads values of members with properties and keeps the properties in raw', () => {
    const b = Baggage.parse('k=v;p1;p2=x,other=1;flag');
    assert.equal(b.get('k'), 'v');
    assert.equal(b.getRaw('k'), 'v');
    assert.equal(b.members[0]?.raw, 'k=v;p1;p2=x');
    assert.equal(b.get('other'), '1');
    assert.equal(b.toString(), 'k=v;p1;p2=x,other=1;flag');
  });

  it('accepts empty values and = inside values', () => {
    const b = Baggage.parse('empty=,eq=a=b==');
    assert.equal(b.get('empty'), '');
    assert.equal(b.get('eq'), 'a=b==');
  });

  it('drops invalid members and keeps the valid ones', () => {
    const b = Baggage.parse('good=1,noequals,=novalue,bad key=2,k=has space,q="quoted",bs=a\\b,\u00e9=1,v=\u00e9,also=2');
    assert.deepEqual(
      b.members.map((m) => m.key),
      ['good', 'also'],
    );
    assert.equal(b.toString(), 'good=1,also=2');
  });

  it('drops members whose properties do not follow the grammar', () => {
    const b = Baggage.parse('ok=1;p;q=2,badprop=1;has space,badval=1;p=\u20ac,emptykey=1;=x,quote=1;p="x",last=1');
    assert.deepEqual(
      b.members.map((m) => m.key),
      ['ok', 'last'],
    );
  });

  it('drops members with whitespace other than space and tab inside them', () => {
    const b = Baggage.parse('a\u00a0=1,d=1\n;p,e\u2003=1,f=1\u00a0;p,g=1;p\u00a0;q,ok=1');
    assert.deepEqual(
      b.members.map((m) => m.key),
      ['ok'],
    );
    // At the very ends of a member it is trimmed away, so nothing but ASCII is kept.
    assert.equal(Baggage.parse('b=1\u00a0,c=1;p\u00a0').toString(), 'b=1,c=1;p');
  });

  it('tolerates empty list members and trailing commas', () => {
    assert.equal(Baggage.parse(',,a=1,, ,b=2,').toString(), 'a=1,b=2');
  });

  it('joins repeated headers', () => {
    const b = Baggage.parse(['a=1,b=2', 'c=3']);
    assert.equal(b.toString(), 'a=1,b=2,c=3');
    assert.equal(Baggage.parse([]).size, 0);
  });

  it('returns the shared empty baggage for absent, empty and all-invalid input', () => {
    assert.equal(Baggage.parse(undefined), Baggage.EMPTY);
    assert.equal(Baggage.parse(null), Baggage.EMPTY);
    assert.equal(Baggage.parse(''), Baggage.EMPTY);
    assert.equal(Baggage.parse('nope, ,also nope'), Baggage.EMPTY);
    assert.equal(Baggage.EMPTY.size, 0);
    assert.equal(Baggage.EMPTY.toString(), '');
  });

  it('never throws on arbitrary strings (property)', () => {
    fc.assert(
      fc.property(fc.oneof(anyString(200), fc.string({ unit: fc.constantFrom('a', '=', ',', ';', ' ', '%', '\t', '"', 'é'), maxLength: 60 })), (s) => {
        const b = Baggage.parse(s);
        const out = b.toString();
        assert.match(out, /^[\x20-\x7e\t]*$/, 'baggage kept is printable ASCII');
        assert.ok(utf8Bytes(out) <= BAGGAGE_MAX_BYTES);
        assert.ok(b.size <= BAGGAGE_MAX_MEMBERS);
        for (const m of b.members) {
          b.get(m.key);
          b.getRaw(m.key);
        }
        // What survived is itself valid baggage that parses to the same thing.
        assert.equal(Baggage.parse(out).toString(), out);
      }),
      RUNS,
    );
  });
});

describe('Baggage.get / getRaw', () => {
  it('percent-decodes in get() and not in getRaw()', () => {
    const b = Baggage.parse('name=J%C3%BCrgen%20M%2C%3B,plus=a+b');
    assert.equal(b.get('name'), 'Jürgen M,;');
    assert.equal(b.getRaw('name'), 'J%C3%BCrgen%20M%2C%3B');
    assert.equal(b.get('plus'), 'a+b', '+ is not a space in baggage');
  });

  it('returns the raw value when percent-decoding fails', () => {
    const b = Baggage.parse('bad=%E0%A4%A,bad2=100%');
    assert.equal(b.get('bad'), '%E0%A4%A');
    assert.equal(b.get('bad2'), '100%');
  });

  it('returns the first member with a key, and undefined for a missing key', () => {
    const b = Baggage.parse('k=first,k=second');
    assert.equal(b.size, 2);
    assert.equal(b.get('k'), 'first');
    assert.equal(b.getRaw('k'), 'first');
    assert.equal(b.get('missing'), undefined);
    assert.equal(b.getRaw('missing'), undefined);
  });

  it('keys are case-sensitive', () => {
    const b = Baggage.parse('Key=1');
    assert.equal(b.get('key'), undefined);
    assert.equal(b.get('Key'), '1');
  });
});

describe('Baggage.with', () => {
  it('adds a member at the end, percent-encoding the value', () => {
    const b = Baggage.parse('a=1;p,b=2').with('labcoat.plan', 'x y,z;é');
    assert.equal(b.toString(), 'a=1;p,b=2,labcoat.plan=x%20y%2Cz%3B%C3%A9');
    assert.equal(b.get('labcoat.plan'), 'x y,z;é');
    assert.equal(Baggage.parse(b.toString()).get('labcoat.plan'), 'x y,z;é');
  });

  it('replaces every member with the key, keeping the others byte for byte and in order', () => {
    const b = Baggage.parse('k=old;prop,a = 1 ;x,k=older,b=2').with('k', 'new');
    assert.equal(b.toString(), 'a = 1 ;x,b=2,k=new');
    assert.equal(b.get('k'), 'new');
  });

  it('removes the key when the value is undefined', () => {
    const before = Baggage.parse('a=1,k=2,b=3');
    const after = before.with('k', undefined);
    assert.equal(after.toString(), 'a=1,b=3');
    assert.equal(after.get('k'), undefined);
    assert.equal(before.toString(), 'a=1,k=2,b=3', 'the original is unchanged (immutable)');
    assert.equal(Baggage.EMPTY.with('k', undefined).toString(), '');
  });

  it('sets empty values', () => {
    assert.equal(Baggage.EMPTY.with('k', '').toString(), 'k=');
  });

  it('throws TypeError for keys that are not tokens', () => {
    assert.throws(() => Baggage.EMPTY.with('bad key', 'v'), TypeError);
    assert.throws(() => Baggage.EMPTY.with('', 'v'), TypeError);
    assert.throws(() => Baggage.EMPTY.with('a=b', 'v'), TypeError);
  });

  it('round-trips any string value through toString and parse (property)', () => {
    fc.assert(
      fc.property(tokenArb(), fc.string({ unit: 'grapheme', maxLength: 40 }), (key, value) => {
        const text = Baggage.parse('x=1;p').with(key, value).toString();
        const b = Baggage.parse(text);
        assert.equal(b.get(key), value);
        if (key !== 'x') assert.equal(b.members[0]?.raw, 'x=1;p');
      }),
      RUNS,
    );
  });
});

/** A valid list member with optional properties and optional whitespace, as another vendor might send it. */
const memberArb = fc
  .record({
    key: tokenArb(10),
    value: baggageValueArb(12),
    props: fc.array(fc.tuple(tokenArb(6), fc.option(baggageValueArb(6), { nil: undefined })), { maxLength: 3 }),
    ows: fc.constantFrom('', ' ', '\t', ' \t'),
  })
  .map(({ key, value, props, ows }) => {
    let raw = `${key}${ows}=${ows}${value}`;
    for (const [pk, pv] of props) raw += `${ows};${ows}${pk}${pv === undefined ? '' : `${ows}=${ows}${pv}`}`;
    // A member ending in OWS (empty value or property) is kept without it: OWS is not part of the member.
    return { key, raw: raw.trimEnd() };
  });

describe('Baggage: members we do not own', () => {
  it('are kept byte for byte and in order through parse then toString (property)', () => {
    fc.assert(
      fc.property(fc.array(memberArb, { minLength: 1, maxLength: 20 }), fc.constantFrom(',', ', ', ' ,\t'), (members, sep) => {
        const header = members.map((m) => m.raw).join(sep);
        const b = Baggage.parse(header);
        assert.deepEqual(
          b.members.map((m) => m.raw),
          members.map((m) => m.raw),
        );
        assert.deepEqual(
          b.members.map((m) => m.key),
          members.map((m) => m.key),
        );
        assert.equal(b.toString(), members.map((m) => m.raw).join(','));
      }),
      RUNS,
    );
  });

  it('survive setting and removing a labcoat member (property)', () => {
    fc.assert(
      fc.property(fc.array(memberArb, { minLength: 0, maxLength: 20 }), baggageValueArb(30), (members, plan) => {
        const foreign = members.filter((m) => m.key !== 'labcoat.plan');
        const header = foreign.map((m) => m.raw).join(',');
        const withPlan = Baggage.parse(header).with('labcoat.plan', plan);
        const again = Baggage.parse(withPlan.toString());
        assert.equal(again.get('labcoat.plan'), decodeURIComponent(encodeURIComponent(plan)));
        assert.equal(again.with('labcoat.plan', undefined).toString(), header);
      }),
      RUNS,
    );
  });
});

describe('Baggage limits', () => {
  it('exports the spec limits', () => {
    assert.equal(BAGGAGE_MAX_BYTES, 8192);
    assert.equal(BAGGAGE_MAX_MEMBERS, 180);
  });

  it('round-trips at least 64 members of normal size', () => {
    const members = Array.from({ length: 64 }, (_, i) => `member${i}=${'v'.repeat(40)}${i};prop${i}=x`);
    const header = members.join(',');
    assert.ok(header.length < BAGGAGE_MAX_BYTES);
    const b = Baggage.parse(header);
    assert.equal(b.size, 64);
    assert.equal(b.toString(), header);
  });

  it('keeps 180 members and drops those beyond, whole', () => {
    const members = Array.from({ length: 200 }, (_, i) => `k${i}=${i}`);
    const b = Baggage.parse(members.join(','));
    assert.equal(b.size, 180);
    assert.equal(b.toString(), members.slice(0, 180).join(','));
    assert.equal(b.get('k179'), '179');
    assert.equal(b.get('k180'), undefined);
  });

  it('counts only valid members toward the member limit', () => {
    const members = Array.from({ length: 180 }, (_, i) => `k${i}=${i}`);
    const b = Baggage.parse(['bad member', ...members].join(','));
    assert.equal(b.size, 180);
  });

  it('keeps at most 8192 bytes and never cuts a member', () => {
    const members = Array.from({ length: 100 }, (_, i) => `k${String(i).padStart(3, '0')}=${'x'.repeat(95)}`); // 100 bytes each
    const b = Baggage.parse(members.join(','));
    const out = b.toString();
    assert.ok(out.length <= BAGGAGE_MAX_BYTES, `${out.length} bytes`);
    // 81 members take 81*100 + 80 commas = 8180 bytes; an 82nd would exceed 8192.
    assert.equal(b.size, 81);
    assert.equal(out, members.slice(0, 81).join(','));
    for (const m of Baggage.parse(out).members) assert.match(m.raw, /^k\d{3}=x{95}$/);
  });

  it('accepts a header of exactly 8192 bytes', () => {
    const filler = 'x'.repeat(BAGGAGE_MAX_BYTES - 2);
    const header = `a=${filler}`;
    assert.equal(header.length, BAGGAGE_MAX_BYTES);
    assert.equal(Baggage.parse(header).toString(), header);
    assert.equal(Baggage.parse(`${header}x`).size, 0, 'one byte more: dropped whole');
  });

  it('drops an oversized member whole but keeps smaller ones after it', () => {
    const big = `big=${'x'.repeat(BAGGAGE_MAX_BYTES)}`;
    const b = Baggage.parse(`a=1,${big},c=3`);
    assert.equal(b.toString(), 'a=1,c=3');
  });

  it('toString drops members that with() would push past 8192 bytes, whole', () => {
    const nearlyFull = `a=${'x'.repeat(BAGGAGE_MAX_BYTES - 10)}`;
    const b = Baggage.parse(nearlyFull).with('labcoat.plan', 'v1.long-enough-to-overflow');
    assert.equal(b.size, 2);
    assert.equal(b.toString(), nearlyFull);
  });

  it('never produces more than 8192 bytes or 180 members (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ key: tokenArb(8), len: fc.integer({ min: 0, max: 400 }) }).map(({ key, len }) => `${key}=${'v'.repeat(len)}`),
          { maxLength: 250 },
        ),
        (members) => {
          const b = Baggage.parse(members.join(','));
          const out = b.toString();
          assert.ok(out.length <= BAGGAGE_MAX_BYTES);
          assert.ok(b.size <= BAGGAGE_MAX_MEMBERS);
          // Every member kept is one that was sent, whole, and in the original order.
          let from = 0;
          for (const m of b.members) {
            const at = members.indexOf(m.raw, from);
            assert.ok(at >= from, `member ${m.raw.slice(0, 20)} kept whole and in order`);
            from = at + 1;
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
