/**
 * Minimal hitting sets of LDFI's lineage, by a dedicated search (the default solver).
 *
 * Every successful execution of a request used a set of injection points: a *support*. The request
 * survives a fault set F while some known support is disjoint from F, so a fault set can only break
 * it if it *hits* (intersects) every known support. Read as logic, each support is a clause "at
 * least one of these atoms fails" of a monotone CNF (no negations); its models are the hitting sets
 * and the smallest of them are the hypotheses worth injecting next.
 *
 * This module holds what both enumerators share (the query and result types, input validation and
 * compilation to integer-indexed atoms, the exclusions, the order of the output) and the dedicated
 * enumerator: MMCS (Murakami & Uno, "Efficient algorithms for dualizing large-scale hypergraphs",
 * 2014), the depth-first search FastFI builds on. It exploits what a general SAT solver cannot see:
 * the CNF is monotone and we only want *minimal* models, so every chosen atom must keep a
 * "critical" clause that only it hits, which prunes a branch the moment it stops being minimal.
 * Clause sets are bitsets (Uint32Array), so each step costs a few word operations per 32 supports.
 */
import { LabcoatInputError } from '../errors.js';
import { show } from '../faults/kind.js';

/**
 * What the solver picks from: an injection point id, a (point, kind) pair encoded as one string
 * (see `faultAtom`), or an integer id the engine assigned. The solver never looks inside an atom.
 */
export type Atom = string | number;

/** A set of atoms, as an array (duplicates are ignored) or a Set. */
export type AtomSet<A extends Atom = Atom> = readonly A[] | ReadonlySet<A>;

/**
 * What the engine already knows, so the solver does not propose it again. Exclusions filter the
 * minimal hitting sets; they never promote a non-minimal set in place of an excluded one (after a
 * tolerated injection the engine adds the support that run used, and that is what moves the search
 * on).
 */
export interface HittingSetExclusions<A extends Atom = Atom> {
  /**
   * Fault sets that broke the request. Any superset of one (itself included) is skipped: it fails
   * for a reason already found. An empty failure set (the request fails with no fault at all)
   * therefore excludes everything.
   */
  readonly failures?: readonly AtomSet<A>[];
  /** Fault sets already injected and tolerated: exactly these sets are skipped. */
  readonly tried?: readonly AtomSet<A>[];
  /**
   * Fault sets already injected and tolerated, with monotonicity: if the request survives T it
   * survives every subset of T, so every subset of a tolerated set (T itself included) is skipped.
   */
  readonly tolerated?: readonly AtomSet<A>[];
}

/** One question to the solver. */
export interface HittingSetQuery<A extends Atom = Atom> {
  /**
   * The supports: for each successful execution, the atoms it used; or the same compiled once by
   * `prepareSupports` (then give the weight there).
   */
  readonly supports: readonly AtomSet<A>[] | PreparedSupports<A>;
  /** Largest fault set to propose (k). 0 proposes nothing. */
  readonly maxSize: number;
  readonly exclude?: HittingSetExclusions<A>;
  /** Return at most this many sets (the first ones in the output order). Default: all. */
  readonly limit?: number;
  /**
   * Time budget in milliseconds from the call. When it runs out the search stops and returns what
   * it found with status `deadline`. The dedicated search checks the clock every 1,024 candidate
   * atoms; the SAT search between two solver calls (a single call is not interrupted).
   */
  readonly deadlineMs?: number;
  /**
   * Heuristic weight of an atom: among sets of the same size, sets with heavier atoms come first.
   * Default: the number of distinct supports the atom appears in (an atom on more of the ways the
   * request succeeds is more likely to matter). A Map gives 0 to atoms it does not list.
   */
  readonly weight?: ReadonlyMap<A, number> | ((atom: A) => number);
  /**
   * With a `limit`: stop as soon as `limit` sets that no exclusion skips are found, instead of
   * enumerating the whole last size and ordering it. The sets of that last size then come in the
   * dedicated search's order (branching on the smallest unhit support, its heavier atoms first)
   * rather than in the heuristic order, and the status is `limit`. For an engine that asks for the
   * next few hypotheses while the minimal sets of one size number in the hundreds of thousands.
   * The SAT enumerator ignores it.
   */
  readonly firstFound?: boolean;
}

