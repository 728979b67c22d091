import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FAULT_KINDS, LabcoatInputError, MAX_FAULT_MS, compileFault, param, parseFaultShorthand, type FaultAction } from '../src/index.js';
import { RUNS, whereOf } from './helpers.js';

const W = 'plan.rules[0].fault';
const act = (spec: unknown, random = 0.5): FaultAction => compileFault(spec, W).action(random);

/** Expects compileFault(spec) to fail at `where` with a message matching `message`. */
function refuses(spec: unknown, where: string, message?: RegExp): void {
  let err: unknown;
  try {
    compileFault(spec, W);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof LabcoatInputError, `expected LabcoatInputError at ${where} for ${JSON.stringify(spec)}`);
  assert.equal(err.where, where);
  if (message) assert.match(err.message, message);
}

describe('FAULT_KINDS', () => {
  it('lists every kind once with a summary', () => {
    assert.deepEqual([...FAULT_KINDS.keys()].sort(), ['delay', 'error', 'hang', 'malformed', 'reset', 'status']);
    for (const [name, kind] of FAULT_KINDS) {
      assert.equal(kind.name, name);
      assert.ok(kind.summary.length > 10);
    }
    assert.equal(MAX_FAULT_MS, 600_000);
  });
});

describe('compileFault', () => {
  it('refuses non-objects and unknown kinds, listing the known kinds', () => {
    for (const bad of [null, undefined, 'status', 503, []]) refuses(bad, W, /expected an object/);
    refuses({}, `${W}.kind`, /unknown fault kind undefined; known kinds: error, status, delay, hang, reset, malformed/);
    refuses({ kind: 'explode' }, `${W}.kind`, /unknown fault kind "explode"/);
    refuses({ kind: 'toString' }, `${W}.kind`);
    refuses({ kind: 'STATUS', status: 503 }, `${W}.kind`);
  });

  it('validates delayMs for every kind and passes it to the action', () => {
    for (const kind of FAULT_KINDS.keys()) {
      const base = kind === 'status' ? { kind, status: 503 } : kind === 'delay' ? { kind, ms: 0 } : { kind };
      assert.equal(act({ ...base, delayMs: 250 }).delayMs, 250, kind);
      assert.equal(act(base).delayMs, 0, kind);
      refuses({ ...base, delayMs: -1 }, `${W}.delayMs`, /from 0 to 600000, got -1/);
      refuses({ ...base, delayMs: MAX_FAULT_MS + 1 }, `${W}.delayMs`);
      refuses({ ...base, delayMs: '5' }, `${W}.delayMs`, /got "5"/);
    }
  });

  it('keeps the spec and labels the fault', () => {
    const cases: [object, string][] = [
      [{ kind: 'status', status: 503 }, 'status:503'],
      [{ kind: 'error' }, 'error:ECONNREFUSED'],
      [{ kind: 'error', code: 'ETIMEDOUT' }, 'error:ETIMEDOUT'],
      [{ kind: 'delay', ms: 200 }, 'delay:200ms'],
      [{ kind: 'malformed' }, 'malformed:truncate'],
      [{ kind: 'malformed', mode: 'corrupt' }, 'malformed:corrupt'],
      [{ kind: 'hang' }, 'hang'],
      [{ kind: 'reset' }, 'reset'],
    ];
    for (const [spec, label] of cases) {
      const f = compileFault(spec, W);
      assert.equal(f.label, label);
      assert.equal(f.kind, (spec as { kind: string }).kind);
      assert.equal(f.spec, spec);
    }
  });
});

