import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatTraceparent, isValidSpanId, isValidTraceId, normalizeTracestate, parseTraceparent } from '../src/index.js';
import { anyString, RUNS, spanIdArb, traceIdArb } from './helpers.js';

const TID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SID = '00f067aa0ba902b7';

describe('parseTraceparent', () => {
  it('parses the spec example', () => {
    assert.deepEqual(parseTraceparent(`00-${TID}-${SID}-01`), { traceId: TID, spanId: SID, flags: 1 });
  });

  it('reads flags as a hex byte (sampled and unsampled, other bits kept)', () => {
    assert.equal(parseTraceparent(`00-${TID}-${SID}-00`)?.flags, 0);
    assert.equal(parseTraceparent(`00-${TID}-${SID}-09`)?.flags, 9);
    assert.equal(parseTraceparent(`00-${TID}-${SID}-ff`)?.flags, 255);
  });

  it('tolerates surrounding whitespace', () => {
    assert.deepEqual(parseTraceparent(`  00-${TID}-${SID}-01\t`), { traceId: TID, spanId: SID, flags: 1 });
  });

  it('rejects all-zero trace id and all-zero span id', () => {
    assert.equal(parseTraceparent(`00-${'0'.repeat(32)}-${SID}-01`), undefined);
    assert.equal(parseTraceparent(`00-${TID}-${'0'.repeat(16)}-01`), undefined);
  });

  it('rejects uppercase hex anywhere', () => {
    assert.equal(parseTraceparent(`00-${TID.toUpperCase()}-${SID}-01`), undefined);
    assert.equal(parseTraceparent(`00-${TID}-${SID.toUpperCase()}-01`), undefined);
    assert.equal(parseTraceparent(`00-${TID}-${SID}-0A`), undefined);
    assert.equal(parseTraceparent(`0A-${TID}-${SID}-01`), undefined);
  });

  it('rejects version ff', () => {
    assert.equal(parseTraceparent(`ff-${TID}-${SID}-01`), undefined);
  });

  it('rejects version 00 with extra fields (or even a trailing dash)', () => {
    assert.equal(parseTraceparent(`00-${TID}-${SID}-01-extra`), undefined);
    assert.equal(parseTraceparent(`00-${TID}-${SID}-01-`), undefined);
  });

  it('accepts future versions, reading the first four fields and ignoring the rest', () => {
    assert.deepEqual(parseTraceparent(`cc-${TID}-${SID}-01-what-the-future-will-be-like`), { traceId: TID, spanId: SID, flags: 1 });
    assert.deepEqual(parseTraceparent(`01-${TID}-${SID}-00`), { traceId: TID, spanId: SID, flags: 0 });
  });

  it('rejects future versions whose extra part does not start with a dash', () => {
    assert.equal(parseTraceparent(`cc-${TID}-${SID}-01x`), undefined);
    assert.equal(parseTraceparent(`cc-${TID}-${SID}-011`), undefined);
  });

  it('rejects wrong lengths, wrong separators and non-hex', () => {
    for (const bad of [
      `00-${TID.slice(1)}-${SID}-01`,
      `00-${TID}0-${SID}-01`,
      `00-${TID}-${SID.slice(1)}-01`,
      `00-${TID}-${SID}0-01`,
      `00-${TID}-${SID}-1`,
      `0-${TID}-${SID}-01`,
      `00_${TID}_${SID}_01`,
      `00-${TID.slice(0, 31)}g-${SID}-01`,
      `00-${TID}-${SID}-0g`,
      '',
      '00',
    ]) {
      assert.equal(parseTraceparent(bad), undefined, bad);
    }
  });

  it('rejects undefined, null, non-strings and oversized input', () => {
    assert.equal(parseTraceparent(undefined), undefined);
    assert.equal(parseTraceparent(null), undefined);
    assert.equal(parseTraceparent(42 as unknown as string), undefined);
    assert.equal(parseTraceparent(`cc-${TID}-${SID}-01-${'x'.repeat(600)}`), undefined);
  });

  it('never throws on arbitrary strings and only returns valid contexts (property)', () => {
    fc.assert(
      fc.property(anyString(80), (s) => {
        const ctx = parseTraceparent(s);
        if (ctx !== undefined) {
          assert.ok(isValidTraceId(ctx.traceId));
          assert.ok(isValidSpanId(ctx.spanId));
          assert.ok(ctx.flags >= 0 && ctx.flags <= 255);
        }
      }),
      RUNS,
    );
  });
});

describe('formatTraceparent', () => {
  it('formats version 00 with two-digit lowercase flags', () => {
    assert.equal(formatTraceparent({ traceId: TID, spanId: SID, flags: 1 }), `00-${TID}-${SID}-01`);
    assert.equal(formatTraceparent({ traceId: TID, spanId: SID, flags: 0 }), `00-${TID}-${SID}-00`);
    assert.equal(formatTraceparent({ traceId: TID, spanId: SID, flags: 0xab }), `00-${TID}-${SID}-ab`);
  });

  it('keeps only the low byte of flags', () => {
    assert.equal(formatTraceparent({ traceId: TID, spanId: SID, flags: 0x101 }), `00-${TID}-${SID}-01`);
  });

  it('format then parse is the identity on valid contexts (property)', () => {
    fc.assert(
      fc.property(traceIdArb, spanIdArb, fc.integer({ min: 0, max: 255 }), (traceId, spanId, flags) => {
        const ctx = { traceId, spanId, flags };
        const header = formatTraceparent(ctx);
        assert.equal(header.length, 55);
        assert.deepEqual(parseTraceparent(header), ctx);
      }),
      RUNS,
    );
  });

  it('parse then format is the identity on valid version-00 headers (property)', () => {
    fc.assert(
      fc.property(traceIdArb, spanIdArb, fc.integer({ min: 0, max: 255 }), (traceId, spanId, flags) => {
        const header = `00-${traceId}-${spanId}-${flags.toString(16).padStart(2, '0')}`;
        const ctx = parseTraceparent(header);
        assert.ok(ctx);
        assert.equal(formatTraceparent(ctx), header);
      }),
      RUNS,
    );
  });
});

