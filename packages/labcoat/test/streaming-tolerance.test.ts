/**
 * With every planted bug off, examples/streaming tolerates any single fault on a non-critical point,
 * and pairs of faults. For each request class: the points of a fault-free request (from its spans);
 * every single fault (error, hang, 503, truncated body) on each of them; then the same on the points
 * that only those faulted requests reached (fallback paths: other cache zones, the source of truth,
 * trending…); then 60 seeded random pairs over all the points seen, plus the two-fault sets of
 * bugs.json. Each answer must pass its class's oracle (status, body, deadline). Experiments run
 * 6 at a time; every request has a deadline. An experiment that fails is run once more, alone: only
 * a second failure counts (a tolerance bug is deterministic; a deadline missed because the machine
 * was busy with other tests is not a finding).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isCriticalPoint } from '../src/classes.js';
import { Collector } from '../src/collector.js';
import { loadBugs, runClass, startStreaming, type BugFault, type ExperimentResult, type Streaming } from '../src/streaming.js';
import { describeResult, mapLimit, pointsIn, seeded, spansOf, streamingTestLock } from './streaming-helpers.js';

const PARALLEL = 6;
const PAIRS_PER_CLASS = 60;
type Kind = { kind: string; [param: string]: unknown };
const SINGLE_KINDS: Kind[] = [{ kind: 'error' }, { kind: 'hang' }, { kind: 'status', status: 503 }, { kind: 'malformed', mode: 'truncate', afterBytes: 5 }];
const PAIR_KINDS: Kind[] = [{ kind: 'error' }, { kind: 'hang' }, { kind: 'status', status: 503 }];

let collector: Collector;
let system: Streaming;
let unlock: (() => void) | undefined;

before(async () => {
  unlock = await streamingTestLock();
  collector = await Collector.start();
  system = await startStreaming({ bugs: 'none', otlpUrl: collector.url, warmup: 2 });
});
after(async () => {
  await system?.stop();
  await collector?.close();
  unlock?.();
});

describe('--bugs none tolerates single faults and pairs', () => {
  const classes = startStreamingClasses();
  for (const cls of classes) {
    test(`${cls.method} ${cls.path}`, async (t) => {
      const critical = system.classes.critical;
      const spec = system.classes.classes.find((c) => c.name === cls.name)!;
      const failures: string[] = [];
      const suspects: ExperimentResult[] = [];
      const check = (r: ExperimentResult): void => {
        if (r.violations.length > 0) suspects.push(r);
      };

      const baseline = await runClass(system, spec);
      assert.deepEqual(baseline.violations, [], describeResult(baseline));
      const seen = pointsIn(await spansOf(collector, baseline));
      const baselinePoints = [...seen].filter((p) => !isCriticalPoint(critical, p)).sort();

      // Singles on the baseline's points, then on the points only faulted requests reached.
      let round = baselinePoints;
      let singles = 0;
      for (let depth = 0; depth < 2 && round.length > 0; depth++) {
        const experiments = round.flatMap((point) => SINGLE_KINDS.map((k): BugFault[] => [{ ...k, point }]));
        singles += experiments.length;
        const found = await mapLimit(experiments, PARALLEL, async (faults) => {
          const r = await runClass(system, spec, { faults });
          check(r);
          return pointsIn(await spansOf(collector, r, 3000));
        });
        const next = new Set<string>();
        for (const points of found) for (const p of points) if (!seen.has(p) && !isCriticalPoint(critical, p)) next.add(p);
        for (const p of next) seen.add(p);
        round = [...next].sort();
      }
      const reachable = [...seen].filter((p) => !isCriticalPoint(critical, p)).sort();

      // Pairs: seeded random ones over every point seen, and the two-fault sets bugs.json documents.
      const random = seeded(0x5eed + cls.name.length);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
      const pairs: BugFault[][] = loadBugs()
        .filter((b) => b.class === cls.name)
        .flatMap((b) => b.faultSets.filter((s) => s.length === 2));
      const keys = new Set<string>();
      for (let tries = 0; pairs.length < PAIRS_PER_CLASS && tries < 10_000 && reachable.length >= 2; tries++) {
        const a = pick(reachable);
        const b = pick(reachable);
        if (a === b) continue;
        const pair: BugFault[] = [
          { ...pick(PAIR_KINDS), point: a },
          { ...pick(PAIR_KINDS), point: b },
        ];
        const key = pair.map((f) => `${f.point}|${f.kind}`).sort().join(' + ');
        if (keys.has(key)) continue;
        keys.add(key);
        pairs.push(pair);
      }
      await mapLimit(pairs, PARALLEL, async (faults) => check(await runClass(system, spec, { faults })));
      for (const first of suspects) {
        const again = await runClass(system, spec, { faults: first.faults });
        if (again.violations.length > 0) failures.push(describeResult(again));
        else t.diagnostic(`passed when run again alone: ${describeResult(first)}`);
      }
      collector.clear();

      t.diagnostic(`${cls.name}: ${baselinePoints.length} non-critical points in the baseline, ${reachable.length} reachable; ${singles} single faults, ${pairs.length} pairs`);
      t.diagnostic(`${cls.name} points reached only under a fault: ${reachable.filter((p) => !baselinePoints.includes(p)).join(', ')}`);
      assert.ok(baselinePoints.length >= 5, `baseline points: ${baselinePoints.join(', ')}`);
      assert.deepEqual(failures, [], `${failures.length} experiments failed the oracle:\n${failures.join('\n')}`);
    });
  }
});

function startStreamingClasses(): { name: string; method: string; path: string }[] {
  // Read at load time so node:test knows the tests before the system starts.
  return [
    { name: 'home', method: 'GET', path: '/home' },
    { name: 'title', method: 'GET', path: '/title/42' },
    { name: 'play', method: 'POST', path: '/play/42' },
  ];
}
