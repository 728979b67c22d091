/**
 * A tiny deterministic service system for the explorer tests: services make calls in order, a call
 * may be guarded by a policy (per-attempt timeout, a retry on a replica, a fallback that is a
 * static default or another call), declared optional (fire-and-forget, or awaited: a bug), and a
 * service may swallow errors (answer 200 with bad data). Time is simulated (1 ms per call); a
 * hang never answers until a timeout above cuts it or the request deadline passes. Executions come
 * with spans as the SDK writes them: server spans (`labcoat.calls`), client spans (`labcoat.point`,
 * `labcoat.fault`, `labcoat.optional`), policy spans (`labcoat.policy.kinds`, outcome, fallback).
 * (bench/src/ldfi-sim is the full simulator; this one is small enough to read in a test.)
 */
import { ATTR, type Attributes, type Execution, type Fault, type SpanData } from '../../src/index.js';

export interface TGuard {
  readonly timeoutMs?: number;
  /** One more attempt, at another point (a replica). */
  readonly replica?: TCall;
  /** When the attempts failed: a static default, or another call. */
  readonly fallback?: 'static' | TCall;
}

export interface TCall {
  readonly point: string;
  /** Callee service; a datastore (no server span) when absent. */
  readonly target?: string;
  readonly optional?: 'forget' | 'awaited';
  readonly guard?: TGuard;
}

export interface TService {
  readonly calls: readonly TCall[];
  /** Bug: a failed call is swallowed and the service answers 200 with bad data. */
  readonly swallow?: boolean;
}

export interface TSystem {
  readonly entry: string;
  readonly services: Readonly<Record<string, TService>>;
  readonly deadlineMs: number;
}

export const MODES = { error: { kind: 'error' }, '503': { kind: 'status', status: 503 }, hang: { kind: 'hang' } } as const;
const LABELS: Record<string, string> = { error: 'error:ECONNREFUSED', '503': 'status:503', hang: 'hang' };

interface Result {
  readonly ok: boolean;
  readonly end: number;
  readonly bad: boolean;
}

type Mutable = { -readonly [K in keyof SpanData]: SpanData[K] } & { attributes: Attributes };

/**
 * Runs the request once with `faults` armed. `flaky(point)` makes a call fail without a plan (a
 * nondeterministic dependency).
 */