/**
 * Why the enumeration ended.
 * - `complete`: `sets` holds every minimal hitting set of size ≤ maxSize that no exclusion skips.
 *   When it is empty, no fault set of size ≤ maxSize among these atoms can break the request other
 *   than those already known: this is what a certificate rests on.
 * - `limit`: stopped after `limit` sets; there may be more.
 * - `deadline`: the time budget ran out; the sets found so far are returned (the last size searched
 *   may be incomplete, ordered among what was found).
 * - `unhittable`: a support is empty: a successful execution used no atom at all, so no fault set
 *   can break it and there is no hypothesis. Either the request really depends on nothing we can
 *   fault (a certificate for any k), or the lineage of that execution was lost (a tracing gap); the
 *   engine must tell which. `emptySupports` says which supports.
 * - `no-supports`: no support given. With no successful execution there is nothing to explain (the
 *   empty set would hit every one of zero supports, but "inject nothing" is not a hypothesis): run
 *   the request fault-free first.
 */
export type HittingSetStatus = 'complete' | 'limit' | 'deadline' | 'unhittable' | 'no-supports';

export interface HittingSetStats {
  /** Which enumerator answered. */
  readonly solver: string;
  /** Distinct atoms in the supports. */
  readonly atoms: number;
  /** Distinct non-empty supports. */
  readonly supports: number;
  /** Largest size whose hitting sets were all enumerated (0 when none). */
  readonly sizeSearched: number;
  /** Search effort: candidate atoms tried (dedicated) or solver calls (SAT). */
  readonly work: number;
  /** Wall time of the call, ms. */
  readonly ms: number;
}

export interface HittingSetResult<A extends Atom = Atom> {
  /**
   * Minimal hitting sets, smallest first; among sets of one size, by the heuristic: each set's atoms
   * ranked (heavier first, then by `compareAtoms`), sets compared rank by rank, best rank first.
   * The atoms of each set are listed in `compareAtoms` order.
   */
  readonly sets: A[][];
  readonly status: HittingSetStatus;
  /** Indices (in the query) of the empty supports; non-empty only with status `unhittable`. */
  readonly emptySupports: readonly number[];
  readonly stats: HittingSetStats;
}

/**
 * The canonical order of atoms, independent of locale: numbers before strings, numbers by value,
 * strings by UTF-16 code units. It breaks ties in the heuristic and orders the atoms of each set.
 *
 * @example
 * [10, 'b', 2, 'a'].sort(compareAtoms); // [2, 10, 'a', 'b']
 */
export function compareAtoms(a: Atom, b: Atom): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Compilation: validated query → integer atoms numbered in heuristic rank order.

/**
 * Supports compiled once for many questions: the engine asks for the next hypotheses after every
 * experiment, often with the same supports and only new exclusions, and compiling 1,000 supports
 * of ~100 atoms is most of the cost of a call. Pass it as `query.supports`. Immutable.
 *
 * Atom i is the i-th best by the heuristic (heaviest first, then `compareAtoms`), so "better set"
 * is simply "lexicographically smaller sorted index array", and a clause's atoms in ascending index
 * order are also in heuristic order.
 *
 * @example
 * const prepared = prepareSupports([['a', 'b'], ['a', 'c']]);
 * dedicatedHittingSets({ supports: prepared, maxSize: 2, exclude: { tried: [['a']] } }).sets; // [['b', 'c']]
 */
export class PreparedSupports<A extends Atom = Atom> {
  /** Index → atom; index 0 is the heaviest. */
  readonly atoms: readonly A[];
  /** Distinct non-empty supports, as ascending atom indices. */
  readonly clauses: readonly Int32Array[];
  /** Number of supports given (duplicates and empty ones included). */
  readonly given: number;
  /** Indices (as given) of empty supports. */
  readonly emptySupports: readonly number[];
  /** Atom → index. */
  readonly index: ReadonlyMap<A, number>;

