/**
 * A deterministic, in-process simulation of a microservice system serving one request class, for
 * the LDFI benchmark. No network, no timers: time is simulated. An execution takes a fault plan
 * (point → mode) and produces exactly the spans labcoat's SDK would export:
 *
 * - a server span per request a service serves (`GET <route>`, `http.route`,
 *   `http.response.status_code`, `labcoat.calls` = client calls it started, status error ≥ 500);
 * - a client span per dependency call (`labcoat.point`, `labcoat.attempt`, `peer.service`,
 *   `labcoat.optional` when declared optional, `labcoat.fault` + `labcoat.plan.id` when a fault
 *   fired, `http.response.status_code`, status error on a network error or HTTP ≥ 500); calls to
 *   datastores are generic points (no server span beneath);
 * - a policy span per policy execution (internal, `policy <name>`, `labcoat.policy`,
 *   `labcoat.policy.kinds` outermost first, `labcoat.policy.outcome`, `labcoat.fallback`,
 *   `labcoat.retry.attempts`, `labcoat.timeout`), parent of the calls made inside it, the
 *   fallback's calls included, as packages/node/src/policies does.
 *
 * Semantics: a service runs its calls in order (or all at once when `parallel`), waits for each
 * (except fire-and-forget optional calls), and answers 500 at the first failed required call. A
 * hang never answers: it holds the caller until a timeout above cuts it (the cut call's spans end
 * then, with an error) or the workload gives up at the request deadline. A policy runs
 * fallback(retry(timeout(call))): attempts go to the call's target, then to its replicas in turn.
 * The oracle accepts the request when the entry answered < 500, within the deadline, and its data
 * is not bad (a fallback's default is degraded, which is accepted).
 */
import { ATTR, type Attributes, type SpanData } from '@labcoat/core';

export type Quality = 'good' | 'degraded' | 'bad';

/** One dependency call site in a service's handler. */
export interface SimCall {
  /** Injection point id. */
  readonly point: string;
  /** Callee service (http) or datastore name (store). */
  readonly target: string;
  /** `http`: a service with its own server span; `store`: a generic point (database, cache). */
  readonly kind: 'http' | 'store';
  /**
   * `forget`: declared optional (`labcoat.optional`) and fire-and-forget; `awaited`: declared
   * optional but awaited, its failure propagating (a bug); `background`: not awaited and not
   * declared (a write-back nobody waits for).
   */
  readonly optional?: 'forget' | 'awaited' | 'background';
  /** Awaited, but its failure is ignored (`.catch(() => {})`): only a hang matters. */
  readonly ignoreErrors?: boolean;
  readonly policy?: SimPolicy;
  /** Latency of a store call, ms (default 1). */
  readonly latencyMs?: number;
}

/** A resilience pipeline around a call: fallback(timeout-total(retry | hedging(timeout(call)))). */
export interface SimPolicy {
  readonly name: string;
  /** `labcoat.policy.kinds` as the SDK would write it (default: derived, fallback,retry,timeout). */
  readonly kinds?: readonly string[];
  /** Per attempt; a hang or a slow answer past it fails the attempt. */
  readonly timeoutMs?: number;
  /** Over all attempts (a timeout outside the retry or the hedging). */
  readonly totalTimeoutMs?: number;
  /** Extra attempts after the first. */
  readonly retries?: number;
  /** Wait before retry i (a number for all, or one per retry). */
  readonly backoffMs?: number | readonly number[];
  /** Hedging: a second attempt at the same target when the first has not answered after `delayMs`, or failed. */
  readonly hedge?: { readonly delayMs: number };
  /** Attempt i ≥ 1 goes to replicas[(i − 1) mod n] (same call shape, other target). */
  readonly replicas?: readonly SimCall[];
  /** When every attempt failed: a static default (degraded data) or another call. */
  readonly fallback?: 'static' | SimCall;
}

/**
 * A step of a handler: a call; `all` (in parallel, failing at the first failure, as Promise.all);
 * `firstOf` (in order until one succeeds: a cache's zones, then its source); `attempt` (steps in
 * order under a handler-level abort signal `timeoutMs`, then `orElse` when they failed).
 */
