/**
 * The explore loop. For each request class: baseline runs → hypothesis → signed fault plan → run
 * the workload → collect spans → judge with the oracle → tell the engine → repeat, until the
 * engine has nothing left (a certificate), a budget runs out, or the first failure if asked.
 *
 * The engine (an {@link ExplorerLike}) decides what to try; the runner carries it out and observes:
 * it owns plans, deadlines, spans and their completeness, fired-vs-planned, resets and settle
 * time between experiments, tie-breaks for disagreeing reruns, and what a baseline must satisfy
 * before anything else is believed.
 */
import { randomBytes } from 'node:crypto';
import { Explorer } from '@labcoat/core';
import type { Execution, Experiment, ExplorationResult, ExplorerLike, ExplorerOptions, FaultSpec, PlanMac, SpanData } from '@labcoat/core';
import { ExploreError, formatMs } from './errors.js';
import { Oracle } from './oracle.js';
import { faultRef, faultSetKey, signFaults } from './plans.js';
import type { ProgressSink } from './progress.js';
import { buildClassReport, buildReport } from './report.js';
import { callPath, collectTrace, escapedCalls, firedFaults, GraphBuilder, missingHops, type SpanSource } from './trace.js';
import type { ClassReport, Expectation, ExperimentRecord, ExplorationReport, FailureSetReport, RequestClass, WorkloadOutcome } from './types.js';
import { CommandWorkload, FunctionWorkload, HttpWorkload, newExecutionContext, runCommand, type Workload } from './workload.js';

/** Builds the engine for one request class. */
export type ExplorerFactory = (options: ExplorerOptions) => ExplorerLike;

/** The engine from @labcoat/core. */
export const defaultExplorer: ExplorerFactory = (options) => new Explorer(options);

/**
 * Default for the engine's `batchSize`: a batch travels as one signed plan (one rule per fault),
 * and a plan token holds at most 4096 bytes; 16 rules with point ids of ~80 characters fit.
 */
export const DEFAULT_BATCH_SIZE = 16;

/** A step that puts the system back in a known state between experiments. */
export interface ResetStep {
  readonly description: string;
  run(signal?: AbortSignal): Promise<void>;
}

/** `--reset "CMD"`: runs a shell command (bounded); a non-zero exit stops the run. */
export function commandReset(command: string, env: Readonly<Record<string, string>> = {}, timeoutMs = 30_000): ResetStep {
  return {
    description: `command: ${command}`,
    async run(signal) {
      const o = await runCommand(command, env, timeoutMs, signal);
      if (o.failure?.reason === 'timeout') throw new ExploreError('reset', `the reset command did not finish within ${formatMs(timeoutMs)}: ${command}`);
      if (o.failure) throw new ExploreError('reset', `the reset command could not run: ${o.failure.message}`);
      if (o.exitCode !== 0) throw new ExploreError('reset', `the reset command failed (exit code ${o.exitCode ?? o.signal}): ${command}${o.stderr?.trim() ? `\n${o.stderr.trim().split('\n').slice(-3).join('\n')}` : ''}`);
    },
  };
}

/** `--reset-url URL`: POSTs to a URL (bounded); anything but 2xx stops the run. */
export function urlReset(url: string, timeoutMs = 10_000): ResetStep {
  const w = new HttpWorkload({ method: 'POST', url, body: '' });
  return {
    description: `POST ${url}`,
    async run(signal) {
      const o = await w.run(newExecutionContext(undefined, [], timeoutMs), signal);
      if (o.failure) throw new ExploreError('reset', `reset POST ${url}: ${o.failure.message}`);
      if ((o.status ?? 0) < 200 || (o.status ?? 0) > 299) throw new ExploreError('reset', `reset POST ${url} answered HTTP ${o.status}`);
    },
  };
}