  /** Use `prepareSupports`. */
  constructor(atoms: readonly A[], clauses: readonly Int32Array[], given: number, emptySupports: readonly number[], index: ReadonlyMap<A, number>) {
    this.atoms = atoms;
    this.clauses = clauses;
    this.given = given;
    this.emptySupports = emptySupports;
    this.index = index;
  }
}

/** A query compiled for the enumerators (internal to the solver modules). */
export interface CompiledQuery<A extends Atom = Atom> {
  readonly prepared: PreparedSupports<A>;
  readonly atoms: readonly A[];
  readonly clauses: readonly Int32Array[];
  /** Failure sets whose atoms all occur in some support, ascending, deduplicated. */
  readonly failures: readonly Int32Array[];
  /** Tried sets (within the universe), as `indexKey` strings. */
  readonly tried: ReadonlySet<string>;
  /** Tolerated sets restricted to the universe, ascending. */
  readonly tolerated: readonly Int32Array[];
  /**
   * Per atom, a bitset over `tolerated` (words of 32 sets): which tolerated sets contain it, so
   * "is this set inside some tolerated set" is an AND of a few rows instead of a scan. Built only
   * when there are many tolerated sets; undefined otherwise.
   */
  readonly toleratedByAtom?: readonly (Uint32Array | undefined)[];
  readonly maxSize: number;
  readonly limit: number;
  /** Absolute `performance.now()` deadline, or Infinity. */
  readonly deadline: number;
  /** Stop a size's search once `limit` non-excluded sets are found (see `HittingSetQuery.firstFound`). */
  readonly firstFound: boolean;
  readonly startedAt: number;
  /** Set when the answer is known without searching. */
  readonly early?: { readonly status: HittingSetStatus; readonly emptySupports: readonly number[] };
}

function now(): number {
  return performance.now();
}

function checkAtom(a: unknown, where: string): asserts a is Atom {
  if (typeof a === 'string' || (typeof a === 'number' && Number.isSafeInteger(a))) return;
  throw new LabcoatInputError(where, `expected an atom (a string or a safe integer), got ${show(a)}`);
}

function setValues<A extends Atom>(set: unknown, where: string): Iterable<A> {
  if (Array.isArray(set) || set instanceof Set) return set as Iterable<A>;
  throw new LabcoatInputError(where, `expected an array or a Set of atoms, got ${show(set)}`);
}

function listOf(value: unknown, where: string): readonly unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new LabcoatInputError(where, `expected an array of atom sets, got ${show(value)}`);
  return value;
}