export type SimStep =
  | SimCall
  | { readonly all: readonly SimStep[] }
  | { readonly firstOf: readonly SimStep[] }
  | { readonly attempt: readonly SimStep[]; readonly timeoutMs?: number; readonly orElse?: SimStep };

export interface SimService {
  readonly name: string;
  readonly route: string;
  readonly latencyMs: number;
  readonly calls: readonly SimCall[];
  /** Start every call at once (Promise.all). */
  readonly parallel?: boolean;
  /** The handler as steps (instead of `calls`), run in order. */
  readonly steps?: readonly SimStep[];
  /** Bug: a failed required call is swallowed and the service answers 200 with bad data. */
  readonly swallow?: boolean;
  /** Bug: when every call (by point) of one group answered with degraded data, the answer is bad. */
  readonly badWhenAllDegraded?: readonly (readonly string[])[];
}

/** A planted bug and the fault sets that show it (computed by `plantedSignatures`). */
export interface PlantedBug {
  readonly name: string;
  readonly pattern: 'nested-timeout' | 'fallback-same-replica' | 'optional-without-fallback' | 'two-fault' | 'retry-storm' | 'swallowed-error';
  /** Points whose faults trigger it. */
  readonly points: readonly string[];
  readonly description: string;
}

export interface SimSystem {
  readonly name: string;
  readonly entry: string;
  readonly services: ReadonlyMap<string, SimService>;
  readonly deadlineMs: number;
  /** Services declared critical (their failure may fail the request). */
  readonly critical: readonly string[];
  /** Points declared critical (ids or globs). */
  readonly criticalPoints?: readonly string[];
  /** Services of the real system, when the model counts them differently (handlers per route, cache zones as stores). */
  readonly serviceCount?: number;
  readonly bugs: readonly PlantedBug[];
}

/** The fault modes the bench explores, as the labcoat CLI passes them by default. */
export const MODES = {
  error: { kind: 'error' },
  '503': { kind: 'status', status: 503 },
  hang: { kind: 'hang' },
} as const;
const LABELS: Record<string, string> = { error: 'error:ECONNREFUSED', '503': 'status:503', hang: 'hang' };

export interface SimExecution {
  readonly ok: boolean;
  readonly symptom?: string;
  readonly spans: SpanData[];
  readonly durationMs: number;
  /** Points called, in order of first call. */
  readonly points: string[];
}

interface CallResult {
  readonly ok: boolean;
  /** Simulated end time; Infinity when it never answers. */
  readonly end: number;
  readonly quality: Quality;
}

interface MutableSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: SpanData['kind'];
  service: string;
  startMs: number;
  endMs: number;
  status: { code: 'unset' | 'ok' | 'error'; message?: string };
  attributes: Attributes;
}

function worst(a: Quality, b: Quality): Quality {
  if (a === 'bad' || b === 'bad') return 'bad';
  if (a === 'degraded' || b === 'degraded') return 'degraded';
  return 'good';
}

const T0 = 1_700_000_000_000;

/**
 * Runs the request once with `faults` (point → mode) armed for the whole request. `seq` numbers
 * the execution (trace and span ids derive from it), so the same inputs give the same spans.
 */
