/**
 * ldfi-solver: how long the LDFI solver takes to propose the next hypothesis on lineage the size
 * of a large production request: 10,000 injection points, 1,000 distinct supports of 20–200
 * points, k = 2. Both enumerators side by side in one run: the dedicated search (MMCS over bitsets,
 * packages/core/src/ldfi/hitting-sets.ts) and the SAT baseline (logic-solver 2.0.1, MiniSat in JS,
 * packages/core/src/ldfi/sat-hitting-sets.ts). Target: ≤ 50 ms per hypothesis.
 *
 * The instance (deterministic, seeded PRNG) imitates what traces of one user-facing request look
 * like in a big service graph: every execution shares a core of calls (edge, auth, session), a few
 * calls that have a redundant alternative (zone A or zone B of a cache, primary or fallback) of
 * which each execution used one, a few always-present page modules served by one of two paths
 * (cache hit or miss), and a varying, personalised selection of optional modules (rows of a home
 * page), each served by one of its 2–4 paths of 2–12 calls. Popular modules are picked more often
 * (Zipf-like), and every path is used by at least one execution, so all points occur.
 *
 * Measured per enumerator, in each round (the order of the enumerators alternates by round):
 * - first: `nextHypotheses(q, 1)` from scratch (compiling the 1,000 supports included);
 * - batch: `nextHypotheses(q, 50)`, ms divided by the hypotheses returned;
 * - loop: the engine's loop over the first 50 hypotheses, `nextHypotheses(q, 1)` from scratch with
 *   the hypotheses before it in `exclude.tried` (as if all were tolerated): median ms per call.
 *   The dedicated search makes all 50 calls, SAT every 5th (`--sat-stride`; a call costs it up to
 *   a second), the same questions, so the medians compare like for like. The answers must be the
 *   same hypotheses in the same order for both;
 * - prepared: the same loop on supports compiled once by `prepareSupports` (what an engine does
 *   between two new supports), and the time of that `prepareSupports` call.
 * Figures are medians over rounds. SAT gets a time budget per call (`--sat-budget`, default 20 s)
 * and per round (`--sat-round-budget`, default 60 s); a loop it cuts short says `budget`.
 *
 *     node bench/dist/solver.js [--quick] [--rounds N] [--k N] [--no-sat] [--sat-stride N]
 *                               [--sat-budget MS] [--sat-round-budget MS]
 */
import { dedicatedSolver, nextHypotheses, prepareSupports, type HittingSetQuery, type HittingSetSolver } from '@labcoat/core';
import { satSolver } from '@labcoat/core/sat';
import { cpus } from 'node:os';
import { median, round } from './stats.js';

