/**
 * Circuit-breaker strategies on their own: ConsecutiveBreaker, CountBreaker (ring buffer) and
 * TimeWindowBreaker (time buckets). The window strategies are checked against naive reference
 * models with fast-check: for random sequences of (outcome, slow, time advance), the decision after
 * every call equals the one recomputed from the full list of calls in the window, and no decision
 * is ever made below minimumCalls. Snapshots (toJSON → restore) carry a window across instances.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ConsecutiveBreaker, CountBreaker, TimeWindowBreaker, type BreakerStrategy, type JsonValue } from '../../src/policies/breaker/index.js';

interface Call {
  readonly failed: boolean;
  readonly slow: boolean;
  /** ms since the previous call (time windows only). */
  readonly advance: number;
}

const calls = (maxAdvance: number, maxLength = 300): fc.Arbitrary<Call[]> =>
  fc.array(
    fc.record({
      // Skewed towards failures so that thresholds are crossed in both directions.
      failed: fc.integer({ min: 0, max: 9 }).map((n) => n < 4),
      slow: fc.integer({ min: 0, max: 9 }).map((n) => n < 3),
      // Bursts (0), steady traffic, and gaps long enough to empty the window.
      advance: maxAdvance === 0 ? fc.constant(0) : fc.oneof(fc.constant(0), fc.integer({ min: 0, max: maxAdvance }), fc.integer({ min: 0, max: 20 * maxAdvance })),
    }),
    { maxLength, size: 'large' },
  );

const threshold = fc.integer({ min: 1, max: 100 }).map((n) => n / 100);
const optionalThreshold = fc.option(threshold, { nil: undefined });

/** The reference decision: rates recomputed from the list of calls in the window. */
function naiveVerdict(window: readonly Call[], minimumCalls: number, failureRate: number, slowRate: number | undefined): string | undefined {
  const n = window.length;
  if (n < minimumCalls || n === 0) return undefined;
  const failures = window.filter((c) => c.failed).length;
  const slows = window.filter((c) => c.slow).length;
  if (failures / n >= failureRate) return 'failure-rate';
  if (slowRate !== undefined && slows / n >= slowRate) return 'slow-call-rate';
  return undefined;
}

function record(s: BreakerStrategy, c: Call, at: number): string | undefined {
  return s.record(c.failed, c.slow, c.slow ? 1000 : 1, at, 'closed');
}

describe('ConsecutiveBreaker', () => {
  test('opens after N failures in a row; a success starts the count again; slow calls do not count', () => {
    const b = new ConsecutiveBreaker(3);
    assert.equal(b.record(true, false, 1, 0, 'closed'), undefined);
    assert.equal(b.record(true, true, 1, 0, 'closed'), undefined);
    assert.equal(b.record(false, true, 1, 0, 'closed'), undefined);
    assert.equal(b.consecutiveFailures, 0);
    assert.equal(b.record(true, false, 1, 0, 'closed'), undefined);
    assert.equal(b.record(true, false, 1, 0, 'closed'), undefined);
    assert.equal(b.record(true, false, 1, 0, 'closed'), 'consecutive-failures');
    // Probes are the breaker's business: a half-open outcome changes nothing.
    b.reset();
    assert.equal(b.record(true, false, 1, 0, 'half-open'), undefined);
    assert.equal(b.consecutiveFailures, 0);
  });

  test('snapshot and restore', () => {
    const a = new ConsecutiveBreaker(3);
    a.record(true, false, 1, 0, 'closed');
    a.record(true, false, 1, 0, 'closed');
    const b = new ConsecutiveBreaker(3);
    b.restore(JSON.parse(JSON.stringify(a.toJSON())) as JsonValue, 'x');
    assert.equal(b.record(true, false, 1, 0, 'closed'), 'consecutive-failures');
    assert.throws(() => b.restore({ kind: 'consecutive', failures: -1 }, 'initialState.strategy'), /initialState\.strategy\.failures/);
  });

  test('bad options', () => {
    assert.throws(() => new ConsecutiveBreaker(0), /option "threshold"/);
    assert.throws(() => new ConsecutiveBreaker(1.5), /option "threshold"/);
  });
});

