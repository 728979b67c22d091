import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  compareAtoms,
  dedicatedHittingSets,
  prepareSupports,
  type Atom,
  type HittingSetExclusions,
  type HittingSetQuery,
  type HittingSetResult,
} from '../../src/ldfi/index.js';
import { satHittingSets } from '../../src/ldfi/sat.js';
import { RUNS, whereOf } from '../helpers.js';

const ENUMERATORS = [
  ['dedicated', dedicatedHittingSets],
  ['sat', satHittingSets],
] as const;

// ---------------------------------------------------------------------------------------------
// The reference: every subset of the atoms, checked one by one.

function hits(set: readonly Atom[], supports: readonly (readonly Atom[])[]): boolean {
  return supports.every((s) => s.some((a) => set.includes(a)));
}

function subsetsOfSize<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  const out: T[][] = [];
  items.forEach((x, i) => {
    for (const rest of subsetsOfSize(items.slice(i + 1), k - 1)) out.push([x, ...rest]);
  });
  return out;
}

/**
 * Minimal hitting sets of size 1..k by brute force, filtered by the exclusions, ordered by size,
 * then by the documented heuristic: atoms ranked by the number of distinct supports containing
 * them (more first), then compareAtoms; sets compared by their sorted rank vectors.
 */
function reference(supports: readonly (readonly Atom[])[], k: number, exclude: HittingSetExclusions<Atom> = {}): Atom[][] {
  if (supports.length === 0 || supports.some((s) => s.length === 0)) return [];
  const distinct = [...new Map(supports.map((s) => [[...new Set(s)].sort(compareAtoms).join('\u0000'), [...new Set(s)]])).values()];
  const count = new Map<Atom, number>();
  for (const s of distinct) for (const a of s) count.set(a, (count.get(a) ?? 0) + 1);
  const universe = [...count.keys()].sort((x, y) => count.get(y)! - count.get(x)! || compareAtoms(x, y));
  const rank = new Map(universe.map((a, i) => [a, i]));
  const asList = (s: Iterable<Atom>): Atom[] => [...new Set(s)];
  const out: Atom[][] = [];
  for (let size = 1; size <= k; size++) {
    const level = subsetsOfSize(universe, size).filter(
      (x) =>
        hits(x, distinct) &&
        x.every((_, i) => !hits([...x.slice(0, i), ...x.slice(i + 1)], distinct)) &&
        !(exclude.failures ?? []).some((f) => asList(f).every((a) => x.includes(a))) &&
        !(exclude.tried ?? []).some((t) => asList(t).length === x.length && x.every((a) => asList(t).includes(a))) &&
        !(exclude.tolerated ?? []).some((t) => x.every((a) => asList(t).includes(a))),
    );
    level.sort((p, q) => {
      const rp = p.map((a) => rank.get(a)!).sort((a, b) => a - b);
      const rq = q.map((a) => rank.get(a)!).sort((a, b) => a - b);
      for (let i = 0; i < rp.length; i++) if (rp[i] !== rq[i]) return rp[i]! - rq[i]!;
      return 0;
    });
    for (const x of level) out.push([...x].sort(compareAtoms));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Random instances: ≤ 12 atoms, ≤ 10 supports, k ≤ 3.

const ATOMS = 'abcdefghijkl'.split('');
const atomArb = fc.constantFrom(...ATOMS);
/** Exclusion sets may name an atom no support has ('z'). */
const exclusionSetArb = fc.array(fc.constantFrom(...ATOMS, 'z'), { minLength: 1, maxLength: 4 });
const instanceArb = fc.record({
  supports: fc.array(fc.array(atomArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 10 }),
  k: fc.integer({ min: 0, max: 3 }),
  exclude: fc.record(
    {
      failures: fc.array(exclusionSetArb, { maxLength: 3 }),
      tried: fc.array(exclusionSetArb, { maxLength: 3 }),
      tolerated: fc.array(exclusionSetArb, { maxLength: 2 }),
    },
    { requiredKeys: [] },
  ),
});

function check(result: HittingSetResult<Atom>, supports: readonly (readonly Atom[])[], exclude: HittingSetExclusions<Atom>): void {
  for (const set of result.sets) {
    assert.ok(hits(set, supports), `${JSON.stringify(set)} hits every support`);
    for (let i = 0; i < set.length; i++) {
      assert.ok(!hits([...set.slice(0, i), ...set.slice(i + 1)], supports), `${JSON.stringify(set)} is minimal`);
    }
    for (const f of exclude.failures ?? []) assert.ok(![...f].every((a) => set.includes(a)), 'no superset of a failure');
    for (const t of exclude.tolerated ?? []) assert.ok(!set.every((a) => [...t].includes(a)), 'no subset of a tolerated set');
  }
  for (let i = 1; i < result.sets.length; i++) assert.ok(result.sets[i - 1]!.length <= result.sets[i]!.length, 'smallest first');
}

describe('minimal hitting sets: both enumerators against brute force', () => {
  it('return exactly the reference sets, in the reference order (property)', () => {
    fc.assert(
      fc.property(instanceArb, ({ supports, k, exclude }) => {
        const want = reference(supports, k, exclude);
        for (const [name, enumerate] of ENUMERATORS) {
          const r = enumerate({ supports, maxSize: k, exclude });
          assert.deepEqual(r.sets, want, name);
          assert.equal(r.status, 'complete', name);
          check(r, supports, exclude);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('agree on integer atoms, which order numerically (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 11 }), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 3 }),
        (supports, k) => {
          const want = reference(supports, k);
          assert.deepEqual(dedicatedHittingSets({ supports, maxSize: k }).sets, want);
          assert.deepEqual(satHittingSets({ supports, maxSize: k }).sets, want);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('the first n are a prefix of the whole answer; status says whether more may exist (property)', () => {
    fc.assert(
      fc.property(instanceArb, fc.integer({ min: 0, max: 6 }), ({ supports, k, exclude }, n) => {
        const all = dedicatedHittingSets({ supports, maxSize: k, exclude }).sets;
        for (const [name, enumerate] of ENUMERATORS) {
          const r = enumerate({ supports, maxSize: k, exclude, limit: n });
          assert.deepEqual(r.sets, all.slice(0, n), name);
          if (n < all.length) assert.equal(r.status, 'limit', name);
          if (n > all.length) assert.equal(r.status, 'complete', name);
        }
      }),
      RUNS,
    );
  });

  it('prepared supports give the same answers as raw ones (property)', () => {
    fc.assert(
      fc.property(instanceArb, ({ supports, k, exclude }) => {
        const prepared = prepareSupports(supports);
        const want = dedicatedHittingSets({ supports, maxSize: k, exclude }).sets;
        assert.deepEqual(dedicatedHittingSets({ supports: prepared, maxSize: k, exclude }).sets, want);
        // Reusing the prepared supports (and the dedicated search's cached bitsets) changes nothing.
        assert.deepEqual(dedicatedHittingSets({ supports: prepared, maxSize: k, exclude }).sets, want);
        assert.deepEqual(satHittingSets({ supports: prepared, maxSize: k, exclude }).sets, want);
      }),
      { numRuns: 100 },
    );
  });
});

describe('minimal hitting sets: edge cases', () => {
  for (const [name, enumerate] of ENUMERATORS) {
    describe(name, () => {
      it('the example: a shared call alone, or both alternatives together', () => {
        const r = enumerate({ supports: [['edge->api', 'api->cache'], ['edge->api', 'api->db']], maxSize: 2 });
        assert.deepEqual(r.sets, [['edge->api'], ['api->cache', 'api->db']]);
        assert.equal(r.status, 'complete');
        assert.equal(r.stats.solver, name);
        assert.equal(r.stats.atoms, 3);
        assert.equal(r.stats.supports, 2);
        assert.equal(r.stats.sizeSearched, 2);
      });

      it('no supports: nothing to explain, no hypothesis (not the empty set)', () => {
        for (const maxSize of [0, 2]) {
          const r = enumerate({ supports: [], maxSize });
          assert.deepEqual(r.sets, []);
          assert.equal(r.status, 'no-supports');
        }
      });

      it('an empty support: unhittable, no hypothesis, and says which support', () => {
        for (const maxSize of [0, 1, 3]) {
          const r = enumerate({ supports: [['a', 'b'], [], ['c'], new Set<string>()], maxSize });
          assert.deepEqual(r.sets, []);
          assert.equal(r.status, 'unhittable');
          assert.deepEqual(r.emptySupports, [1, 3]);
        }
      });

      it('k = 0 proposes nothing, and says so as complete', () => {
        const r = enumerate({ supports: [['a']], maxSize: 0 });
        assert.deepEqual(r.sets, []);
        assert.equal(r.status, 'complete');
      });

      it('duplicate atoms and duplicate supports change nothing', () => {
        const plain = enumerate({ supports: [['a', 'b'], ['b', 'c'], ['c', 'd']], maxSize: 3 });
        const dup = enumerate({ supports: [['a', 'b', 'a'], ['b', 'c'], ['c', 'b'], ['c', 'd', 'd', 'c'], ['a', 'b']], maxSize: 3 });
        assert.deepEqual(dup.sets, plain.sets);
        assert.equal(dup.stats.supports, 3);
        // b and c are in two supports (ranks 0, 1), a and d in one (2, 3): {b,c} < {b,d} < {a,c}.
        assert.deepEqual(plain.sets, [['b', 'c'], ['b', 'd'], ['a', 'c']]);
      });

      it('accepts Sets for supports and exclusions', () => {
        const r = enumerate({ supports: [new Set(['a', 'b']), new Set(['a', 'c'])], maxSize: 2, exclude: { tried: [new Set(['a'])] } });
        assert.deepEqual(r.sets, [['b', 'c']]);
      });

      it('failures exclude their supersets, themselves included', () => {
        const supports = [['a', 'b'], ['a', 'c']];
        assert.deepEqual(enumerate({ supports, maxSize: 2, exclude: { failures: [['a']] } }).sets, [['b', 'c']]);
        assert.deepEqual(enumerate({ supports, maxSize: 2, exclude: { failures: [['b']] } }).sets, [['a']]);
        // An empty failure set: the request fails with no fault, every set is a superset of it.
        const r = enumerate({ supports, maxSize: 2, exclude: { failures: [[]] } });
        assert.deepEqual(r.sets, []);
        assert.equal(r.status, 'complete');
        // A failure naming an atom no support has can never be contained.
        assert.deepEqual(enumerate({ supports, maxSize: 2, exclude: { failures: [['a', 'zz']] } }).sets, [['a'], ['b', 'c']]);
      });

      it('tried skips exactly that set; tolerated skips its subsets too', () => {
        const supports = [['a', 'b'], ['a', 'c'], ['d', 'b', 'c']];
        // No single atom hits all three; a, b, c rank 0, 1, 2 (two supports each), d 3.
        const all = enumerate({ supports, maxSize: 2 }).sets;
        assert.deepEqual(all, [['a', 'b'], ['a', 'c'], ['a', 'd'], ['b', 'c']]);
        assert.deepEqual(enumerate({ supports, maxSize: 2, exclude: { tried: [['a', 'b', 'c']] } }).sets, all);
        assert.deepEqual(enumerate({ supports, maxSize: 2, exclude: { tried: [['b', 'a']] } }).sets, all.slice(1));
        assert.deepEqual(enumerate({ supports, maxSize: 2, exclude: { tolerated: [['a', 'b', 'c']] } }).sets, [['a', 'd']]);
        // Tolerated atoms outside every support are irrelevant: {a,b,z} still covers {a,b}.
        assert.deepEqual(enumerate({ supports, maxSize: 2, exclude: { tolerated: [['a', 'b', 'z']] } }).sets, all.slice(1));
      });

      it('orders mixed atoms: numbers before strings', () => {
        const r = enumerate({ supports: [['b', 2, 'a', 10]], maxSize: 1 });
        assert.deepEqual(r.sets, [[2], [10], ['a'], ['b']]);
      });

      it('a weight overrides the default (support count) ranking', () => {
        const supports = [['x', 'y'], ['x', 'z']];
        assert.deepEqual(enumerate({ supports, maxSize: 2 }).sets, [['x'], ['y', 'z']]);
        assert.deepEqual(enumerate({ supports, maxSize: 2, weight: new Map([['z', 5]]) }).sets, [['x'], ['y', 'z']], 'size first');
        const three = [['a', 'p', 'q'], ['b', 'p', 'q'], ['c', 'p', 'q']];
        assert.deepEqual(enumerate({ supports: three, maxSize: 1 }).sets, [['p'], ['q']]);
        assert.deepEqual(enumerate({ supports: three, maxSize: 1, weight: new Map([['q', 5]]) }).sets, [['q'], ['p']]);
        const byFn = enumerate({ supports: [['p', 'q']], maxSize: 1, weight: (a: string) => (a === 'q' ? 1 : 0) });
        assert.deepEqual(byFn.sets, [['q'], ['p']]);
      });

      it('a limit of 0 returns nothing and says limit', () => {
        const r = enumerate({ supports: [['a']], maxSize: 1, limit: 0 });
        assert.deepEqual(r.sets, []);
        assert.equal(r.status, 'limit');
      });
    });
  }

  it('ties: more supports first, then the atom id', () => {
    // c is in three supports, a and b in two, d in one.
    const supports = [['a', 'c'], ['b', 'c'], ['a', 'b', 'c', 'd'], ['a', 'b']];
    const r = dedicatedHittingSets({ supports, maxSize: 2 });
    assert.deepEqual(r.sets, [['a', 'b'], ['a', 'c'], ['b', 'c']]);
  });

  it('a deadline stops the search and returns valid sets found so far', () => {
    // 40 supports of 25 draws from 60 atoms: 62 minimal sets of size 4, ~25k of size 5, ~840k of
    // size 6 (seconds of search), so a 30 ms budget always ends inside the search.
    let seed = 7;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
    const supports = Array.from({ length: 40 }, () => Array.from({ length: 25 }, () => Math.floor(rnd() * 60)));
    for (const [name, enumerate] of ENUMERATORS) {
      const r = enumerate({ supports, maxSize: 6, deadlineMs: 30 });
      assert.equal(r.status, 'deadline', name);
      assert.ok(r.stats.sizeSearched < 6, name);
      check(r, supports, {});
    }
  });

  it('rejects bad input with the field named', () => {
    const ok = { supports: [['a']], maxSize: 1 };
    const bad: [Partial<HittingSetQuery<any>>, string][] = [
      [{ maxSize: -1 }, 'query.maxSize'],
      [{ maxSize: 1.5 }, 'query.maxSize'],
      [{ maxSize: '2' as unknown as number }, 'query.maxSize'],
      [{ limit: -1 }, 'query.limit'],
      [{ deadlineMs: Number.NaN }, 'query.deadlineMs'],
      [{ supports: 'a' as unknown as string[][] }, 'query.supports'],
      [{ supports: [['a', {}]] as unknown as string[][] }, 'query.supports[0][1]'],
      [{ supports: [['a'], [1.5]] }, 'query.supports[1][0]'],
      [{ supports: ['ab'] as unknown as string[][] }, 'query.supports[0]'],
      [{ exclude: { failures: [[null]] } as unknown as HittingSetExclusions<string> }, 'query.exclude.failures[0][0]'],
      [{ exclude: { tried: 'a' } as unknown as HittingSetExclusions<string> }, 'query.exclude.tried'],
      [{ weight: (() => Number.NaN) as (a: string) => number }, 'query.weight'],
      [{ supports: prepareSupports([['a']]), weight: () => 1 }, 'query.weight'],
    ];
    for (const [patch, where] of bad) {
      for (const [, enumerate] of ENUMERATORS) {
        assert.equal(whereOf(() => enumerate({ ...ok, ...patch } as HittingSetQuery<string>)), where, JSON.stringify(patch));
      }
    }
  });
});