const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(name);
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name}: expected a number, got ${args[i + 1]}`);
  return v;
};
const QUICK = flag('--quick');
const ROUNDS = option('--rounds', QUICK ? 2 : 5);
const SAT_BUDGET_MS = option('--sat-budget', 20_000);
const SAT_ROUND_BUDGET_MS = option('--sat-round-budget', QUICK ? 20_000 : 60_000);
const SAT_STRIDE = option('--sat-stride', QUICK ? 10 : 5);
const WITH_SAT = !flag('--no-sat');
const POINTS = 10_000;
const SUPPORTS = 1_000;
const K = option('--k', 2);
const LOOP = 50;
const BATCH = 50;

// ---------------------------------------------------------------------------------------------
// Deterministic instance

/** mulberry32: small, fast, seeded. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Instance {
  readonly supports: string[][];
  readonly points: number;
  readonly sizes: { min: number; median: number; max: number };
}

function makeInstance(seed: number): Instance {
  const rnd = prng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  let next = 0;
  const services = 1_000;
  // A point: caller->target METHOD route, as the SDK names dependency calls.
  const point = (): string => {
    const i = next++;
    const caller = i % services;
    const target = (caller * 7 + 1 + (i >>> 4)) % services;
    return `svc${caller}->svc${target} ${i % 5 === 0 ? 'POST' : 'GET'} /r${i}/:id`;
  };
  // Never past POINTS points in all: the last path is cut short.
  const path = (lo: number, hi: number): string[] => Array.from({ length: Math.min(int(lo, hi), POINTS - next) }, point);

  const core = path(8, 8);
  const redundant = Array.from({ length: 6 }, () => [path(1, 2), path(1, 2)]);
  const alwaysOn = Array.from({ length: 3 }, () => [path(2, 6), path(2, 6)]);
  const all: string[][][] = [];
  while (next < POINTS) {
    const alternatives: string[][] = [];
    const paths = int(2, 4);
    for (let p = 0; p < paths && next < POINTS; p++) alternatives.push(path(2, 12));
    all.push(alternatives);
  }
  const unused: Array<[number, number]> = [];
  all.forEach((alts, m) => alts.forEach((_, p) => unused.push([m, p])));
  // Zipf-like popularity: module m is picked with weight 1 / (m + 10).
  const cumulative: number[] = [];
  let total = 0;
  for (let m = 0; m < all.length; m++) cumulative.push((total += 1 / (m + 10)));
  const pickModule = (): number => {
    const x = rnd() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const supports: string[][] = [];
  const seen = new Set<string>();
  const forcedPerSupport = Math.ceil(unused.length / SUPPORTS);
  for (let s = 0; supports.length < SUPPORTS; s++) {
    const used = new Set<string>(core);
    // Mostly the primary, sometimes the alternative (a natural timeout, a zone drained).
    for (const [primary, fallback] of redundant) for (const p of rnd() < 0.85 ? primary! : fallback!) used.add(p);
    for (const [hit, miss] of alwaysOn) for (const p of rnd() < 0.7 ? hit! : miss!) used.add(p);
    const modules = new Set<number>();
    // Every path is used by some execution: the first supports take the paths nobody used yet.
    for (let f = 0; f < forcedPerSupport && unused.length > 0; f++) {
      const [m, p] = unused.pop()!;
      if (modules.has(m)) {
        unused.push([m, p]);
        break;
      }
      modules.add(m);
      for (const x of all[m]![p]!) used.add(x);
    }
    const target = int(20, 200);
    for (let tries = 0; used.size < target && tries < 200; tries++) {
      const m = pickModule();
      if (modules.has(m)) continue;
      modules.add(m);
      const alts = all[m]!;
      for (const x of alts[int(0, alts.length - 1)]!) used.add(x);
    }
    const support = [...used];
    const key = [...support].sort().join('\n');
    if (seen.has(key)) continue;
    seen.add(key);
    supports.push(support);
  }
  const sizes = supports.map((s) => s.length).sort((a, b) => a - b);
  const points = new Set(supports.flat()).size;
  return { supports, points, sizes: { min: sizes[0]!, median: median(sizes), max: sizes[sizes.length - 1]! } };
}

// ---------------------------------------------------------------------------------------------
// Measurement

interface Loop {
  medianMs: number;
  maxMs: number;
  calls: number;
  /** `complete` (all calls made) or `budget` (stopped by the time budget). */
  status: string;
  /** Every answer was the plan's hypothesis. */
  agrees: boolean;
}

interface RoundFigures {
  prepareMs: number;
  firstMs: number;
  firstStatus: string;
  batchMsPerHypothesis: number;
  batchCount: number;
  batchStatus: string;
  batchAgrees: boolean;
  loop: Loop;
  prepared: Loop;
}

function ms(from: bigint): number {
  return Number(process.hrtime.bigint() - from) / 1e6;
}

function measure(
  solver: HittingSetSolver,
  supports: string[][],
  plan: readonly string[][],
  stride: number,
  budgetMs: number,
  roundBudgetMs: number,
): RoundFigures {
  const roundStart = process.hrtime.bigint();
  const left = (): number => roundBudgetMs - ms(roundStart);
  const query = (q: HittingSetQuery<string>): HittingSetQuery<string> =>
    Number.isFinite(budgetMs) ? { ...q, deadlineMs: Math.max(0, Math.min(budgetMs, left())) } : q;
  const base: HittingSetQuery<string> = { supports, maxSize: K };

  let t = process.hrtime.bigint();
  const first = nextHypotheses(query(base), 1, solver);
  const firstMs = ms(t);

  t = process.hrtime.bigint();
  const batch = nextHypotheses(query(base), BATCH, solver);
  const batchMs = ms(t);

  // The engine's loop: ask for one, "inject" it (tolerated), ask again with it excluded. Call i
  // excludes the first i hypotheses of `plan` (the dedicated search's sequence, computed before the
  // rounds), so every enumerator answers the very same questions; its answer must be plan[i].
  const loop = (from: HittingSetQuery<string>['supports']): Loop => {
    const perCall: number[] = [];
    let status = 'complete';
    let agrees = true;
    for (let i = 0; i < plan.length; i += stride) {
      if (left() <= 0) {
        status = 'budget';
        break;
      }
      t = process.hrtime.bigint();
      const r = nextHypotheses(query({ supports: from, maxSize: K, exclude: { tried: plan.slice(0, i) } }), 1, solver);
      perCall.push(ms(t));
      if (r.status === 'deadline') {
        status = 'budget';
        break;
      }
      if (JSON.stringify(r.sets[0]) !== JSON.stringify(plan[i])) agrees = false;
    }
    return { medianMs: median(perCall), maxMs: perCall.length > 0 ? Math.max(...perCall) : Number.NaN, calls: perCall.length, status, agrees };
  };
  const raw = loop(supports);
  t = process.hrtime.bigint();
  const prepared = prepareSupports(supports);
  const prepareMs = ms(t);
  const onPrepared = loop(prepared);
  return {
    prepareMs,
    firstMs,
    firstStatus: first.status,
    batchMsPerHypothesis: batch.sets.length > 0 ? batchMs / batch.sets.length : Number.NaN,
    batchCount: batch.sets.length,
    batchStatus: batch.status,
    batchAgrees: JSON.stringify(batch.sets) === JSON.stringify(plan.slice(0, BATCH)) || batch.status === 'deadline',
    loop: raw,
    prepared: onPrepared,
  };
}

const instance = makeInstance(0x1dbf1);
const solvers = WITH_SAT ? [dedicatedSolver, satSolver] : [dedicatedSolver];
const settings: Record<string, { stride: number; budget: number; roundBudget: number }> = {
  dedicated: { stride: 1, budget: Infinity, roundBudget: Infinity },
  sat: { stride: SAT_STRIDE, budget: SAT_BUDGET_MS, roundBudget: SAT_ROUND_BUDGET_MS },
};
// The sequence of hypotheses an engine would get if every injection were tolerated.
const plan: string[][] = [];
for (let i = 0; i < LOOP; i++) {
  const h = nextHypotheses({ supports: instance.supports, maxSize: K, exclude: { tried: plan } }, 1, dedicatedSolver).sets[0];
  if (h === undefined) break;
  plan.push(h);
}

console.log(
  `ldfi-solver — Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} ×${cpus().length}; ` +
    `${instance.points} points, ${instance.supports.length} supports (size min ${instance.sizes.min} / median ${instance.sizes.median} / max ${instance.sizes.max}), k = ${K}; ${ROUNDS} rounds`,
);
// Warm-up: one untimed pass of each enumerator (JIT, and MiniSat's asm.js module).
for (const s of solvers) {
  nextHypotheses({ supports: instance.supports, maxSize: K, deadlineMs: settings[s.name]!.budget }, 5, s);
  nextHypotheses({ supports: prepareSupports(instance.supports), maxSize: K, deadlineMs: settings[s.name]!.budget }, 5, s);
}

const figures: Record<string, RoundFigures[]> = Object.fromEntries(solvers.map((s) => [s.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? solvers : [...solvers].reverse();
  for (const s of order) {
    const { stride, budget, roundBudget } = settings[s.name]!;
    const f = measure(s, instance.supports, plan, stride, budget, roundBudget);
    figures[s.name]!.push(f);
    console.log(
      `  round ${r + 1} ${s.name.padEnd(9)} first ${f.firstMs.toFixed(1)} ms (${f.firstStatus}); batch ${f.batchCount} in ` +
        `${(f.batchMsPerHypothesis * f.batchCount).toFixed(1)} ms (${f.batchStatus}); loop ${f.loop.calls} calls, median ${f.loop.medianMs.toFixed(1)} ms (${f.loop.status}); ` +
        `prepared ${f.prepared.calls} calls, median ${f.prepared.medianMs.toFixed(1)} ms (${f.prepared.status})`,
    );
  }
}

// Every enumerator must have proposed the plan's hypotheses, in order.
const agree = Object.fromEntries(solvers.map((s) => [s.name, figures[s.name]!.every((f) => f.batchAgrees && f.loop.agrees && f.prepared.agrees)]));

const summary = Object.fromEntries(
  solvers.map((s) => {
    const rs = figures[s.name]!;
    const pick = (f: (x: RoundFigures) => number): number | null => round(median(rs.map(f)), 2);
    return [
      s.name,
      {
        firstMs: pick((x) => x.firstMs),
        batchMsPerHypothesis: pick((x) => x.batchMsPerHypothesis),
        batchHypotheses: rs[0]!.batchCount,
        loopMedianMs: pick((x) => x.loop.medianMs),
        loopMaxMs: pick((x) => x.loop.maxMs),
        loopCalls: rs[0]!.loop.calls,
        prepareMs: pick((x) => x.prepareMs),
        preparedLoopMedianMs: pick((x) => x.prepared.medianMs),
        preparedLoopCalls: rs[0]!.prepared.calls,
        statuses: [...new Set(rs.flatMap((x) => [x.firstStatus, x.batchStatus, `loop ${x.loop.status}`, `prepared ${x.prepared.status}`]))],
      },
    ];
  }),
);

console.log('');
console.log(
  `| enumerator | first hypothesis (ms) | batch of ${BATCH}: ms / hypothesis | loop: median ms / call | loop: max ms | prepareSupports (ms) | loop on prepared: median ms / call | statuses |`,
);
console.log('|---|---:|---:|---:|---:|---:|---:|---|');
for (const [name, v] of Object.entries(summary)) {
  console.log(
    `| ${name} | ${v.firstMs} | ${v.batchMsPerHypothesis} (${v.batchHypotheses} sets) | ${v.loopMedianMs} (${v.loopCalls} calls) | ${v.loopMaxMs} | ` +
      `${v.prepareMs} | ${v.preparedLoopMedianMs} (${v.preparedLoopCalls} calls) | ${v.statuses.join(', ')} |`,
  );
}
const dedicated = summary['dedicated']!;
const worst = Math.max(dedicated.firstMs ?? Infinity, dedicated.batchMsPerHypothesis ?? Infinity, dedicated.loopMedianMs ?? Infinity);
const targetMet = worst <= 50;
console.log(`target ≤ 50 ms per hypothesis (dedicated, worst of first / batch / loop medians: ${round(worst, 2)} ms): ${targetMet ? 'met' : 'NOT met'}`);
console.log(`same hypotheses, same order as the plan: ${JSON.stringify(agree)}`);
const ratio = (a: number | null | undefined, b: number | null | undefined): number | null => (a == null || b == null ? null : round(a / b, 1));
console.log(
  JSON.stringify({
    bench: 'ldfi-solver',
    node: process.version,
    points: instance.points,
    supports: instance.supports.length,
    supportSize: instance.sizes,
    k: K,
    rounds: ROUNDS,
    satBudgetMs: SAT_BUDGET_MS,
    satRoundBudgetMs: SAT_ROUND_BUDGET_MS,
    ...summary,
    satOverDedicated: summary['sat']
      ? {
          first: ratio(summary['sat'].firstMs, dedicated.firstMs),
          batch: ratio(summary['sat'].batchMsPerHypothesis, dedicated.batchMsPerHypothesis),
          loop: ratio(summary['sat'].loopMedianMs, dedicated.loopMedianMs),
          prepared: ratio(summary['sat'].preparedLoopMedianMs, dedicated.preparedLoopMedianMs),
        }
      : null,
    sameHypotheses: agree,
    targetMs: 50,
    targetMet,
  }),
);
