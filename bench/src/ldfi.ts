/**
 * ldfi: how many executions labcoat's explore engine needs to find every planted bug and to
 * certify a request (no fault set of size ≤ k left that could break it), against the baselines,
 * side by side in one run, on simulated systems (bench/src/ldfi-sim: deterministic, in-process,
 * spans exactly as the SDK writes them) of 10, 100 and 1,000 services, and on the demo's topology
 * when examples/streaming describes it.
 *
 * Methods:
 * - `ldfi`: the Explorer with its defaults: precise lineage + batched experiments;
 * - `ldfi --no-batching`: precise lineage, one hypothesis per experiment;
 * - `ldfi plain`: plain trace lineage (every call in the trace supports the success), one
 *   hypothesis per experiment: Netflix's LDFI;
 * - `exhaustive`: Filibuster-style, every combination of ≤ k faults among the points each execution
 *   reached (dynamic reduction; failed sets not extended). Above 60 services its k = 2 level is
 *   counted from the single-fault runs rather than run (same number);
 * - `random`: random fault sets of 1..k faults at the points seen so far, at the budget `ldfi`
 *   needed to certify.
 *
 * Targets: on the demo, ldfi certifies in ≤ 1/5 of exhaustive's executions; on a 100-service
 * system with ≥ 300 points, ldfi certifies k = 2 in ≤ 300 experiments.
 *
 * Systems of ≤ 60 points are also brute-forced (every set of ≤ k faults over every declared point),
 * and LDFI's minimal failure sets compared with the true ones.
 *
 *     node bench/dist/ldfi.js [--quick] [--k N] [--seed N] [--sizes 10,100,1000] [--cap N] [--big-cap N]
 *
 * The last line printed is one JSON object `{"bench":"ldfi", …}`.
 */
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSystem } from './ldfi-sim/generate.js';
import { bruteForceMinimal, foundSets, plantedSignatures, runExhaustive, runExplorer, runRandom, type RunSummary, type Signatures } from './ldfi-sim/baselines.js';
import { declaredPoints, simulate, type SimSystem } from './ldfi-sim/model.js';
import { demoSystems } from './ldfi-sim/demo.js';

