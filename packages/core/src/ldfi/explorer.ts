/**
 * The LDFI explore engine for one request class: baseline runs → hypotheses → experiments →
 * lineage → supports → hypotheses … until a certificate, a budget or a failure. Pure: it never
 * touches the network; it answers `next()` with the experiment to run and learns from `record()`.
 * The model (lineage rules, fault modes, batching, the monotonicity assumption, what the
 * certificate means, the tie-break heuristic) is in docs/LDFI.md; lineage is in lineage.ts.
 *
 * The loop is written as one generator (`main`) that yields experiments and receives what they did,
 * so the adaptive parts (reruns, group testing of a failed batch, verification) read as plain code.
 */
import { LabcoatInputError } from '../errors.js';
import { compileFault } from '../faults/index.js';
import { show } from '../faults/kind.js';
import { compileGlob } from '../match.js';
import { parsePointId } from '../point.js';
import type {
  Execution,
  Experiment,
  ExperimentPurpose,
  ExplorationResult,
  ExplorerLike,
  ExplorerOptions,
  FailureSet,
  Fault,
} from './engine-types.js';
import { compareAtoms, prepareSupports, type HittingSetResult, type PreparedSupports } from './hitting-sets.js';
import { analyseExecution, plainSupport, type ExecutionLineage, type ExpectReason, type LineageModes } from './lineage.js';
import { defaultSolver, faultAtom, parseFaultAtom, type HittingSetSolver } from './solver.js';

type Atom = string;
type Stopped = ExplorationResult['stopped'];

/** What the generator receives for each experiment it yielded. */
interface Observed {
  readonly experiment: Experiment;
  readonly execution: Execution;
  readonly lineage: ExecutionLineage;
}

class Stop {
  constructor(readonly reason: Stopped) {}
}

/** One learned support: the precise atoms and the hinted atoms precise lineage left out. */
interface SupportRecord {
  readonly precise: readonly Atom[];
  readonly hinted: readonly Atom[];
}

type HintState = 'pending' | 'verified' | 'refuted';

/** A step of the plan: run one hypothesis, a batch, or stop with a certificate. */
type Step =
  | { readonly kind: 'single'; readonly atoms: readonly Atom[] }
  | { readonly kind: 'batch'; readonly atoms: readonly Atom[]; readonly covers: readonly (readonly Atom[])[] }
  | { readonly kind: 'done' };

/** mulberry32: a small seeded PRNG (verification sampling only). */
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

function keyOf(atoms: readonly Atom[]): string {
  return [...atoms].sort(compareAtoms).join('\u0001');
}

function isSubset(small: readonly Atom[], big: ReadonlySet<Atom>): boolean {
  for (const a of small) if (!big.has(a)) return false;
  return true;
}

/** The target service of a point id (`caller->target …`). */
export function pointTarget(point: string): string | undefined {
  const parsed = parsePointId(point);
  if (parsed) return parsed.target;
  const arrow = point.indexOf('->');
  if (arrow < 0) return undefined;
  const rest = point.slice(arrow + 2);
  const space = rest.indexOf(' ');
  return space < 0 ? rest : rest.slice(0, space);
}

/**
 * The explore engine. Drive it as
 * `for (let e = explorer.next(); e; e = explorer.next()) explorer.record(e, await run(e));`
 * then read `explorer.result()`. Same options (seed included) and same executions ⇒ same
 * experiments in the same order.
 *
 * @example
 * const explorer = new Explorer({ maxFaults: 2, faults: { error: { kind: 'error' }, hang: { kind: 'hang' } } });
 * for (let e = explorer.next(); e; e = explorer.next()) explorer.record(e, await runWithPlan(e.faults));
 * explorer.result().failureSets; // minimal fault sets that break the request
 */
export class Explorer implements ExplorerLike {
  private readonly maxFaults: number;
  private readonly modes: readonly string[];
  private readonly lineageModes: LineageModes;
  private readonly critical: (point: string) => boolean;
  private readonly skipCritical: boolean;
  private readonly batching: boolean;
  private readonly baselineRuns: number;
  private readonly rerunFailures: boolean;
  private readonly maxExperiments: number;
  private readonly stopAtFirstFailure: boolean;
  private readonly precise: boolean;
  private readonly batchSizeOption: number | undefined;
  private readonly verifyRate: number;
  private readonly maxDurationMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly solver: HittingSetSolver;

  // Driving state.
  private readonly gen: Generator<Experiment, void, Observed>;
  private started = false;
  private finished = false;
  private pending: Experiment | undefined;
  private nextId = 1;
  private startedAt = 0;
  private count = 0;
  private readonly byPurpose: Record<ExperimentPurpose, number> = { baseline: 0, hypothesis: 0, batch: 0, split: 0, rerun: 0, verify: 0 };
  private stopped: Stopped = 'budget';
  private complete = false;