describe('CountBreaker', () => {
  test('the last `size` calls, from minimumCalls on', () => {
    const b = new CountBreaker({ size: 4, failureRateThreshold: 0.5, minimumCalls: 3 });
    assert.equal(b.record(true, false, 1, 0, 'closed'), undefined); // 1 call: below the minimum
    assert.equal(b.record(false, false, 1, 0, 'closed'), undefined); // 2 calls: below the minimum
    assert.equal(b.record(false, false, 1, 0, 'closed'), undefined); // 1/3 failed
    assert.equal(b.record(false, false, 1, 0, 'closed'), undefined); // 1/4
    assert.equal(b.record(true, false, 1, 0, 'closed'), undefined); // the first failure slid out: 1/4
    assert.equal(b.record(true, false, 1, 0, 'closed'), 'failure-rate'); // 2/4
    assert.deepEqual(b.window, { calls: 4, failures: 2, slowCalls: 0 });
    b.reset();
    assert.deepEqual(b.window, { calls: 0, failures: 0, slowCalls: 0 });
  });

  test('slow-call rate', () => {
    const b = new CountBreaker({ size: 4, failureRateThreshold: 1, slowCallRateThreshold: 0.75, minimumCalls: 4 });
    assert.equal(b.countsSlowCalls, true);
    for (let i = 0; i < 3; i++) assert.equal(b.record(false, true, 5000, 0, 'closed'), undefined);
    assert.equal(b.record(false, false, 1, 0, 'closed'), 'slow-call-rate');
    assert.equal(new CountBreaker().countsSlowCalls, false);
  });

  test('bad options', () => {
    assert.throws(() => new CountBreaker({ size: 0 }), /option "size"/);
    assert.throws(() => new CountBreaker({ size: 10, minimumCalls: 11 }), /option "minimumCalls"/);
    assert.throws(() => new CountBreaker({ failureRateThreshold: 1.2 }), /option "failureRateThreshold"/);
    assert.throws(() => new CountBreaker({ failureRateThreshold: 0 }), /option "failureRateThreshold".*greater than 0/);
    assert.throws(() => new CountBreaker({ slowCallRateThreshold: -0.1 }), /option "slowCallRateThreshold"/);
  });

  test('property: decisions equal the naive model over the last `size` calls, never below minimumCalls', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }).chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 1, max: size }))),
        threshold,
        optionalThreshold,
        calls(0),
        ([size, minimumCalls], failureRateThreshold, slowCallRateThreshold, seq) => {
          const b = new CountBreaker({ size, minimumCalls, failureRateThreshold, slowCallRateThreshold });
          const all: Call[] = [];
          for (const c of seq) {
            all.push(c);
            const window = all.slice(-size);
            const got = record(b, c, 0);
            assert.equal(got, naiveVerdict(window, minimumCalls, failureRateThreshold, slowCallRateThreshold));
            if (got !== undefined) assert.ok(window.length >= minimumCalls);
            assert.deepEqual(b.window, { calls: window.length, failures: window.filter((x) => x.failed).length, slowCalls: window.filter((x) => x.slow).length });
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('property: a restored snapshot decides as the original does (also into another size)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 30 }), calls(0, 60), calls(0, 60), (sizeA, sizeB, before, after) => {
        const a = new CountBreaker({ size: sizeA, minimumCalls: 1 });
        for (const c of before) record(a, c, 0);
        const b = new CountBreaker({ size: sizeB, minimumCalls: 1 });
        b.restore(JSON.parse(JSON.stringify(a.toJSON())) as JsonValue, 's');
        // b holds the latest min(sizeA, sizeB, calls) calls; a reference with the same history agrees from here on.
        const ref = new CountBreaker({ size: sizeB, minimumCalls: 1 });
        for (const c of before.slice(-Math.min(sizeA, sizeB))) record(ref, c, 0);
        assert.deepEqual(b.toJSON(), ref.toJSON());
        for (const c of after) assert.equal(record(b, c, 0), record(ref, c, 0));
      }),
      { numRuns: 200 },
    );
  });

  test('restore rejects malformed snapshots, naming the field', () => {
    const b = new CountBreaker({ size: 4 });
    assert.throws(() => b.restore({ kind: 'count', calls: [0, 1, 7] }, 'initialState.strategy'), /initialState\.strategy\.calls\[2\]/);
    assert.throws(() => b.restore({ kind: 'count', calls: 'x' }, 'initialState.strategy'), /initialState\.strategy\.calls: must be an array/);
    assert.throws(() => b.restore([], 'initialState.strategy'), /initialState\.strategy: must be an object/);
  });
});