const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(name);
const option = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i < 0 ? fallback : (args[i + 1] ?? fallback);
};
const QUICK = flag('--quick');
const K = Number(option('--k', '2'));
const SEED = Number(option('--seed', '7'));
const SIZES = option('--sizes', QUICK ? '10,100' : '10,100,1000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
/** Most experiments for the one-hypothesis-per-experiment variants (they grow as pairs of points do). */
const CAP = Number(option('--cap', QUICK ? '2000' : '5000'));
/** On systems above 300 services the one-by-one variants get a smaller cap (each experiment costs more). */
const BIG_CAP = Number(option('--big-cap', '1500'));

interface SystemReport {
  readonly system: string;
  readonly services: number;
  readonly points: number;
  readonly baselinePoints: number;
  readonly bugs: number;
  readonly runs: RunSummary[];
  /** ldfi's failure sets against brute force (systems of ≤ 60 points): same sets? */
  readonly exact?: { readonly truth: number; readonly found: number; readonly same: boolean };
}

function describe(system: SimSystem): { points: number; baselinePoints: number; services: number } {
  const base = simulate(system, new Map(), 0);
  if (!base.ok) throw new Error(`${system.name}: the baseline fails (${base.symptom})`);
  const services = system.serviceCount ?? system.services.size;
  return { points: declaredPoints(system).length, baselinePoints: base.points.length, services };
}

function fmt(n: number | undefined, counted = false, capped = false): string {
  if (n === undefined) return capped ? '> cap' : '—';
  return `${n.toLocaleString('en-US')}${counted ? '*' : ''}`;
}

function explore(system: SimSystem, given?: Signatures): SystemReport {
  const { points, baselinePoints, services } = describe(system);
  const signatures = given ?? plantedSignatures(system, K);
  const bugs = new Set(signatures.values()).size;
  const runs: RunSummary[] = [];
  const big = system.services.size > 300;
  const cap = big ? BIG_CAP : CAP;
  const t0 = performance.now();
  runs.push(runExplorer(system, 'ldfi', {}, signatures, K));
  runs.push(runExplorer(system, 'ldfi --no-batching', { batching: false, maxExperiments: cap }, signatures, K));
  runs.push(runExplorer(system, 'ldfi plain', { batching: false, lineage: 'plain', maxExperiments: cap }, signatures, K));
  runs.push(runExhaustive(system, K, signatures, { countOnly: system.services.size > 60 }));
  const budget = runs[0]!.certifiedAt ?? runs[0]!.executions;
  runs.push(runRandom(system, K, budget, signatures));
  let exact: SystemReport['exact'];
  if (points <= 60 && runs[0]!.result) {
    const truth = bruteForceMinimal(system, K, declaredPoints(system));
    const found = foundSets(runs[0]!.result, K);
    exact = { truth: truth.size, found: found.size, same: truth.size === found.size && [...truth].every((x) => found.has(x)) };
  }
  process.stderr.write(`  ${system.name}: ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  return { system: system.name, services, points, baselinePoints, bugs, runs, ...(exact ? { exact } : {}) };
}

/** The demo's classes summed into one row per method. */
function total(name: string, reports: readonly SystemReport[]): SystemReport {
  const methods = reports[0]!.runs.map((r) => r.method);
  const sum = (xs: (number | undefined)[]): number | undefined => (xs.some((x) => x === undefined) ? undefined : xs.reduce<number>((a, b) => a + b!, 0));
  return {
    system: name,
    services: Math.max(...reports.map((r) => r.services)),
    points: Math.max(...reports.map((r) => r.points)),
    baselinePoints: reports.reduce((a, r) => a + r.baselinePoints, 0),
    bugs: reports.reduce((a, r) => a + r.bugs, 0),
    runs: methods.map((method) => {
      const rs = reports.map((r) => r.runs.find((x) => x.method === method)!);
      return {
        method,
        executions: rs.reduce((a, r) => a + r.executions, 0),
        // All bugs of all classes: each class's exploration runs to its own "all found" point, then the next class starts.
        allBugsAt: (() => {
          let before = 0;
          let last: number | undefined = 0;
          for (const r of rs) {
            if (r.bugs > 0) last = r.allBugsAt === undefined ? undefined : last === undefined ? undefined : before + r.allBugsAt;
            before += r.executions;
          }
          return last;
        })(),
        bugsFound: rs.reduce((a, r) => a + r.bugsFound, 0),
        bugs: rs.reduce((a, r) => a + r.bugs, 0),
        certifiedAt: sum(rs.map((r) => r.certifiedAt)),
        failureSets: rs.reduce((a, r) => a + r.failureSets, 0),
        ms: rs.reduce((a, r) => a + r.ms, 0),
        ...(rs.some((r) => r.counted) ? { counted: true } : {}),
      };
    }),
  };
}

function printReport(r: SystemReport): void {
  console.log(`\n${r.system}: ${r.services} services, ${r.points} points (${r.baselinePoints} reached by the baseline), ${r.bugs} planted bugs, k = ${K}`);
  console.log('  method                 executions  all bugs found at  certified at  bugs  failure sets    wall ms');
  for (const run of r.runs) {
    console.log(
      `  ${run.method.padEnd(22)} ${fmt(run.executions, run.counted).padStart(10)}  ${fmt(run.allBugsAt, run.counted).padStart(17)}  ${fmt(run.certifiedAt, run.counted, run.method !== 'random' && run.result?.stopped === 'budget').padStart(12)}  ${`${run.bugsFound}/${run.bugs}`.padStart(4)}  ${String(run.failureSets).padStart(12)}  ${run.ms.toFixed(0).padStart(9)}`,
    );
  }
  const ldfi = r.runs[0]!.result;
  if (ldfi) {
    console.log(
      `  ldfi: stopped ${ldfi.stopped}; by purpose ${Object.entries(ldfi.byPurpose)
        .filter(([, n]) => n > 0)
        .map(([p, n]) => `${p} ${n}`)
        .join(', ')}; supports ${ldfi.supports}; hints ${ldfi.hints?.verified ?? 0}/${ldfi.hints?.total ?? 0} verified, ${ldfi.hints?.refuted ?? 0} refuted; monotonicity checks ${ldfi.monotonicity?.checks ?? 0}, violations ${ldfi.monotonicity?.violations ?? 0}`,
    );
    for (const note of ldfi.notes) console.log(`    note: ${note.length > 220 ? `${note.slice(0, 220)}…` : note}`);
  }
  if (r.exact) console.log(`  ldfi's minimal failure sets (non-critical, ≤ ${K}) against brute force: ${r.exact.found} found, ${r.exact.truth} true → ${r.exact.same ? 'the same sets' : 'DIFFERENT'}`);
}

const here = dirname(fileURLToPath(import.meta.url));
const reports: SystemReport[] = [];
const demo = demoSystems(join(here, '..', '..', 'examples', 'streaming'));
if (demo) {
  const perClass = demo.systems.map((system) => explore(system, demo.signatures.get(system.name)));
  for (const r of perClass) printReport(r);
  const sum = total('demo (home + title + play)', perClass);
  printReport(sum);
  reports.push(...perClass, sum);
} else console.log('\ndemo: examples/streaming does not describe its topology yet (bugs.json, classes.json); the demo row is left for later');
for (const size of SIZES) {
  const r = explore(generateSystem({ services: size, seed: SEED }));
  printReport(r);
  reports.push(r);
}

// Targets.
const byName = (r: SystemReport, m: string): RunSummary | undefined => r.runs.find((x) => x.method === m);
const demoReport = reports.find((r) => r.system.startsWith('demo ('));
const hundred = reports.find((r) => r.services >= 100 && r.services < 300);
const demoTarget = demoReport
  ? (() => {
      const l = byName(demoReport, 'ldfi')!.certifiedAt;
      const e = byName(demoReport, 'exhaustive')!.certifiedAt;
      return { ldfi: l ?? null, exhaustive: e ?? null, met: l !== undefined && e !== undefined && l * 5 <= e };
    })()
  : null;
const hundredTarget = hundred
  ? (() => {
      const l = byName(hundred, 'ldfi')!.certifiedAt;
      return { points: hundred.points, experiments: l ?? null, met: hundred.points >= 300 && l !== undefined && l <= 300 };
    })()
  : null;
console.log('\ntargets:');
console.log(`  demo: ldfi certifies in ≤ 1/5 of exhaustive's executions: ${demoTarget ? `${demoTarget.ldfi} vs ${demoTarget.exhaustive} → ${demoTarget.met ? 'met' : 'NOT met'}` : 'no demo row'}`);
console.log(`  100 services, ≥ 300 points, certify k = 2 in ≤ 300: ${hundredTarget ? `${hundredTarget.points} points, ${hundredTarget.experiments} experiments → ${hundredTarget.met ? 'met' : 'NOT met'}` : 'not run'}`);
console.log(`  machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}`);

const json = {
  bench: 'ldfi',
  k: K,
  seed: SEED,
  quick: QUICK,
  systems: reports.map((r) => ({
    system: r.system,
    services: r.services,
    points: r.points,
    baselinePoints: r.baselinePoints,
    bugs: r.bugs,
    ...(r.exact ? { exact: r.exact } : {}),
    runs: r.runs.map((x) => ({
      method: x.method,
      executions: x.executions,
      allBugsAt: x.allBugsAt ?? null,
      certifiedAt: x.certifiedAt ?? null,
      bugsFound: x.bugsFound,
      failureSets: x.failureSets,
      ms: Math.round(x.ms),
      ...(x.counted ? { counted: true } : {}),
    })),
  })),
  targets: { demo: demoTarget, hundred: hundredTarget },
};
console.log(JSON.stringify(json));
