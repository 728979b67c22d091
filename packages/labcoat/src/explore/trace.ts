/**
 * What the runner reads from an execution's spans: whether they have all arrived (the collector's
 * completeness rule), which hop did not join the trace when they have not, which planned faults
 * fired, the path of a faulted call, and the call graph.
 */
import { ATTR, parsePointId, type SpanData } from '@labcoat/core';
import { isTraceComplete } from '../collector.js';
import { faultRef } from './plans.js';
import type { CallGraph, FaultRef } from './types.js';
import type { Fault, FaultSpec } from '@labcoat/core';

/**
 * Where spans come from: the OTLP {@link Collector} (`labcoat explore`), or anything in-process that
 * can list a trace's spans, such as `@labcoat/node`'s InMemoryExporter.
 */
export interface SpanSource {
  trace(traceId: string): readonly SpanData[];
  waitForTrace?(traceId: string, done: (spans: SpanData[]) => boolean, timeoutMs: number): Promise<readonly SpanData[]>;
  /** Every span received (lets the baseline check find calls that started a new trace). */
  readonly spans?: readonly SpanData[];
  /** Where services must send spans, for error messages. */
  readonly url?: string;
}

/**
 * The completeness rule of `isTraceComplete` (docs/ARCHITECTURE.md), for a workload that may make
 * several top-level calls: a command workload's own spans, or the services it calls, all have the
 * span id the runner sent as their parent. A virtual root with that id stands in for the workload.
 */
export function executionComplete(spans: readonly SpanData[], entryParent: string, multiRoot: boolean): boolean {
  if (!multiRoot) return isTraceComplete(spans, entryParent);
  if (spans.length === 0) return true;
  const root: SpanData = {
    traceId: spans[0]!.traceId,
    spanId: entryParent,
    name: 'workload',
    kind: 'server',
    service: 'workload',
    startMs: 0,
    endMs: 0,
    status: { code: 'unset' },
    attributes: {},
  };
  return isTraceComplete([root, ...spans], undefined);
}

/** Waits (bounded) until the execution's spans are complete; returns what arrived and whether it is. */
export async function collectTrace(
  source: SpanSource,
  traceId: string,
  entryParent: string,
  multiRoot: boolean,
  waitMs: number,
): Promise<{ spans: SpanData[]; complete: boolean }> {
  const done = (s: readonly SpanData[]): boolean => s.length > 0 && executionComplete(s, entryParent, multiRoot);
  let spans: readonly SpanData[];
  if (source.waitForTrace) spans = await source.waitForTrace(traceId, done, waitMs);
  else {
    const deadline = Date.now() + waitMs;
    spans = source.trace(traceId);
    while (!done(spans) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      spans = source.trace(traceId);
    }
  }
  return { spans: [...spans], complete: done(spans) };
}

/** Faults under which the callee is never called (so no server span follows the client span). */
const NO_CALL = /^(error|status|hang)(:|$)/;

function hopName(s: SpanData): { caller: string; target: string } {
  const point = s.attributes[ATTR.point];
  const parsed = typeof point === 'string' ? parsePointId(point) : undefined;
  const peer = s.attributes[ATTR.peerService];
  return { caller: parsed?.caller ?? s.service, target: parsed?.target ?? (typeof peer === 'string' ? peer : String(s.attributes['url.full'] ?? '?')) };
}

/**
 * Explains an incomplete trace: one line per hop that did not join it. A real HTTP call whose
 * callee's server span never arrived means the callee does not extract the trace context or does
 * not export its spans; a span whose parent never arrived means its caller does not export spans.
 */
export function missingHops(spans: readonly SpanData[], entryParent: string, collectorUrl?: string): string[] {
  const where = collectorUrl ? ` to ${collectorUrl}` : '';
  const out = new Set<string>();
  const served = new Set(spans.filter((s) => s.kind === 'server' && s.parentSpanId).map((s) => s.parentSpanId));
  const ids = new Set(spans.map((s) => s.spanId));
  for (const s of spans) {
    if (s.kind === 'client' && s.attributes['url.full'] !== undefined && !served.has(s.spanId)) {
      const fault = s.attributes[ATTR.fault];
      if (typeof fault === 'string' && NO_CALL.test(fault)) continue;
      const { caller, target } = hopName(s);
      out.add(`${caller} → ${target} did not join the trace: does ${target} take the trace context (traceparent) from its requests and export spans${where}?`);
    }
  }
  for (const s of spans) {
    if (s.parentSpanId && s.parentSpanId !== entryParent && !ids.has(s.parentSpanId)) {
      out.add(`${s.service}'s span "${s.name}" hangs under a span that never arrived: does the service calling ${s.service} export its spans${where}?`);
    }
  }
  return [...out];
}