  // What is known.
  private readonly points: string[] = [];
  private readonly pointSet = new Set<string>();
  private readonly depth = new Map<string, number>();
  private readonly ancestors = new Map<string, Set<string>>();
  private readonly descendants = new Map<string, Set<string>>();
  private readonly supports: SupportRecord[] = [];
  private readonly supportKeys = new Set<string>();
  private readonly baselineAtoms = new Set<Atom>();
  private readonly expected = new Map<Atom, ExpectReason | 'tolerated'>();
  private readonly notExpected = new Set<Atom>();
  /** Atoms injected in some tolerated experiment (so tolerated alone, under monotonicity). */
  private readonly toleratedAtoms = new Set<Atom>();
  private readonly hintState = new Map<Atom, HintState>();
  private readonly failures: { readonly atoms: readonly Atom[]; readonly set: FailureSet }[] = [];
  private readonly tolerated: (readonly Atom[])[] = [];
  private readonly tried: (readonly Atom[])[] = [];
  private readonly triedKeys = new Set<string>();
  private readonly skipped: (readonly Atom[])[] = [];
  private readonly noBatch = new Set<string>();
  private readonly notes: string[] = [];
  private readonly noteKeys = new Set<string>();
  private toleratedBatches = 0;
  private monotonicityChecks = 0;
  private monotonicityViolations = 0;
  private usedMonotonicity = false;
  private prepared: PreparedSupports<Atom> | undefined;
  private preparedCount = 0;
  private preparedRefuted = 0;
  private refutedCount = 0;
  private modeConflicts: Atom[][] = [];
  private modeConflictPoints = 0;

