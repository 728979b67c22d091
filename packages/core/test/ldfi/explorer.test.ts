import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Explorer, LabcoatInputError, type ExplorationResult, type Experiment, type ExplorerOptions, type Fault } from '../../src/index.js';
import { MODES, minimalFailureSets, run, type TCall, type TService, type TSystem } from './sim.js';

const key = (fs: readonly Fault[]): string => fs.map((f) => `${f.point}#${f.mode}`).sort().join(' + ');

interface Driven {
  readonly result: ExplorationResult;
  readonly experiments: Experiment[];
}

/** Runs an exploration of `system` to its end. `flaky(point, experiment)` fails a call without a plan. */
function explore(system: TSystem, options: Partial<ExplorerOptions> = {}, flaky?: (point: string, e: Experiment) => boolean): Driven {
  const explorer = new Explorer({ maxFaults: 2, faults: MODES, critical: { services: ['auth'] }, seed: 1, ...options });
  const experiments: Experiment[] = [];
  for (let e = explorer.next(); e; e = explorer.next()) {
    experiments.push(e);
    const current = e;
    explorer.record(e, run(system, e.faults, e.id, flaky ? (p) => flaky(p, current) : undefined));
  }
  return { result: explorer.result(), experiments };
}

const found = (r: ExplorationResult, k = 2): string[] => r.failureSets.filter((f) => !f.critical && f.faults.length <= k).map((f) => key(f.faults)).sort();

/**
 * A small healthy system: a critical auth, a profile with a static fallback, recommendations that
 * fall back to trending (itself guarded), a guarded ratings call beneath, fire-and-forget telemetry.
 */
function healthy(overrides: Partial<Record<string, TService>> = {}, edgeCalls?: TCall[]): TSystem {
  const services: Record<string, TService> = {
    edge: {
      calls: edgeCalls ?? [
        { point: 'edge->auth GET /session', target: 'auth' },
        { point: 'edge->profiles GET /p', target: 'profiles', guard: { timeoutMs: 40, fallback: 'static' } },
        {
          point: 'edge->recs GET /r',
          target: 'recs',
          guard: { timeoutMs: 60, fallback: { point: 'edge->trending GET /t', target: 'trending', guard: { timeoutMs: 30, fallback: 'static' } } },
        },
        { point: 'edge->telemetry POST /e', target: 'telemetry', optional: 'forget' },
      ],
    },
    auth: { calls: [{ point: 'auth->sessions get' }] },
    profiles: { calls: [{ point: 'profiles->db get' }] },
    recs: { calls: [{ point: 'recs->model get' }, { point: 'recs->ratings GET /x', target: 'ratings', guard: { timeoutMs: 20, fallback: 'static' } }] },
    ratings: { calls: [{ point: 'ratings->db get' }] },
    trending: { calls: [] },
    telemetry: { calls: [{ point: 'telemetry->queue publish' }] },
    ...overrides,
  } as Record<string, TService>;
  return { entry: 'edge', services, deadlineMs: 500 };
}

