/**
 * Minimal hitting sets by SAT, the way the LDFI papers did it (Molly, Netflix LDFI): a general
 * solver (`logic-solver` 2.0.1, MiniSat compiled to JavaScript) over the lineage CNF plus a
 * cardinality bound. Kept next to the dedicated search as a cross-check and a baseline; the
 * benchmark (bench/src/solver.ts) decides which one `defaultSolver` is.
 *
 * Encoding: one variable per atom; one clause per support (some atom of it fails); a cardinality
 * bound `Σ atoms ≤ s` as an assumption for size s = 1, 2, … Every model found at size s is blocked
 * for good with "not all of these" (its supersets go with it). Why each model is a minimal set of
 * exactly s atoms: all minimal sets smaller than s were found and blocked at the sizes before, and
 * any hitting set contains a minimal one, so a model of size ≤ s that contains no blocked set *is*
 * a minimal set of size s. Supersets of known failures are blocked the same way up front; tried and
 * tolerated sets are filtered after solving, as the dedicated search does (blocking them would also
 * block their supersets, which may be minimal).
 *
 * The bound is a sequential counter (Sinz, "Towards an optimal CNF encoding of Boolean cardinality
 * constraints", 2005): register c(i, j) is forced true when at least j of atoms 0..i fail, for
 * j ≤ maxSize + 1, so assuming ¬c(n−1, s+1) bounds the size by s. That is ~2·n·(k+1) small clauses.
 * logic-solver's own `lessThanOrEqual(sum(atoms), constantBits(s))` (an adder network) was measured
 * first: on 10,000 atoms some single solver calls took over 2 s, against ~10–20 ms with the counter.
 *
 * Limits: each call builds a new solver (MiniSat's heap is a fixed 64 MB per instance; far beyond
 * 10⁴ atoms × k it can run out, and the call throws); a deadline is checked between solver calls.
 */
import Logic from 'logic-solver';
import { compileQuery, runLevels, type Atom, type HittingSetQuery, type HittingSetResult, type LevelSearch } from './hitting-sets.js';

const varName = (i: number): string => `x${i}`;
const notVar = (i: number): string => `-x${i}`;

/**
 * Adds a sequential counter over atoms 0..n−1 counting up to `upTo`, and returns the assumption
 * "at most s atoms" for s < upTo. Clauses (one direction suffices, the counter is only ever asked
 * to be low): x(i) → c(i,1); c(i−1,j) → c(i,j); x(i) ∧ c(i−1,j−1) → c(i,j).
 */
function sequentialCounter(solver: Logic.Solver, n: number, upTo: number): (s: number) => string {
  const reg = (i: number, j: number): string => `c${i}_${j}`;
  for (let i = 0; i < n; i++) {
    const notX = notVar(i);
    for (let j = 1; j <= upTo; j++) {
      if (j === 1) solver.require(Logic.or(notX, reg(i, 1)));
      if (i > 0) {
        solver.require(Logic.or(`-${reg(i - 1, j)}`, reg(i, j)));
        if (j > 1) solver.require(Logic.or(notX, `-${reg(i - 1, j - 1)}`, reg(i, j)));
      }
    }
  }
  return (s) => `-${reg(n - 1, s + 1)}`;
}

/**
 * The SAT-based enumerator. Same contract and output as `dedicatedHittingSets` (same sets, same
 * order, same statuses). A deadline is checked between solver calls; one call is not interrupted.
 *
 * @example
 * satHittingSets({ supports: [['a', 'b'], ['a', 'c']], maxSize: 2 }).sets; // [['a'], ['b', 'c']]
 */
export function satHittingSets<A extends Atom>(query: HittingSetQuery<A>): HittingSetResult<A> {
  const q = compileQuery(query);
  if (q.early) return runLevels(q, 'sat', () => ({ sets: [], timedOut: false, work: 0 }));
  // logic-solver type-checks every argument by default; on 10⁴ variables that is most of the time.
  return Logic.disablingAssertions(() => {
    const solver = new Logic.Solver();
    for (const clause of q.clauses) solver.require(Logic.or(Array.from(clause, varName)));
    for (const f of q.failures) solver.require(Logic.or(Array.from(f, notVar)));
    const top = Math.min(q.maxSize, q.atoms.length, q.clauses.length);
    const atMostFor = sequentialCounter(solver, q.atoms.length, top + 1);
    const searchSize = (size: number): LevelSearch => {
      const atMost = atMostFor(size);
      const sets: Int32Array[] = [];
      let calls = 0;
      for (;;) {
        if (performance.now() > q.deadline) return { sets, timedOut: true, work: calls };
        calls++;
        const model = solver.solveAssuming(atMost);
        if (model === null) return { sets, timedOut: false, work: calls };
        // Atom variables are `x<i>`; the counter's registers `c<i>_<j>` are true too.
        const chosen = Int32Array.from(
          model.getTrueVars().filter((name) => name.charCodeAt(0) === 120),
          (name) => Number(name.slice(1)),
        ).sort();
        sets.push(chosen);
        solver.require(Logic.or(Array.from(chosen, notVar)));
      }
    };
    return runLevels(q, 'sat', searchSize);
  });
}