  constructor(options: ExplorerOptions, solver: HittingSetSolver = defaultSolver) {
    if (typeof options !== 'object' || options === null) throw new LabcoatInputError('options', `expected an object, got ${show(options)}`);
    const o = options;
    const whole = (v: unknown, where: string, min: number, fallback?: number): number => {
      if (v === undefined && fallback !== undefined) return fallback;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new LabcoatInputError(where, `expected a whole number ≥ ${min}, got ${show(v)}`);
      return v;
    };
    this.maxFaults = whole(o.maxFaults, 'options.maxFaults', 0);
    if (this.maxFaults > 8) throw new LabcoatInputError('options.maxFaults', `at most 8 faults per set, got ${this.maxFaults}`);
    if (typeof o.faults !== 'object' || o.faults === null || Object.keys(o.faults).length === 0) {
      throw new LabcoatInputError('options.faults', 'expected at least one fault mode, e.g. { error: { kind: "error" } }');
    }
    const labels = new Map<string, string>();
    const slow = new Set<string>();
    for (const [mode, spec] of Object.entries(o.faults)) {
      if (!/^[A-Za-z0-9_.-]+$/.test(mode)) throw new LabcoatInputError(`options.faults.${mode}`, 'a fault mode name has only letters, digits, _ . -');
      const compiled = compileFault(spec, `options.faults.${mode}`);
      labels.set(mode, compiled.label);
      if (compiled.kind === 'hang' || compiled.kind === 'delay') slow.add(mode);
    }
    this.modes = Object.keys(o.faults);
    this.lineageModes = { modes: this.modes, labels, slow };
    const crit = o.critical ?? {};
    const services = new Set(crit.services ?? []);
    const globs = (crit.points ?? []).map((g, i) => {
      if (typeof g !== 'string' || g === '') throw new LabcoatInputError(`options.critical.points[${i}]`, `expected a point id or glob, got ${show(g)}`);
      return g.includes('*') ? compileGlob(g) : (p: string) => p === g;
    });
    // A point is critical when its target or its caller is a critical service (a critical
    // service's own dependencies fail it, and with it the request), or it matches a listed point.
    this.critical = (point) => {
      const target = pointTarget(point);
      if (target !== undefined && services.has(target)) return true;
      const arrow = point.indexOf('->');
      if (arrow > 0 && services.has(point.slice(0, arrow))) return true;
      return globs.some((g) => g(point));
    };
    this.skipCritical = o.skipCritical ?? true;
    this.batching = o.batching ?? true;
    this.baselineRuns = whole(o.baselineRuns, 'options.baselineRuns', 1, 3);
    this.rerunFailures = o.rerunFailures ?? true;
    this.maxExperiments = o.maxExperiments === undefined ? Infinity : whole(o.maxExperiments, 'options.maxExperiments', 0);
    this.stopAtFirstFailure = o.stopAtFirstFailure ?? false;
    if (o.lineage !== undefined && o.lineage !== 'precise' && o.lineage !== 'plain') {
      throw new LabcoatInputError('options.lineage', `expected "precise" or "plain", got ${show(o.lineage)}`);
    }
    this.precise = (o.lineage ?? 'precise') === 'precise';
    this.batchSizeOption = o.batchSize === undefined ? undefined : whole(o.batchSize, 'options.batchSize', 1);
    const rate = o.verifyRate ?? 0.1;
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) throw new LabcoatInputError('options.verifyRate', `expected a fraction from 0 to 1, got ${show(rate)}`);
    this.verifyRate = rate;
    this.maxDurationMs = o.maxDurationMs === undefined ? Infinity : whole(o.maxDurationMs, 'options.maxDurationMs', 0);
    this.now = o.now ?? (() => Date.now());
    this.random = prng(whole(o.seed, 'options.seed', 0, 1));
    this.solver = solver;
    this.gen = this.main();
  }

  // ---------------------------------------------------------------------------------------------
  // ExplorerLike

  next(): Experiment | undefined {
    if (this.pending) return this.pending;
    if (this.finished) return undefined;
    if (!this.started) {
      this.started = true;
      this.startedAt = this.now();
      this.advance(undefined);
    }
    return this.pending;
  }

  record(experiment: Experiment, execution: Execution): void {
    const pending = this.pending;
    if (!pending || experiment?.id !== pending.id) {
      throw new LabcoatInputError('experiment', pending ? `expected the result of experiment ${pending.id}, got ${show(experiment?.id)}` : 'no experiment is waiting for a result (call next() first)');
    }
    if (typeof execution !== 'object' || execution === null || typeof execution.ok !== 'boolean' || !Array.isArray(execution.spans)) {
      throw new LabcoatInputError('execution', 'expected { ok: boolean, spans: SpanData[] }');
    }
    this.pending = undefined;
    this.count++;
    this.byPurpose[pending.purpose]++;
    const lineage = analyseExecution(execution.spans, this.lineageModes, pending.faults, execution.ok);
    this.learnStructure(lineage);
    for (const u of lineage.unplanned) this.note(`fault ${u.label} at ${u.point} fired without being planned (experiment ${pending.id}): check that only labcoat's plans inject`);
    this.advance({ experiment: pending, execution, lineage });
  }

  result(): ExplorationResult {
    const hints = { total: this.hintState.size, verified: 0, refuted: 0, pending: 0 };
    for (const s of this.hintState.values()) hints[s]++;
    const notes = [...this.notes];
    if (this.usedMonotonicity) {
      notes.push(
        'assumed monotonicity: failing more faults never turns a failure into a success, so a tolerated batch certifies every subset of it' +
          ` (${this.monotonicityChecks} sampled subset(s) re-tested, ${this.monotonicityViolations} violation(s))`,
      );
    }
    return {
      experiments: this.count,
      byPurpose: { ...this.byPurpose },
      points: [...this.points],
      supports: this.supports.length,
      failureSets: this.failures.map((f) => f.set),
      certified: { maxFaults: this.maxFaults, complete: this.complete },
      stopped: this.stopped,
      notes,
      finished: this.finished,
      skippedCritical: this.skipped.map((s) => this.toFaults(s)),
      tolerated: this.tolerated.length + this.tried.length,
      hints,
      monotonicity: { assumed: this.usedMonotonicity, checks: this.monotonicityChecks, violations: this.monotonicityViolations },
    };
  }

  /** Failure sets confirmed so far (cheaper than `result()`, for progress reports). */
  failureCount(): number {
    return this.failures.length;
  }

  /** The failure sets confirmed after the first `from`, in the order they were confirmed. */
  failureSetsSince(from: number): FailureSet[] {
    return this.failures.slice(from).map((f) => f.set);
  }

  // ---------------------------------------------------------------------------------------------
  // Driving the generator

  private advance(input: Observed | undefined): void {
    const r = input === undefined ? this.gen.next() : this.gen.next(input);
    if (r.done) {
      this.finished = true;
      this.pending = undefined;
    } else this.pending = r.value;
  }

  private *run(purpose: ExperimentPurpose, atoms: readonly Atom[], covers?: readonly (readonly Atom[])[]): Generator<Experiment, Observed, Observed> {
    if (this.count >= this.maxExperiments) throw new Stop('budget');
    if (this.now() - this.startedAt > this.maxDurationMs) throw new Stop('budget');
    const experiment: Experiment = {
      id: this.nextId++,
      purpose,
      faults: this.toFaults(atoms),
      ...(covers ? { covers: covers.map((c) => this.toFaults(c)) } : {}),
    };
    return yield experiment;
  }

  private *main(): Generator<Experiment, void, Observed> {
    try {
      yield* this.baseline();
      for (;;) {
        const step = this.plan();
        if (step.kind === 'done') {
          this.complete = true;
          throw new Stop('certified');
        }
        if (step.kind === 'single') yield* this.testSingle(step.atoms, 'hypothesis');
        else yield* this.testBatch(step.atoms, step.covers);
      }
    } catch (e) {
      if (e instanceof Stop) {
        this.stopped = e.reason;
        return;
      }
      throw e;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The steps

  private *baseline(): Generator<Experiment, void, Observed> {
    const pointSets: Set<string>[] = [];
    for (let i = 0; i < this.baselineRuns; i++) {
      const o = yield* this.run('baseline', []);
      if (!o.execution.ok) {
        this.note(`baseline run ${i + 1} failed with no fault injected: ${o.execution.symptom ?? 'the oracle rejected it'}`);
        throw new Stop('baseline-failed');
      }
      pointSets.push(new Set(o.lineage.points));
      this.learnSuccess([], o, false);
      for (const s of this.supports) for (const a of [...s.precise, ...s.hinted]) this.baselineAtoms.add(a);
    }
    const first = pointSets[0]!;
    let worst = 1;
    for (const s of pointSets.slice(1)) {
      const union = new Set([...first, ...s]).size;
      let inter = 0;
      for (const p of s) if (first.has(p)) inter++;
      const jaccard = union === 0 ? 1 : inter / union;
      worst = Math.min(worst, jaccard);
    }
    if (worst < 1) {
      this.note(`the baseline runs called different points (Jaccard similarity down to ${worst.toFixed(2)}): the request is nondeterministic; every baseline support is kept`);
      if (worst < 0.5) throw new Stop('nondeterministic-baseline');
    }
  }

  /** One fault set, alone: tolerated, or a failure confirmed by a rerun. */
  private *testSingle(atoms: readonly Atom[], purpose: ExperimentPurpose): Generator<Experiment, void, Observed> {
    const o = yield* this.run(purpose, atoms);
    if (o.execution.ok) {
      this.learnSuccess(atoms, o, this.batching);
      return;
    }
    yield* this.confirm(atoms, o, true);
  }

  /** A batch: the union of hypotheses expected to be tolerated. */
  private *testBatch(atoms: readonly Atom[], covers: readonly (readonly Atom[])[]): Generator<Experiment, void, Observed> {
    const o = yield* this.run('batch', atoms, covers);
    if (o.execution.ok) {
      this.learnSuccess(atoms, o, true);
      this.toleratedBatches++;
      const sample = this.toleratedBatches === 1 || (this.verifyRate > 0 && this.random() < this.verifyRate);
      if (sample && this.verifyRate > 0 && covers.length >= 2) yield* this.verify(atoms, covers);
      return;
    }
    yield* this.split(atoms, covers, o);
  }

  /** Re-tests one covered hypothesis of a tolerated batch: a failure contradicts monotonicity. */
  private *verify(atoms: readonly Atom[], covers: readonly (readonly Atom[])[]): Generator<Experiment, void, Observed> {
    const pick = covers[Math.floor(this.random() * covers.length)]!;
    if (pick.length === atoms.length) return;
    this.monotonicityChecks++;
    const o = yield* this.run('verify', pick);
    if (o.execution.ok) {
      this.learnSuccess(pick, o, true);
      return;
    }
    this.monotonicityViolations++;
    this.note(
      `monotonicity violated: {${this.show(pick)}} failed (experiment ${o.experiment.id}) although the batch {${this.show(atoms)}} containing it was tolerated; the batch no longer certifies its subsets`,
    );
    this.retractTolerated(atoms);
    for (const c of covers) this.noBatch.add(keyOf(c));
    yield* this.confirm(pick, o, true);
  }

  /**
   * Group testing of a failed batch: QuickXplain (Junker 2004) over its faults finds one minimal
   * failing subset with O(m log(n/m)) experiments for a failure set of m faults among n; it is then
   * confirmed, removed, and the rest of the batch is tested again (and split again if it fails), so
   * a batch with several failure sets yields them all. Every part tested and tolerated is learned
   * like any tolerated experiment.
   */
  private *split(atoms: readonly Atom[], covers: readonly (readonly Atom[])[], first: Observed): Generator<Experiment, void, Observed> {
    // Keep each covered hypothesis's faults together so halves tend to follow them.
    const order: Atom[] = [];
    const seen = new Set<Atom>();
    for (const c of covers) for (const a of c) if (!seen.has(a)) (seen.add(a), order.push(a));
    for (const a of atoms) if (!seen.has(a)) (seen.add(a), order.push(a));
    const failedExact = new Map<string, Observed>([[keyOf(atoms), first]]);
    const failing: ReadonlySet<Atom>[] = [new Set(atoms)];

    const self = this;
    function* fails(set: readonly Atom[]): Generator<Experiment, boolean, Observed> {
      if (set.length === 0) return false;
      const s = new Set(set);
      for (const f of self.failures) if (isSubset(f.atoms, s)) return true;
      for (const f of failing) if (f.size <= s.size && isSubset([...f], s)) return true;
      for (const t of self.tolerated) if (set.length <= t.length && isSubset(set, new Set(t))) return false;
      const o = yield* self.run('split', set);
      if (o.execution.ok) {
        self.learnSuccess(set, o, true);
        return false;
      }
      failing.push(s);
      failedExact.set(keyOf(set), o);
      return true;
    }
    function* qx(background: readonly Atom[], delta: boolean, candidates: readonly Atom[]): Generator<Experiment, Atom[], Observed> {
      if (delta && (yield* fails(background))) return [];
      if (candidates.length === 1) return [...candidates];
      const half = Math.ceil(candidates.length / 2);
      const c1 = candidates.slice(0, half);
      const c2 = candidates.slice(half);
      const d2 = yield* qx([...background, ...c1], c1.length > 0, c2);
      const d1 = yield* qx([...background, ...d2], d2.length > 0, c1);
      return [...d1, ...d2];
    }
    let rest = order;
    for (;;) {
      const minimal = (yield* qx([], false, rest)).sort(compareAtoms);
      if (this.failures.some((f) => keyOf(f.atoms) === keyOf(minimal))) {
        // Already known (the rest still held it): drop it and go on.
        const drop = new Set(minimal);
        rest = rest.filter((a) => !drop.has(a));
        if (rest.length === 0 || !(yield* fails(rest))) return;
        continue;
      }
      const seenExact = failedExact.get(keyOf(minimal));
      let confirmed: boolean;
      if (seenExact) confirmed = yield* this.confirm(minimal, seenExact, true);
      else {
        // Never run alone: its failure is implied by the parts tested. Run it once (as the rerun).
        const o = yield* this.run(this.rerunFailures ? 'rerun' : 'split', minimal);
        if (o.execution.ok) {
          this.note(
            `a failed batch {${this.show(atoms)}} split down to {${this.show(minimal)}}, which then succeeded alone (experiment ${o.experiment.id}): flaky or not monotone; its hypotheses will be tested one by one`,
          );
          this.learnSuccess(minimal, o, false);
          for (const c of covers) this.noBatch.add(keyOf(c));
          return;
        }
        confirmed = yield* this.confirm(minimal, o, false);
      }
      if (!confirmed) {
        for (const c of covers) this.noBatch.add(keyOf(c));
        return;
      }
      // The rest of the batch may hold more failure sets.
      const drop = new Set(minimal);
      rest = rest.filter((a) => !drop.has(a));
      if (rest.length === 0 || !(yield* fails(rest))) return;
    }
  }

  /**
   * A fault set failed (observation `o`). With reruns on and `rerun` true, run it again: a success
   * means a flake (learned as tolerated, noted); a second failure confirms it as a failure set.
   */
  private *confirm(atoms: readonly Atom[], o: Observed, rerun: boolean): Generator<Experiment, boolean, Observed> {
    let last = o;
    if (rerun && this.rerunFailures) {
      const again = yield* this.run('rerun', atoms);
      if (again.execution.ok) {
        this.note(`flaky: {${this.show(atoms)}} failed (experiment ${o.experiment.id}) and then succeeded (experiment ${again.experiment.id}); counted as tolerated`);
        this.learnSuccess(atoms, again, false);
        return false;
      }
      last = again;
    }
    const critical = atoms.every((a) => this.critical(this.pointOf(a)));
    const set: FailureSet = {
      faults: this.toFaults(atoms),
      critical,
      symptom: last.execution.symptom ?? 'the oracle rejected the response',
      experiment: last.experiment.id,
      neverFired: last.lineage.neverFired,
    };
    this.failures.push({ atoms: [...atoms], set });
    // A hint contradicted: the atom supported the success after all.
    for (const a of atoms) {
      if (this.hintState.get(a) === 'pending' || this.hintState.get(a) === 'verified') {
        this.hintState.set(a, 'refuted');
        this.refutedCount++;
      }
    }
    if (atoms.length === 1) {
      this.expected.delete(atoms[0]!);
      this.notExpected.add(atoms[0]!);
    }
    if (atoms.length > 0 && last.lineage.fired.length === 0 && o.lineage.fired.length === 0) {
      this.note(`{${this.show(atoms)}} failed twice although none of its faults fired: the request now fails without faults`);
      throw new Stop('unexplainable');
    }
    if (this.stopAtFirstFailure && !critical) throw new Stop('first-failure');
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Learning

  private learnStructure(lin: ExecutionLineage): void {
    for (const c of lin.calls) {
      if (!this.pointSet.has(c.point)) {
        this.pointSet.add(c.point);
        this.points.push(c.point);
      }
      this.depth.set(c.point, Math.max(this.depth.get(c.point) ?? 0, c.depth));
      let anc = this.ancestors.get(c.point);
      if (!anc) this.ancestors.set(c.point, (anc = new Set()));
      for (const a of c.ancestors) {
        if (a === c.point || anc.has(a)) continue;
        anc.add(a);
        let desc = this.descendants.get(a);
        if (!desc) this.descendants.set(a, (desc = new Set()));
        desc.add(c.point);
      }
    }
  }

  /** A successful execution with `armed` injected: its support, its hints, its expectations. */
  private learnSuccess(armed: readonly Atom[], o: Observed, monotone: boolean): void {
    const lin = o.lineage;
    let precise: Atom[] = this.precise ? [...lin.support] : plainSupport(lin);
    const hinted: Atom[] = this.precise ? [...lin.hinted.keys()] : [];
    const incomplete = !lin.complete || o.execution.complete === false;
    if (incomplete) {
      this.note(`experiment ${o.experiment.id}: incomplete trace (${lin.problems.join('; ') || 'the collector gave up waiting'}); its support is widened with every baseline atom`);
      const armedSet = new Set(armed);
      const widened = new Set(precise);
      for (const a of this.baselineAtoms) if (!armedSet.has(a)) widened.add(a);
      precise = [...widened];
    }
    const key = `${keyOf(precise)}|${keyOf(hinted)}`;
    if (!this.supportKeys.has(key)) {
      this.supportKeys.add(key);
      this.supports.push({ precise, hinted });
    }
    for (const a of hinted) {
      if (this.hintState.has(a)) continue;
      if (this.skipCritical && this.critical(this.pointOf(a))) continue;
      // Already injected and tolerated (alone or in a tolerated set): nothing left to verify.
      this.hintState.set(a, this.toleratedAtoms.has(a) || armed.includes(a) ? 'verified' : 'pending');
    }
    for (const [a, why] of lin.expected) if (!this.notExpected.has(a) && !this.expected.has(a)) this.expected.set(a, why);
    // The armed set was tolerated.
    for (const a of armed) {
      this.toleratedAtoms.add(a);
      if (!this.notExpected.has(a)) this.expected.set(a, 'tolerated');
      if (this.hintState.get(a) === 'pending') this.hintState.set(a, 'verified');
    }
    if (armed.length > 0) {
      if (monotone) {
        this.tolerated.push([...armed]);
        if (armed.length > 1) this.usedMonotonicity = true;
      } else {
        const k = keyOf(armed);
        if (!this.triedKeys.has(k)) {
          this.triedKeys.add(k);
          this.tried.push([...armed]);
        }
      }
    }
  }

  private retractTolerated(atoms: readonly Atom[]): void {
    const k = keyOf(atoms);
    const i = this.tolerated.findIndex((t) => keyOf(t) === k);
    if (i >= 0) this.tolerated.splice(i, 1);
    if (!this.triedKeys.has(k)) {
      this.triedKeys.add(k);
      this.tried.push([...atoms]);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Planning

  /** The supports the solver sees: precise atoms, plus hinted atoms whose hint was refuted. */
  private effectiveSupports(): Atom[][] {
    return this.supports.map((s) => this.effective(s));
  }

  private effective(s: SupportRecord): Atom[] {
    if (s.hinted.length === 0 || this.refutedCount === 0) return [...s.precise];
    const out = [...s.precise];
    for (const a of s.hinted) if (this.hintState.get(a) === 'refuted') out.push(a);
    return out;
  }

  /**
   * Heuristic weight of an atom (heavier = proposed first among sets of one size):
   * 1. deeper calls first: a fault near the root cuts off everything beneath it, and testing the
   *    leaves first keeps bugs that such masking would hide (non-monotone systems) in view;
   * 2. then faults not expected to be tolerated (likely failures: bugs are found early);
   * 3. then the number of supports the atom is in (LDFI's usual heuristic); ties by atom id.
   */
  private weightOf(counts: ReadonlyMap<Atom, number>): (a: Atom) => number {
    return (a) => {
      const depth = this.depth.get(this.pointOf(a)) ?? 0;
      const unexpected = this.isExpected(a) ? 0 : 1;
      return depth * 1e9 + unexpected * 1e6 + (counts.get(a) ?? 0);
    };
  }

  private isExpected(a: Atom): boolean {
    return this.expected.has(a) && !this.notExpected.has(a);
  }

  /** Prepares the supports from scratch (atoms ranked by `weightOf`). */
  private prepare(): PreparedSupports<Atom> {
    const supports = this.effectiveSupports();
    const counts = new Map<Atom, number>();
    for (const s of supports) for (const a of s) counts.set(a, (counts.get(a) ?? 0) + 1);
    this.prepared = prepareSupports(supports, this.weightOf(counts));
    this.preparedCount = this.supports.length;
    this.preparedRefuted = this.refutedCount;
    return this.prepared;
  }

  /**
   * Hypotheses from the solver. Compiling the supports is most of a call's cost once there are
   * thousands of atoms, so between two compilations the supports learned since are applied as a
   * filter: a minimal hitting set of the older supports that also hits the newer ones is a minimal
   * hitting set of all of them. The supports are compiled again when the filter leaves nothing (so
   * "no hypothesis left" is always decided on every support), when a quarter of them are new, or
   * when a refuted hint changed old ones.
   */
  private solve(limit: number): HittingSetResult<Atom> {
    if (this.maxFaults >= 2 && this.modeConflictPoints !== this.points.length && this.modes.length > 1) {
      this.modeConflicts = [];
      for (const p of this.points) {
        for (let i = 0; i < this.modes.length; i++) {
          for (let j = i + 1; j < this.modes.length; j++) this.modeConflicts.push([faultAtom(p, this.modes[i]!), faultAtom(p, this.modes[j]!)]);
        }
      }
      this.modeConflictPoints = this.points.length;
    }
    const query = (prepared: PreparedSupports<Atom>, want = limit) =>
      this.solver.enumerate({
        supports: prepared,
        maxSize: this.maxFaults,
        limit: want,
        firstFound: true,
        exclude: {
          failures: [...this.failures.map((f) => f.atoms), ...this.modeConflicts],
          tried: [...this.tried, ...this.skipped],
          tolerated: this.tolerated,
        },
      });
    const fresh = !this.prepared || this.preparedRefuted !== this.refutedCount || (this.supports.length - this.preparedCount) * 4 >= this.supports.length;
    if (fresh) return query(this.prepare());
    if (this.preparedCount === this.supports.length) return query(this.prepared!);
    const newer = this.supports.slice(this.preparedCount).map((s) => new Set(this.effective(s)));
    // Ask for more than needed: the newer supports filter some out (the last hypothesis, at least).
    const r = query(this.prepared!, Math.max(limit, 64));
    const sets = r.sets.filter((h) => newer.every((s) => h.some((a) => s.has(a)))).slice(0, limit);
    if (sets.length > 0) return { ...r, sets, status: 'limit' };
    return query(this.prepare());
  }

  private plan(): Step {
    const limit = this.batching ? Math.max(8192, this.batchSize * 32) : 1;
    let r: HittingSetResult<Atom>;
    let sets: Atom[][];
    for (;;) {
      r = this.solve(limit);
      if (r.status === 'unhittable') {
        this.note('an execution succeeded without using any injection point (an empty support): no fault set can break it, or its lineage was lost');
        sets = [];
        break;
      }
      // Sets made only of critical faults are expected to fail: skipped, not run.
      const kept: Atom[][] = [];
      let skippedAny = false;
      for (const s of r.sets) {
        if (this.skipCritical && s.every((a) => this.critical(this.pointOf(a)))) {
          this.skipped.push(s);
          skippedAny = true;
        } else kept.push(s);
      }
      sets = kept;
      if (kept.length > 0 || !skippedAny) break;
    }
    const failuresAtoms = this.failures.map((f) => f.atoms);
    const pendingHints: Atom[][] = [];
    for (const [a, s] of this.hintState) {
      if (s !== 'pending') continue;
      if (failuresAtoms.some((f) => f.length === 1 && f[0] === a)) continue;
      pendingHints.push([a]);
    }
    pendingHints.sort((x, y) => (this.depth.get(this.pointOf(y[0]!)) ?? 0) - (this.depth.get(this.pointOf(x[0]!)) ?? 0) || compareAtoms(x[0]!, y[0]!));
    // Smallest first: hints to verify are single faults, so they come after the solver's singles.
    const singles = sets.filter((s) => s.length === 1);
    const candidates = [...singles, ...pendingHints, ...sets.filter((s) => s.length > 1)];
    if (candidates.length === 0) {
      if (r.status === 'complete' || r.status === 'unhittable') return { kind: 'done' };
      // 'no-supports' cannot happen after a successful baseline; 'limit'/'deadline' without sets neither.
      return { kind: 'done' };
    }
    const first = candidates[0]!;
    if (!this.batching || !this.batchable(first)) return { kind: 'single', atoms: first };
    const batch = this.buildBatch(candidates);
    if (batch.covers.length <= 1) return { kind: 'single', atoms: first };
    return { kind: 'batch', atoms: batch.atoms, covers: batch.covers };
  }

  /** Worth batching: expected to be tolerated, not like a known failure set, not marked to run alone. */
  private batchable(atoms: readonly Atom[]): boolean {
    return this.expectedTolerated(atoms) && !this.noBatch.has(keyOf(atoms)) && !this.suspect(atoms);
  }

  /**
   * Looks like a known failure set: as many faults, each at the same point as one of its faults
   * (another mode) or at a point above or beneath it. After {db#503} fails, {db#error} and the call
   * above db are likely to fail too: they are tested alone rather than sink a batch.
   */
  private suspect(atoms: readonly Atom[]): boolean {
    const near = (a: Atom, b: Atom): boolean => {
      const p = this.pointOf(a);
      const q = this.pointOf(b);
      return p === q || this.related(p, q);
    };
    const match = (rest: readonly Atom[], against: readonly Atom[]): boolean => {
      if (rest.length === 0) return true;
      const [h, ...tail] = rest;
      return against.some((f, i) => near(h!, f) && match(tail, [...against.slice(0, i), ...against.slice(i + 1)]));
    };
    if (atoms.length === 1 && this.toleratedAtoms.has(atoms[0]!)) return false;
    for (const f of this.failures) if (f.atoms.length === atoms.length && match(atoms, f.atoms)) return true;
    return false;
  }

  /** Every fault expected to be tolerated, on distinct points with no call-graph ancestry between them. */
  private expectedTolerated(atoms: readonly Atom[]): boolean {
    const pts: string[] = [];
    for (const a of atoms) {
      if (!this.isExpected(a)) return false;
      const p = this.pointOf(a);
      for (const q of pts) if (q === p || this.related(p, q)) return false;
      pts.push(p);
    }
    return true;
  }

  private related(p: string, q: string): boolean {
    return (this.ancestors.get(p)?.has(q) ?? false) || (this.ancestors.get(q)?.has(p) ?? false);
  }

  /**
   * The batch: greedily, in hypothesis order, the expected-tolerated hypotheses whose union stays
   * valid: one mode per point, no point beneath another (a fault near the root would mask the
   * faults under it), at most `batchSize` faults, and no known failure set inside. Hypotheses that
   * add no new fault, then one, then more, so that overlapping hypotheses share faults.
   */
  private buildBatch(candidates: readonly (readonly Atom[])[]): { atoms: Atom[]; covers: (readonly Atom[])[] } {
    const chosen = new Set<Atom>();
    const modeAt = new Map<string, string>();
    const covers: (readonly Atom[])[] = [];
    const failures = this.failures.map((f) => f.atoms);
    // For each known failure set, per fault of it: the batch's faults near that fault (same point,
    // or above or beneath it). A batch must not hold a look-alike of a failure set.
    const nearHits: Set<Atom>[][] = failures.map((f) => f.map(() => new Set<Atom>()));
    const near = (a: Atom, b: Atom): boolean => {
      const p = this.pointOf(a);
      const q = this.pointOf(b);
      return p === q || this.related(p, q);
    };
    const assignable = (sets: readonly ReadonlySet<Atom>[], j = 0, used: Set<Atom> = new Set()): boolean => {
      if (j === sets.length) return true;
      for (const a of sets[j]!) {
        if (used.has(a)) continue;
        used.add(a);
        if (assignable(sets, j + 1, used)) return true;
        used.delete(a);
      }
      return false;
    };
    const fits = (newAtoms: readonly Atom[]): boolean => {
      if (chosen.size + newAtoms.length > this.batchSize) return false;
      const added: string[] = [];
      for (const a of newAtoms) {
        const { point, kind } = parseFaultAtom(a)!;
        const at = modeAt.get(point);
        if (at !== undefined && at !== kind) return false;
        if (added.includes(point)) return false;
        const anc = this.ancestors.get(point);
        if (anc) for (const x of anc) if (modeAt.has(x)) return false;
        const desc = this.descendants.get(point);
        if (desc) {
          if (desc.size < modeAt.size) {
            for (const x of desc) if (modeAt.has(x)) return false;
          } else {
            for (const x of modeAt.keys()) if (desc.has(x)) return false;
          }
        }
        added.push(point);
      }
      for (let i = 0; i < failures.length; i++) {
        const f = failures[i]!;
        let touched = false;
        const sets = f.map((fa, j) => {
          // A fault already tolerated alone cannot complete a one-fault look-alike.
          const extra = newAtoms.filter((a) => near(a, fa) && !(f.length === 1 && this.toleratedAtoms.has(a)));
          if (extra.length === 0) return nearHits[i]![j]!;
          touched = true;
          return new Set([...nearHits[i]![j]!, ...extra]);
        });
        if (touched && sets.every((x) => x.size > 0) && assignable(sets)) return false;
      }
      return true;
    };
    const take = (newAtoms: readonly Atom[]): void => {
      for (const a of newAtoms) {
        chosen.add(a);
        modeAt.set(this.pointOf(a), parseFaultAtom(a)!.kind);
        failures.forEach((f, i) => f.forEach((fa, j) => near(a, fa) && !(f.length === 1 && this.toleratedAtoms.has(a)) && nearHits[i]![j]!.add(a)));
      }
    };
    // The candidates worth batching, in hypothesis order, and which of them each fault is in.
    const pool: (readonly Atom[])[] = candidates.filter((c) => this.batchable(c));
    const missing = pool.map((c) => c.length);
    const byAtom = new Map<Atom, number[]>();
    pool.forEach((c, i) => {
      for (const a of c) {
        let list = byAtom.get(a);
        if (!list) byAtom.set(a, (list = []));
        list.push(i);
      }
    });
    const banned = new Set<Atom>();
    // Faults that would complete a hypothesis: how many, and the earliest one.
    const score = new Map<Atom, number>();
    const firstAt = new Map<Atom, number>();
    const addScore = (i: number): void => {
      const m = pool[i]!.find((a) => !chosen.has(a))!;
      score.set(m, (score.get(m) ?? 0) + 1);
      if ((firstAt.get(m) ?? Infinity) > i) firstAt.set(m, i);
    };
    const choose = (newAtoms: readonly Atom[]): void => {
      for (const a of newAtoms) {
        take([a]);
        score.delete(a);
        for (const i of byAtom.get(a) ?? []) {
          missing[i]!--;
          if (missing[i] === 0) covers.push(pool[i]!);
          else if (missing[i] === 1) addScore(i);
        }
      }
    };
    // Seed with the first hypothesis, then grow one fault at a time: the fault that completes the
    // most hypotheses (ties: the earlier hypothesis); when none completes any, the next hypothesis
    // that fits whole. So the batch covers as many hypotheses as its faults allow.
    let next = 0;
    while (chosen.size < this.batchSize) {
      let added = false;
      while (!added && score.size > 0) {
        let best: Atom | undefined;
        for (const [a, n] of score) {
          if (best === undefined || n > score.get(best)! || (n === score.get(best)! && firstAt.get(a)! < firstAt.get(best)!)) best = a;
        }
        score.delete(best!);
        if (banned.has(best!)) continue;
        if (fits([best!])) {
          choose([best!]);
          added = true;
        } else banned.add(best!);
      }
      for (; !added && next < pool.length; next++) {
        if (missing[next] === 0) continue;
        const newAtoms = pool[next]!.filter((a) => !chosen.has(a));
        if (newAtoms.some((a) => banned.has(a)) || !fits(newAtoms)) continue;
        choose(newAtoms);
        added = true;
      }
      if (!added) break;
    }
    return { atoms: [...chosen].sort(compareAtoms), covers };
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  private readonly pointCache = new Map<Atom, string>();

  /**
   * Most faults in one batch: the option, else 64, or one per 4 points seen on larger systems (the
   * pairs of independent points to cover grow with the square of the points; a batch of b faults
   * covers b²/2 of them).
   */
  private get batchSize(): number {
    return this.batchSizeOption ?? Math.max(64, Math.ceil(this.points.length / 4));
  }

  private pointOf(atom: Atom): string {
    let p = this.pointCache.get(atom);
    if (p === undefined) {
      p = parseFaultAtom(atom)?.point ?? atom;
      this.pointCache.set(atom, p);
    }
    return p;
  }

  private toFaults(atoms: readonly Atom[]): Fault[] {
    return [...atoms].sort(compareAtoms).map((a) => {
      const p = parseFaultAtom(a)!;
      return { point: p.point, mode: p.kind };
    });
  }

  private show(atoms: readonly Atom[]): string {
    return this.toFaults(atoms)
      .map((f) => `${f.point} ${f.mode}`)
      .join(', ');
  }

  private note(text: string): void {
    if (this.noteKeys.has(text)) return;
    this.noteKeys.add(text);
    this.notes.push(text);
  }
}

/** Fault ↔ atom helpers for runners that keep their own books. */
export function faultToAtom(f: Fault): string {
  return faultAtom(f.point, f.mode);
}
