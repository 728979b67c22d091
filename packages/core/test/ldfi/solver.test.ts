import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  dedicatedSolver,
  defaultSolver,
  enumerateHittingSets,
  FAULT_ATOM_SEPARATOR,
  faultAtom,
  faultAtomSupport,
  nextHypotheses,
  parseFaultAtom,
  prepareSupports,
  type HittingSetSolver,
} from '../../src/ldfi/index.js';
import { ALL_SOLVERS as SOLVERS, satSolver } from '../../src/ldfi/sat.js';
import { pointId } from '../../src/index.js';
import { RUNS, whereOf } from '../helpers.js';

describe('solver selection', () => {
  it('names both enumerators; the default is one of them', () => {
    assert.equal(SOLVERS.get('dedicated'), dedicatedSolver);
    assert.equal(SOLVERS.get('sat'), satSolver);
    assert.ok([...SOLVERS.values()].includes(defaultSolver));
  });

  it('enumerateHittingSets uses the default unless told otherwise', () => {
    const query = { supports: [['edge->api', 'api->cache'], ['edge->api', 'api->db']], maxSize: 2, exclude: { failures: [['edge->api']] } };
    assert.equal(enumerateHittingSets(query).stats.solver, defaultSolver.name);
    for (const solver of SOLVERS.values()) {
      const r = enumerateHittingSets(query, solver);
      assert.deepEqual(r.sets, [['api->cache', 'api->db']]);
      assert.equal(r.stats.solver, solver.name);
    }
  });

  it('accepts any solver with the interface', () => {
    const calls: unknown[] = [];
    const spy: HittingSetSolver = {
      name: 'spy',
      enumerate(query) {
        calls.push(query.limit);
        return dedicatedSolver.enumerate(query);
      },
    };
    assert.deepEqual(nextHypotheses({ supports: [['a', 'b']], maxSize: 1 }, 1, spy).sets, [['a']]);
    assert.deepEqual(calls, [1]);
  });
});

describe('nextHypotheses', () => {
  it('walks an engine loop: propose, learn, propose again', () => {
    // GET /home succeeded through the cache; then, with the cache failed, through the database.
    const supports = [['edge->api', 'api->cache']];
    let r = nextHypotheses({ supports, maxSize: 2 }, 2);
    assert.deepEqual(r.sets, [['api->cache'], ['edge->api']]);
    assert.equal(r.status, 'complete');
    // Injecting api->cache was tolerated and the run used the database: a new support.
    supports.push(['edge->api', 'api->db']);
    r = nextHypotheses({ supports, maxSize: 2, exclude: { tried: [['api->cache']] } }, 1);
    assert.deepEqual(r.sets, [['edge->api']]);
    assert.equal(r.status, 'limit');
    // edge->api failed the request: a bug found. Next: both back ends at once.
    r = nextHypotheses({ supports, maxSize: 2, exclude: { failures: [['edge->api']] } }, 5);
    assert.deepEqual(r.sets, [['api->cache', 'api->db']]);
    // Tolerated too: nothing of size ≤ 2 is left to try, and the answer is complete.
    r = nextHypotheses({ supports, maxSize: 2, exclude: { failures: [['edge->api']], tolerated: [['api->cache', 'api->db']] } }, 5);
    assert.deepEqual(r.sets, []);
    assert.equal(r.status, 'complete');
  });

  it('is the first n of the full enumeration, for both solvers (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 5 }),
        (supports, n) => {
          const all = enumerateHittingSets({ supports, maxSize: 3 }).sets;
          for (const solver of SOLVERS.values()) assert.deepEqual(nextHypotheses({ supports, maxSize: 3 }, n, solver).sets, all.slice(0, n));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('keeps a smaller limit from the query, and works on prepared supports', () => {
    const supports = prepareSupports([['a', 'b', 'c']]);
    assert.deepEqual(nextHypotheses({ supports, maxSize: 1, limit: 1 }, 3).sets, [['a']]);
    assert.deepEqual(nextHypotheses({ supports, maxSize: 1 }, 3).sets, [['a'], ['b'], ['c']]);
  });

  it('rejects a bad n', () => {
    for (const n of [-1, 1.5, Number.NaN, '1']) assert.equal(whereOf(() => nextHypotheses({ supports: [['a']], maxSize: 1 }, n as number)), 'n');
  });
});

describe('fault atoms: (point, kind) pairs', () => {
  it('formats and parses', () => {
    const point = pointId({ caller: 'edge', target: 'profiles', method: 'GET', route: '/profiles/:id' });
    assert.equal(faultAtom(point, 'hang'), `edge->profiles GET /profiles/:id${FAULT_ATOM_SEPARATOR}hang`);
    assert.deepEqual(parseFaultAtom(faultAtom(point, 'status')), { point, kind: 'status' });
    // A route may contain the separator; the kind never does.
    assert.deepEqual(parseFaultAtom('a->b GET /x#y#error'), { point: 'a->b GET /x#y', kind: 'error' });
  });

  it('round-trips any point and kind name (property)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }), fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/), (point, kind) => {
        assert.deepEqual(parseFaultAtom(faultAtom(point, kind)), { point, kind });
      }),
      RUNS,
    );
  });

  it('parses only fault atoms', () => {
    for (const bad of ['', 'a->b GET /x', '#error', 'a->b GET /x#', 'a#b c', 'x#err/or']) assert.equal(parseFaultAtom(bad), undefined, bad);
  });

  it('rejects a bad point or kind', () => {
    assert.equal(whereOf(() => faultAtom('', 'error')), 'point');
    for (const kind of ['', 'a#b', 'has space', 7]) assert.equal(whereOf(() => faultAtom('a->b x', kind as string)), 'kind');
  });

  it('expands a support over points into one over (point, kind) atoms', () => {
    assert.deepEqual(faultAtomSupport(['a->b GET /x'], ['error', 'hang']), ['a->b GET /x#error', 'a->b GET /x#hang']);
    const kinds = (p: string): string[] => (p.startsWith('a->cache') ? ['error'] : ['error', 'delay']);
    assert.deepEqual(faultAtomSupport(new Set(['a->cache get', 'a->db q']), kinds), ['a->cache get#error', 'a->db q#error', 'a->db q#delay']);
  });

  it('solves over fault atoms: a hang at the shared call, or errors at both alternatives', () => {
    // The fallback to the database survived an error at the cache, but the error never hit a hang;
    // with per-kind supports the solver explores kinds as well as points.
    const supports = [
      faultAtomSupport(['edge->api GET /home', 'api->cache get'], ['error']),
      faultAtomSupport(['edge->api GET /home', 'api->db query'], ['error']),
    ];
    const r = enumerateHittingSets({ supports, maxSize: 2 });
    assert.deepEqual(r.sets, [['edge->api GET /home#error'], ['api->cache get#error', 'api->db query#error']]);
  });
});
