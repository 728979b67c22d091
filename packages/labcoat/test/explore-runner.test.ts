/**
 * The explore loop: against examples/chain as real processes (with a test-local engine and with
 * the real one, through the library API), and against a simulated in-process service for the
 * parts that need a scripted system (tie-breaks, order dependence, budgets, clean critical failures).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ExplorerOptions, SpanData } from '@labcoat/core';
import { startChain, type Chain } from '../src/chain.js';
import { Collector } from '../src/collector.js';
import { explore } from '../src/explore/api.js';
import { ExploreError } from '../src/explore/errors.js';
import { assertResilient } from '../src/explore/report.js';
import { MemorySpans, ScriptedExplorer, simulatedService, SinglePointExplorer } from './explore-helpers.js';

const KEY = 'explore-runner-test-key-0123456789';

describe('the loop on examples/chain (real processes, test-local engine)', () => {
  let collector: Collector;
  let chain: Chain;
  before(async () => {
    collector = await Collector.start();
    chain = await startChain({ key: KEY, otlpUrl: collector.url });
  });
  after(async () => {
    await chain?.stop();
    await collector?.close();
  });

  test('a planned fault on catalog→ratings fires and the execution is judged', async () => {
    let engine: SinglePointExplorer | undefined;
    const report = await explore({
      target: `${chain.edge.url}/chain/42`,
      key: KEY,
      collector,
      maxFaults: 1,
      faults: '503',
      explorer: (o) => (engine = new SinglePointExplorer(o)),
    });
    const cls = report.classes[0]!;
    assert.equal(cls.name, 'GET /chain/42');
    assert.deepEqual([...cls.points], [chain.points.catalogToRatings, chain.points.edgeToCatalog, chain.points.ratingsToDb]);
    const exp = cls.log.find((r) => r.purpose === 'hypothesis' && r.faults[0]?.point === chain.points.catalogToRatings)!;
    assert.deepEqual(exp.faults, [{ point: chain.points.catalogToRatings, kind: 'status', mode: '503' }]);
    assert.deepEqual(exp.fired, exp.faults, 'the spans show the planned fault fired');
    assert.equal(exp.ok, false);
    assert.equal(exp.symptom, 'HTTP 502');
    assert.equal(exp.complete, true);
    // The engine saw the spans: the faulted client span, labelled by the plan.
    const seen = engine!.recorded.find((r) => r.experiment.id === exp.id)!;
    assert.ok(seen.execution.spans.some((s) => s.attributes['labcoat.point'] === chain.points.catalogToRatings && s.attributes['labcoat.fault'] === 'status:503'));
    // Every single point breaks this chain (no fallbacks anywhere).
    assert.equal(cls.failureSets.length, 3);
    const fs = cls.failureSets.find((f) => f.faults[0]!.point === chain.points.catalogToRatings)!;
    assert.deepEqual(fs.faults, [{ point: chain.points.catalogToRatings, kind: 'status', mode: '503', path: ['edge', 'catalog', 'ratings'] }]);
    assert.equal(fs.critical, false);
    assert.equal(report.bugs, 3);
    assert.equal(cls.certified.complete, true);
    assert.equal(cls.incompleteTraces, 0);
    assert.deepEqual(cls.graph.services, ['catalog', 'edge', 'ratings', 'ratings-db']);
  });

  test('planned vs fired: a fault behind a refused call never fires, and the report says so', async () => {
    const report = await explore({
      target: `${chain.edge.url}/chain/42`,
      key: KEY,
      collector,
      faults: 'error',
      explorer: (o) =>
        new ScriptedExplorer(o, [
          { purpose: 'baseline', faults: [] },
          { purpose: 'hypothesis', faults: [{ point: chain.points.edgeToCatalog, mode: 'error' }, { point: chain.points.catalogToRatings, mode: 'error' }] },
        ]),
    });
    const cls = report.classes[0]!;
    const exp = cls.log[1]!;
    assert.deepEqual(exp.fired.map((f) => f.point), [chain.points.edgeToCatalog]);
    assert.deepEqual(exp.neverFired.map((f) => f.point), [chain.points.catalogToRatings]);
    assert.deepEqual(cls.neverFired, [chain.points.catalogToRatings]);
    assert.equal(exp.ok, false);
  });

  test('a custom oracle can ask what fired', async () => {
    const fired: string[][] = [];
    await explore({
      target: `${chain.edge.url}/chain/42`,
      key: KEY,
      collector,
      faults: 'error',
      expect: { status: ['2xx', '5xx'] },
      oracle: (_outcome, c) => {
        fired.push(c.fired.map((f) => f.point));
        return true;
      },
      explorer: (o) => new SinglePointExplorer(o),
    });
    assert.deepEqual(fired[0], [], 'baseline: nothing planned, nothing fired');
    assert.deepEqual(fired.slice(1).sort(), [[chain.points.catalogToRatings], [chain.points.edgeToCatalog], [chain.points.ratingsToDb]].sort());
  });

  test('a hop that does not join the trace is named, and the run ends with a clear error', async () => {
    // A span source that never sees ratings' spans: as if ratings dropped the context or exported nowhere.
    const blind = { url: collector.url, trace: (id: string): SpanData[] => collector.trace(id).filter((s) => s.service !== 'ratings') };
    const err = await explore({ target: `${chain.edge.url}/chain/42`, key: KEY, collector: blind, spanWaitMs: 300, explorer: (o) => new SinglePointExplorer(o) }).then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ExploreError);
    assert.equal(err.code, 'context');
    assert.match(err.message, /the baseline trace is incomplete/);
    assert.match(err.message, /catalog → ratings did not join the trace: does ratings take the trace context \(traceparent\) from its requests and export spans to http:\/\/127\.0\.0\.1:\d+\/v1\/traces\?/);
  });

  test('no spans at all: the services do not export to the collector', async () => {
    const empty = { url: 'http://127.0.0.1:9/v1/traces', trace: (): SpanData[] => [] };
    await assert.rejects(
      explore({ target: `${chain.edge.url}/chain/42`, key: KEY, collector: empty, spanWaitMs: 100, explorer: (o) => new SinglePointExplorer(o) }),
      (e: Error) => e instanceof ExploreError && e.code === 'no-spans' && /no spans arrived .* export spans to http:\/\/127\.0\.0\.1:9\/v1\/traces \(set LABCOAT_OTLP_URL/.test(e.message),
    );
  });

  test('a baseline that already fails stops the run with the symptom', async () => {
    await assert.rejects(
      explore({ target: `${chain.edge.url}/chain/42`, key: KEY, collector, expect: { json: { '/service': 'catalog' } }, explorer: (o) => new SinglePointExplorer(o) }),
      (e: Error) => e instanceof ExploreError && e.code === 'baseline' && /the request already fails with no fault injected: \/service was "edge", expected "catalog"/.test(e.message),
    );
    await assert.rejects(
      explore({ target: `${chain.edge.url}/nope`, key: KEY, collector, explorer: (o) => new SinglePointExplorer(o) }),
      (e: Error) => e instanceof ExploreError && /already fails with no fault injected: HTTP 404 "not found"/.test(e.message),
    );
  });
});

describe('the library API with the real engine, from node:test', () => {
  let collector: Collector;
  let chain: Chain;
  before(async () => {
    collector = await Collector.start();
    chain = await startChain({ key: KEY, otlpUrl: collector.url });
  });
  after(async () => {
    await chain?.stop();
    await collector?.close();
  });

  test('explore() finds the chain\'s three single points of failure and is complete', async () => {
    const report = await explore({ target: `${chain.edge.url}/chain/42`, key: KEY, collector, maxFaults: 2, faults: ['error'] });
    const cls = report.classes[0]!;
    assert.deepEqual(
      cls.failureSets.map((f) => f.faults.map((x) => `${x.point}:${x.kind}`)),
      [[`${chain.points.catalogToRatings}:error`], [`${chain.points.edgeToCatalog}:error`], [`${chain.points.ratingsToDb}:error`]],
    );
    assert.deepEqual(cls.certified, { maxFaults: 2, complete: true });
    assert.equal(cls.stopped, 'certified');
    assert.throws(() => assertResilient(report), /labcoat found 3 problems/);
  });

  test('stopAtFirstFailure ends the run at the first confirmed failure set', async () => {
    const report = await explore({ target: `${chain.edge.url}/chain/42`, key: KEY, collector, faults: ['error'], stopAtFirstFailure: true });
    const cls = report.classes[0]!;
    assert.equal(cls.failureSets.length, 1);
    assert.equal(cls.stopped, 'first-failure');
    assert.equal(cls.certified.complete, false);
  });

  test('with every service declared critical there is nothing to find: certified', async () => {
    const report = await explore({ target: `${chain.edge.url}/chain/42`, key: KEY, collector, faults: ['error'], critical: { services: ['catalog', 'ratings', 'ratings-db'] } });
    assert.equal(report.bugs, 0);
    assert.equal(report.certified, true);
    assert.doesNotThrow(() => assertResilient(report, { certified: true }));
  });

  test('a workload function sends the request itself with the headers it is given', async () => {
    const report = await explore({
      workload: ({ headers, signal }) => fetch(`${chain.edge.url}/chain/42`, { headers, signal }),
      expect: { json: { '/downstream/body/ratings/body/stars': 5 } },
      key: KEY,
      collector,
      maxFaults: 1,
      faults: 'error',
    });
    assert.equal(report.classes[0]!.failureSets.length, 3);
    assert.equal(report.classes[0]!.certified.complete, true);
  });
});

describe('the loop on a simulated service (scripted engine)', () => {
  const opts = { key: KEY, faults: 'error', spanWaitMs: 200 } as const;
  const fault = (d: string) => ({ point: `svc->${d} get x`, mode: 'error' });

  test('a rerun that disagrees is decided after a reset, and a failure that a reset removes is reported as order-dependent', async () => {
    const spans = new MemorySpans();
    // Faulting `a` is tolerated but leaves a breaker open for the next request (state carried over).
    let breakerOpen = false;
    let resets = 0;
    const svc = simulatedService(spans, ['a', 'b'], (faulted) => {
      const status = breakerOpen ? 503 : 200;
      breakerOpen = faulted.has('svc->a get x');
      return status;
    });
    const report = await explore({
      ...opts,
      workload: svc,
      collector: spans,
      reset: () => {
        resets++;
        breakerOpen = false;
      },
      resetBefore: 'tie-break',
      explorer: (o) =>
        new ScriptedExplorer(o, [
          { purpose: 'baseline', faults: [] },
          { purpose: 'hypothesis', faults: [fault('a')] },
          { purpose: 'hypothesis', faults: [fault('b')] },
          { purpose: 'rerun', faults: [fault('b')] },
        ]),
    });
    const cls = report.classes[0]!;
    assert.equal(resets, 1, 'reset only before the deciding run');
    assert.equal(cls.failureSets.length, 0);
    assert.deepEqual(cls.orderDependent.map((o) => o.faults.map((f) => f.point)), [['svc->b get x']]);
    assert.equal(cls.orderDependent[0]!.symptom, 'HTTP 503 "failed with 503"');
    assert.ok(cls.notes.some((n) => /^depended on order: svc->b get x \(error\) failed during the sequence/.test(n)));
    const decided = cls.log.find((r) => r.tieBreak)!;
    assert.deepEqual(decided.tieBreak, { first: false, rerun: true, decisive: true, afterReset: true });
    assert.equal(cls.byPurpose['tie-break'], 1);
    assert.equal(cls.experiments, 5);
  });

  test('a reset before each experiment (the default) runs every time; a flaky failure is kept and marked', async () => {
    const spans = new MemorySpans();
    let calls = 0;
    let resets = 0;
    const verdicts = [200, 500, 200, 500]; // baseline ok; {c}: fail, pass on rerun, fail when decided
    const svc = simulatedService(spans, ['c'], () => verdicts[calls++] ?? 200);
    const report = await explore({
      ...opts,
      workload: svc,
      collector: spans,
      reset: () => void resets++,
      explorer: (o) =>
        new ScriptedExplorer(o, [
          { purpose: 'baseline', faults: [] },
          { purpose: 'hypothesis', faults: [fault('c')] },
          { purpose: 'rerun', faults: [fault('c')] },
        ]),
    });
    const cls = report.classes[0]!;
    assert.equal(resets, 4, 'before each of 3 experiments and before the deciding run');
    assert.equal(cls.failureSets.length, 1);
    assert.equal(cls.failureSets[0]!.flaky, true);
    assert.ok(cls.notes.some((n) => /^flaky: svc->c get x \(error\) failed, passed on rerun, and failed again after a reset/.test(n)));
    assert.equal(report.bugs, 1);
  });

  test('budgets end the loop: experiments and time', async () => {
    const spans = new MemorySpans();
    const svc = simulatedService(spans, ['a'], () => 200);
    const script = [{ purpose: 'hypothesis' as const, faults: [fault('a')] }];
    const byCount = await explore({ ...opts, workload: svc, collector: spans, budget: 5, explorer: (o) => new ScriptedExplorer(o, script, true) });
    assert.equal(byCount.classes[0]!.experiments, 5);
    assert.equal(byCount.classes[0]!.stopped, 'budget');
    assert.equal(byCount.certified, false);
    const started = Date.now();
    const byTime = await explore({ ...opts, workload: svc, collector: spans, timeBudgetMs: 300, settleMs: 20, explorer: (o) => new ScriptedExplorer(o, script, true) });
    assert.ok(Date.now() - started < 5000);
    assert.equal(byTime.classes[0]!.stopped, 'time-budget');
    assert.equal(byTime.classes[0]!.certified.complete, false);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const interrupted = await explore({ ...opts, workload: svc, collector: spans, settleMs: 20, signal: ac.signal, explorer: (o) => new ScriptedExplorer(o, script, true) });
    assert.equal(interrupted.classes[0]!.stopped, 'interrupted');
  });

  test('a critical failure set must fail cleanly: a 500 where a 503 is expected is a bug', async () => {
    const spans = new MemorySpans();
    const svc = simulatedService(spans, ['auth', 'keys'], (f) => (f.has('svc->auth get x') ? 503 : f.has('svc->keys get x') ? 500 : 200));
    const script = [
      { purpose: 'baseline' as const, faults: [] },
      { purpose: 'rerun' as const, faults: [fault('auth')] },
      { purpose: 'rerun' as const, faults: [fault('keys')] },
    ];
    let passed: ExplorerOptions | undefined;
    const report = await explore({
      ...opts,
      workload: svc,
      collector: spans,
      critical: { services: ['auth', 'keys'], expect: { status: [503] } },
      explorer: (o) => new ScriptedExplorer((passed = o), script),
    });
    // A critical service's own dependencies are critical too (the engine gets them as globs).
    assert.deepEqual(passed?.critical, { services: ['auth', 'keys'], points: ['auth->**', 'keys->**'] });
    const sets = report.classes[0]!.failureSets;
    assert.deepEqual(sets.map((s) => [s.faults[0]!.point, s.critical]), [
      ['svc->keys get x', false],
      ['svc->auth get x', true],
    ]);
    assert.match(sets[0]!.symptom, /^HTTP 500 "failed with 500"; critical dependencies may fail this request, but not like this \(HTTP 500/);
    assert.equal(report.bugs, 1);
  });

  test('a nondeterministic baseline is a baseline error', async () => {
    const spans = new MemorySpans();
    let n = 0;
    const svc = simulatedService(spans, ['a'], () => (n++ === 1 ? 500 : 200));
    await assert.rejects(
      explore({ ...opts, workload: svc, collector: spans, explorer: (o) => new ScriptedExplorer(o, [0, 1, 2].map(() => ({ purpose: 'baseline' as const, faults: [] }))) }),
      (e: Error) => e instanceof ExploreError && e.code === 'baseline' && /the baseline is nondeterministic: it passed, then failed on run 2/.test(e.message),
    );
  });

  test('a workload function that never answers is cut at the deadline', async () => {
    const spans = new MemorySpans();
    const started = Date.now();
    await assert.rejects(
      explore({ ...opts, workload: () => new Promise(() => {}), collector: spans, deadlineMs: 300, explorer: (o) => new ScriptedExplorer(o, [{ purpose: 'baseline', faults: [] }]) }),
      (e: Error) => e instanceof ExploreError && /already fails with no fault injected: no answer within 300 ms/.test(e.message),
    );
    assert.ok(Date.now() - started < 5000);
  });

  test('options are checked before anything runs', async () => {
    const spans = new MemorySpans();
    const usage = (o: Parameters<typeof explore>[0], re: RegExp) => assert.rejects(explore(o), (e: Error) => e instanceof ExploreError && e.code === 'usage' && re.test(e.message));
    await usage({ workload: () => 1, collector: spans, key: '' }, /no plan signing key/);
    await usage({ workload: () => 1, collector: spans, key: 'short' }, /at least 16 bytes/);
    await usage({ workload: () => 1, collector: spans, key: KEY, maxFaults: 0 }, /maxFaults: expected an integer from 1 to 8/);
    await usage({ collector: spans, key: KEY }, /say what to explore/);
    await usage({ target: 'nope', collector: spans, key: KEY }, /target "nope" is not a URL/);
    await usage({ workload: () => 1, collector: spans, key: KEY, faults: 'boom' }, /--faults: .*unknown fault kind/);
  });
});
