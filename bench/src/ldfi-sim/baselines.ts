/**
 * Ways to explore a simulated system, side by side: labcoat's Explorer (any options), an exhaustive
 * Filibuster-style search of every fault combination up to k, and random fault sets at a budget.
 * Each reports how many executions it took to find every planted bug and to finish.
 */
import { Explorer, faultAtom, type ExplorationResult, type ExplorerOptions } from '@labcoat/core';
import { prng } from './generate.js';
import { MODES, simulate, type SimSystem } from './model.js';

export const MODE_NAMES = Object.keys(MODES);

/** Fault sets (as sorted atom keys) that show each planted bug. */
export type Signatures = ReadonlyMap<string, string>;

const keyOf = (atoms: readonly string[]): string => [...atoms].sort().join('\u0001');

/**
 * The minimal fault sets (≤ k) that show each planted bug, found by simulating every single fault
 * at the bug's points and, for two-fault bugs, every pair: key → bug name.
 */
export function plantedSignatures(system: SimSystem, k: number): Map<string, string> {
  const out = new Map<string, string>();
  let seq = 1_000_000;
  for (const bug of system.bugs) {
    const failing: string[][] = [];
    const singles: { point: string; mode: string; fails: boolean }[] = [];
    for (const point of bug.points) {
      for (const mode of MODE_NAMES) {
        const fails = !simulate(system, new Map([[point, mode]]), seq++).ok;
        singles.push({ point, mode, fails });
        if (fails) failing.push([faultAtom(point, mode)]);
      }
    }
    if (bug.pattern === 'two-fault' && k >= 2) {
      for (let i = 0; i < singles.length; i++) {
        for (let j = i + 1; j < singles.length; j++) {
          const a = singles[i]!;
          const b = singles[j]!;
          if (a.point === b.point || a.fails || b.fails) continue;
          const r = simulate(system, new Map([[a.point, a.mode], [b.point, b.mode]]), seq++);
          if (!r.ok) failing.push([faultAtom(a.point, a.mode), faultAtom(b.point, b.mode)]);
        }
      }
    }
    for (const f of failing) out.set(keyOf(f), bug.name);
  }
  return out;
}

export interface RunSummary {
  readonly method: string;
  /** Executions run (baseline included). */
  readonly executions: number;
  /** Executions when the last planted bug was found; undefined if some was never found. */
  readonly allBugsAt: number | undefined;
  readonly bugsFound: number;
  readonly bugs: number;
  /** Executions to finish with a complete exploration (certificate); undefined when it did not. */
  readonly certifiedAt: number | undefined;
  readonly failureSets: number;
  readonly ms: number;
  readonly result?: ExplorationResult;
  /** True when the executions were counted rather than run (exhaustive on large systems). */
  readonly counted?: boolean;
}

function bugCount(signatures: Signatures): number {
  return new Set(signatures.values()).size;
}

/** Runs labcoat's Explorer against the simulated system. */
export function runExplorer(system: SimSystem, method: string, options: Partial<ExplorerOptions>, signatures: Signatures, k: number): RunSummary {
  const started = performance.now();
  const explorer = new Explorer({
    maxFaults: k,
    faults: MODES,
    critical: { services: system.critical, ...(system.criticalPoints ? { points: system.criticalPoints } : {}) },
    seed: 7,
    ...options,
  });
  const foundAt = new Map<string, number>();
  let seq = 0;
  let known = 0;
  for (let e = explorer.next(); e; e = explorer.next()) {
    const ex = simulate(system, new Map(e.faults.map((f) => [f.point, f.mode])), seq++);
    explorer.record(e, ex);
    const sets = explorer.failureCount();
    if (sets > known) {
      for (const f of explorer.failureSetsSince(known)) {
        const bug = signatures.get(keyOf(f.faults.map((x) => faultAtom(x.point, x.mode))));
        if (bug !== undefined && !foundAt.has(bug)) foundAt.set(bug, seq);
      }
      known = sets;
    }
  }
  const result = explorer.result();
  const bugs = bugCount(signatures);
  return {
    method,
    executions: result.experiments,
    allBugsAt: foundAt.size === bugs ? Math.max(0, ...foundAt.values()) : undefined,
    bugsFound: foundAt.size,
    bugs,
    certifiedAt: result.certified.complete ? result.experiments : undefined,
    failureSets: result.failureSets.length,
    ms: performance.now() - started,
    result,
  };
}

/**
 * Filibuster-style exhaustive search with dynamic reduction: run the request with no fault, then
 * for every execution that succeeded with fewer than k faults, schedule it again with one more
 * fault at each point that execution reached (every mode; one mode per point), breadth first,
 * never the same set twice, never extending a failed set.
 *
 * With `countOnly` (large systems, k = 2) the single faults are run and the pairs are counted
 * instead of run: the pair {a, b} is scheduled when b's point was reached under a alone or a's
 * under b alone (and that single fault was tolerated), which per-atom bitsets of reached points
 * count exactly; a planted pair is found at the end of the batch of pairs its earlier single
 * scheduled (an upper bound on its position by at most that batch).
 */
