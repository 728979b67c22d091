/**
 * Backoff strategies: exact schedules for a fixed random source, and properties (fast-check) of
 * every jitter: bounds from the AWS "Exponential Backoff And Jitter" formulas, determinism, and
 * per-execution state that concurrent executions do not share.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  constantBackoff,
  delaysBackoff,
  exponentialBackoff,
  MAX_DELAY_MS,
  toBackoff,
  type Backoff,
  type BackoffState,
  type Jitter,
} from '../../src/policies/backoff.js';

/** The delays of the first `n` retries of one execution. */
function schedule(backoff: Backoff, n: number): number[] {
  const out: number[] = [];
  let s: Backoff = backoff;
  for (let attempt = 1; attempt <= n; attempt++) {
    const next: BackoffState = s.next({ attempt, reason: { error: new Error('x') } });
    out.push(next.delayMs);
    s = next;
  }
  return out;
}

/** A random source replaying `values` cyclically. */
function replay(values: readonly number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

const randoms = fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 20 });
const configs = fc
  .record({
    initialDelayMs: fc.integer({ min: 0, max: 5000 }),
    extra: fc.integer({ min: 0, max: 100_000 }),
    exponent: fc.double({ min: 1, max: 5, noNaN: true }),
  })
  .map(({ initialDelayMs, extra, exponent }) => ({ initialDelayMs, maxDelayMs: initialDelayMs + extra, exponent }));
const attempts = fc.integer({ min: 1, max: 80 });

describe('exact schedules', () => {
  test('constant: the same delay every time, no allocation per retry', () => {
    const b = constantBackoff(250);
    assert.deepEqual(schedule(b, 5), [250, 250, 250, 250, 250]);
    assert.equal(b.next(), b);
  });

  test('delays: in order, then the last repeats', () => {
    assert.deepEqual(schedule(delaysBackoff([10, 20, 50]), 6), [10, 20, 50, 50, 50, 50]);
  });

  test('exponential without jitter: base · exponent^n, capped', () => {
    const b = exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 'none' });
    assert.deepEqual(schedule(b, 6), [100, 200, 400, 800, 1000, 1000]);
    const b3 = exponentialBackoff({ initialDelayMs: 10, maxDelayMs: 10_000, exponent: 3, jitter: 'none' });
    assert.deepEqual(schedule(b3, 4), [10, 30, 90, 270]);
  });

  test('full jitter with random = 0.5: half the capped exponential', () => {
    const b = exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 'full', random: () => 0.5 });
    assert.deepEqual(schedule(b, 5), [50, 100, 200, 400, 500]);
  });

  test('equal jitter with random = 0.5: three quarters of it', () => {
    const b = exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 'equal', random: () => 0.5 });
    assert.deepEqual(schedule(b, 5), [75, 150, 300, 600, 750]);
  });

  test('decorrelated jitter: min(cap, base + r · (3 · previous − base))', () => {
    const b = exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 'decorrelated', random: () => 0.5 });
    // 100 + .5·(300−100) = 200; 100 + .5·(600−100) = 350; 100 + .5·(1050−100) = 575; 100 + .5·(1725−100) = 912.5; then the cap.
    assert.deepEqual(schedule(b, 6), [200, 350, 575, 912.5, 1000, 1000]);
  });

  test('defaults: 100 ms base, ×2, 30 s cap, full jitter', () => {
    const b = exponentialBackoff();
    assert.deepEqual([b.initialDelayMs, b.maxDelayMs, b.exponent, b.jitter], [100, 30_000, 2, 'full']);
    const none = exponentialBackoff({ jitter: 'none' });
    assert.equal(schedule(none, 30).at(-1), 30_000);
  });

  test('huge attempt counts stay at the cap (no Infinity or NaN)', () => {
    const b = exponentialBackoff({ initialDelayMs: 1, maxDelayMs: 5000, jitter: 'none' });
    const s = schedule(b, 2000);
    assert.equal(s.at(-1), 5000);
    assert.ok(s.every(Number.isFinite));
    assert.deepEqual(schedule(exponentialBackoff({ initialDelayMs: 0, maxDelayMs: 0, jitter: 'none' }), 2000).at(-1), 0);
  });

  test('toBackoff: a number is a constant backoff; a strategy is kept; junk throws', () => {
    const fallback = constantBackoff(1);
    assert.equal(toBackoff('retry', undefined, fallback), fallback);
    assert.deepEqual(schedule(toBackoff('retry', 40, fallback), 2), [40, 40]);
    const custom: Backoff = { next: () => ({ delayMs: 7, next: custom.next }) };
    assert.equal(toBackoff('retry', custom, fallback), custom);
    assert.throws(() => toBackoff('retry', {} as Backoff, fallback), /retry option "backoff"/);
    assert.throws(() => toBackoff('retry', -5, fallback), /retry option "backoff"/);
  });
});