describe('isValidTraceId / isValidSpanId', () => {
  it('accept lowercase non-zero hex of the right length only', () => {
    assert.ok(isValidTraceId(TID));
    assert.ok(!isValidTraceId('0'.repeat(32)));
    assert.ok(!isValidTraceId(TID.toUpperCase()));
    assert.ok(!isValidTraceId(TID.slice(1)));
    assert.ok(!isValidTraceId(`${TID}0`));
    assert.ok(isValidSpanId(SID));
    assert.ok(!isValidSpanId('0'.repeat(16)));
    assert.ok(!isValidSpanId(SID.toUpperCase()));
    assert.ok(!isValidSpanId(TID));
    assert.ok(!isValidSpanId(''));
  });
});

describe('normalizeTracestate', () => {
  it('keeps a valid header, trimming members and dropping empty ones', () => {
    assert.equal(normalizeTracestate('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'), 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    assert.equal(normalizeTracestate('  rojo=1 ,\t congo=2 ,, ,'), 'rojo=1,congo=2');
  });

  it('accepts multi-tenant keys tenant@system', () => {
    assert.equal(normalizeTracestate('fw529a3039@dt=foo,3ab@x_-*/=1'), 'fw529a3039@dt=foo,3ab@x_-*/=1');
  });

  it('rejects bad multi-tenant keys', () => {
    assert.equal(normalizeTracestate('a@=1'), undefined);
    assert.equal(normalizeTracestate('@b=1'), undefined);
    assert.equal(normalizeTracestate('a@1b=1'), undefined, 'system id must start with a letter');
    assert.equal(normalizeTracestate('a@b@c=1'), undefined);
    assert.equal(normalizeTracestate(`a@${'b'.repeat(15)}=1`), undefined, 'system id is at most 14 characters');
    assert.equal(normalizeTracestate(`a@${'b'.repeat(14)}=1`), `a@${'b'.repeat(14)}=1`);
  });

  it('checks simple key grammar: lowercase, starts with a letter, at most 256 characters', () => {
    assert.equal(normalizeTracestate('Rojo=1'), undefined);
    assert.equal(normalizeTracestate('1rojo=1'), undefined);
    assert.equal(normalizeTracestate('ro.jo=1'), undefined);
    assert.equal(normalizeTracestate(`${'a'.repeat(256)}=1`), `${'a'.repeat(256)}=1`);
    assert.equal(normalizeTracestate(`${'a'.repeat(257)}=1`), undefined);
  });

  it('checks value grammar: printable, no comma or =, no trailing space, at most 256 characters', () => {
    assert.equal(normalizeTracestate('a=b c'), 'a=b c', 'inner spaces are allowed');
    assert.equal(normalizeTracestate('a='), undefined, 'empty value');
    assert.equal(normalizeTracestate('a=b=c'), undefined);
    assert.equal(normalizeTracestate('a=\u00e9'), undefined);
    assert.equal(normalizeTracestate('a=\x01'), undefined);
    assert.equal(normalizeTracestate(`a=${'v'.repeat(256)}`), `a=${'v'.repeat(256)}`);
    assert.equal(normalizeTracestate(`a=${'v'.repeat(257)}`), undefined);
  });

  it('discards the whole header when any member is invalid', () => {
    assert.equal(normalizeTracestate('rojo=1,INVALID=2,congo=3'), undefined);
    assert.equal(normalizeTracestate('rojo=1,novalue'), undefined);
    assert.equal(normalizeTracestate('rojo=1,=2'), undefined);
  });

  it('rejects duplicate keys', () => {
    assert.equal(normalizeTracestate('a=1,b=2,a=3'), undefined);
  });

  it('accepts 32 members and rejects 33', () => {
    const members = Array.from({ length: 33 }, (_, i) => `k${i}=v${i}`);
    assert.equal(normalizeTracestate(members.slice(0, 32).join(',')), members.slice(0, 32).join(','));
    assert.equal(normalizeTracestate(members.join(',')), undefined);
  });

  it('returns undefined for absent, empty and all-blank headers', () => {
    assert.equal(normalizeTracestate(undefined), undefined);
    assert.equal(normalizeTracestate(null), undefined);
    assert.equal(normalizeTracestate(''), undefined);
    assert.equal(normalizeTracestate(' , ,'), undefined);
  });

  it('is idempotent and never throws on arbitrary strings (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 60 }), (s) => {
        const n = normalizeTracestate(s);
        if (n !== undefined) assert.equal(normalizeTracestate(n), n);
      }),
      RUNS,
    );
  });

  it('keeps any list of valid unique members in order (property)', () => {
    const key = fc.stringMatching(/^[a-z][a-z0-9_\-*/]{0,10}$/);
    const value = fc.stringMatching(/^[\x21-\x2b\x2d-\x3c\x3e-\x7e]{1,12}$/);
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, value), { minLength: 1, maxLength: 32, selector: ([k]) => k }), (members) => {
        const header = members.map(([k, v]) => `${k}=${v}`).join(' , ');
        assert.equal(normalizeTracestate(header), members.map(([k, v]) => `${k}=${v}`).join(','));
      }),
      RUNS,
    );
  });
});
