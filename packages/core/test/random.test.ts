import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fnv1a, unitFromKey } from '../src/index.js';
import { anyString, RUNS } from './helpers.js';

describe('fnv1a', () => {
  it('matches the published FNV-1a 32-bit test vectors', () => {
    assert.equal(fnv1a(''), 0x811c9dc5);
    assert.equal(fnv1a('a'), 0xe40c292c);
    assert.equal(fnv1a('foobar'), 0xbf9cf968);
  });

  it('returns an unsigned 32-bit integer (property)', () => {
    fc.assert(
      fc.property(anyString(50), (s) => {
        const h = fnv1a(s);
        assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff);
      }),
      RUNS,
    );
  });
});

describe('unitFromKey', () => {
  it('is in [0, 1) and deterministic (property)', () => {
    fc.assert(
      fc.property(anyString(50), (key) => {
        const u = unitFromKey(key);
        assert.ok(u >= 0 && u < 1, String(u));
        assert.equal(unitFromKey(key), u);
      }),
      RUNS,
    );
  });

  it('is roughly uniform over 10k sequential keys', () => {
    const n = 10_000;
    const buckets = new Array<number>(10).fill(0);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const u = unitFromKey(`trace-${i}|edge->profiles GET /profiles/:id|1`);
      sum += u;
      buckets[Math.floor(u * 10)]!++;
    }
    const mean = sum / n;
    assert.ok(mean > 0.45 && mean < 0.55, `mean ${mean}`);
    for (const [i, count] of buckets.entries()) assert.ok(count > 850 && count < 1150, `bucket ${i}: ${count}`);
  });

  it('spreads nearby keys (attempt numbers) apart', () => {
    const draws = Array.from({ length: 1000 }, (_, attempt) => unitFromKey(`req-1|point|${attempt}`));
    const below = draws.filter((u) => u < 0.5).length;
    assert.ok(below > 420 && below < 580, `${below} of 1000 below 0.5`);
    assert.equal(new Set(draws).size, 1000, 'no collisions among 1000 nearby keys');
  });

  it('a probability p fires for about p of the requests', () => {
    for (const p of [0.1, 0.5, 0.9]) {
      let fired = 0;
      for (let i = 0; i < 10_000; i++) if (unitFromKey(`r${i}`) < p) fired++;
      assert.ok(Math.abs(fired / 10_000 - p) < 0.03, `p=${p}: ${fired}`);
    }
  });
});
