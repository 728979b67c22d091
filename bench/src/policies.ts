/**
 * policies: labcoat's resilience policies side by side with opossum 9 and cockatiel 3.2.1 in one
 * process: a circuit breaker's success path (sequential, and 64 calls in flight), its failure path,
 * creating a breaker, and a retry + breaker + timeout pipeline: ops/s (labcoat's ratio to the faster
 * of the two, paired per round) and bytes allocated per operation.
 * See docs/benchmarks.md ("policies") for the method and how each library is configured.
 *
 *   node bench/dist/policies.js [--quick] [--rounds N] [--batch-ms MS] [--warmup-ms MS]
 *        [--cases success,success-64,failure,create,pipeline] [--variants labcoat,cockatiel,...]
 *        [--skip-alloc]
 *
 * ops/s are measured here, in alternating rounds; bytes per operation in a child process started
 * with `--expose-gc --min-semi-space-size=64 --max-semi-space-size=64` (this file with
 * `--alloc-child`), where a batch can run without any garbage collection.
 *
 * Human-readable figures go to stdout, progress to stderr, and the last stdout line is one JSON
 * object: {"bench":"policies", ...}.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { setImmediate as macrotask } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  circuitBreaker as ckBreaker,
  ConsecutiveBreaker as CkConsecutiveBreaker,
  handleAll as ckHandleAll,
  retry as ckRetry,
  timeout as ckTimeout,
  TimeoutStrategy,
  wrap as ckWrap,
} from 'cockatiel';
import CircuitBreaker from 'opossum';
import { circuitBreaker, ConsecutiveBreaker, retry, timeout, wrap, type TimeoutStrategy as LabcoatTimeoutStrategy } from '@labcoat/node/policies';
import { createAllocMeter, canForceGc } from './alloc.js';
import { median, round } from './stats.js';

// ---- configuration --------------------------------------------------------------------------

const CASES = ['success', 'success-64', 'failure', 'create', 'pipeline'] as const;
type CaseId = (typeof CASES)[number];
const VARIANTS = ['labcoat', 'cockatiel', 'opossum', 'labcoat-cooperative', 'cockatiel-defaults', 'opossum-defaults', 'none'] as const;
type Variant = (typeof VARIANTS)[number];
/** The libraries labcoat is compared with; the other variants are reported for context. */
const BASELINES = ['cockatiel', 'opossum'] as const satisfies readonly Variant[];

const CASE_TITLE: Record<CaseId, string> = {
  success: 'success: breaker around an async fn returning a constant, sequential await',
  'success-64': 'success, 64 in flight: the same with 64 sequential loops at once',
  failure: 'failure: the fn always rejects, breaker never opens, caller catches',
  create: 'creation: construct one breaker',
  pipeline: 'pipeline: retry(3 attempts) + breaker + timeout(1000 ms), fn succeeds',
};
const VARIANT_TITLE: Record<Variant, string> = {
  labcoat: 'labcoat',
  'labcoat-cooperative': 'labcoat, cooperative timeout',
  cockatiel: 'cockatiel 3.2.1',
  'cockatiel-defaults': 'cockatiel, abortOnReturn (default)',
  opossum: 'opossum 9.0.0',
  'opossum-defaults': 'opossum 9.0.0 with its defaults',
  none: 'no policy (the fn itself)',
};

/** Calls in flight in the `success-64` case. */
const CONCURRENCY = 64;
/** Total attempts of the pipeline's retry (1 call + 2 retries). */
const ATTEMPTS = 3;
/** A consecutive-failure threshold no run reaches: the failure case's breakers never open. */
const NEVER_OPENS = Number.MAX_SAFE_INTEGER;
/** opossum's creation batches run in chunks of this many breakers, each timed, then shut down untimed. */
const CREATE_CHUNK = 2_048;
const CALL_MAX = 10_000_000;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    'batch-ms': { type: 'string' },
    'warmup-ms': { type: 'string' },
    cases: { type: 'string' },
    variants: { type: 'string' },
    'skip-alloc': { type: 'boolean', default: false },
    'alloc-child': { type: 'boolean', default: false },
  },
});