export function runExhaustive(system: SimSystem, k: number, signatures: Signatures, options: { countOnly?: boolean; cap?: number } = {}): RunSummary {
  if (options.countOnly && k === 2) return countExhaustive(system, signatures);
  const started = performance.now();
  const cap = options.cap ?? Infinity;
  const foundAt = new Map<string, number>();
  let executions = 0;
  let failures = 0;
  const seen = new Set<string>();
  type Entry = readonly (readonly [string, string])[];
  let level: Entry[] = [[]];
  seen.add('');
  let seq = 2_000_000;
  for (let size = 0; size <= k && level.length > 0; size++) {
    const nextLevel: Entry[] = [];
    for (const f of level) {
      if (executions >= cap) break;
      const r = simulate(system, new Map(f), seq++);
      executions++;
      if (!r.ok) {
        failures++;
        const bug = signatures.get(keyOf(f.map(([p, m]) => faultAtom(p, m))));
        if (bug !== undefined && !foundAt.has(bug)) foundAt.set(bug, executions);
        continue;
      }
      if (size === k) continue;
      const used = new Set(f.map(([p]) => p));
      for (const p of r.points) {
        if (used.has(p)) continue;
        for (const m of MODE_NAMES) {
          const g: Entry = [...f, [p, m] as const];
          const key = keyOf(g.map(([a, b]) => faultAtom(a, b)));
          if (seen.has(key)) continue;
          seen.add(key);
          nextLevel.push(g);
        }
      }
    }
    level = nextLevel;
    if (executions >= cap) break;
  }
  const bugs = bugCount(signatures);
  const finished = executions < cap;
  return {
    method: 'exhaustive',
    executions,
    allBugsAt: foundAt.size === bugs ? Math.max(0, ...foundAt.values()) : undefined,
    bugsFound: foundAt.size,
    bugs,
    certifiedAt: finished ? executions : undefined,
    failureSets: failures,
    ms: performance.now() - started,
  };
}

function countExhaustive(system: SimSystem, signatures: Signatures): RunSummary {
  const started = performance.now();
  const foundAt = new Map<string, number>();
  let seq = 2_500_000;
  const base = simulate(system, new Map(), seq++);
  const index = new Map<string, number>();
  const pointOf: string[] = [];
  const idx = (p: string): number => {
    let i = index.get(p);
    if (i === undefined) {
      i = pointOf.length;
      index.set(p, i);
      pointOf.push(p);
    }
    return i;
  };
  for (const p of base.points) idx(p);
  // Level 1: every mode at every baseline point, in order.
  const singles: { point: number; mode: string; reached: number[] | undefined }[] = [];
  let executions = 1;
  let failures = 0;
  for (const p of base.points) {
    for (const m of MODE_NAMES) {
      const r = simulate(system, new Map([[p, m]]), seq++);
      executions++;
      if (!r.ok) {
        failures++;
        const bug = signatures.get(faultAtom(p, m));
        if (bug !== undefined && !foundAt.has(bug)) foundAt.set(bug, executions);
      }
      singles.push({ point: idx(p), mode: m, reached: r.ok ? r.points.map(idx) : undefined });
    }
  }
  // Level 2: single i schedules (b's point ∈ reached(i)), unless an earlier single j already did (i's point ∈ reached(j)).
  const words = Math.ceil(pointOf.length / 32);
  const reachedBits = singles.map((s) => {
    if (!s.reached) return undefined;
    const bits = new Uint32Array(words);
    for (const q of s.reached) bits[q >>> 5]! |= 1 << (q & 31);
    return bits;
  });
  const has = (bits: Uint32Array | undefined, q: number): boolean => bits !== undefined && (bits[q >>> 5]! & (1 << (q & 31))) !== 0;
  // Singles by point, to find "earlier singles at point q" quickly.
  const byPoint = new Map<number, number[]>();
  singles.forEach((s, i) => {
    let list = byPoint.get(s.point);
    if (!list) byPoint.set(s.point, (list = []));
    list.push(i);
  });
  const pairSigs = [...signatures].filter(([key]) => key.includes('\u0001'));
  const atomIndex = new Map(singles.map((s, i) => [faultAtom(pointOf[s.point]!, s.mode), i]));
  let pairs = 0;
  singles.forEach((s, i) => {
    const bits = reachedBits[i];
    if (!bits) return;
    let fresh = 0;
    for (const q of s.reached!) {
      if (q === s.point) continue;
      for (const j of byPoint.get(q) ?? []) {
        // Pair (i, j): already scheduled by j if j came earlier and reached i's point.
        if (j < i && has(reachedBits[j], s.point)) continue;
        fresh++;
      }
      // Modes at q not among the baseline singles (q reached only under a fault): all new.
      if (!byPoint.has(q)) fresh += MODE_NAMES.length;
    }
    pairs += fresh;
    for (const [key, bug] of pairSigs) {
      if (foundAt.has(bug)) continue;
      const [x, y] = key.split('\u0001') as [string, string];
      const ix = atomIndex.get(x);
      const iy = atomIndex.get(y);
      const other = ix === i ? y : iy === i ? x : undefined;
      if (other === undefined) continue;
      const q = index.get(other.slice(0, other.lastIndexOf('#')));
      if (q !== undefined && has(bits, q)) foundAt.set(bug, executions + pairs);
    }
  });
  executions += pairs;
  const bugs = bugCount(signatures);
  return {
    method: 'exhaustive',
    executions,
    allBugsAt: foundAt.size === bugs ? Math.max(0, ...foundAt.values()) : undefined,
    bugsFound: foundAt.size,
    bugs,
    certifiedAt: executions,
    failureSets: failures,
    ms: performance.now() - started,
    counted: true,
  };
}

