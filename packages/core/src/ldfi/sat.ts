/**
 * The SAT-based enumerator on its own entry point, `@labcoat/core/sat`. logic-solver (MiniSat
 * compiled to JavaScript) takes ~200 ms to load, which every service importing `@labcoat/core`
 * would otherwise pay at start-up for a solver that only the benchmark and cross-checks use.
 *
 * @example
 * import { satSolver } from '@labcoat/core/sat';
 * nextHypotheses({ supports, maxSize: 2 }, 10, satSolver);
 */
import { satHittingSets } from './sat-hitting-sets.js';
import { dedicatedSolver, type HittingSetSolver } from './solver.js';

export { satHittingSets };

/** The SAT-based enumerator (logic-solver / MiniSat); see sat-hitting-sets.ts. */
export const satSolver: HittingSetSolver = { name: 'sat', enumerate: satHittingSets };

/** Both enumerators by name, e.g. for an engine option `--solver sat`. */
export const ALL_SOLVERS: ReadonlyMap<string, HittingSetSolver> = new Map([dedicatedSolver, satSolver].map((s) => [s.name, s]));