describe('TimeWindowBreaker', () => {
  test('buckets slide out with time on the given clock', () => {
    const b = new TimeWindowBreaker({ windowMs: 1000, buckets: 4, failureRateThreshold: 0.5, minimumCalls: 2 });
    assert.equal(b.bucketMs, 250);
    assert.equal(b.record(true, false, 1, 0, 'closed'), undefined); // 1 call
    assert.equal(b.record(false, false, 1, 100, 'closed'), 'failure-rate'); // 1 of 2
    assert.equal(b.record(false, false, 1, 900, 'closed'), undefined); // 1 of 3
    // At t=1000 the bucket [0, 250) has left the window: 1 success left, then 1 failure → 1 of 2.
    assert.equal(b.record(true, false, 1, 1000, 'closed'), 'failure-rate');
    assert.deepEqual(b.window, { calls: 2, failures: 1, slowCalls: 0 });
    // A jump over the whole window empties it.
    assert.equal(b.record(false, false, 1, 10_000, 'closed'), undefined);
    assert.deepEqual(b.window, { calls: 1, failures: 0, slowCalls: 0 });
  });

  test('bad options', () => {
    assert.throws(() => new TimeWindowBreaker({ windowMs: 0 }), /option "windowMs"/);
    assert.throws(() => new TimeWindowBreaker({ windowMs: -5 }), /option "windowMs"/);
    assert.throws(() => new TimeWindowBreaker({ buckets: 0 }), /option "buckets"/);
    assert.throws(() => new TimeWindowBreaker({ minimumCalls: 0 }), /option "minimumCalls"/);
    assert.throws(() => new TimeWindowBreaker({ slowCallRateThreshold: 2 }), /option "slowCallRateThreshold"/);
  });

  test('property: decisions equal the naive model over the calls whose bucket is in the window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 30 }),
        threshold,
        optionalThreshold,
        fc.integer({ min: 0, max: 1e12 }),
        calls(800),
        (windowMs, buckets, minimumCalls, failureRateThreshold, slowCallRateThreshold, t0, seq) => {
          fc.pre(buckets <= windowMs);
          const b = new TimeWindowBreaker({ windowMs, buckets, minimumCalls, failureRateThreshold, slowCallRateThreshold });
          const bucketMs = windowMs / buckets;
          const all: { call: Call; at: number }[] = [];
          let t = t0;
          for (const c of seq) {
            t += c.advance;
            all.push({ call: c, at: t });
            const current = Math.floor(t / bucketMs);
            const window = all.filter((x) => Math.floor(x.at / bucketMs) > current - buckets).map((x) => x.call);
            const got = record(b, c, t);
            assert.equal(got, naiveVerdict(window, minimumCalls, failureRateThreshold, slowCallRateThreshold));
            if (got !== undefined) assert.ok(window.length >= minimumCalls);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('property: a restored snapshot decides as the original does', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), calls(500, 80), calls(500, 80), (buckets, before, after) => {
        const options = { windowMs: 2000, buckets, minimumCalls: 1 };
        const a = new TimeWindowBreaker(options);
        let t = 1_700_000_000_000;
        for (const c of before) record(a, c, (t += c.advance));
        const b = new TimeWindowBreaker(options);
        b.restore(JSON.parse(JSON.stringify(a.toJSON())) as JsonValue, 's');
        assert.deepEqual(b.window, a.window);
        for (const c of after) {
          t += c.advance;
          assert.equal(record(b, c, t), record(a, c, t));
        }
      }),
      { numRuns: 200 },
    );
  });

  test('restore: another bucket length starts empty; malformed buckets name the field', () => {
    const a = new TimeWindowBreaker({ windowMs: 1000, buckets: 10, minimumCalls: 1 });
    a.record(true, false, 1, 5000, 'closed');
    const b = new TimeWindowBreaker({ windowMs: 1000, buckets: 5, minimumCalls: 1 });
    b.restore(a.toJSON(), 's');
    assert.deepEqual(b.window, { calls: 0, failures: 0, slowCalls: 0 });
    assert.throws(() => b.restore({ kind: 'time-window', bucketMs: 200, buckets: [[0, 1, 2, 0]] }, 'initialState.strategy'), /initialState\.strategy\.buckets\[0\]\[2\]/);
    assert.throws(() => b.restore({ kind: 'time-window', bucketMs: 200, buckets: [[0, 1]] }, 'initialState.strategy'), /initialState\.strategy\.buckets\[0\]/);
    assert.throws(() => b.restore({ kind: 'time-window', bucketMs: 'x', buckets: [] }, 'initialState.strategy'), /initialState\.strategy\.bucketMs/);
  });
});