describe('status fault', () => {
  it('responds with the status and no body by default', () => {
    assert.deepEqual(act({ kind: 'status', status: 503 }), { type: 'respond', delayMs: 0, status: 503, headers: {}, body: '' });
  });

  it('requires an integer status from 100 to 599', () => {
    refuses({ kind: 'status' }, `${W}.status`, /from 100 to 599, got nothing/);
    for (const status of [99, 600, 503.5, '503', null]) refuses({ kind: 'status', status }, `${W}.status`, /from 100 to 599/);
    assert.equal((act({ kind: 'status', status: 100 }) as { status: number }).status, 100);
    assert.equal((act({ kind: 'status', status: 599 }) as { status: number }).status, 599);
  });

  it('sets retry-after from retryAfter seconds (0–86400)', () => {
    const a = act({ kind: 'status', status: 429, retryAfter: 30 });
    assert.equal(a.type, 'respond');
    assert.deepEqual(a.type === 'respond' && a.headers, { 'retry-after': '30' });
    refuses({ kind: 'status', status: 429, retryAfter: -1 }, `${W}.retryAfter`, /from 0 to 86400/);
    refuses({ kind: 'status', status: 429, retryAfter: 86401 }, `${W}.retryAfter`);
    refuses({ kind: 'status', status: 429, retryAfter: '30' }, `${W}.retryAfter`);
  });

  it('lower-cases header names and lets retryAfter win over a retry-after header', () => {
    const a = act({ kind: 'status', status: 503, headers: { 'X-Injected': 'yes', 'Retry-After': '1' }, retryAfter: 5 });
    assert.deepEqual(a.type === 'respond' && a.headers, { 'x-injected': 'yes', 'retry-after': '5' });
  });

  it('validates headers, naming the bad one', () => {
    refuses({ kind: 'status', status: 503, headers: [] }, `${W}.headers`);
    refuses({ kind: 'status', status: 503, headers: 'x: y' }, `${W}.headers`);
    refuses({ kind: 'status', status: 503, headers: { 'bad name': 'v' } }, `${W}.headers.bad name`);
    refuses({ kind: 'status', status: 503, headers: { ok: 'line\r\nbreak' } }, `${W}.headers.ok`, /printable ASCII/);
    refuses({ kind: 'status', status: 503, headers: { ok: 1 } }, `${W}.headers.ok`);
    refuses({ kind: 'status', status: 503, headers: { ok: 'caf\u00e9' } }, `${W}.headers.ok`);
  });

  it('infers content-type from the body unless given', () => {
    const json = act({ kind: 'status', status: 500, body: '  {"error":"x"}' });
    assert.deepEqual(json.type === 'respond' && json.headers, { 'content-type': 'application/json' });
    const text = act({ kind: 'status', status: 500, body: 'oops' });
    assert.deepEqual(text.type === 'respond' && text.headers, { 'content-type': 'text/plain; charset=utf-8' });
    assert.equal(text.type === 'respond' && text.body, 'oops');
    const given = act({ kind: 'status', status: 500, body: '<x/>', headers: { 'Content-Type': 'application/xml' } });
    assert.deepEqual(given.type === 'respond' && given.headers, { 'content-type': 'application/xml' });
  });

  it('limits the body to 65536 characters', () => {
    refuses({ kind: 'status', status: 500, body: 'x'.repeat(65537) }, `${W}.body`, /at most 65536 characters/);
    refuses({ kind: 'status', status: 500, body: 42 }, `${W}.body`);
    assert.equal(act({ kind: 'status', status: 500, body: 'x'.repeat(65536) }).type, 'respond');
  });
});

describe('error fault', () => {
  it('refuses the connection with ECONNREFUSED by default', () => {
    assert.deepEqual(act({ kind: 'error' }), { type: 'refuse', delayMs: 0, code: 'ECONNREFUSED', message: 'connect ECONNREFUSED (injected by labcoat)' });
  });

  it('supports each known code with a Node-like message', () => {
    const messages: Record<string, RegExp> = {
      ECONNREFUSED: /^connect ECONNREFUSED/,
      ECONNRESET: /^socket hang up/,
      ETIMEDOUT: /^connect ETIMEDOUT/,
      EHOSTUNREACH: /^connect EHOSTUNREACH/,
      ENOTFOUND: /^getaddrinfo ENOTFOUND/,
      EPIPE: /^write EPIPE/,
    };
    for (const [code, re] of Object.entries(messages)) {
      const a = act({ kind: 'error', code });
      assert.equal(a.type, 'refuse');
      assert.equal(a.type === 'refuse' && a.code, code);
      assert.match(a.type === 'refuse' ? a.message : '', re);
      assert.match(a.type === 'refuse' ? a.message : '', /injected by labcoat/);
    }
  });

  it('refuses unknown codes, listing the allowed ones', () => {
    refuses({ kind: 'error', code: 'EFOO' }, `${W}.code`, /expected one of ECONNREFUSED, ECONNRESET, ETIMEDOUT, EHOSTUNREACH, ENOTFOUND, EPIPE, got "EFOO"/);
    refuses({ kind: 'error', code: 'econnreset' }, `${W}.code`);
    refuses({ kind: 'error', code: 1 }, `${W}.code`, /got 1/);
  });
});