/**
 * Random fault sets at a fixed budget: after one baseline run, each execution injects 1..k faults
 * at random points among those seen so far, each with a random mode. A bug counts as found when a
 * failing set contains one of its signature sets.
 */
export function runRandom(system: SimSystem, k: number, budget: number, signatures: Signatures, seed = 11): RunSummary {
  const started = performance.now();
  const rnd = prng(seed);
  const foundAt = new Map<string, number>();
  const sigs = [...signatures].map(([key, bug]) => ({ atoms: key.split('\u0001'), bug }));
  let seq = 3_000_000;
  const base = simulate(system, new Map(), seq++);
  const points = [...base.points];
  const known = new Set(points);
  let executions = 1;
  let failures = 0;
  while (executions < budget) {
    const size = 1 + Math.floor(rnd() * k);
    const f = new Map<string, string>();
    while (f.size < Math.min(size, points.length)) f.set(points[Math.floor(rnd() * points.length)]!, MODE_NAMES[Math.floor(rnd() * MODE_NAMES.length)]!);
    const r = simulate(system, f, seq++);
    executions++;
    for (const p of r.points) if (!known.has(p)) (known.add(p), points.push(p));
    if (r.ok) continue;
    failures++;
    const atoms = new Set([...f].map(([p, m]) => faultAtom(p, m)));
    for (const s of sigs) if (!foundAt.has(s.bug) && s.atoms.every((a) => atoms.has(a))) foundAt.set(s.bug, executions);
  }
  const bugs = bugCount(signatures);
  return {
    method: 'random',
    executions,
    allBugsAt: foundAt.size === bugs ? Math.max(0, ...foundAt.values()) : undefined,
    bugsFound: foundAt.size,
    bugs,
    certifiedAt: undefined,
    failureSets: failures,
    ms: performance.now() - started,
  };
}

/**
 * Ground truth by brute force: every fault set of size ≤ k over the points the system declares (one
 * mode per point), tested smallest first; the minimal ones that fail, leaving out those made only
 * of critical points (as the explorer's `skipCritical` does). Keys as `plantedSignatures` makes them.
 * Feasible for a few hundred atoms at k = 2.
 */
export function bruteForceMinimal(system: SimSystem, k: number, points: readonly string[]): Set<string> {
  const isCritical = (p: string): boolean => {
    const arrow = p.indexOf('->');
    const caller = p.slice(0, arrow);
    const target = p.slice(arrow + 2).split(' ')[0]!;
    return system.critical.includes(caller) || system.critical.includes(target) || (system.criticalPoints ?? []).includes(p);
  };
  const atoms = points.flatMap((p) => MODE_NAMES.map((m) => [p, m] as const));
  const failing: string[][] = [];
  const out = new Set<string>();
  let seq = 4_000_000;
  const chosen: (readonly [string, string])[] = [];
  const visit = (size: number, from: number): void => {
    if (chosen.length === size) {
      const keys = chosen.map(([p, m]) => faultAtom(p, m));
      if (failing.some((f) => f.every((a) => keys.includes(a)))) return;
      if (simulate(system, new Map(chosen), seq++).ok) return;
      failing.push(keys);
      if (!chosen.every(([p]) => isCritical(p))) out.add(keyOf(keys));
      return;
    }
    for (let i = from; i < atoms.length; i++) {
      const a = atoms[i]!;
      if (chosen.some(([p]) => p === a[0])) continue;
      chosen.push(a);
      visit(size, i + 1);
      chosen.pop();
    }
  };
  for (let size = 1; size <= k; size++) visit(size, 0);
  return out;
}

/** The explorer's minimal failure sets of size ≤ k that are not critical, keyed like `bruteForceMinimal`. */
export function foundSets(result: ExplorationResult, k: number): Set<string> {
  return new Set(result.failureSets.filter((f) => !f.critical && f.faults.length <= k).map((f) => keyOf(f.faults.map((x) => faultAtom(x.point, x.mode)))));
}