describe('Explorer on a small system', () => {
  it('certifies a system with no non-critical failure set for k = 2', () => {
    const system = healthy();
    assert.deepEqual(minimalFailureSets(system, 2).filter((s) => !s.includes('auth')), []);
    const { result } = explore(system);
    assert.equal(result.stopped, 'certified');
    assert.deepEqual(result.certified, { maxFaults: 2, complete: true });
    assert.equal(result.finished, true);
    assert.deepEqual(found(result), []);
    // The critical hypotheses were skipped, not run.
    assert.ok(result.skippedCritical!.length >= 6);
    assert.ok(result.skippedCritical!.every((s) => s.every((f) => f.point.startsWith('edge->auth') || f.point.startsWith('auth->'))));
    assert.ok(result.points.includes('edge->trending GET /t'), 'the fallback path was found');
    assert.ok(result.byPurpose.batch > 0);
    assert.match(result.notes.join('\n'), /assumed monotonicity/);
  });

  it('finds a planted single-fault bug (a non-critical call with no fallback)', () => {
    const system = healthy({}, [
      { point: 'edge->auth GET /session', target: 'auth' },
      { point: 'edge->profiles GET /p', target: 'profiles' },
      { point: 'edge->recs GET /r', target: 'recs', guard: { timeoutMs: 60, fallback: 'static' } },
    ]);
    const truth = minimalFailureSets(system, 2).filter((s) => !s.includes('auth'));
    assert.ok(truth.includes('edge->profiles GET /p#error'));
    const { result } = explore(system);
    assert.equal(result.stopped, 'certified');
    assert.deepEqual(found(result), truth);
    const bug = result.failureSets.find((f) => key(f.faults) === 'edge->profiles GET /p#error')!;
    assert.equal(bug.critical, false);
    assert.equal(bug.symptom, 'HTTP 500');
    assert.deepEqual(bug.neverFired, []);
  });

  it('finds a two-fault bug: a fallback that calls a dependency with no fallback of its own', () => {
    const system = healthy({}, [
      { point: 'edge->auth GET /session', target: 'auth' },
      { point: 'edge->recs GET /r', target: 'recs', guard: { timeoutMs: 60, fallback: { point: 'edge->trending GET /t', target: 'trending' } } },
    ]);
    const truth = minimalFailureSets(system, 2).filter((s) => !s.includes('auth'));
    assert.ok(truth.includes('edge->recs GET /r#error + edge->trending GET /t#503'));
    const { result } = explore(system);
    assert.deepEqual(found(result), truth);
    assert.ok(result.failureSets.every((f) => f.critical || f.faults.length === 2));
  });

  it('finds a bug only a hang shows (nested timeouts), though the same point tolerates an error', () => {
    const system = healthy({}, [
      { point: 'edge->auth GET /session', target: 'auth' },
      // The fallback waits 800 ms, past the 500 ms deadline.
      { point: 'edge->profiles GET /p', target: 'profiles', guard: { timeoutMs: 800, fallback: 'static' } },
    ]);
    const truth = minimalFailureSets(system, 2).filter((s) => !s.includes('auth'));
    assert.deepEqual(truth, ['edge->profiles GET /p#hang', 'profiles->db get#hang']);
    const { result, experiments } = explore(system);
    assert.deepEqual(found(result), truth);
    // The error and 503 modes at the same point were injected and tolerated.
    const injected = new Set(experiments.flatMap((e) => e.faults.map((f) => `${f.point}#${f.mode}`)));
    assert.ok(injected.has('edge->profiles GET /p#error'));
    assert.equal(result.failureSets.find((f) => key(f.faults) === 'edge->profiles GET /p#hang')!.symptom, 'deadline exceeded');
  });

  it('finds an optional call that is awaited after all (its hint is refuted)', () => {
    const system = healthy({}, [
      { point: 'edge->auth GET /session', target: 'auth' },
      { point: 'edge->profiles GET /p', target: 'profiles', guard: { timeoutMs: 40, fallback: 'static' } },
      { point: 'edge->telemetry POST /e', target: 'telemetry', optional: 'awaited' },
    ]);
    const truth = minimalFailureSets(system, 2).filter((s) => !s.includes('auth'));
    assert.ok(truth.includes('edge->telemetry POST /e#error'));
    const { result } = explore(system);
    assert.deepEqual(found(result), truth);
    assert.ok(result.hints!.refuted > 0);
  });

  it('reports sets made only of critical faults as critical when they are not skipped', () => {
    const { result } = explore(healthy(), { skipCritical: false });
    const critical = result.failureSets.filter((f) => f.critical);
    assert.ok(critical.some((f) => key(f.faults) === 'edge->auth GET /session#error'));
    assert.ok(critical.some((f) => key(f.faults) === 'auth->sessions get#hang'));
    assert.deepEqual(found(result), []);
    assert.deepEqual(result.skippedCritical, []);
    assert.equal(result.certified.complete, true);
  });

  it('critical by point glob as well as by service', () => {
    const { result } = explore(healthy(), { skipCritical: false, critical: { points: ['edge->auth **', 'auth->*'] } });
    assert.ok(result.failureSets.length > 0);
    assert.ok(result.failureSets.every((f) => f.critical));
  });

  it('batching needs fewer experiments than one hypothesis per experiment, and finds the same sets', () => {
    // Eight independent parts of a page, each with a fallback, each reading its own database.
    const calls: TCall[] = [{ point: 'edge->auth GET /session', target: 'auth' }];
    const services: Record<string, TService> = { auth: { calls: [{ point: 'auth->sessions get' }] } };
    for (let i = 0; i < 8; i++) {
      calls.push({ point: `edge->row${i} GET /row`, target: `row${i}`, guard: { timeoutMs: 30, fallback: 'static' } });
      services[`row${i}`] = { calls: [{ point: `row${i}->db get` }] };
    }
    // One bug among them: row3's fallback waits past the deadline.
    calls[4] = { ...calls[4]!, guard: { timeoutMs: 900, fallback: 'static' } };
    const system: TSystem = { entry: 'edge', services: { edge: { calls }, ...services }, deadlineMs: 500 };
    const batched = explore(system).result;
    const single = explore(system, { batching: false }).result;
    assert.equal(batched.certified.complete, true);
    assert.equal(single.certified.complete, true);
    assert.deepEqual(found(batched), found(single));
    assert.deepEqual(found(batched), minimalFailureSets(system, 2).filter((s) => !s.includes('auth')));
    assert.ok(batched.experiments * 2 < single.experiments, `${batched.experiments} batched vs ${single.experiments} one by one`);
    assert.equal(single.byPurpose.batch + single.byPurpose.split + single.byPurpose.verify, 0);
    assert.equal(single.monotonicity!.assumed, false);
  });

  it('reruns a failing hypothesis and tells a flake from a failure', () => {
    const system = healthy();
    let flaked: number | undefined;
    const { result, experiments } = explore(system, { batching: false }, (point, e) => {
      // The critical session store fails once, during the first injected experiment.
      if (point === 'auth->sessions get' && e.purpose !== 'baseline' && (flaked === undefined || flaked === e.id)) {
        flaked = e.id;
        return true;
      }
      return false;
    });
    assert.ok(flaked !== undefined);
    const flakedAt = experiments.findIndex((e) => e.id === flaked);
    assert.equal(experiments[flakedAt + 1]!.purpose, 'rerun');
    assert.deepEqual(experiments[flakedAt + 1]!.faults, experiments[flakedAt]!.faults);
    assert.match(result.notes.join('\n'), /flaky/);
    assert.deepEqual(found(result), []);
    assert.equal(result.certified.complete, true);
    // A flake that fails a batch: its parts all pass, and the note says so.
    let batchFlaked: number | undefined;
    const batched = explore(system, {}, (point, e) => {
      if (point === 'auth->sessions get' && e.purpose === 'batch' && (batchFlaked === undefined || batchFlaked === e.id)) {
        batchFlaked = e.id;
        return true;
      }
      return false;
    }).result;
    assert.ok(batchFlaked !== undefined);
    assert.match(batched.notes.join('\n'), /flaky/);
    assert.deepEqual(found(batched), []);
    assert.equal(batched.certified.complete, true);
  });

  it('confirms a real failure with one rerun, and none when reruns are off', () => {
    const system = healthy({}, [
      { point: 'edge->auth GET /session', target: 'auth' },
      { point: 'edge->profiles GET /p', target: 'profiles' },
    ]);
    const withReruns = explore(system, { batching: false }).result;
    const without = explore(system, { batching: false, rerunFailures: false }).result;
    assert.equal(withReruns.byPurpose.rerun, withReruns.failureSets.length);
    assert.equal(without.byPurpose.rerun, 0);
    assert.deepEqual(found(withReruns), found(without));
  });

  it('stops at the experiment budget, and at the first failure when asked', () => {
    const buggy = healthy({}, [
      { point: 'edge->auth GET /session', target: 'auth' },
      { point: 'edge->profiles GET /p', target: 'profiles' },
      { point: 'edge->recs GET /r', target: 'recs', guard: { timeoutMs: 60, fallback: 'static' } },
    ]);
    const budget = explore(buggy, { maxExperiments: 5 }).result;
    assert.equal(budget.stopped, 'budget');
    assert.equal(budget.experiments, 5);
    assert.equal(budget.certified.complete, false);
    const first = explore(buggy, { stopAtFirstFailure: true }).result;
    assert.equal(first.stopped, 'first-failure');
    assert.equal(first.failureSets.filter((f) => !f.critical).length, 1);
  });

  it('stops on a time budget', () => {
    let clock = 0;
    const explorer = new Explorer({ maxFaults: 2, faults: MODES, maxDurationMs: 10, now: () => clock });
    const system = healthy();
    let n = 0;
    for (let e = explorer.next(); e; e = explorer.next()) {
      explorer.record(e, run(system, e.faults, e.id));
      clock += 3;
      n++;
    }
    assert.equal(explorer.result().stopped, 'budget');
    assert.ok(n >= 3 && n <= 5, String(n));
  });

  it('stops when the baseline fails, and notes a nondeterministic baseline', () => {
    const broken = healthy({ auth: { calls: [{ point: 'auth->sessions get' }] } }, [{ point: 'edge->auth GET /session', target: 'auth' }]);
    const failing = explore(broken, {}, (p) => p === 'auth->sessions get').result;
    assert.equal(failing.stopped, 'baseline-failed');
    assert.equal(failing.experiments, 1);
    // Baseline runs that call different points (here: a fallback path on the second run).
    const varying = explore(healthy(), {}, (p, e) => e.id === 2 && p === 'recs->model get').result;
    assert.match(varying.notes.join('\n'), /nondeterministic/);
  });

  it('is deterministic: same options and executions, same experiments', () => {
    const system = healthy({}, [
      { point: 'edge->auth GET /session', target: 'auth' },
      { point: 'edge->recs GET /r', target: 'recs', guard: { timeoutMs: 60, fallback: { point: 'edge->trending GET /t', target: 'trending' } } },
    ]);
    const a = explore(system).experiments;
    const b = explore(system).experiments;
    assert.deepEqual(a, b);
  });

  it('answers the same experiment until its result is recorded, and refuses a result for another', () => {
    const explorer = new Explorer({ maxFaults: 1, faults: MODES });
    const e = explorer.next()!;
    assert.equal(explorer.next(), e);
    assert.throws(() => explorer.record({ ...e, id: 99 }, run(healthy(), [], 0)), LabcoatInputError);
    assert.throws(() => explorer.record(e, { ok: 'yes' } as never), LabcoatInputError);
    explorer.record(e, run(healthy(), [], 0));
    assert.notEqual(explorer.next(), e);
  });

  it('refuses bad options with the field named', () => {
    assert.throws(() => new Explorer({ maxFaults: -1, faults: MODES }), /options\.maxFaults/);
    assert.throws(() => new Explorer({ maxFaults: 2, faults: {} }), /options\.faults/);
    assert.throws(() => new Explorer({ maxFaults: 2, faults: { error: { kind: 'nope' } } }), /options\.faults\.error\.kind/);
    assert.throws(() => new Explorer({ maxFaults: 2, faults: MODES, batchSize: 0 }), /options\.batchSize/);
    assert.throws(() => new Explorer({ maxFaults: 2, faults: MODES, verifyRate: 2 }), /options\.verifyRate/);
    assert.throws(() => new Explorer({ maxFaults: 2, faults: MODES, lineage: 'fuzzy' as never }), /options\.lineage/);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: on random monotone systems, LDFI finds exactly the minimal failure sets.

/**
 * Random small systems that are monotone (failing more never turns a failure into a success): no
 * service swallows errors, no optional call is awaited, and timeouts shrink down the call graph
 * (Hystrix's rule; 200 ms at the edge, 40 ms less per level), so a hang is always cut by the
 * nearest policy above it before any outer one fires, and nothing comes near the deadline. Calls:
 * hard (a failure propagates), guarded with a static fallback, guarded with a fallback that reads a
 * store, retried on a replica (a store), fire-and-forget. (With equal nested timeouts a hang deep
 * down makes an outer timeout fire first: failing the call in between then *helps*, and the system
 * is not monotone; the explorer's tests of that are above.)
 */
const systemArb = fc
  .record({
    services: fc.integer({ min: 2, max: 5 }),
    shape: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 5 }), fc.boolean()), { minLength: 6, maxLength: 10 }),
    critical: fc.boolean(),
  })
  .map(({ services, shape, critical }): TSystem => {
    const names = Array.from({ length: services }, (_, i) => (i === 0 ? 'edge' : `s${i}`));
    const calls: Record<string, TCall[]> = Object.fromEntries(names.map((n) => [n, []]));
    const depth: Record<string, number> = { edge: 0 };
    const budget = (owner: string): number => 200 - 40 * depth[owner]!;
    // Service i > 0 is called by an earlier one (a tree).
    shape.slice(0, services - 1).forEach(([p, kind], i) => {
      const child = names[i + 1]!;
      const parent = names[p % (i + 1)]!;
      depth[child] = depth[parent]! + 1;
      const point = `${parent}->${child} GET /x`;
      const timeoutMs = budget(parent);
      const guard = kind % 3 === 1 ? { timeoutMs, fallback: 'static' as const } : kind % 3 === 2 ? { timeoutMs, fallback: { point: `${parent}->${child}-cache get` } } : undefined;
      calls[parent]!.push({ point, target: child, ...(guard ? { guard } : {}) });
    });
    // Stores.
    shape.slice(services - 1).forEach(([s, kind, hard], i) => {
      const owner = names[s % services]!;
      const point = `${owner}->store${i} get`;
      const timeoutMs = budget(owner) - 40;
      if (kind === 4) calls[owner]!.push({ point, optional: 'forget' });
      else if (kind === 5) calls[owner]!.push({ point, guard: { timeoutMs, replica: { point: `${owner}->store${i}-b get` } } });
      else if (hard) calls[owner]!.push({ point });
      else calls[owner]!.push({ point, guard: { timeoutMs, fallback: 'static' } });
    });
    if (critical) {
      calls['edge']!.unshift({ point: 'edge->auth GET /session', target: 'auth' });
      calls['auth'] = [{ point: 'auth->sessions get' }];
    }
    return { entry: 'edge', services: Object.fromEntries(Object.entries(calls).map(([n, c]) => [n, { calls: c }])), deadlineMs: 5000 };
  });

describe('Explorer property: exactly the minimal failure sets', () => {
  for (const batching of [true, false]) {
    it(`on random monotone systems, k = 2, ${batching ? 'batched' : 'one hypothesis per experiment'}: finds every minimal failure set and certifies`, () => {
      fc.assert(
        fc.property(systemArb, (system) => {
          const truth = minimalFailureSets(system, 2).filter((s) => !s.split(' + ').every((a) => a.startsWith('edge->auth') || a.startsWith('auth->')));
          const { result } = explore(system, { batching });
          assert.equal(result.stopped, 'certified');
          assert.equal(result.certified.complete, true);
          assert.deepEqual(found(result), truth);
          // The certificate "nothing of size ≤ 2 breaks it" holds exactly when brute force finds nothing.
          assert.equal(found(result).length === 0, truth.length === 0);
          assert.equal(result.monotonicity!.violations, 0);
        }),
        { numRuns: 40 },
      );
    });
  }
});