describe('properties', () => {
  test('every delay is within [0, maxDelayMs], for every jitter', () => {
    fc.assert(
      fc.property(configs, fc.constantFrom<Jitter>('none', 'full', 'equal', 'decorrelated'), randoms, attempts, (cfg, jitter, rs, n) => {
        for (const d of schedule(exponentialBackoff({ ...cfg, jitter, random: replay(rs) }), n)) {
          if (!(d >= 0 && d <= cfg.maxDelayMs)) return false;
        }
        return true;
      }),
    );
  });

  test('none is exactly min(cap, base · exponent^n); full ≤ it and ≤ the uncapped exponential', () => {
    fc.assert(
      fc.property(configs, randoms, attempts, (cfg, rs, n) => {
        const none = schedule(exponentialBackoff({ ...cfg, jitter: 'none' }), n);
        const full = schedule(exponentialBackoff({ ...cfg, jitter: 'full', random: replay(rs) }), n);
        return none.every((v, i) => {
          const uncapped = cfg.initialDelayMs * cfg.exponent ** i;
          return v === Math.min(cfg.maxDelayMs, uncapped) && full[i]! <= v && full[i]! <= uncapped;
        });
      }),
    );
  });

  test('equal jitter is at least half of the capped exponential and at most all of it', () => {
    fc.assert(
      fc.property(configs, randoms, attempts, (cfg, rs, n) => {
        const none = schedule(exponentialBackoff({ ...cfg, jitter: 'none' }), n);
        const equal = schedule(exponentialBackoff({ ...cfg, jitter: 'equal', random: replay(rs) }), n);
        return equal.every((d, i) => d >= none[i]! / 2 && d <= none[i]!);
      }),
    );
  });

  test('decorrelated jitter stays within [base, min(cap, 3 · previous)]', () => {
    fc.assert(
      fc.property(configs, randoms, attempts, (cfg, rs, n) => {
        const s = schedule(exponentialBackoff({ ...cfg, jitter: 'decorrelated', random: replay(rs) }), n);
        let previous = cfg.initialDelayMs;
        for (const d of s) {
          if (d < cfg.initialDelayMs || d > Math.min(cfg.maxDelayMs, 3 * previous)) return false;
          previous = d;
        }
        return true;
      }),
    );
  });

  test('constant backoff is always its delay', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: MAX_DELAY_MS }), attempts, (ms, n) => schedule(constantBackoff(ms), n).every((d) => d === ms)));
  });

  test('schedules are deterministic for a fixed random source', () => {
    fc.assert(
      fc.property(configs, fc.constantFrom<Jitter>('full', 'equal', 'decorrelated'), randoms, attempts, (cfg, jitter, rs, n) => {
        const a = schedule(exponentialBackoff({ ...cfg, jitter, random: replay(rs) }), n);
        const b = schedule(exponentialBackoff({ ...cfg, jitter, random: replay(rs) }), n);
        assert.deepEqual(a, b);
      }),
    );
  });

  test('concurrent executions do not share a schedule (states are immutable)', () => {
    fc.assert(
      fc.property(configs, fc.constantFrom<Jitter>('none', 'decorrelated', 'equal'), attempts, (cfg, jitter, n) => {
        // A constant random source makes each execution's schedule independent of interleaving.
        const b = exponentialBackoff({ ...cfg, jitter, random: () => 0.3 });
        const alone = schedule(b, n);
        let x: Backoff = b;
        let y: Backoff = b;
        const xs: number[] = [];
        const ys: number[] = [];
        for (let i = 1; i <= n; i++) {
          const nx = x.next({ attempt: i, reason: { value: i } });
          xs.push(nx.delayMs);
          x = nx;
          if (i % 2 === 0) {
            const ny = y.next({ attempt: i, reason: { value: i } });
            ys.push(ny.delayMs);
            y = ny;
          }
        }
        assert.deepEqual(xs, alone);
        assert.deepEqual(ys, alone.slice(0, ys.length));
        // Going back to an earlier state replays the same next delay.
        const first = b.next({ attempt: 1, reason: { value: 0 } });
        assert.equal(first.next({ attempt: 2, reason: { value: 0 } }).delayMs, first.next({ attempt: 2, reason: { value: 0 } }).delayMs);
      }),
    );
  });
});

describe('options', () => {
  test('bad options throw at construction, naming the option', () => {
    assert.throws(() => constantBackoff(-1), /constantBackoff option "delayMs"/);
    assert.throws(() => constantBackoff(Number.NaN), /option "delayMs"/);
    assert.throws(() => delaysBackoff([]), /option "delaysMs"/);
    assert.throws(() => delaysBackoff([10, -1]), /option "delaysMs\[1\]"/);
    assert.throws(() => exponentialBackoff({ initialDelayMs: -1 }), /option "initialDelayMs"/);
    assert.throws(() => exponentialBackoff({ initialDelayMs: 500, maxDelayMs: 100 }), /option "maxDelayMs".*≥ initialDelayMs/);
    assert.throws(() => exponentialBackoff({ maxDelayMs: 2 ** 32 }), /option "maxDelayMs"/);
    assert.throws(() => exponentialBackoff({ exponent: 0.5 }), /option "exponent"/);
    assert.throws(() => exponentialBackoff({ jitter: 'some' as Jitter }), /option "jitter"/);
    assert.throws(() => exponentialBackoff({ random: 4 as unknown as () => number }), /option "random"/);
  });

  test('an initialDelayMs above 30 s raises the default cap to it', () => {
    assert.equal(exponentialBackoff({ initialDelayMs: 60_000 }).maxDelayMs, 60_000);
  });
});