/** A reset callback (library API). */
export function functionReset(fn: () => unknown, timeoutMs = 30_000): ResetStep {
  return {
    description: 'function',
    async run() {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(fn),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new ExploreError('reset', `the reset callback did not finish within ${formatMs(timeoutMs)}`)), timeoutMs))),
        ]);
      } catch (e) {
        if (e instanceof ExploreError) throw e;
        throw new ExploreError('reset', `the reset callback failed: ${(e as Error)?.message ?? String(e)}`);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Everything one run needs. */
export interface RunnerSetup {
  readonly classes: readonly RequestClass[];
  readonly maxFaults: number;
  readonly faults: Readonly<Record<string, FaultSpec>>;
  /** Critical services and points; with `expect`, a failure they cause must look like it (a clean failure) or it is a bug. */
  readonly critical?: { readonly services?: readonly string[]; readonly points?: readonly string[]; readonly expect?: Expectation };
  readonly skipCritical?: boolean;
  readonly batching?: boolean;
  /** Most faults in one batched experiment (default {@link DEFAULT_BATCH_SIZE}). */
  readonly batchSize?: number;
  /** The engine's lineage: `precise` (default) or `plain`. */
  readonly lineage?: 'precise' | 'plain';
  readonly baselineRuns?: number;
  /** Experiments per class (the engine's maxExperiments; also a hard cap on the runner's loop). */
  readonly budget?: number;
  /** Wall-clock budget for the whole run. */
  readonly timeBudgetMs?: number;
  readonly stopAtFirstFailure?: boolean;
  readonly seed?: number;
  /** Deadline of one execution unless the class's `expect.deadlineMs` says otherwise. */
  readonly deadlineMs: number;
  /** How long to wait after the answer for the trace to complete. */
  readonly spanWaitMs: number;
  readonly settleMs: number;
  readonly reset?: ResetStep;
  /** `each`: reset before every experiment; `tie-break`: only before the decisive run of a disagreeing rerun. */
  readonly resetBefore: 'each' | 'tie-break';
  readonly mac: PlanMac;
  readonly spans: SpanSource;
  readonly explorer: ExplorerFactory;
  /** Environment for command workloads (LABCOAT_KEY, LABCOAT_OTLP_URL). */
  readonly commandEnv?: Readonly<Record<string, string>>;
  readonly progress?: ProgressSink;
  readonly signal?: AbortSignal;
}

/** Hard cap on experiments per class when no budget is given: every loop ends. */
export const DEFAULT_BUDGET = 2000;

/** Runs every class; throws ExploreError for usage/baseline problems. */
export async function runExploration(setup: RunnerSetup): Promise<ExplorationReport> {
  const started = Date.now();
  const runId = randomBytes(3).toString('hex');
  const classes: ClassReport[] = [];
  for (const cls of setup.classes) {
    if (setup.signal?.aborted) break;
    classes.push(await runClass(cls, setup, runId, started));
  }
  return buildReport({ startedAt: started, maxFaults: setup.maxFaults, faults: setup.faults, classes, ...(setup.spans.url ? { collector: setup.spans.url } : {}) });
}

function workloadFor(cls: RequestClass, setup: RunnerSetup): Workload {
  if (cls.fn) return new FunctionWorkload(cls.fn);
  if (cls.command !== undefined) return new CommandWorkload(cls.command, setup.commandEnv);
  if (cls.http) return new HttpWorkload(cls.http);
  throw new ExploreError('usage', `request class "${cls.name}" says neither what to send (http, command) nor gives a workload function`);
}

function union(a: readonly string[] | undefined, b: readonly string[] | undefined): string[] | undefined {
  if (!a && !b) return undefined;
  return [...new Set([...(a ?? []), ...(b ?? [])])];
}

interface Run {
  execution: Execution;
  record: ExperimentRecord;
  spans: SpanData[];
  outcome: WorkloadOutcome;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });

async function runClass(cls: RequestClass, setup: RunnerSetup, runId: string, runStarted: number): Promise<ClassReport> {
  const classStarted = Date.now();
  const workload = workloadFor(cls, setup);
  const deadlineMs = cls.expect.deadlineMs ?? setup.deadlineMs;
  const oracle = new Oracle(cls.expect, cls.oracle);
  const services = union(setup.critical?.services, cls.critical?.services);
  // A critical service may fail, and so may everything it depends on (its own failure follows
  // from theirs): the engine matches services by call target, so its outgoing calls go in as globs.
  const points = union(union(setup.critical?.points, cls.critical?.points), services?.map((s) => `${s}->**`));
  const budget = setup.budget ?? DEFAULT_BUDGET;
  const options: ExplorerOptions = {
    maxFaults: setup.maxFaults,
    faults: setup.faults,
    ...(services || points ? { critical: { ...(services ? { services } : {}), ...(points ? { points } : {}) } } : {}),
    ...(setup.skipCritical !== undefined ? { skipCritical: setup.skipCritical } : {}),
    ...(setup.batching !== undefined ? { batching: setup.batching } : {}),
    batchSize: setup.batchSize ?? DEFAULT_BATCH_SIZE,
    ...(setup.lineage ? { lineage: setup.lineage } : {}),
    ...(setup.baselineRuns !== undefined ? { baselineRuns: setup.baselineRuns } : {}),
    rerunFailures: true,
    maxExperiments: budget,
    ...(setup.stopAtFirstFailure ? { stopAtFirstFailure: true } : {}),
    ...(setup.seed !== undefined ? { seed: setup.seed } : {}),
  };
  let explorer: ExplorerLike;
  try {
    explorer = setup.explorer(options);
  } catch (e) {
    if (e instanceof ExploreError) throw e;
    throw new ExploreError('usage', `the explore engine refused the options for "${cls.name}": ${(e as Error).message}`);
  }

  const graph = new GraphBuilder();
  const log: ExperimentRecord[] = [];
  const notes: string[] = [];
  const lastVerdict = new Map<string, boolean>();
  const failed = new Map<number, { spans: SpanData[]; outcome: WorkloadOutcome; record: ExperimentRecord }>();
  const records = new Map<number, ExperimentRecord>();
  const plannedPoints = new Set<string>();
  const firedPoints = new Set<string>();
  const orderDependent: ClassReport['orderDependent'][number][] = [];
  const flakySets = new Set<string>();
  const hopCounts = new Map<string, number>();
  let incomplete = 0;
  let executions = 0;
  let tieBreaks = 0;
  let baselines = 0;
  let stoppedBy: string | undefined;

  const between = async (reset: boolean): Promise<void> => {
    if (reset && setup.reset) await setup.reset.run(setup.signal);
    await sleep(setup.settleMs, setup.signal);
  };

  const execute = async (exp: Experiment, attempt: string): Promise<Run> => {
    executions++;
    const planned = exp.faults.map((f) => faultRef(f, setup.faults));
    const planId = `lc-${runId}-${exp.id}${attempt}`;
    const token = exp.faults.length > 0 ? signFaults(exp.faults, setup.faults, setup.mac, planId, deadlineMs + setup.spanWaitMs + 60_000) : undefined;
    const ctx = newExecutionContext(token, planned, deadlineMs);
    const t0 = Date.now();
    const outcome = await workload.run(ctx, setup.signal);
    // A planned hang or delay may hold a call (and its span) past the answer: wait until it would have ended.
    const slowMs = Math.max(0, ...exp.faults.map((f) => slowFaultMs(setup.faults[f.mode])));
    const waitMs =
      outcome.failure?.reason === 'unreachable'
        ? 0
        : // The first baseline decides whether a hop "does not join the trace", a strong claim that
          // ends the run: give slow exporters on a loaded machine time (collectTrace returns as soon
          // as the trace is complete, so a healthy system pays nothing for it).
          Math.max(setup.spanWaitMs * (exp.purpose === 'baseline' && baselines === 0 ? 5 : 1), slowMs > 0 ? slowMs + setup.spanWaitMs - outcome.durationMs : 0);
    const { spans, complete } = await collectTrace(setup.spans, ctx.traceId, ctx.parentSpanId, workload.multiRoot, waitMs);
    const { fired, neverFired } = firedFaults(spans, exp.faults, setup.faults, planId);
    const verdict = await oracle.judge(outcome, { experiment: { id: exp.id, purpose: exp.purpose }, planned, fired, spans });
    graph.add(spans);
    for (const f of planned) plannedPoints.add(f.point);
    for (const f of fired) firedPoints.add(f.point);
    const hops = complete ? [] : missingHops(spans, ctx.parentSpanId, setup.spans.url);
    const record: ExperimentRecord = {
      id: exp.id,
      purpose: exp.purpose,
      faults: planned,
      fired,
      neverFired,
      ok: verdict.ok,
      ...(verdict.symptom !== undefined ? { symptom: verdict.symptom } : {}),
      complete,
      durationMs: Math.round(outcome.durationMs),
      ...(hops.length > 0 ? { missingHops: hops } : {}),
    };
    if (exp.purpose === 'baseline') checkBaseline(cls, workload, setup, { outcome, verdict, spans, complete, hops, from: t0, index: baselines++ }, notes);
    return {
      execution: { ok: verdict.ok, ...(verdict.symptom !== undefined ? { symptom: verdict.symptom } : {}), spans, complete, durationMs: outcome.durationMs },
      record,
      spans,
      outcome,
    };
  };

  const progress = (exp: Experiment | undefined, result: ExplorationResult | undefined): void => {
    setup.progress?.update({
      className: cls.name,
      experiments: executions,
      budget,
      failures: result?.failureSets.filter((f) => !f.critical).length ?? 0,
      critical: result?.failureSets.filter((f) => f.critical).length ?? 0,
      ...(result ? { points: result.points.length } : {}),
      ...(hypothesesLeft(explorer, result) !== undefined ? { hypothesesLeft: hypothesesLeft(explorer, result)! } : {}),
      ...(exp ? { purpose: exp.purpose } : {}),
    });
  };

  setup.progress?.startClass(cls.name, budget);
  try {
    for (;;) {
      if (setup.signal?.aborted) {
        stoppedBy = 'interrupted';
        break;
      }
      if (setup.timeBudgetMs !== undefined && Date.now() - runStarted >= setup.timeBudgetMs) {
        stoppedBy = 'time-budget';
        break;
      }
      if (executions >= budget) {
        stoppedBy = 'budget';
        break;
      }
      let exp: Experiment | undefined;
      try {
        exp = explorer.next();
      } catch (e) {
        throw new ExploreError('engine', `the explore engine failed while choosing the next experiment for "${cls.name}": ${(e as Error).message}`);
      }
      if (!exp) break;
      await between(setup.resetBefore === 'each');
      if (setup.signal?.aborted) {
        stoppedBy = 'interrupted';
        break;
      }
      let run = await execute(exp, '');
      if (setup.signal?.aborted) {
        // Interrupted while it ran (in a terminal, Ctrl-C reaches the services too): not evidence.
        stoppedBy = 'interrupted';
        break;
      }
      const key = faultSetKey(exp.faults);
      const before = lastVerdict.get(key);
      if (exp.purpose === 'rerun' && before !== undefined && before !== run.record.ok && !setup.signal?.aborted) {
        // The rerun disagrees with the first run: one more run decides, after a reset when there is one.
        tieBreaks++;
        await between(true);
        const third = await execute(exp, 't');
        if (setup.signal?.aborted) {
          stoppedBy = 'interrupted';
          break;
        }
        const afterReset = setup.reset !== undefined;
        const set = run.record.faults.map((f) => `${f.point} (${f.mode})`).join(' + ') || 'no faults';
        if (before === false && third.record.ok) {
          if (afterReset && setup.resetBefore === 'tie-break') {
            orderDependent.push({ faults: run.record.faults, symptom: records.get(lastFailureOf(log, key) ?? -1)?.symptom ?? 'failed', experiment: exp.id });
            notes.push(`depended on order: ${set} failed during the sequence, then passed on rerun and after a reset; state left by earlier experiments (an open breaker, a cache, a queue) caused it`);
          } else if (afterReset) {
            notes.push(`flaky: ${set} failed once, then passed twice, with a reset before every run; treated as tolerated`);
          } else {
            notes.push(`flaky or order-dependent: ${set} failed once, then passed twice; configure a reset (--reset, --reset-url) to tell state left by earlier experiments from flakiness`);
          }
        } else if (before === false && !third.record.ok) {
          flakySets.add(key);
          notes.push(`flaky: ${set} failed, passed on rerun, and failed again${afterReset ? ' after a reset' : ''}; reported as a failure set`);
        } else {
          notes.push(`inconsistent: ${set} ${before ? 'passed' : 'failed'}, then ${run.record.ok ? 'passed' : 'failed'} on rerun; the deciding run ${third.record.ok ? 'passed' : 'failed'}`);
        }
        run = { ...third, record: { ...third.record, tieBreak: { first: before, rerun: run.record.ok, decisive: third.record.ok, afterReset } } };
      }
      lastVerdict.set(key, run.record.ok);
      if (!run.record.complete) {
        incomplete++;
        for (const h of run.record.missingHops ?? []) hopCounts.set(h, (hopCounts.get(h) ?? 0) + 1);
      }
      if (!run.record.ok && failed.size < 1000) failed.set(exp.id, { spans: run.spans, outcome: run.outcome, record: run.record });
      try {
        explorer.record(exp, run.execution);
      } catch (e) {
        throw new ExploreError('engine', `the explore engine failed to record experiment ${exp.id} of "${cls.name}": ${(e as Error).message}`);
      }
      log.push(run.record);
      records.set(exp.id, run.record);
      progress(exp, safeResult(explorer));
    }
  } finally {
    workload.close?.();
  }

  let result: ExplorationResult;
  try {
    result = explorer.result();
  } catch (e) {
    throw new ExploreError('engine', `the explore engine failed to report on "${cls.name}": ${(e as Error).message}`);
  }
  progress(undefined, result);
  setup.progress?.endClass(cls.name);
  if (result.stopped === 'baseline-failed' || result.stopped === 'nondeterministic-baseline') {
    throw new ExploreError('baseline', `${cls.name}: the baseline is not usable (${result.stopped}): ${result.notes.join('; ') || 'see the experiments'}`);
  }
  for (const [hop, n] of hopCounts) notes.push(`incomplete trace in ${n} execution${n === 1 ? '' : 's'}: ${hop}`);
  if (incomplete > 0 && hopCounts.size === 0) notes.push(`${incomplete} execution${incomplete === 1 ? '' : 's'} ended before all spans arrived (within ${formatMs(setup.spanWaitMs)}); the engine trusted their lineage less`);

  const cleanFailure = setup.critical?.expect ? new Oracle({ ...setup.critical.expect, deadlineMs: setup.critical.expect.deadlineMs ?? deadlineMs }) : undefined;
  const failureSets: FailureSetReport[] = [];
  for (const fs of result.failureSets) {
    const seen = failed.get(fs.experiment);
    const spans = seen?.spans ?? [];
    const rec = records.get(fs.experiment);
    let critical = fs.critical;
    let symptom = fs.symptom;
    if (critical && cleanFailure && seen) {
      // A critical dependency may fail the request, but cleanly: as the critical expectation says.
      const v = await cleanFailure.judge(seen.outcome, { experiment: { id: fs.experiment, purpose: seen.record.purpose }, planned: seen.record.faults, fired: seen.record.fired, spans });
      if (!v.ok) {
        critical = false;
        symptom = `${fs.symptom}; critical dependencies may fail this request, but not like this (${v.symptom ?? 'not a clean failure'})`;
      }
    }
    failureSets.push({
      faults: fs.faults.map((f) => ({ ...faultRef(f, setup.faults), path: callPath(spans, f.point) })),
      critical,
      symptom,
      experiment: fs.experiment,
      neverFired: rec ? rec.neverFired : fs.neverFired.map((f) => faultRef(f, setup.faults)),
      ...(flakySets.has(faultSetKey(fs.faults)) ? { flaky: true } : {}),
    });
  }
  return buildClassReport({
    name: cls.name,
    request: workload.description,
    experiments: executions,
    byPurpose: { ...result.byPurpose, ...(tieBreaks > 0 ? { 'tie-break': tieBreaks } : {}) },
    points: result.points,
    supports: result.supports,
    failureSets,
    certified: stoppedBy && stoppedBy !== 'budget' ? { maxFaults: result.certified.maxFaults, complete: false } : result.certified,
    stopped: stoppedBy ?? result.stopped,
    notes: [...result.notes, ...notes],
    neverFired: [...plannedPoints].filter((p) => !firedPoints.has(p)).sort(),
    orderDependent,
    incompleteTraces: incomplete,
    graph: graph.toJSON(),
    durationMs: Date.now() - classStarted,
    log,
  });
}

