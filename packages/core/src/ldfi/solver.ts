/**
 * The LDFI hypothesis solver: one interface over the two enumerators, the default picked by the
 * benchmark, and helpers for atoms that are (injection point, fault kind) pairs.
 */
import { LabcoatInputError } from '../errors.js';
import { show } from '../faults/kind.js';
import { dedicatedHittingSets, type Atom, type AtomSet, type HittingSetQuery, type HittingSetResult } from './hitting-sets.js';

/** Something that enumerates minimal hitting sets under the contract of `HittingSetQuery`. */
export interface HittingSetSolver {
  readonly name: string;
  enumerate<A extends Atom>(query: HittingSetQuery<A>): HittingSetResult<A>;
}

/** The dedicated depth-first search (MMCS over bitsets); see hitting-sets.ts. */
export const dedicatedSolver: HittingSetSolver = { name: 'dedicated', enumerate: dedicatedHittingSets };

/**
 * The enumerators available without loading logic-solver, by name. The SAT-based one lives at
 * `@labcoat/core/sat` (`satSolver`, and `ALL_SOLVERS` with both).
 */
export const SOLVERS: ReadonlyMap<string, HittingSetSolver> = new Map([dedicatedSolver].map((s) => [s.name, s]));

/**
 * The solver used when none is named: the faster one on bench/src/solver.ts (10,000 points,
 * 1,000 supports of 28–208 points, k = 2; AMD EPYC 2 vCPU, Node 20.20.2; medians of 5 rounds;
 * docs/benchmarks.md "ldfi-solver"). Both proposed the same hypotheses in the same order.
 *
 *                                      dedicated      sat   sat / dedicated
 *     first hypothesis, from scratch    13.9 ms     346 ms        25×
 *     batch of 50, per hypothesis       0.29 ms    17.7 ms        61×
 *     engine loop, per call             12.9 ms     900 ms        70×
 *     engine loop, prepared supports    0.58 ms     871 ms     1,500×
 *
 * Hence the dedicated search. It alone meets the ≤ 50 ms per call target; SAT meets it only
 * amortised over a batch.
 */
export const defaultSolver: HittingSetSolver = dedicatedSolver;

/**
 * Minimal hitting sets of the supports of size ≤ `maxSize`, smallest first, then by the heuristic,
 * skipping what the exclusions say is known. See `HittingSetQuery` and `HittingSetResult`.
 *
 * @example
 * const r = enumerateHittingSets({
 *   supports: [['edge->api', 'api->cache'], ['edge->api', 'api->db']],
 *   maxSize: 2,
 *   exclude: { failures: [['edge->api']] },
 * });
 * r.sets; // [['api->cache', 'api->db']]
 */
export function enumerateHittingSets<A extends Atom>(query: HittingSetQuery<A>, solver: HittingSetSolver = defaultSolver): HittingSetResult<A> {
  return solver.enumerate(query);
}

/**
 * The next `n` hypotheses to inject (a batch), given everything known so far: the first `n` sets
 * of `enumerateHittingSets`. Status `complete` with no sets means nothing of size ≤ maxSize is
 * left to try.
 *
 * @example
 * const known = { supports: [['a', 'b'], ['a', 'c']], maxSize: 2 };
 * nextHypotheses(known, 1).sets;                                        // [['a']]
 * nextHypotheses({ ...known, exclude: { tried: [['a']] } }, 1).sets;    // [['b', 'c']]
 */
export function nextHypotheses<A extends Atom>(query: HittingSetQuery<A>, n: number, solver: HittingSetSolver = defaultSolver): HittingSetResult<A> {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new LabcoatInputError('n', `expected a whole number of hypotheses (0 or more), got ${show(n)}`);
  }
  const limit = query.limit === undefined ? n : Math.min(query.limit, n);
  return solver.enumerate({ ...query, limit });
}

// ---------------------------------------------------------------------------------------------
// (point, kind) atoms

/**
 * Separates the point from the kind in a fault atom. Fault kind names never contain it, so the
 * last one in an atom splits it even when a route template does contain one.
 */
export const FAULT_ATOM_SEPARATOR = '#';

const KIND_NAME = /^[A-Za-z0-9_.-]+$/;

function checkKind(kind: unknown, where: string): asserts kind is string {
  if (typeof kind !== 'string' || !KIND_NAME.test(kind)) {
    throw new LabcoatInputError(where, `expected a fault kind name (letters, digits, _ . -), got ${show(kind)}`);
  }
}

/**
 * The atom for "inject fault `kind` at `point`", when the engine explores kinds as well as points
 * (a fallback may survive an error but not a hang).
 *
 * @example
 * faultAtom('edge->profiles GET /profiles/:id', 'hang'); // 'edge->profiles GET /profiles/:id#hang'
 */
export function faultAtom(point: string, kind: string): string {
  if (typeof point !== 'string' || point === '') throw new LabcoatInputError('point', `expected an injection point id, got ${show(point)}`);
  checkKind(kind, 'kind');
  return `${point}${FAULT_ATOM_SEPARATOR}${kind}`;
}

/**
 * Splits a fault atom back into point and kind; undefined when it is not one.
 *
 * @example
 * parseFaultAtom('edge->evcache get#error'); // { point: 'edge->evcache get', kind: 'error' }
 */
export function parseFaultAtom(atom: string): { point: string; kind: string } | undefined {
  if (typeof atom !== 'string') return undefined;
  const at = atom.lastIndexOf(FAULT_ATOM_SEPARATOR);
  if (at <= 0) return undefined;
  const kind = atom.slice(at + 1);
  if (!KIND_NAME.test(kind)) return undefined;
  return { point: atom.slice(0, at), kind };
}

/**
 * A support over fault atoms from a support over points: the execution used each point, so any
 * fault kind at any of them may break it. `kinds` lists the kinds to explore, for all points or
 * per point (a point with no kinds cannot be faulted and contributes nothing).
 *
 * @example
 * faultAtomSupport(['a->b GET /x'], ['error', 'hang']); // ['a->b GET /x#error', 'a->b GET /x#hang']
 */
export function faultAtomSupport(points: AtomSet<string>, kinds: readonly string[] | ((point: string) => readonly string[])): string[] {
  const out: string[] = [];
  for (const point of points) {
    const list = typeof kinds === 'function' ? kinds(point) : kinds;
    for (const kind of list) out.push(faultAtom(point, kind));
  }
  return out;
}