function num(v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`expected a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return n;
}
function list<T extends string>(v: string | undefined, all: readonly T[], what: string): T[] {
  if (v === undefined) return [...all];
  const picked = v.split(',').map((s) => s.trim()) as T[];
  for (const p of picked) if (!all.includes(p)) throw new Error(`unknown ${what} ${p}; ${what}s: ${all.join(', ')}`);
  return picked;
}

const quick = args.quick === true;
const cfg = {
  rounds: num(args.rounds, quick ? 3 : 7, 1, 50),
  batchMs: num(args['batch-ms'], quick ? 50 : 200, 5, 5_000),
  warmupMs: num(args['warmup-ms'], quick ? 100 : 500, 10, 10_000),
  allocRounds: quick ? 3 : 5,
  allocBatch: 20_480,
  allocCreateBatch: CREATE_CHUNK,
};
const cases = list(args.cases, CASES, 'case');
const variants = list(args.variants, VARIANTS, 'variant');
const allocChild = args['alloc-child'] === true;
const startedAt = Date.now();
const HARD_LIMIT_MS = quick ? 120_000 : 600_000;
setTimeout(() => {
  process.stderr.write(`policies: over the ${HARD_LIMIT_MS / 1000} s limit, giving up\n`);
  process.exit(2);
}, HARD_LIMIT_MS).unref();

// ---- the functions the policies run ---------------------------------------------------------

/** Calls of `ok`/`fail`, checked after every batch: no breaker opened, no retry happened. */
let calls = 0;
let sink = 0;
/** One error, thrown every time: the figures are the policies' cost, not `new Error()`'s stack capture. */
const BOOM = new Error('boom');
const ok = async (): Promise<number> => {
  calls++;
  return 1;
};
const fail = async (): Promise<number> => {
  calls++;
  throw BOOM;
};

/** Runs `n` calls of `one` as CONCURRENCY sequential loops at once (n is a multiple of CONCURRENCY). */
async function concurrently(n: number, one: () => Promise<number>): Promise<void> {
  const per = n / CONCURRENCY;
  const loops = new Array<Promise<number>>(CONCURRENCY);
  for (let w = 0; w < CONCURRENCY; w++) loops[w] = loop(per, one);
  const done = await Promise.all(loops);
  for (const s of done) sink += s;
}
async function loop(n: number, one: () => Promise<number>): Promise<number> {
  let s = 0;
  for (let i = 0; i < n; i++) s += await one();
  return s;
}

/**
 * Breakers made by a creation batch. labcoat's and cockatiel's are dropped as soon as the next one
 * is made (`held[0]`: stored, so the construction cannot be optimised away). opossum's constructor
 * starts an interval that keeps its breaker alive until `shutdown()`, so its breakers are held for
 * a chunk of CREATE_CHUNK and shut down, untimed, after it.
 */
const held: unknown[] = new Array<unknown>(CREATE_CHUNK).fill(undefined);
function release(n: number): void {
  held.fill(undefined, 0, n);
}
function dropLast(): void {
  held[0] = undefined;
}

interface Subject {
  readonly caseId: CaseId;
  readonly variant: Variant;
  /** Runs `n` operations. */
  readonly batch: (n: number) => Promise<void>;
  /** After each batch, outside the measurement (creation: dispose of the breakers). */
  readonly after?: (n: number) => void;
  /** Runs batches larger than this as several timed chunks, `after` between them. */
  readonly chunk?: number;
  /** Calls of the fn per operation, checked after every batch. */
  readonly callsPerOp: number;
  readonly maxBatch: number;
}

// ---- cockatiel ------------------------------------------------------------------------------

function cockatielSubjects(): Subject[] {
  const breaker = (threshold = 5) => ckBreaker(ckHandleAll, { halfOpenAfter: 10_000, breaker: new CkConsecutiveBreaker(threshold) });
  const b = breaker();
  const b64 = breaker();
  const bFail = breaker(NEVER_OPENS);
  // cockatiel's maxAttempts counts retries, not attempts. abortOnReturn off: labcoat's timeout
  // does not abort the fn's signal after a success either (cockatiel-defaults has it on)
  const pipe = ckWrap(
    ckRetry(ckHandleAll, { maxAttempts: ATTEMPTS - 1 }),
    breaker(),
    ckTimeout(1000, { strategy: TimeoutStrategy.Cooperative, abortOnReturn: false }),
  );
  const v = 'cockatiel';
  return [
    {
      caseId: 'success',
      variant: v,
      callsPerOp: 1,
      maxBatch: CALL_MAX,
      batch: async (n) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += await b.execute(ok);
        sink += s;
      },
    },
    { caseId: 'success-64', variant: v, callsPerOp: 1, maxBatch: CALL_MAX, batch: (n) => concurrently(n, () => b64.execute(ok)) },
    {
      caseId: 'failure',
      variant: v,
      callsPerOp: 1,
      maxBatch: CALL_MAX,
      batch: async (n) => {
        let s = 0;
        for (let i = 0; i < n; i++) {
          try {
            s += await bFail.execute(fail);
          } catch {
            s--;
          }
        }
        sink += s;
      },
    },
    {
      caseId: 'create',
      variant: v,
      callsPerOp: 0,
      maxBatch: CALL_MAX,
      batch: async (n) => {
        for (let i = 0; i < n; i++) held[0] = ckBreaker(ckHandleAll, { halfOpenAfter: 10_000, breaker: new CkConsecutiveBreaker(5) });
      },
      after: dropLast,
    },
    {
      caseId: 'pipeline',
      variant: v,
      callsPerOp: 1,
      maxBatch: CALL_MAX,
      batch: async (n) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += await pipe.execute(ok);
        sink += s;
      },
    },
  ];
}

/** The pipeline with cockatiel's default timeout options (abortOnReturn: the fn's signal is aborted after every call). */
function cockatielDefaultSubjects(): Subject[] {
  const pipe = ckWrap(
    ckRetry(ckHandleAll, { maxAttempts: ATTEMPTS - 1 }),
    ckBreaker(ckHandleAll, { halfOpenAfter: 10_000, breaker: new CkConsecutiveBreaker(5) }),
    ckTimeout(1000, TimeoutStrategy.Cooperative),
  );
  return [
    {
      caseId: 'pipeline',
      variant: 'cockatiel-defaults',
      callsPerOp: 1,
      maxBatch: CALL_MAX,
      batch: async (n) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += await pipe.execute(ok);
        sink += s;
      },
    },
  ];
}

// ---- opossum --------------------------------------------------------------------------------

/**
 * opossum's options for the comparison: its fastest configuration that still breaks. Its per-call
 * timeout off (`timeout: false`; the others' breakers have none), no rolling percentiles (with
 * them, every failure concatenates and sorts the latencies of the whole 10 s window) and no
 * snapshot events (once a second, the same computation); `resetTimeout` set to the others' 10 s
 * half-open delay; otherwise its defaults (opens above 50% failures over a 10 s window of 10
 * buckets). opossum writes its defaults into the options object, so every breaker gets a fresh one.
 */
const opossumOptions = (extra: CircuitBreaker.Options = {}): CircuitBreaker.Options => ({
  timeout: false,
  rollingPercentilesEnabled: false,
  enableSnapshots: false,
  resetTimeout: 10_000,
  ...extra,
});

/** The retry opossum lacks: at most ATTEMPTS calls of `fire`, no wait between them. */
async function opossumRetry(b: CircuitBreaker<[], number>): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await b.fire();
    } catch (error) {
      if (attempt >= ATTEMPTS) throw error;
    }
  }
}

const opossumBreakers: CircuitBreaker[] = [];
function opossum(fn: () => Promise<number>, options: CircuitBreaker.Options): CircuitBreaker<[], number> {
  const b = new CircuitBreaker(fn, options);
  opossumBreakers.push(b as unknown as CircuitBreaker);
  return b;
}

function opossumSubjects(v: 'opossum' | 'opossum-defaults'): Subject[] {
  // 'opossum-defaults': opossum as it comes (a 10 s timeout: a timer per call; rolling
  // percentiles; snapshots), with the same 10 s resetTimeout
  const options = (extra: CircuitBreaker.Options = {}) => (v === 'opossum' ? opossumOptions(extra) : { resetTimeout: 10_000, ...extra });
  const b = opossum(ok, options());
  const b64 = opossum(ok, options());
  const bFail = opossum(fail, options({ errorThresholdPercentage: 100 })); // opens only above 100%: never
  const subjects: Subject[] = [
    {
      caseId: 'success',
      variant: v,
      callsPerOp: 1,
      maxBatch: CALL_MAX,
      batch: async (n) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += await b.fire();
        sink += s;
      },
    },
    { caseId: 'success-64', variant: v, callsPerOp: 1, maxBatch: CALL_MAX, batch: (n) => concurrently(n, () => b64.fire()) },
    {
      caseId: 'failure',
      variant: v,
      callsPerOp: 1,
      // with rolling percentiles, each failure sorts the latencies of the whole window: the cost
      // of a failure grows with the calls in the last 10 s, so keep that number small
      maxBatch: v === 'opossum' ? CALL_MAX : 256,
      batch: async (n) => {
        let s = 0;
        for (let i = 0; i < n; i++) {
          try {
            s += await bFail.fire();
          } catch {
            s--;
          }
        }
        sink += s;
      },
    },
  ];
  if (v === 'opossum-defaults') return subjects;
  const pipe = opossum(ok, opossumOptions({ timeout: 1000 }));
  subjects.push(
    {
      caseId: 'create',
      variant: v,
      callsPerOp: 0,
      maxBatch: CALL_MAX,
      chunk: CREATE_CHUNK,
      batch: async (n) => {
        for (let i = 0; i < n; i++) held[i] = new CircuitBreaker(ok, opossumOptions());
      },
      // opossum starts an interval per breaker (bucket rotation; a second one with snapshots): stop it
      after: (n) => {
        for (let i = 0; i < n; i++) (held[i] as CircuitBreaker).shutdown();
        release(n);
      },
    },
    {
      caseId: 'pipeline',
      variant: v,
      callsPerOp: 1,
      maxBatch: CALL_MAX,
      batch: async (n) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += await opossumRetry(pipe);
        sink += s;
      },
    },
  );
  return subjects;
}

// ---- no policy ------------------------------------------------------------------------------

function noneSubjects(): Subject[] {
  const v = 'none';
  return [
    {
      caseId: 'success',
      variant: v,
      callsPerOp: 1,
      maxBatch: CALL_MAX,
      batch: async (n) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += await ok();
        sink += s;
      },
    },
    { caseId: 'success-64', variant: v, callsPerOp: 1, maxBatch: CALL_MAX, batch: (n) => concurrently(n, ok) },
    {
      caseId: 'failure',
      variant: v,
      callsPerOp: 1,
      maxBatch: CALL_MAX,
      batch: async (n) => {
        let s = 0;
        for (let i = 0; i < n; i++) {
          try {
            s += await fail();
          } catch {
            s--;
          }
        }
        sink += s;
      },
    },
  ];
}

// ---- labcoat --------------------------------------------------------------------------------

/**
 * labcoat's configuration: the same consecutive breaker (5 failures, 10 s open), retry by total
 * attempts, `timeout(1000)` with its default strategy (aggressive: rejects at the deadline without
 * waiting for the fn, like opossum's; the cooperative one, like cockatiel's, is `labcoat-cooperative`).
 */
function labcoatSubjects(): Subject[] {
  const breaker = (threshold = 5) => circuitBreaker({ halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(threshold) });
  const b = breaker();
  const b64 = breaker();
  const bFail = breaker(NEVER_OPENS);
  const pipe = wrap(retry({ maxAttempts: ATTEMPTS }), breaker(), timeout(1000));
  const v = 'labcoat';
  return [
    {
      caseId: 'success',
      variant: v,
      callsPerOp: 1,
      maxBatch: CALL_MAX,
      batch: async (n) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += await b.execute(ok);
        sink += s;
      },
    },
    { caseId: 'success-64', variant: v, callsPerOp: 1, maxBatch: CALL_MAX, batch: (n) => concurrently(n, () => b64.execute(ok)) },
    {
      caseId: 'failure',
      variant: v,
      callsPerOp: 1,
      maxBatch: CALL_MAX,
      batch: async (n) => {
        let s = 0;
        for (let i = 0; i < n; i++) {
          try {
            s += await bFail.execute(fail);
          } catch {
            s--;
          }
        }
        sink += s;
      },
    },
    {
      caseId: 'create',
      variant: v,
      callsPerOp: 0,
      maxBatch: CALL_MAX,
      batch: async (n) => {
        for (let i = 0; i < n; i++) held[0] = circuitBreaker({ halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) });
      },
      after: dropLast,
    },
    {
      caseId: 'pipeline',
      variant: v,
      callsPerOp: 1,
      maxBatch: CALL_MAX,
      batch: async (n) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += await pipe.execute(ok);
        sink += s;
      },
    },
  ];
}

/** The pipeline with labcoat's cooperative timeout (waits for the fn, as cockatiel's Cooperative does). */
function labcoatCooperativeSubjects(): Subject[] {
  const strategy: LabcoatTimeoutStrategy = 'cooperative';
  const pipe = wrap(retry({ maxAttempts: ATTEMPTS }), circuitBreaker({ halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }), timeout({ timeoutMs: 1000, strategy }));
  return [
    {
      caseId: 'pipeline',
      variant: 'labcoat-cooperative',
      callsPerOp: 1,
      maxBatch: CALL_MAX,
      batch: async (n) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += await pipe.execute(ok);
        sink += s;
      },
    },
  ];
}

// ---- measurement ----------------------------------------------------------------------------

function buildSubjects(): Subject[] {
  const all: Subject[] = [];
  for (const v of variants) {
    if (v === 'labcoat') all.push(...labcoatSubjects());
    else if (v === 'labcoat-cooperative') all.push(...labcoatCooperativeSubjects());
    else if (v === 'cockatiel') all.push(...cockatielSubjects());
    else if (v === 'cockatiel-defaults') all.push(...cockatielDefaultSubjects());
    else if (v === 'opossum' || v === 'opossum-defaults') all.push(...opossumSubjects(v));
    else all.push(...noneSubjects());
  }
  return all.filter((s) => cases.includes(s.caseId));
}

const key = (s: Subject): string => `${s.caseId}/${s.variant}`;
const toMultiple = (n: number): number => Math.max(CONCURRENCY, Math.round(n / CONCURRENCY) * CONCURRENCY);

/** How long a batch took: wall-clock ns, and CPU µs of the whole process (GC helper threads included). */
interface Timing {
  ns: number;
  cpuUs: number;
}

/** Runs one batch. Throws when the fn was not called as expected. */
async function runBatch(s: Subject, n: number): Promise<Timing> {
  const c0 = calls;
  let ns = 0;
  let cpuUs = 0;
  for (let done = 0; done < n; ) {
    const k = Math.min(n - done, s.chunk ?? n);
    const u0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await s.batch(k);
    ns += Number(process.hrtime.bigint() - t0);
    const u = process.cpuUsage(u0);
    cpuUs += u.user + u.system;
    s.after?.(k);
    done += k;
  }
  const made = calls - c0;
  if (made !== n * s.callsPerOp) {
    throw new Error(`${key(s)}: ${made} calls of the fn for ${n} operations, expected ${n * s.callsPerOp} (a breaker opened or a retry happened: the configurations are not equivalent)`);
  }
  await macrotask(); // let timers and GC callbacks run between batches, not inside them
  return { ns, cpuUs };
}

/** JIT warm-up: batches of growing size until `ms` have passed; returns the last rate (ops per CPU second). */
async function warm(s: Subject, ms: number): Promise<number> {
  let n = 256;
  let spent = 0;
  let rate = 0;
  for (let i = 0; i < 40 && spent < ms * 1e6; i++) {
    const { ns, cpuUs } = await runBatch(s, n);
    spent += ns;
    rate = (n * 1e6) / Math.max(cpuUs, 1);
    if (ns < 20e6) n = toMultiple(Math.min(n * 2, s.maxBatch));
  }
  return rate;
}

function fmtInt(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—';
}
function fmt(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '—';
}
function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

// ---- the allocation child -------------------------------------------------------------------

type AllocFigures = Record<string, number | null>;

async function measureAllocations(): Promise<{ figures: AllocFigures; overhead: number; invalid: number }> {
  const subjects = buildSubjects();
  for (const s of subjects) await warm(s, cfg.warmupMs / 2);
  const meter = await createAllocMeter();
  const samples = new Map<string, number[]>(subjects.map((s) => [key(s), []]));
  let invalid = 0;
  for (let r = 0; r < cfg.allocRounds; r++) {
    for (const s of subjects) {
      let n = Math.min(s.maxBatch, s.caseId === 'create' ? cfg.allocCreateBatch : cfg.allocBatch);
      for (let attempt = 0; attempt < 4; attempt++, n = toMultiple(n / 2)) {
        const c0 = calls;
        const bytes = await meter.measure(() => s.batch(n));
        s.after?.(n);
        if (calls - c0 !== n * s.callsPerOp) throw new Error(`${key(s)}: unexpected number of calls`);
        if (bytes !== undefined) {
          samples.get(key(s))!.push(bytes / n);
          break;
        }
        invalid++; // a GC ran during the batch: smaller batch
      }
    }
  }
  meter.close();
  const figures: AllocFigures = {};
  for (const [k, v] of samples) figures[k] = round(median(v), 1);
  return { figures, overhead: meter.overhead, invalid };
}

function allocationsFromChild(): { figures: AllocFigures; overhead: number; invalid: number } | undefined {
  const flags = ['--expose-gc', '--min-semi-space-size=64', '--max-semi-space-size=64'];
  const passOn = ['--alloc-child', '--cases', cases.join(','), '--variants', variants.join(','), '--warmup-ms', String(cfg.warmupMs)];
  if (quick) passOn.push('--quick');
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  try {
    const out = execFileSync(process.execPath, [...flags, fileURLToPath(import.meta.url), ...passOn], {
      encoding: 'utf8',
      timeout: quick ? 60_000 : 240_000,
      stdio: ['ignore', 'pipe', 'inherit'],
      env,
    });
    const last = out.trim().split('\n').at(-1) ?? '';
    return JSON.parse(last) as { figures: AllocFigures; overhead: number; invalid: number };
  } catch (error) {
    process.stderr.write(`policies: allocation child failed: ${(error as Error).message}\n`);
    return undefined;
  }
}

// ---- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (allocChild) {
    if (!canForceGc) throw new Error('--alloc-child needs --expose-gc');
    const result = await measureAllocations();
    console.log(JSON.stringify(result));
    return;
  }

  const subjects = buildSubjects();
  if (subjects.length === 0) throw new Error('nothing to measure: check --cases and --variants');
  process.stderr.write(`policies: warming up ${subjects.length} subjects…\n`);
  for (const s of subjects) await warm(s, cfg.warmupMs);
  const batchOf = new Map<string, number>();
  for (const s of subjects) {
    const rate = await warm(s, cfg.batchMs); // a second pass, after every subject was warmed: the rate now
    batchOf.set(key(s), toMultiple(Math.min(s.maxBatch, Math.max(1_024, (rate * cfg.batchMs) / 1000))));
  }

  /** Per subject, per round: ops per wall-clock second, and ops per CPU second of the process. */
  const rates = new Map<string, number[]>(subjects.map((s) => [key(s), []]));
  const cpuRates = new Map<string, number[]>(subjects.map((s) => [key(s), []]));
  const load0 = os.loadavg()[0]!;
  for (let r = 0; r < cfg.rounds; r++) {
    process.stderr.write(`policies: round ${r + 1}/${cfg.rounds}\n`);
    for (const c of cases) {
      const inCase = subjects.filter((s) => s.caseId === c);
      for (let i = 0; i < inCase.length; i++) {
        const s = inCase[(i + r) % inCase.length]!; // the order rotates every round
        const n = batchOf.get(key(s))!;
        const { ns, cpuUs } = await runBatch(s, n);
        rates.get(key(s))!.push((n * 1e9) / ns);
        cpuRates.get(key(s))!.push((n * 1e6) / Math.max(cpuUs, 1));
      }
    }
  }
  const load1 = os.loadavg()[0]!;

  let alloc: ReturnType<typeof allocationsFromChild>;
  if (args['skip-alloc'] !== true) {
    process.stderr.write('policies: bytes per operation (child process)…\n');
    alloc = allocationsFromChild();
  }
  for (const b of opossumBreakers) b.shutdown();

  // ---- report ----
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `policies — Node ${process.version}, ${cpu} (${os.cpus().length} CPUs), load average ${load0.toFixed(1)} → ${load1.toFixed(1)}; ` +
      `median of ${cfg.rounds} rounds of ~${cfg.batchMs} ms per subject; bytes: median of ${cfg.allocRounds} batches of ${cfg.allocBatch} calls (${cfg.allocCreateBatch} creations) without GC`,
  );
  console.log('ops/s: operations per second of wall-clock time; CPU ops/s: per second of the process\'s CPU time (what the comparison uses)');
  type Row = {
    opsPerSec: number | null;
    min: number | null;
    max: number | null;
    cpuOpsPerSec: number | null;
    cpuNsPerOp: number | null;
    bytesPerOp: number | null;
  };
  const results: Partial<Record<CaseId, Partial<Record<Variant, Row>>>> = {};
  for (const c of cases) {
    console.log(`\n${CASE_TITLE[c]}`);
    console.log(
      `  ${pad('variant', 36)}${pad('ops/s', 12, true)}${pad('min', 12, true)}${pad('max', 12, true)}${pad('CPU ops/s', 13, true)}${pad('CPU ns/op', 11, true)}${pad('bytes/op', 10, true)}`,
    );
    const caseRows: Partial<Record<Variant, Row>> = {};
    for (const v of variants) {
      const samples = rates.get(`${c}/${v}`);
      const cpuSamples = cpuRates.get(`${c}/${v}`);
      if (samples === undefined || cpuSamples === undefined) continue;
      const med = median(samples);
      const cpuMed = median(cpuSamples);
      const bytes = alloc?.figures[`${c}/${v}`] ?? null;
      caseRows[v] = {
        opsPerSec: round(med, 0),
        min: round(Math.min(...samples), 0),
        max: round(Math.max(...samples), 0),
        cpuOpsPerSec: round(cpuMed, 0),
        cpuNsPerOp: round(1e9 / cpuMed, 1),
        bytesPerOp: bytes,
      };
      console.log(
        `  ${pad(VARIANT_TITLE[v], 36)}${pad(fmtInt(med), 12, true)}${pad(fmtInt(Math.min(...samples)), 12, true)}${pad(fmtInt(Math.max(...samples)), 12, true)}` +
          `${pad(fmtInt(cpuMed), 13, true)}${pad(fmt(1e9 / cpuMed, 1), 11, true)}${pad(bytes === null ? '—' : fmt(bytes, 0), 10, true)}`,
      );
    }
    results[c] = caseRows;
  }

  // ---- targets ----
  // The ratio is paired per round (labcoat's rate over the faster baseline's rate in the same round,
  // measured within a second of each other), then the median over rounds is taken. It uses CPU
  // time: on a shared machine a batch's wall-clock time includes whatever else ran on its core, its
  // CPU time does not. The wall-clock ratio is shown too.
  console.log('\nlabcoat against the faster of cockatiel and opossum (CPU ops/s, median of per-round ratios; ≥ 1 meets the target):');
  type Summary = {
    ratio: number | null;
    ratioMin: number | null;
    ratioMax: number | null;
    wallRatio: number | null;
    best: string | null;
    met: boolean | null;
    bytesRatio: number | null;
  };
  const summary: Partial<Record<CaseId, Summary>> = {};
  const paired = (m: Map<string, number[]>, c: CaseId, best: string): number[] => {
    const lab = m.get(`${c}/labcoat`);
    const base = m.get(`${c}/${best}`);
    return lab && base ? lab.map((x, i) => x / base[i]!) : [];
  };
  for (const c of cases) {
    const rows = results[c] ?? {};
    let best: (typeof BASELINES)[number] | null = null;
    for (const b of BASELINES) {
      const x = rows[b]?.cpuOpsPerSec ?? null;
      if (x !== null && (best === null || x > (rows[best]?.cpuOpsPerSec ?? 0))) best = b;
    }
    const cpuPairs = best === null ? [] : paired(cpuRates, c, best);
    const wallPairs = best === null ? [] : paired(rates, c, best);
    const ratio = cpuPairs.length > 0 ? median(cpuPairs) : null;
    const wallRatio = wallPairs.length > 0 ? median(wallPairs) : null;
    const bytesBase = BASELINES.map((b) => rows[b]?.bytesPerOp ?? null).filter((x): x is number => x !== null);
    const labBytes = rows.labcoat?.bytesPerOp ?? null;
    const bytesRatio = labBytes !== null && bytesBase.length > 0 ? labBytes / Math.min(...bytesBase) : null;
    summary[c] = {
      ratio: ratio === null ? null : round(ratio, 2),
      ratioMin: cpuPairs.length > 0 ? round(Math.min(...cpuPairs), 2) : null,
      ratioMax: cpuPairs.length > 0 ? round(Math.max(...cpuPairs), 2) : null,
      wallRatio: wallRatio === null ? null : round(wallRatio, 2),
      best,
      met: ratio === null ? null : ratio >= 1,
      bytesRatio: bytesRatio === null ? null : round(bytesRatio, 2),
    };
    console.log(
      `  ${pad(c, 12)} ${
        ratio === null
          ? 'n/a (labcoat or both baselines not measured)'
          : `${fmt(ratio, 2)}× ${best} (rounds ${fmt(Math.min(...cpuPairs), 2)}–${fmt(Math.max(...cpuPairs), 2)}; wall-clock ${fmt(wallRatio ?? NaN, 2)}×)${ratio >= 1 ? '  met' : '  NOT MET'}`
      }` + (bytesRatio === null ? '' : `   bytes/op ${fmt(bytesRatio, 2)}× the smaller baseline`),
    );
  }
  const successOps = results.success?.labcoat?.opsPerSec ?? null;
  const successCpuOps = results.success?.labcoat?.cpuOpsPerSec ?? null;
  const millionMet = successOps === null || successCpuOps === null ? null : Math.min(successOps, successCpuOps) >= 1_000_000;
  console.log(
    `  ≥ 1M calls/s on the success path: ${successOps === null ? 'n/a' : `${fmtInt(successOps)} (wall-clock), ${fmtInt(successCpuOps ?? NaN)} (CPU) ${millionMet ? 'met' : 'NOT MET'}`}`,
  );
  if (alloc) console.log(`  (allocation batches discarded because a GC ran: ${alloc.invalid}; measurement overhead ${alloc.overhead} bytes per batch, subtracted)`);
  if (sink === 42) console.log('');

  console.log(
    JSON.stringify({
      bench: 'policies',
      node: process.version,
      cpu,
      quick,
      loadAverage: [round(load0, 2), round(load1, 2)],
      rounds: cfg.rounds,
      batchMs: cfg.batchMs,
      seconds: round((Date.now() - startedAt) / 1000, 1),
      results,
      vsBest: summary,
      successOpsPerSec: successOps,
      targets: { faster: cases.every((c) => summary[c]?.met === true) ? true : cases.some((c) => summary[c]?.met === false) ? false : null, millionPerSec: millionMet },
    }),
  );
}

main().catch((error: unknown) => {
  for (const b of opossumBreakers) b.shutdown();
  process.stderr.write(`policies: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