export function run(system: TSystem, faults: readonly Fault[], seq: number, flaky?: (point: string) => boolean): Execution {
  const plan = new Map(faults.map((f) => [f.point, f.mode]));
  const spans: Mutable[] = [];
  const traceId = (seq + 1).toString(16).padStart(32, '0');
  let ids = 0;
  const open = (name: string, kind: SpanData['kind'], service: string, parent: string, start: number): Mutable => {
    const s: Mutable = { traceId, spanId: (++ids).toString(16).padStart(16, '0'), parentSpanId: parent, name, kind, service, startMs: start, endMs: Infinity, status: { code: 'unset' }, attributes: {} };
    spans.push(s);
    return s;
  };
  const abortSince = (from: number, at: number): void => {
    for (let i = from; i < spans.length; i++) {
      const s = spans[i]!;
      if (s.endMs > at) (s.endMs = at), (s.status = { code: 'error', message: 'aborted' });
    }
  };

  const serve = (name: string, parent: string, start: number): Result => {
    const svc = system.services[name];
    if (!svc) throw new Error(`unknown service ${name}`);
    const span = open(`GET /${name}`, 'server', name, parent, start);
    const counter = { calls: 0 };
    let t = start + 1;
    let ok = true;
    let bad = false;
    for (const c of svc.calls) {
      const r = c.guard ? policy(name, c, span.spanId, t, counter) : call(name, c, span.spanId, t, counter);
      if (c.optional === 'forget') continue;
      t = r.end;
      if (t === Infinity) break;
      bad ||= r.bad;
      if (!r.ok) {
        if (svc.swallow) bad = true;
        else {
          ok = false;
          break;
        }
      }
    }
    span.attributes[ATTR.calls] = counter.calls;
    if (t === Infinity) return { ok: false, end: Infinity, bad };
    span.endMs = t + 1;
    span.attributes['http.response.status_code'] = ok ? 200 : 500;
    if (!ok) span.status = { code: 'error', message: 'HTTP 500' };
    return { ok, end: t + 1, bad };
  };

  const call = (caller: string, c: TCall, parent: string, start: number, counter: { calls: number }): Result => {
    counter.calls++;
    const span = open('GET', 'client', caller, parent, start);
    span.attributes[ATTR.point] = c.point;
    if (c.optional) span.attributes[ATTR.optional] = true;
    const mode = plan.get(c.point);
    if (mode !== undefined) {
      span.attributes[ATTR.fault] = LABELS[mode] ?? mode;
      if (mode === 'hang') return { ok: false, end: Infinity, bad: false };
      span.endMs = start + 0.5;
      span.status = { code: 'error', message: mode };
      if (mode === '503') span.attributes['http.response.status_code'] = 503;
      return { ok: false, end: span.endMs, bad: false };
    }
    if (flaky?.(c.point)) {
      span.endMs = start + 0.5;
      span.status = { code: 'error', message: 'flaky' };
      return { ok: false, end: span.endMs, bad: false };
    }
    if (c.target === undefined) {
      span.endMs = start + 1;
      return { ok: true, end: span.endMs, bad: false };
    }
    const r = serve(c.target, span.spanId, start + 0.1);
    if (r.end === Infinity) return r;
    span.endMs = r.end + 0.1;
    span.attributes['http.response.status_code'] = r.ok ? 200 : 500;
    if (!r.ok) span.status = { code: 'error', message: 'HTTP 500' };
    return { ok: r.ok, end: span.endMs, bad: r.bad };
  };

  const policy = (caller: string, c: TCall, parent: string, start: number, counter: { calls: number }): Result => {
    const g = c.guard!;
    const kinds = [g.fallback ? 'fallback' : '', g.replica ? 'retry' : '', g.timeoutMs !== undefined ? 'timeout' : ''].filter(Boolean);
    const span = open(`policy ${c.point}`, 'internal', caller, parent, start);
    span.attributes[ATTR.policyKinds] = kinds.join(',');
    let t = start;
    let r: Result = { ok: false, end: t, bad: false };
    for (const target of g.replica ? [c, g.replica] : [c]) {
      const from = spans.length;
      r = call(caller, target, span.spanId, t, counter);
      if (g.timeoutMs !== undefined && r.end > t + g.timeoutMs) {
        abortSince(from, t + g.timeoutMs);
        span.attributes[ATTR.timedOut] = true;
        r = { ok: false, end: t + g.timeoutMs, bad: false };
      }
      if (r.ok || r.end === Infinity) break;
      t = r.end;
    }
    if (!r.ok && r.end !== Infinity && g.fallback) {
      if (g.fallback === 'static') r = { ok: true, end: r.end + 0.1, bad: false };
      else r = g.fallback.guard ? policy(caller, g.fallback, span.spanId, r.end, counter) : call(caller, g.fallback, span.spanId, r.end, counter);
      if (r.ok) span.attributes[ATTR.fallback] = true;
    }
    if (r.end !== Infinity) {
      span.endMs = r.end;
      span.attributes[ATTR.policyOutcome] = r.ok ? (span.attributes[ATTR.fallback] === true ? 'fallback' : 'success') : 'failure';
    }
    return r;
  };

  const root = serve(system.entry, 'ffffffffffffffff', 0);
  for (const s of spans) {
    if (s.endMs === Infinity) {
      s.endMs = system.deadlineMs;
      s.status = { code: 'error', message: 'aborted' };
      if (s.kind === 'internal' && s.attributes[ATTR.policyOutcome] === undefined) s.attributes[ATTR.policyOutcome] = 'failure';
    }
  }
  const late = root.end > system.deadlineMs;
  const ok = root.ok && !root.bad && !late;
  const symptom = late ? 'deadline exceeded' : !root.ok ? 'HTTP 500' : root.bad ? 'wrong data' : undefined;
  return { ok, ...(symptom ? { symptom } : {}), spans: spans as SpanData[] };
}

/** Every point a system declares. */
export function pointsOf(system: TSystem): string[] {
  const out = new Set<string>();
  const add = (c: TCall): void => {
    out.add(c.point);
    if (c.guard?.replica) add(c.guard.replica);
    if (c.guard?.fallback && c.guard.fallback !== 'static') add(c.guard.fallback);
  };
  for (const s of Object.values(system.services)) for (const c of s.calls) add(c);
  return [...out];
}

/**
 * Brute force: the minimal fault sets of size ≤ k (one mode per point) that fail the request, as
 * sorted `point#mode` keys joined by ` + `.
 */
export function minimalFailureSets(system: TSystem, k: number, modes: readonly string[] = Object.keys(MODES)): string[] {
  const atoms = pointsOf(system).flatMap((point) => modes.map((mode) => ({ point, mode })));
  const failing: Fault[][] = [];
  const key = (fs: readonly Fault[]): string => fs.map((f) => `${f.point}#${f.mode}`).sort().join(' + ');
  const contains = (big: readonly Fault[], small: readonly Fault[]): boolean => small.every((s) => big.some((b) => b.point === s.point && b.mode === s.mode));
  let seq = 1_000_000;
  // Breadth by size, so that a set is only tested after all its subsets.
  for (let size = 1; size <= k; size++) {
    const bySize = (chosen: Fault[], from: number): void => {
      if (chosen.length === size) {
        if (failing.some((f) => contains(chosen, f))) return;
        if (!run(system, chosen, seq++).ok) failing.push([...chosen]);
        return;
      }
      for (let i = from; i < atoms.length; i++) {
        const a = atoms[i]!;
        if (chosen.some((c) => c.point === a.point)) continue;
        chosen.push(a);
        bySize(chosen, i + 1);
        chosen.pop();
      }
    };
    bySize([], 0);
  }
  return failing.map(key).sort();
}