/** A well-mixed 32-bit value of an integer (murmur3's finaliser), for order-independent set hashes. */
function mix(x: number, seed: number): number {
  let h = Math.imul(x + 1, seed);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Sorted index array → a key for exact-set lookups. */
export function indexKey(set: Int32Array): string {
  return set.join(',');
}

/** True when every element of sorted `small` is in sorted `big`. */
export function isSortedSubset(small: Int32Array, big: Int32Array): boolean {
  if (small.length > big.length) return false;
  let j = 0;
  for (let i = 0; i < small.length; i++) {
    const x = small[i]!;
    while (j < big.length && big[j]! < x) j++;
    if (j === big.length || big[j] !== x) return false;
    j++;
  }
  return true;
}

/** Lexicographic order of sorted index arrays of equal length: the heuristic order of sets. */
export function compareIndexSets(a: Int32Array, b: Int32Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

type Weight<A extends Atom> = ReadonlyMap<A, number> | ((atom: A) => number);

/**
 * Validates and compiles supports (see `PreparedSupports`). Throws LabcoatInputError naming the
 * bad element: a non-array, an atom that is neither a string nor a safe integer, a bad weight.
 *
 * @example
 * const prepared = prepareSupports([['a', 'b'], ['b', 'a'], ['a', 'c']]);
 * prepared.clauses.length; // 2: the same support seen twice is one
 */
export function prepareSupports<A extends Atom>(supports: readonly AtomSet<A>[], weight?: Weight<A>): PreparedSupports<A> {
  const supportsIn = listOf(supports, 'query.supports');
  // Provisional ids in order of first appearance; a stamp per id deduplicates within a support.
  const ids = new Map<A, number>();
  const firstAtoms: A[] = [];
  let stamp = new Int32Array(1024).fill(-1);
  const raw: number[][] = [];
  const emptySupports: number[] = [];
  for (let s = 0; s < supportsIn.length; s++) {
    const where = `query.supports[${s}]`;
    const list: number[] = [];
    const support = supportsIn[s];
    // Arrays by index (the common case, and the hot loop of a call); Sets by iteration.
    const values: readonly A[] = Array.isArray(support) ? support : [...setValues<A>(support, where)];
    for (let j = 0; j < values.length; j++) {
      const a = values[j]!;
      if (typeof a !== 'string') checkAtom(a, `${where}[${j}]`);
      let id = ids.get(a);
      if (id === undefined) {
        id = firstAtoms.length;
        ids.set(a, id);
        firstAtoms.push(a);
        if (id >= stamp.length) {
          const grown = new Int32Array(stamp.length * 2).fill(-1);
          grown.set(stamp);
          stamp = grown;
        }
      }
      if (stamp[id] !== s) {
        stamp[id] = s;
        list.push(id);
      }
    }
    if (list.length === 0) emptySupports.push(s);
    raw.push(list);
  }

  // Distinct supports: the same lineage seen many times is one clause. Keyed by an
  // order-independent hash (sorting 1,000 supports of ~100 atoms cost more than the whole search),
  // every key hit confirmed exactly.
  const byKey = new Map<string, number[]>();
  const distinct: number[][] = [];
  const mark = new Int32Array(firstAtoms.length);
  let epoch = 0;
  for (const list of raw) {
    if (list.length === 0) continue;
    let h1 = 0;
    let h2 = 0;
    for (let i = 0; i < list.length; i++) {
      const id = list[i]!;
      h1 = (h1 + mix(id, 0x9e3779b9)) | 0;
      h2 = (h2 + mix(id, 0x85ebca6b)) | 0;
    }
    const key = `${list.length},${h1},${h2}`;
    const same = byKey.get(key);
    if (same === undefined) {
      byKey.set(key, [distinct.length]);
      distinct.push(list);
      continue;
    }
    epoch++;
    for (let i = 0; i < list.length; i++) mark[list[i]!] = epoch;
    if (same.some((d) => distinct[d]!.every((id) => mark[id] === epoch))) continue;
    same.push(distinct.length);
    distinct.push(list);
  }

  // Rank: heavier first, then canonical atom order; atom index = rank.
  const n = firstAtoms.length;
  const weights = new Float64Array(n);
  if (weight === undefined) {
    for (const list of distinct) for (let i = 0; i < list.length; i++) weights[list[i]!]!++;
  } else {
    if (typeof weight !== 'function' && !(weight instanceof Map)) {
      throw new LabcoatInputError('query.weight', `expected a Map or a function, got ${show(weight)}`);
    }
    for (let id = 0; id < n; id++) {
      const atom = firstAtoms[id]!;
      const v = typeof weight === 'function' ? weight(atom) : (weight.get(atom) ?? 0);
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new LabcoatInputError('query.weight', `expected a finite number for atom ${show(atom)}, got ${show(v)}`);
      }
      weights[id] = v;
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (x, y) => weights[y]! - weights[x]! || compareAtoms(firstAtoms[x]!, firstAtoms[y]!),
  );
  const index = new Map<A, number>();
  const atoms = order.map((id, rank) => {
    const atom = firstAtoms[id]!;
    index.set(atom, rank);
    return atom;
  });
  // Clauses with their atoms in rank order, by transposing twice instead of sorting each one.
  const uses = new Int32Array(n + 1);
  for (const list of distinct) for (let i = 0; i < list.length; i++) uses[list[i]! + 1]!++;
  for (let id = 0; id < n; id++) uses[id + 1]! += uses[id]!;
  const clausesOf = new Int32Array(uses[n]!);
  const put = uses.slice(0, n);
  distinct.forEach((list, c) => {
    for (let i = 0; i < list.length; i++) clausesOf[put[list[i]!]!++] = c;
  });
  const clauses = distinct.map((list) => new Int32Array(list.length));
  const fill = new Int32Array(distinct.length);
  for (let rank = 0; rank < n; rank++) {
    const id = order[rank]!;
    for (let u = uses[id]!; u < uses[id + 1]!; u++) {
      const c = clausesOf[u]!;
      clauses[c]![fill[c]!++] = rank;
    }
  }
  return new PreparedSupports(atoms, clauses, supportsIn.length, emptySupports, index);
}

/**
 * Validates a query and compiles it (its supports too, unless they are `PreparedSupports`).
 * Throws LabcoatInputError naming the bad field: a negative or fractional size or limit, a
 * negative budget, a set that is not an array or Set, an atom that is neither a string nor a
 * safe integer.
 */
export function compileQuery<A extends Atom>(query: HittingSetQuery<A>): CompiledQuery<A> {
  const startedAt = now();
  if (typeof query !== 'object' || query === null) throw new LabcoatInputError('query', `expected an object, got ${show(query)}`);
  const maxSize = query.maxSize;
  if (typeof maxSize !== 'number' || !Number.isSafeInteger(maxSize) || maxSize < 0) {
    throw new LabcoatInputError('query.maxSize', `expected a whole number (0 or more), got ${show(maxSize)}`);
  }
  const limit = query.limit ?? Infinity;
  if (typeof limit !== 'number' || !(Number.isSafeInteger(limit) || limit === Infinity) || limit < 0) {
    throw new LabcoatInputError('query.limit', `expected a whole number (0 or more), got ${show(limit)}`);
  }
  const budget = query.deadlineMs;
  if (budget !== undefined && (typeof budget !== 'number' || Number.isNaN(budget) || budget < 0)) {
    throw new LabcoatInputError('query.deadlineMs', `expected a number of milliseconds (0 or more), got ${show(budget)}`);
  }
  const deadline = budget === undefined ? Infinity : startedAt + budget;
  let prepared: PreparedSupports<A>;
  if (query.supports instanceof PreparedSupports) {
    if (query.weight !== undefined) {
      throw new LabcoatInputError('query.weight', 'the supports are prepared: give the weight to prepareSupports instead');
    }
    prepared = query.supports;
  } else {
    prepared = prepareSupports(query.supports, query.weight);
  }
  const index = prepared.index;

  // Exclusions, in the same indices. A set mentioning an atom outside every support can never be
  // a subset of a hitting set (only support atoms appear in minimal ones) nor equal to one.
  const exclude = query.exclude ?? {};
  if (typeof exclude !== 'object' || exclude === null) throw new LabcoatInputError('query.exclude', `expected an object, got ${show(exclude)}`);
  const toIndices = (set: unknown, where: string, restrict: boolean): Int32Array | undefined => {
    const out = new Set<number>();
    let j = 0;
    for (const a of setValues<A>(set, where)) {
      checkAtom(a, `${where}[${j++}]`);
      const id = index.get(a);
      if (id === undefined) {
        if (restrict) continue;
        return undefined;
      }
      out.add(id);
    }
    return Int32Array.from(out).sort();
  };
  const failures: Int32Array[] = [];
  const failureKeys = new Set<string>();
  let everythingFails = false;
  listOf(exclude.failures, 'query.exclude.failures').forEach((set, i) => {
    const f = toIndices(set, `query.exclude.failures[${i}]`, false);
    if (f === undefined) return;
    if (f.length === 0) everythingFails = true;
    const key = indexKey(f);
    if (!failureKeys.has(key)) {
      failureKeys.add(key);
      failures.push(f);
    }
  });
  const tried = new Set<string>();
  listOf(exclude.tried, 'query.exclude.tried').forEach((set, i) => {
    const t = toIndices(set, `query.exclude.tried[${i}]`, false);
    if (t !== undefined) tried.add(indexKey(t));
  });
  const tolerated: Int32Array[] = [];
  listOf(exclude.tolerated, 'query.exclude.tolerated').forEach((set, i) => {
    const t = toIndices(set, `query.exclude.tolerated[${i}]`, true);
    // Restricted to the universe, an empty tolerated set only covers the empty set: never proposed.
    if (t !== undefined && t.length > 0) tolerated.push(t);
  });

  let toleratedByAtom: (Uint32Array | undefined)[] | undefined;
  if (tolerated.length >= 16) {
    const words = Math.ceil(tolerated.length / 32);
    toleratedByAtom = new Array<Uint32Array | undefined>(prepared.atoms.length);
    tolerated.forEach((t, i) => {
      for (const x of t) (toleratedByAtom![x] ??= new Uint32Array(words))[i >>> 5]! |= 1 << (i & 31);
    });
  }

  let early: CompiledQuery['early'];
  if (prepared.given === 0) early = { status: 'no-supports', emptySupports: [] };
  else if (prepared.emptySupports.length > 0) early = { status: 'unhittable', emptySupports: prepared.emptySupports };
  else if (everythingFails || maxSize === 0) early = { status: 'complete', emptySupports: [] };
  return {
    prepared,
    atoms: prepared.atoms,
    clauses: prepared.clauses,
    failures,
    tried,
    tolerated,
    ...(toleratedByAtom ? { toleratedByAtom } : {}),
    maxSize,
    limit,
    deadline,
    firstFound: query.firstFound === true && limit !== Infinity,
    startedAt,
    ...(early ? { early } : {}),
  };
}

/**
 * True when an exclusion skips this minimal hitting set (sorted indices). `failuresChecked`: the
 * caller's search already left out supersets of failures.
 */
export function isExcluded(q: CompiledQuery, set: Int32Array, failuresChecked = false): boolean {
  if (!failuresChecked) for (const f of q.failures) if (isSortedSubset(f, set)) return true;
  if (q.tried.size > 0 && q.tried.has(indexKey(set))) return true;
  const rows = q.toleratedByAtom;
  if (rows === undefined) {
    for (const t of q.tolerated) if (isSortedSubset(set, t)) return true;
    return false;
  }
  const first = rows[set[0]!];
  if (first === undefined) return false;
  for (let w = 0; w < first.length; w++) {
    let bits = first[w]!;
    for (let i = 1; i < set.length && bits !== 0; i++) bits &= rows[set[i]!]?.[w] ?? 0;
    if (bits !== 0) return true;
  }
  return false;
}

/** What one enumerator found for one size: every minimal hitting set of exactly that size. */
export interface LevelSearch {
  /** Sorted index arrays; supersets of failures may already be left out, other exclusions not. */
  readonly sets: Int32Array[];
  /** The deadline passed during the search: `sets` may be incomplete. */
  readonly timedOut: boolean;
  readonly work: number;
  /** The search stopped after `want` non-excluded sets (`firstFound`): `sets` holds only those. */
  readonly stoppedEarly?: boolean;
  /** Every exclusion was already applied to `sets`. */
  readonly filtered?: boolean;
}

/**
 * Iterative deepening shared by the enumerators: size 1, 2, … maxSize, each size searched in full
 * and then ordered, so the output is smallest first and, within a size, in heuristic order. The
 * order within a size needs the whole size searched; at LDFI sizes (k ≤ 3) a size costs far less
 * than one experiment.
 */
export function runLevels<A extends Atom>(q: CompiledQuery<A>, solver: string, searchSize: (size: number, want: number) => LevelSearch): HittingSetResult<A> {
  if (q.early) return result(q, solver, [], q.early.status, q.early.emptySupports, 0, q.early.status === 'complete' ? q.maxSize : 0);
  const found: Int32Array[] = [];
  let status: HittingSetStatus = 'complete';
  let work = 0;
  let sizeSearched = 0;
  // A minimal set has a private clause per atom, so it is no larger than the clause or atom count.
  const top = Math.min(q.maxSize, q.atoms.length, q.clauses.length);
  for (let size = 1; size <= top; size++) {
    if (found.length >= q.limit) {
      status = 'limit';
      break;
    }
    if (now() > q.deadline) {
      status = 'deadline';
      break;
    }
    const level = searchSize(size, q.firstFound ? q.limit - found.length : Infinity);
    work += level.work;
    const kept = level.filtered ? level.sets : level.sets.filter((s) => !isExcluded(q, s));
    if (!level.stoppedEarly) kept.sort(compareIndexSets);
    for (const s of kept) found.push(s);
    if (level.timedOut) {
      status = 'deadline';
      break;
    }
    if (level.stoppedEarly) {
      status = 'limit';
      break;
    }
    sizeSearched = size;
  }
  if (status === 'complete') sizeSearched = q.maxSize;
  if (found.length > q.limit) {
    found.length = q.limit;
    if (status === 'complete') status = 'limit';
  }
  return result(q, solver, found, status, [], work, sizeSearched);
}

function result<A extends Atom>(
  q: CompiledQuery<A>,
  solver: string,
  found: readonly Int32Array[],
  status: HittingSetStatus,
  emptySupports: readonly number[],
  work: number,
  sizeSearched: number,
): HittingSetResult<A> {
  const sets = found.map((s) => Array.from(s, (i) => q.atoms[i]!).sort(compareAtoms));
  return {
    sets,
    status,
    emptySupports,
    stats: { solver, atoms: q.atoms.length, supports: q.clauses.length, sizeSearched, work, ms: now() - q.startedAt },
  };
}

// ---------------------------------------------------------------------------------------------
// The dedicated enumerator.

const NO_FAILURES = new Int32Array(0);

/** Per prepared supports, the clause bitsets of every atom: built once, reused by every query. */
const coverCache = new WeakMap<PreparedSupports, Uint32Array>();

/**
 * The compiled CNF as bitsets: `cover` row x (W words) marks the clauses atom x hits.
 */
class Mmcs {
  readonly n: number;
  readonly m: number;
  readonly W: number;
  readonly cover: Uint32Array;
  readonly clauseSize: Int32Array;
  readonly clauses: readonly Int32Array[];
  readonly failuresByAtom: Int32Array[];
  readonly failureSize: Int32Array;
  readonly cand: Uint8Array;
  readonly deadline: number;

  constructor(q: CompiledQuery) {
    this.n = q.atoms.length;
    this.m = q.clauses.length;
    this.W = Math.max(1, Math.ceil(this.m / 32));
    this.clauses = q.clauses;
    this.deadline = q.deadline;
    this.clauseSize = Int32Array.from(q.clauses, (clause) => clause.length);
    let cover = coverCache.get(q.prepared);
    if (cover === undefined) {
      cover = new Uint32Array(this.n * this.W);
      for (let c = 0; c < this.m; c++) {
        const word = c >>> 5;
        const bit = 1 << (c & 31);
        for (const x of q.clauses[c]!) cover[x * this.W + word]! |= bit;
      }
      coverCache.set(q.prepared, cover);
    }
    this.cover = cover;
    // Failure sets by atom, so adding an atom updates only the failures it belongs to.
    const byAtom: number[][] = [];
    q.failures.forEach((f, i) => {
      for (const x of f) (byAtom[x] ??= []).push(i);
    });
    this.failuresByAtom = Array.from({ length: this.n }, (_, x) => (byAtom[x] ? Int32Array.from(byAtom[x]) : NO_FAILURES));
    this.failureSize = Int32Array.from(q.failures, (f) => f.length);
    this.cand = new Uint8Array(this.n).fill(1);
  }

  /**
   * Every minimal hitting set of exactly `size` atoms that is not a superset of a failure.
   *
   * MMCS: S is the partial set, `uncov` the clauses it does not hit, `crit[j]` the clauses hit by
   * S[j] alone. Pick the unhit clause F with the fewest atoms; some atom of F must join S. Branch
   * on the candidates of F in order; before branching they all leave CAND, and each returns to
   * CAND after its own branch, so a set is produced only in the branch of its last F-atom: each
   * minimal set exactly once, no dedupe table. Adding x empties another member's `crit` exactly
   * when x makes that member redundant, so that branch can never become minimal and is cut.
   */
  search(size: number, want = Infinity, q?: CompiledQuery): LevelSearch {
    const { W, cover, clauseSize, clauses, cand, failuresByAtom, failureSize, deadline } = this;
    let wanted = 0;
    let stoppedEarly = false;
    const uncov = new Uint32Array((size + 1) * W);
    for (let c = 0; c < this.m; c++) uncov[c >>> 5]! |= 1 << (c & 31);
    // crit row (d, j) = clauses only S[j] hits when |S| = d: offset (d * size + j) * W.
    const crit = new Uint32Array((size + 1) * size * W);
    const S = new Int32Array(size);
    const failHits = new Int32Array(failureSize.length);
    const sets: Int32Array[] = [];
    let work = 0;
    let timedOut = false;

    const visit = (d: number): void => {
      const u = d * W;
      // The unhit clause with the fewest atoms: fewest branches.
      let best = -1;
      let bestSize = Infinity;
      for (let w = 0; w < W; w++) {
        let bits = uncov[u + w]!;
        while (bits !== 0) {
          const low = bits & -bits;
          const c = (w << 5) | (31 - Math.clz32(low));
          bits ^= low;
          const sz = clauseSize[c]!;
          if (sz < bestSize) {
            bestSize = sz;
            best = c;
          }
        }
      }
      if (best < 0) return; // unreachable: callers only descend while something is unhit
      const F = clauses[best]!;
      const C: number[] = [];
      for (const x of F) if (cand[x] === 1) C.push(x);
      for (const x of C) cand[x] = 0;
      const last = d + 1 === size;
      const next = u + W;
      for (const x of C) {
        // The clock is read every 1,024 candidates: each costs a few passes over W words.
        if ((++work & 1023) === 0 && now() > deadline) timedOut = true;
        if (timedOut || stoppedEarly) break;
        const cx = x * W;
        let superFailure = false;
        const fs = failuresByAtom[x]!;
        for (let i = 0; i < fs.length; i++) if (++failHits[fs[i]!]! === failureSize[fs[i]!]) superFailure = true;
        if (!superFailure) {
          let left = 0;
          for (let w = 0; w < W; w++) {
            const v = uncov[u + w]! & ~cover[cx + w]!;
            uncov[next + w] = v;
            left |= v;
          }
          // At the last atom only a complete cover will do; before it, covering everything early
          // gives a smaller minimal set, already produced by the size before.
          if (last ? left === 0 : left !== 0) {
            let minimal = true;
            for (let j = 0; j < d && minimal; j++) {
              const from = (d * size + j) * W;
              const to = ((d + 1) * size + j) * W;
              let any = 0;
              for (let w = 0; w < W; w++) {
                const v = crit[from + w]! & ~cover[cx + w]!;
                crit[to + w] = v;
                any |= v;
              }
              if (any === 0) minimal = false;
            }
            if (minimal) {
              S[d] = x;
              if (last) {
                const set = S.slice().sort();
                if (want === Infinity) sets.push(set);
                else if (!isExcluded(q!, set, true)) {
                  sets.push(set);
                  if (++wanted >= want) stoppedEarly = true;
                }
              } else {
                const own = ((d + 1) * size + d) * W;
                for (let w = 0; w < W; w++) crit[own + w] = cover[cx + w]! & uncov[u + w]!;
                visit(d + 1);
              }
            }
          }
        }
        for (let i = 0; i < fs.length; i++) failHits[fs[i]!]!--;
        cand[x] = 1;
      }
      for (const x of C) cand[x] = 1; // after a timeout some were not restored
    };
    visit(0);
    return { sets, timedOut, work, ...(stoppedEarly ? { stoppedEarly } : {}), ...(want !== Infinity ? { filtered: true } : {}) };
  }
}

/**
 * The dedicated enumerator: minimal hitting sets of size ≤ maxSize, smallest first, then by the
 * heuristic, with exclusions applied (see `HittingSetQuery`, `HittingSetResult`).
 *
 * @example
 * // Two ways GET /home succeeded: through the cache, or through the database.
 * const r = dedicatedHittingSets({
 *   supports: [['edge->api', 'api->cache'], ['edge->api', 'api->db']],
 *   maxSize: 2,
 * });
 * r.sets;   // [['edge->api'], ['api->cache', 'api->db']]
 * r.status; // 'complete'
 */
export function dedicatedHittingSets<A extends Atom>(query: HittingSetQuery<A>): HittingSetResult<A> {
  const q = compileQuery(query);
  if (q.early) return runLevels(q, 'dedicated', () => ({ sets: [], timedOut: false, work: 0 }));
  const mmcs = new Mmcs(q);
  return runLevels(q, 'dedicated', (size, want) => mmcs.search(size, want, q));
}