/**
 * Calls that escaped the trace: root client spans (no parent) recorded by the trace's services
 * while the execution ran. A service whose outgoing calls start new traces drops the context
 * (the call is made outside the request's async context, or its client is not instrumented).
 */
export function escapedCalls(all: readonly SpanData[], trace: readonly SpanData[], fromMs: number, toMs: number): string[] {
  const services = new Set(trace.map((s) => s.service));
  const traceId = trace[0]?.traceId;
  const out = new Set<string>();
  for (const s of all) {
    if (s.traceId === traceId || s.parentSpanId || s.kind !== 'client' || !services.has(s.service)) continue;
    if (s.startMs < fromMs - 5 || s.startMs > toMs + 5) continue;
    const { caller, target } = hopName(s);
    out.add(`${caller} → ${target} left the trace: ${caller} made this call in a new trace, so it drops the request's context (is the call made inside the request's async context, with an instrumented client?)`);
  }
  return [...out];
}

/** The planned faults that fired in this execution: a client span at the point, labelled by our plan. */
export function firedFaults(spans: readonly SpanData[], planned: readonly Fault[], modes: Readonly<Record<string, FaultSpec>>, planId: string | undefined): { fired: FaultRef[]; neverFired: FaultRef[] } {
  const firedPoints = new Set<string>();
  for (const s of spans) {
    if (s.attributes[ATTR.fault] === undefined) continue;
    if (planId !== undefined && s.attributes[ATTR.planId] !== undefined && s.attributes[ATTR.planId] !== planId) continue;
    const p = s.attributes[ATTR.point];
    if (typeof p === 'string') firedPoints.add(p);
  }
  const fired: FaultRef[] = [];
  const neverFired: FaultRef[] = [];
  for (const f of planned) (firedPoints.has(f.point) ? fired : neverFired).push(faultRef(f, modes));
  return { fired, neverFired };
}

/**
 * The path of a call through the services, from the entry to the point's target:
 * `['edge', 'catalog', 'ratings']` for `catalog->ratings GET /ratings/:id` under edge.
 */
export function callPath(spans: readonly SpanData[], point: string): string[] {
  const parsed = parsePointId(point);
  const target = parsed?.target;
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const client = spans.find((s) => s.kind === 'client' && s.attributes[ATTR.point] === point);
  if (!client) return parsed ? [parsed.caller, parsed.target] : [point];
  const services: string[] = [];
  let cur: SpanData | undefined = client;
  for (let hops = 0; cur && hops < 256; hops++) {
    if (services[0] !== cur.service) services.unshift(cur.service);
    cur = cur.parentSpanId === undefined ? undefined : byId.get(cur.parentSpanId);
  }
  if (target) services.push(target);
  return services;
}

/** Accumulates the call graph (services, and points as edges) over many executions. */
export class GraphBuilder {
  private readonly services = new Set<string>();
  private readonly edges = new Map<string, { point: string; from: string; to: string }>();

  add(spans: readonly SpanData[]): void {
    for (const s of spans) {
      if (s.kind === 'server') this.services.add(s.service);
      const p = s.attributes[ATTR.point];
      if (s.kind !== 'client' || typeof p !== 'string' || this.edges.has(p)) continue;
      const parsed = parsePointId(p);
      const from = parsed?.caller ?? s.service;
      const to = parsed?.target ?? String(s.attributes[ATTR.peerService] ?? '?');
      this.services.add(from).add(to);
      this.edges.set(p, { point: p, from, to });
    }
  }

  toJSON(): CallGraph {
    return { services: [...this.services].sort(), edges: [...this.edges.values()].sort((a, b) => a.point.localeCompare(b.point)) };
  }
}