describe('delay fault', () => {
  it('proceeds after ms', () => {
    assert.deepEqual(act({ kind: 'delay', ms: 200 }), { type: 'proceed', delayMs: 200 });
    assert.deepEqual(act({ kind: 'delay', ms: 200, delayMs: 50 }), { type: 'proceed', delayMs: 250 });
  });

  it('requires ms from 0 to MAX_FAULT_MS and jitterMs in range', () => {
    refuses({ kind: 'delay' }, `${W}.ms`, /got nothing/);
    refuses({ kind: 'delay', ms: -5 }, `${W}.ms`);
    refuses({ kind: 'delay', ms: MAX_FAULT_MS + 1 }, `${W}.ms`);
    refuses({ kind: 'delay', ms: 1.5 }, `${W}.ms`);
    refuses({ kind: 'delay', ms: 10, jitterMs: -1 }, `${W}.jitterMs`);
    refuses({ kind: 'delay', ms: 10, jitterMs: 'x' }, `${W}.jitterMs`);
  });

  it('spreads jitter over [ms - jitter, ms + jitter] by the random draw', () => {
    const spec = { kind: 'delay', ms: 1000, jitterMs: 100 };
    assert.equal(act(spec, 0).delayMs, 900);
    assert.equal(act(spec, 0.5).delayMs, 1000);
    assert.equal(act(spec, 0.75).delayMs, 1050);
    assert.equal(act(spec, 0.999999).delayMs, 1100);
  });

  it('jitter stays within bounds, is clamped to [0, MAX_FAULT_MS] and is an integer (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_FAULT_MS }),
        fc.integer({ min: 0, max: MAX_FAULT_MS }),
        fc.integer({ min: 0, max: MAX_FAULT_MS }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (ms, jitterMs, delayMs, random) => {
          const a = act({ kind: 'delay', ms, jitterMs, delayMs }, random);
          assert.equal(a.type, 'proceed');
          assert.ok(Number.isInteger(a.delayMs));
          assert.ok(a.delayMs >= Math.min(MAX_FAULT_MS, Math.max(0, delayMs + ms - jitterMs)), `${a.delayMs} below bound`);
          assert.ok(a.delayMs <= Math.min(MAX_FAULT_MS, delayMs + ms + jitterMs), `${a.delayMs} above bound`);
        },
      ),
      RUNS,
    );
  });

  it('is deterministic in the random draw (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (random) => {
        const f = compileFault({ kind: 'delay', ms: 500, jitterMs: 400 }, W);
        assert.deepEqual(f.action(random), f.action(random));
      }),
      RUNS,
    );
  });
});

describe('hang fault', () => {
  it('hangs for at most 60 s by default', () => {
    assert.deepEqual(act({ kind: 'hang' }), { type: 'hang', delayMs: 0, maxMs: 60_000 });
    assert.deepEqual(act({ kind: 'hang', maxMs: 5 }), { type: 'hang', delayMs: 0, maxMs: 5 });
  });

  it('requires maxMs from 1 to MAX_FAULT_MS', () => {
    refuses({ kind: 'hang', maxMs: 0 }, `${W}.maxMs`, /from 1 to 600000, got 0/);
    refuses({ kind: 'hang', maxMs: MAX_FAULT_MS + 1 }, `${W}.maxMs`);
    assert.equal((act({ kind: 'hang', maxMs: MAX_FAULT_MS }) as { maxMs: number }).maxMs, MAX_FAULT_MS);
  });
});

describe('reset fault', () => {
  it('resets after afterBytes (default 0)', () => {
    assert.deepEqual(act({ kind: 'reset' }), { type: 'proceed', delayMs: 0, body: { afterBytes: 0, then: 'reset' } });
    assert.deepEqual(act({ kind: 'reset', afterBytes: 10 }), { type: 'proceed', delayMs: 0, body: { afterBytes: 10, then: 'reset' } });
  });

  it('requires afterBytes from 0 to 2^30', () => {
    refuses({ kind: 'reset', afterBytes: -1 }, `${W}.afterBytes`, /from 0 to 1073741824/);
    refuses({ kind: 'reset', afterBytes: 2 ** 30 + 1 }, `${W}.afterBytes`);
  });
});

describe('malformed fault', () => {
  it('truncates after 1 byte by default, or corrupts', () => {
    assert.deepEqual(act({ kind: 'malformed' }), { type: 'proceed', delayMs: 0, body: { afterBytes: 1, then: 'truncate' } });
    assert.deepEqual(act({ kind: 'malformed', mode: 'corrupt', afterBytes: 0 }), { type: 'proceed', delayMs: 0, body: { afterBytes: 0, then: 'corrupt' } });
  });

  it('validates mode and afterBytes', () => {
    refuses({ kind: 'malformed', mode: 'reset' }, `${W}.mode`, /expected one of truncate, corrupt, got "reset"/);
    refuses({ kind: 'malformed', afterBytes: 0.5 }, `${W}.afterBytes`);
  });
});

