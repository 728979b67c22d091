/**
 * LDFI hypothesis solver: minimal hitting sets of the supports (the injection points each
 * successful execution used), smallest first, skipping what is already known.
 */
export {
  compareAtoms,
  dedicatedHittingSets,
  prepareSupports,
  PreparedSupports,
  type Atom,
  type AtomSet,
  type HittingSetExclusions,
  type HittingSetQuery,
  type HittingSetResult,
  type HittingSetStats,
  type HittingSetStatus,
} from './hitting-sets.js';
export {
  defaultSolver,
  dedicatedSolver,
  enumerateHittingSets,
  FAULT_ATOM_SEPARATOR,
  faultAtom,
  faultAtomSupport,
  nextHypotheses,
  parseFaultAtom,
  SOLVERS,
  type HittingSetSolver,
} from './solver.js';
export * from './engine-types.js';
export {
  analyseExecution,
  plainSupport,
  type CallRecord,
  type ExecutionLineage,
  type ExpectReason,
  type HintReason,
  type LineageModes,
} from './lineage.js';
export { Explorer, faultToAtom, pointTarget } from './explorer.js';