/** How long a slow fault (hang, delay) may hold its call, ms; 0 for the others. */
function slowFaultMs(spec: FaultSpec | undefined): number {
  if (!spec) return 0;
  const delay = typeof spec.delayMs === 'number' ? spec.delayMs : 0;
  if (spec.kind === 'hang') return delay + (typeof spec['maxMs'] === 'number' ? spec['maxMs'] : 60_000);
  if (spec.kind === 'delay') return delay + (typeof spec['ms'] === 'number' ? spec['ms'] : 0) + (typeof spec['jitterMs'] === 'number' ? spec['jitterMs'] : 0);
  return delay;
}

function lastFailureOf(log: readonly ExperimentRecord[], key: string): number | undefined {
  for (let i = log.length - 1; i >= 0; i--) {
    const r = log[i]!;
    if (!r.ok && faultSetKey(r.faults) === key) return r.id;
  }
  return undefined;
}

function safeResult(explorer: ExplorerLike): ExplorationResult | undefined {
  try {
    return explorer.result();
  } catch {
    return undefined;
  }
}

/** Hypotheses the engine still has, when it says (an optional `hypothesesLeft()` or `pending` on the result). */
function hypothesesLeft(explorer: ExplorerLike, result: ExplorationResult | undefined): number | undefined {
  const e = explorer as unknown as { hypothesesLeft?: () => number; pending?: () => number };
  try {
    if (typeof e.hypothesesLeft === 'function') return e.hypothesesLeft();
    if (typeof e.pending === 'function') return e.pending();
  } catch {
    return undefined;
  }
  const r = result as unknown as { hypothesesLeft?: unknown; pending?: unknown } | undefined;
  const n = r?.hypothesesLeft ?? r?.pending;
  return typeof n === 'number' ? n : undefined;
}