describe('param readers', () => {
  it('report the field, the range and what was given (shortened)', () => {
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    };
    assert.equal(err(() => param.int({ n: 11 }, 'n', 'x', 0, 10)), 'x.n: expected an integer from 0 to 10, got 11');
    assert.equal(param.int({}, 'n', 'x', 0, 10, 7), 7);
    assert.equal(whereOf(() => param.int({}, 'n', 'x', 0, 10)), 'x.n');
    assert.equal(err(() => param.string({ s: 'x'.repeat(50) }, 's', 'x', 5)), `x.s: expected a string of at most 5 characters, got "${'x'.repeat(39)}…`);
    assert.equal(param.string({}, 's', 'x', 5, 'dflt'), 'dflt');
    assert.equal(param.oneOf({ m: 'b' }, 'm', 'x', ['a', 'b'] as const), 'b');
  });

  it('still throw LabcoatInputError for values JSON cannot show (BigInt, cycles)', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    for (const bad of [10n, cyclic, Symbol('s'), () => 1, Object.create(null) as object]) {
      assert.throws(() => param.int({ v: bad }, 'v', 'x', 0, 10), LabcoatInputError);
      assert.throws(() => param.string({ v: bad }, 'v', 'x', 10), LabcoatInputError);
      assert.throws(() => param.oneOf({ v: bad }, 'v', 'x', ['a'] as const), LabcoatInputError);
    }
    assert.throws(() => param.int({ v: 11n }, 'v', 'x', 0, 10), /^LabcoatInputError: x\.v: expected an integer from 0 to 10, got 11n$/);
    assert.throws(() => compileFault({ kind: 'status', status: cyclic }, W), (e: unknown) => e instanceof LabcoatInputError && e.where === `${W}.status`);
  });

  it('never accept NaN, Infinity or fractions as integers (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double().filter((d) => !Number.isInteger(d)), fc.constantFrom(NaN, Infinity, -Infinity)), (v) => {
        assert.throws(() => param.int({ v }, 'v', 'x', -1e300, 1e300), LabcoatInputError);
      }),
      RUNS,
    );
  });
});

describe('parseFaultShorthand', () => {
  it('reads the documented shorthands', () => {
    assert.deepEqual(parseFaultShorthand('503'), { kind: 'status', status: 503 });
    assert.deepEqual(parseFaultShorthand(' 429 '), { kind: 'status', status: 429 });
    assert.deepEqual(parseFaultShorthand('delay:200'), { kind: 'delay', ms: 200 });
    assert.deepEqual(parseFaultShorthand('error'), { kind: 'error' });
    assert.deepEqual(parseFaultShorthand('error:ECONNRESET'), { kind: 'error', code: 'ECONNRESET' });
    assert.deepEqual(parseFaultShorthand('hang'), { kind: 'hang' });
    assert.deepEqual(parseFaultShorthand('reset'), { kind: 'reset' });
    assert.deepEqual(parseFaultShorthand('malformed'), { kind: 'malformed' });
    assert.deepEqual(parseFaultShorthand('corrupt'), { kind: 'malformed', mode: 'corrupt' });
    assert.deepEqual(parseFaultShorthand('truncate'), { kind: 'malformed', mode: 'truncate' });
  });

  it('accepts a JSON object, validated', () => {
    assert.deepEqual(parseFaultShorthand('{"kind":"status","status":429,"retryAfter":3}'), { kind: 'status', status: 429, retryAfter: 3 });
    assert.equal(whereOf(() => parseFaultShorthand('{"kind":"status","status":1}')), 'fault.status');
    assert.equal(whereOf(() => parseFaultShorthand('{"kind":')), 'fault');
    assert.throws(() => parseFaultShorthand('{"kind":'), /is not valid JSON/);
  });

  it('rejects what it cannot read, with a LabcoatInputError naming the field', () => {
    assert.equal(whereOf(() => parseFaultShorthand('999')), 'fault.status');
    assert.equal(whereOf(() => parseFaultShorthand('099')), 'fault.status');
    assert.equal(whereOf(() => parseFaultShorthand('delay:9999999')), 'fault.ms');
    assert.equal(whereOf(() => parseFaultShorthand('error:EFOO')), 'fault.code');
    assert.equal(whereOf(() => parseFaultShorthand('status')), 'fault.status');
    for (const unknown of ['explode', '50', 'delay:abc', 'delay:', 'error:econnreset', '', '[1]']) {
      assert.equal(whereOf(() => parseFaultShorthand(unknown)), 'fault.kind', unknown);
    }
    assert.throws(() => parseFaultShorthand('explode'), /unknown fault kind "explode"/);
  });

  it('either returns a spec that compiles or throws LabcoatInputError (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 20 }),
          fc.integer({ min: 0, max: 1000 }).map(String),
          fc.integer({ min: 0, max: 1e7 }).map((n) => `delay:${n}`),
          fc.constantFrom('error:ECONNREFUSED', 'error:EPIPE', 'hang', 'reset', 'corrupt', '{}', '{"kind":"hang","maxMs":5}'),
        ),
        (text) => {
          let spec;
          try {
            spec = parseFaultShorthand(text);
          } catch (e) {
            assert.ok(e instanceof LabcoatInputError, String(e));
            return;
          }
          assert.doesNotThrow(() => compileFault(spec, 'fault'));
        },
      ),
      RUNS,
    );
  });
});
