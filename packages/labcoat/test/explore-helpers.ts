/**
 * Test-local engines (ExplorerLike) so the runner can be tested apart from the real engine, and a
 * simulated in-process service whose spans go to an in-memory span source.
 */
import {
  ATTR,
  type Execution,
  type Experiment,
  type ExperimentPurpose,
  type ExplorationResult,
  type ExplorerLike,
  type ExplorerOptions,
  type FailureSet,
  type Fault,
  type SpanData,
} from '@labcoat/core';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SpanSource } from '../src/explore/trace.js';
import type { WorkloadContext } from '../src/explore/types.js';

const emptyPurposes = (): Record<ExperimentPurpose, number> => ({ baseline: 0, hypothesis: 0, batch: 0, split: 0, rerun: 0, verify: 0 });

function isCritical(options: ExplorerOptions, point: string): boolean {
  const target = /^[^\s>]+->(\S+)/.exec(point)?.[1];
  return (target !== undefined && (options.critical?.services ?? []).includes(target)) || (options.critical?.points ?? []).includes(point);
}

/**
 * A tiny engine: one baseline, then each point seen in the baseline alone with `mode`, each failure
 * re-run once (a failure confirmed by its rerun is a failure set); then it stops.
 */
export class SinglePointExplorer implements ExplorerLike {
  private queue: { purpose: ExperimentPurpose; faults: Fault[] }[] = [{ purpose: 'baseline', faults: [] }];
  private nextId = 1;
  private pending: Experiment | undefined;
  private readonly points: string[] = [];
  private readonly failures: FailureSet[] = [];
  private readonly byPurpose = emptyPurposes();
  private count = 0;
  readonly recorded: { experiment: Experiment; execution: Execution }[] = [];
  constructor(
    readonly options: ExplorerOptions,
    private readonly mode = Object.keys(options.faults)[0]!,
  ) {}

  next(): Experiment | undefined {
    if (this.pending) return this.pending;
    const step = this.queue.shift();
    if (!step) return undefined;
    this.pending = { id: this.nextId++, ...step };
    return this.pending;
  }

  record(experiment: Experiment, execution: Execution): void {
    this.pending = undefined;
    this.count++;
    this.byPurpose[experiment.purpose]++;
    this.recorded.push({ experiment, execution });
    for (const s of execution.spans) {
      const p = s.attributes[ATTR.point];
      if (s.kind === 'client' && typeof p === 'string' && !this.points.includes(p)) this.points.push(p);
    }
    if (experiment.purpose === 'baseline') {
      for (const point of [...this.points].sort()) this.queue.push({ purpose: 'hypothesis', faults: [{ point, mode: this.mode }] });
    } else if (experiment.purpose === 'hypothesis' && !execution.ok) {
      this.queue.unshift({ purpose: 'rerun', faults: [...experiment.faults] });
    } else if (experiment.purpose === 'rerun' && !execution.ok) {
      this.failures.push({
        faults: experiment.faults,
        critical: experiment.faults.every((f) => isCritical(this.options, f.point)),
        symptom: execution.symptom ?? 'failed',
        experiment: experiment.id,
        neverFired: [],
      });
    }
  }

  result(): ExplorationResult {
    const done = this.queue.length === 0 && !this.pending;
    return {
      experiments: this.count,
      byPurpose: { ...this.byPurpose },
      points: [...this.points],
      supports: 1,
      failureSets: [...this.failures],
      certified: { maxFaults: this.options.maxFaults, complete: done },
      stopped: done ? 'certified' : 'budget',
      notes: [],
    };
  }
}

/** An engine that asks for a fixed list of experiments, whatever happens (failure sets: failed reruns). */
export class ScriptedExplorer implements ExplorerLike {
  private i = 0;
  private pending: Experiment | undefined;
  private readonly failures: FailureSet[] = [];
  private count = 0;
  readonly recorded: { experiment: Experiment; execution: Execution }[] = [];
  constructor(
    readonly options: ExplorerOptions,
    private readonly script: readonly { purpose: ExperimentPurpose; faults: Fault[] }[],
    private readonly forever = false,
  ) {}

  next(): Experiment | undefined {
    if (this.pending) return this.pending;
    const step = this.script[this.forever ? this.i % this.script.length : this.i];
    if (!step) return undefined;
    this.i++;
    this.pending = { id: this.i, ...step };
    return this.pending;
  }

  record(experiment: Experiment, execution: Execution): void {
    this.pending = undefined;
    this.count++;
    this.recorded.push({ experiment, execution });
    if (experiment.purpose === 'rerun' && !execution.ok) {
      this.failures.push({
        faults: experiment.faults,
        critical: experiment.faults.every((f) => isCritical(this.options, f.point)),
        symptom: execution.symptom ?? 'failed',
        experiment: experiment.id,
        neverFired: [],
      });
    }
  }

  result(): ExplorationResult {
    const done = !this.forever && this.i >= this.script.length && !this.pending;
    return {
      experiments: this.count,
      byPurpose: { ...emptyPurposes(), hypothesis: this.count },
      points: [],
      supports: 0,
      failureSets: [...this.failures],
      certified: { maxFaults: this.options.maxFaults, complete: done },
      stopped: done ? 'certified' : 'budget',
      notes: [],
    };
  }
}

/** An in-memory span source. */
export class MemorySpans implements SpanSource {
  readonly spans: SpanData[] = [];
  trace(traceId: string): SpanData[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }
}

let nextSpan = 1;
const sid = (): string => (nextSpan++).toString(16).padStart(16, '0');

/**
 * A simulated service `svc` with generic dependency points `svc->a get x`, `svc->b get x`, …:
 * each call's fate is decided by `decide`, which sees which points are faulted and returns an HTTP
 * status. Spans go to `spans` as the SDK would write them (fault label on faulted calls).
 */
export function simulatedService(
  spans: MemorySpans,
  deps: readonly string[],
  decide: (faulted: ReadonlySet<string>, ctx: WorkloadContext) => number,
): (ctx: WorkloadContext) => { status: number; body: string } {
  return (ctx) => {
    const server = sid();
    const now = Date.now();
    const faulted = new Set(ctx.planned.map((f) => f.point));
    const base = { traceId: ctx.traceId, startMs: now, endMs: now + 1, status: { code: 'unset' as const } };
    spans.spans.push({ ...base, spanId: server, parentSpanId: ctx.parentSpanId, name: 'GET /', kind: 'server', service: 'svc', attributes: { [ATTR.calls]: deps.length } });
    for (const d of deps) {
      const point = `svc->${d} get x`;
      const fault = ctx.planned.find((f) => f.point === point);
      spans.spans.push({
        ...base,
        spanId: sid(),
        parentSpanId: server,
        name: point,
        kind: 'client',
        service: 'svc',
        attributes: { [ATTR.point]: point, ...(fault ? { [ATTR.fault]: fault.kind === 'status' ? 'status:503' : fault.kind } : {}) },
      });
    }
    const status = decide(faulted, ctx);
    return { status, body: JSON.stringify(status < 400 ? { ok: true } : { error: `failed with ${status}` }) };
  };
}

const BIN = fileURLToPath(new URL('../../bin/labcoat.js', import.meta.url));

/** Runs the CLI (async, so node:test stays responsive); kills it if it outlives `timeoutMs`. */
export function labcoat(args: string[], env: Record<string, string> = {}, timeoutMs = 110_000): Promise<{ code: number | null; out: string; err: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, LABCOAT_KEY: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, ms: Date.now() - started });
    });
  });
}