/**
 * What a baseline must satisfy before anything else is believed: the target answers, the oracle
 * passes without faults, spans arrive, and every hop joins the trace.
 */
function checkBaseline(
  cls: RequestClass,
  workload: Workload,
  setup: RunnerSetup,
  b: { outcome: WorkloadOutcome; verdict: { ok: boolean; symptom?: string }; spans: SpanData[]; complete: boolean; hops: string[]; from: number; index: number },
  notes: string[],
): void {
  const name = `${cls.name} (${workload.description})`;
  if (b.outcome.failure?.reason === 'unreachable') {
    throw new ExploreError('unreachable', `${name}: ${b.outcome.failure.message}. Is the service running and listening there?`);
  }
  if (!b.verdict.ok) {
    if (b.index === 0) {
      throw new ExploreError(
        'baseline',
        `${name}: the request already fails with no fault injected: ${b.verdict.symptom ?? 'failed'}.\n` +
          'labcoat needs a passing baseline: check the target, the request, and the expectations (--expect-status, --expect-json, --deadline).',
      );
    }
    throw new ExploreError('baseline', `${name}: the baseline is nondeterministic: it passed, then failed on run ${b.index + 1} with no fault injected (${b.verdict.symptom ?? 'failed'}). Make the request deterministic, or widen the expectations.`);
  }
  if (b.index > 0) {
    if (!b.complete && b.hops.length === 0) notes.push(`baseline run ${b.index + 1}: the trace did not complete within ${formatMs(setup.spanWaitMs)}`);
    return;
  }
  if (b.spans.length === 0) {
    throw new ExploreError(
      'no-spans',
      `${name}: no spans arrived for the baseline request within ${formatMs(setup.spanWaitMs * 5)}. ` +
        `The services must export spans to ${setup.spans.url ?? 'the collector'} (set LABCOAT_OTLP_URL in their environment)${setup.spans.url ? ', e.g. start explore with a fixed --collector-port' : ''}.`,
    );
  }
  if (!b.complete) {
    if (b.hops.length > 0) throw new ExploreError('context', `${name}: the baseline trace is incomplete, so labcoat cannot learn what the request depends on:\n  ${b.hops.join('\n  ')}`);
    notes.push(`the first baseline trace did not complete within ${formatMs(setup.spanWaitMs * 2)} (no missing hop identified); lineage may be partial`);
  }
  const all = setup.spans.spans;
  if (all) for (const e of escapedCalls(all, b.spans, b.from - 1, Date.now())) notes.push(`possible context drop: ${e}`);
}

export type { Workload };