export function simulate(system: SimSystem, faults: ReadonlyMap<string, string>, seq = 0, flaky?: (point: string) => boolean): SimExecution {
  const spans: MutableSpan[] = [];
  const traceId = (seq + 1).toString(16).padStart(32, '0');
  let nextSpan = 1;
  const newSpanId = (): string => (nextSpan++).toString(16).padStart(16, '0');
  const attempts = new Map<string, number>();
  const points: string[] = [];
  const seenPoints = new Set<string>();
  const deadlineAt = T0 + system.deadlineMs;
  const planId = `p${seq}`;

  const open = (name: string, kind: SpanData['kind'], service: string, parent: string | undefined, start: number): MutableSpan => {
    const s: MutableSpan = {
      traceId,
      spanId: newSpanId(),
      ...(parent !== undefined ? { parentSpanId: parent } : {}),
      name,
      kind,
      service,
      startMs: start,
      endMs: Infinity,
      status: { code: 'unset' },
      attributes: {},
    };
    spans.push(s);
    return s;
  };
  /** A timeout at `at` cuts everything opened since index `from` that had not ended by then. */
  const abortSince = (from: number, at: number): void => {
    for (let i = from; i < spans.length; i++) {
      const s = spans[i]!;
      if (s.endMs > at) {
        s.endMs = at;
        s.status = { code: 'error', message: 'aborted' };
      }
    }
  };

  const serve = (name: string, parent: string, start: number): { status: number; end: number; quality: Quality } => {
    const svc = system.services.get(name);
    if (!svc) throw new Error(`unknown service ${name}`);
    const span = open(`GET ${svc.route}`, 'server', name, parent, start);
    span.attributes['http.request.method'] = 'GET';
    span.attributes[ATTR.route] = svc.route;
    const counter = { calls: 0 };
    const degraded = new Set<string>();
    const runStep = (step: SimStep, at: number): CallResult => {
      if ('point' in step) {
        const r = step.policy ? policy(name, step, span.spanId, at, counter) : call(name, step, span.spanId, at, counter);
        if (step.optional === 'forget' || step.optional === 'background') return { ok: true, end: at, quality: 'good' };
        if (step.ignoreErrors && !r.ok && r.end !== Infinity) return { ok: true, end: r.end, quality: 'good' };
        if (r.ok && r.quality === 'degraded') degraded.add(step.point);
        return r;
      }
      if ('all' in step) {
        const results = step.all.map((x) => runStep(x, at));
        const failed = results.filter((r) => !r.ok && r.end !== Infinity);
        if (failed.length > 0) return { ok: false, end: Math.min(...failed.map((r) => r.end)), quality: 'good' };
        if (results.some((r) => r.end === Infinity)) return { ok: false, end: Infinity, quality: 'good' };
        return { ok: true, end: Math.max(at, ...results.map((r) => r.end)), quality: results.reduce<Quality>((q, r) => worst(q, r.quality), 'good') };
      }
      if ('firstOf' in step) {
        let t = at;
        for (const x of step.firstOf) {
          const r = runStep(x, t);
          if (r.ok || r.end === Infinity) return r;
          t = r.end;
        }
        return { ok: false, end: t, quality: 'good' };
      }
      const from = spans.length;
      let r = sequence(step.attempt, at);
      if (step.timeoutMs !== undefined && r.end > at + step.timeoutMs) {
        abortSince(from, at + step.timeoutMs);
        r = { ok: false, end: at + step.timeoutMs, quality: 'good' };
      }
      if (!r.ok && r.end !== Infinity && step.orElse) r = runStep(step.orElse, r.end);
      return r;
    };
    const sequence = (steps: readonly SimStep[], at: number): CallResult => {
      let t = at;
      let quality: Quality = 'good';
      for (const x of steps) {
        const r = runStep(x, t);
        t = r.end;
        if (!r.ok) return { ok: false, end: t, quality };
        quality = worst(quality, r.quality);
      }
      return { ok: true, end: t, quality };
    };
    const steps: readonly SimStep[] = svc.steps ?? (svc.parallel ? [{ all: svc.calls }] : svc.calls);
    const r = sequence(steps, start + svc.latencyMs / 2);
    let quality = r.quality;
    let status = 200;
    if (!r.ok && r.end !== Infinity) {
      if (svc.swallow) quality = 'bad';
      else status = 500;
    }
    for (const group of svc.badWhenAllDegraded ?? []) if (group.every((p) => degraded.has(p))) quality = 'bad';
    span.attributes[ATTR.calls] = counter.calls;
    if (r.end === Infinity) return { status: 0, end: Infinity, quality };
    const end = r.end + svc.latencyMs / 2;
    span.endMs = end;
    span.attributes['http.response.status_code'] = status;
    if (status >= 500) span.status = { code: 'error', message: `HTTP ${status}` };
    return { status, end, quality };
  };

  const call = (caller: string, c: SimCall, parent: string, start: number, counter: { calls: number }): CallResult => {
    counter.calls++;
    if (!seenPoints.has(c.point)) {
      seenPoints.add(c.point);
      points.push(c.point);
    }
    const attempt = (attempts.get(c.point) ?? 0) + 1;
    attempts.set(c.point, attempt);
    const span = open(c.kind === 'http' ? `GET` : c.point.slice(c.point.indexOf(' ') + 1), 'client', caller, parent, start);
    span.attributes[ATTR.point] = c.point;
    span.attributes[ATTR.attempt] = attempt;
    span.attributes[ATTR.peerService] = c.target;
    if (c.optional) span.attributes[ATTR.optional] = true;
    const mode = faults.get(c.point) ?? (flaky?.(c.point) ? 'error' : undefined);
    if (mode !== undefined) {
      if (faults.has(c.point)) {
        span.attributes[ATTR.fault] = LABELS[mode] ?? mode;
        span.attributes[ATTR.planId] = planId;
      }
      if (mode === 'hang') return { ok: false, end: Infinity, quality: 'good' };
      span.endMs = start + 0.2;
      if (mode === '503') {
        span.attributes['http.response.status_code'] = 503;
        span.status = { code: 'error', message: 'HTTP 503' };
      } else span.status = { code: 'error', message: 'connect ECONNREFUSED' };
      return { ok: false, end: span.endMs, quality: 'good' };
    }
    if (c.kind === 'store') {
      span.endMs = start + (c.latencyMs ?? 1);
      return { ok: true, end: span.endMs, quality: 'good' };
    }
    const r = serve(c.target, span.spanId, start + 0.1);
    if (r.end === Infinity) return { ok: false, end: Infinity, quality: r.quality };
    span.endMs = r.end + 0.1;
    span.attributes['http.response.status_code'] = r.status;
    if (r.status >= 500) span.status = { code: 'error', message: `HTTP ${r.status}` };
    return { ok: r.status < 500, end: span.endMs, quality: r.quality };
  };

  const policy = (caller: string, c: SimCall, parent: string, start: number, counter: { calls: number }): CallResult => {
    const p = c.policy!;
    const kinds =
      p.kinds ??
      [p.fallback !== undefined ? 'fallback' : '', (p.retries ?? 0) > 0 ? 'retry' : '', p.hedge ? 'hedging' : '', p.timeoutMs !== undefined ? 'timeout' : ''].filter(Boolean);
    const span = open(`policy ${p.name}`, 'internal', caller, parent, start);
    span.attributes[ATTR.policy] = p.name;
    span.attributes[ATTR.policyKinds] = kinds.join(',');
    const bare = { ...c, policy: undefined } as SimCall;
    const once = (target: SimCall, at: number): CallResult => {
      const from = spans.length;
      const r = call(caller, target, span.spanId, at, counter);
      if (p.timeoutMs !== undefined && r.end > at + p.timeoutMs) {
        abortSince(from, at + p.timeoutMs);
        span.attributes[ATTR.timedOut] = true;
        return { ok: false, end: at + p.timeoutMs, quality: 'good' };
      }
      return r;
    };
    const from = spans.length;
    let result: CallResult;
    if (p.hedge) {
      const first = once(bare, start);
      if (first.ok && first.end <= start + p.hedge.delayMs) {
        result = first;
        span.attributes[ATTR.hedgeWinner] = 0;
        span.attributes[ATTR.hedgeAttempts] = 1;
      } else {
        const second = once(bare, first.ok || first.end === Infinity ? start + p.hedge.delayMs : Math.min(first.end, start + p.hedge.delayMs));
        span.attributes[ATTR.hedgeAttempts] = 2;
        const oks = [first, second].map((r, i) => [r, i] as const).filter(([r]) => r.ok);
        if (oks.length > 0) {
          const [win, i] = oks.reduce((x, y) => (y[0].end < x[0].end ? y : x));
          result = win;
          span.attributes[ATTR.hedgeWinner] = i;
        } else result = { ok: false, end: Math.max(first.end, second.end), quality: 'good' };
      }
    } else {
      let t = start;
      result = { ok: false, end: t, quality: 'good' };
      let made = 0;
      const tries = 1 + (p.retries ?? 0);
      for (let i = 0; i < tries; i++) {
        const target = i === 0 || !p.replicas || p.replicas.length === 0 ? bare : p.replicas[(i - 1) % p.replicas.length]!;
        made++;
        result = once({ ...target, policy: undefined } as SimCall, t);
        if (result.ok || result.end === Infinity) break;
        const backoff = typeof p.backoffMs === 'number' ? p.backoffMs : (p.backoffMs?.[i] ?? 0);
        t = result.end + (i + 1 < tries ? backoff : 0);
      }
      if ((p.retries ?? 0) > 0) span.attributes[ATTR.retryAttempts] = made;
    }
    if (p.totalTimeoutMs !== undefined && result.end > start + p.totalTimeoutMs) {
      abortSince(from, start + p.totalTimeoutMs);
      span.attributes[ATTR.timedOut] = true;
      result = { ok: false, end: start + p.totalTimeoutMs, quality: 'good' };
    }
    if (!result.ok && result.end !== Infinity && p.fallback !== undefined) {
      if (p.fallback === 'static') {
        result = { ok: true, end: result.end + 0.05, quality: 'degraded' };
        span.attributes[ATTR.fallback] = true;
      } else {
        const fb = p.fallback;
        const r = fb.policy ? policy(caller, fb, span.spanId, result.end, counter) : call(caller, fb, span.spanId, result.end, counter);
        if (r.ok) span.attributes[ATTR.fallback] = true;
        result = { ok: r.ok, end: r.end, quality: worst('degraded', r.quality) };
      }
    }
    if (result.end !== Infinity) {
      span.endMs = result.end;
      span.attributes[ATTR.policyOutcome] = result.ok ? (span.attributes[ATTR.fallback] === true ? 'fallback' : 'success') : 'failure';
      if (!result.ok) span.status = { code: 'error', message: 'policy failed' };
    }
    return result;
  };

  const root = serve(system.entry, 'f'.repeat(16), T0);
  // The workload gives up at the deadline: whatever never answered ends there, as failed.
  for (const s of spans) {
    if (s.endMs === Infinity || s.endMs > deadlineAt + 60_000) {
      s.endMs = Math.max(s.startMs, deadlineAt);
      s.status = { code: 'error', message: 'aborted by the client' };
      if (s.kind === 'internal' && s.attributes[ATTR.policyOutcome] === undefined) s.attributes[ATTR.policyOutcome] = 'failure';
    }
  }
  let ok = true;
  let symptom: string | undefined;
  const duration = root.end - T0;
  if (root.end === Infinity || root.end > deadlineAt) {
    ok = false;
    symptom = `deadline ${system.deadlineMs} ms exceeded`;
  } else if (root.status >= 500) {
    ok = false;
    symptom = `HTTP ${root.status}`;
  } else if (root.quality === 'bad') {
    ok = false;
    symptom = 'wrong data in the response';
  }
  return { ok, ...(symptom ? { symptom } : {}), spans: spans as SpanData[], durationMs: Number.isFinite(duration) ? duration : system.deadlineMs, points };
}

/** Every injection point a system's services declare (reachable or not). */
export function declaredPoints(system: SimSystem): string[] {
  const out = new Set<string>();
  const add = (c: SimCall): void => {
    out.add(c.point);
    for (const r of c.policy?.replicas ?? []) add(r);
    const fb = c.policy?.fallback;
    if (fb && fb !== 'static') add(fb);
  };
  const walk = (step: SimStep): void => {
    if ('point' in step) add(step);
    else if ('all' in step) step.all.forEach(walk);
    else if ('firstOf' in step) step.firstOf.forEach(walk);
    else {
      step.attempt.forEach(walk);
      if (step.orElse) walk(step.orElse);
    }
  };
  for (const s of system.services.values()) (s.steps ?? s.calls).forEach(walk);
  return [...out];
}
