/** Pieces both stores share: row mapping, the graph from cumulative rows, ids, time buckets. */
import type { SpanData, SpanKind } from '@labcoat/core';
import { addPairs, histPairs, pairQuantilesMs, subtractPairs } from './hist.js';
import type {
  AttackDefinition,
  AttackRecord,
  AttackState,
  AuditInput,
  CampaignRecord,
  CampaignState,
  Graph,
  GraphEdge,
  GraphNode,
  GraphQuery,
  Role,
  TokenRecord,
} from './types.js';

export const KIND_NUM: Record<SpanKind, number> = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };
export const NUM_KIND: Record<number, SpanKind> = { 1: 'internal', 2: 'server', 3: 'client', 4: 'producer', 5: 'consumer' };
export const STATUS_NUM = { unset: 0, ok: 1, error: 2 } as const;
const NUM_STATUS = ['unset', 'ok', 'error'] as const;

/** Graph aggregates are thinned as they age (cumulative rows, so thinning only coarsens old windows). */
export const THINNING: readonly { readonly olderThanMs: number; readonly periodMs: number }[] = [
  { olderThanMs: 60 * 60_000, periodMs: 10 * 60_000 },
  { olderThanMs: 24 * 3_600_000, periodMs: 3_600_000 },
  { olderThanMs: 30 * 86_400_000, periodMs: 86_400_000 },
];

export const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : v === null || v === undefined ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));

export function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export interface SpanRow {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  service: string;
  name: string;
  kind: number;
  start_ms: number;
  end_ms: number;
  status: number;
  status_message: string | null;
  attributes: string;
  events: string | null;
}

export function spanFromRow(r: SpanRow): SpanData {
  const events = r.events ? (parseJson(r.events) as SpanData['events']) : undefined;
  return {
    traceId: r.trace_id,
    spanId: r.span_id,
    ...(r.parent_span_id ? { parentSpanId: r.parent_span_id } : {}),
    name: r.name,
    kind: NUM_KIND[num(r.kind)] ?? 'internal',
    service: r.service,
    startMs: num(r.start_ms),
    endMs: num(r.end_ms),
    status: { code: NUM_STATUS[num(r.status)] ?? 'unset', ...(r.status_message ? { message: r.status_message } : {}) },
    attributes: (parseJson(r.attributes) as SpanData['attributes']) ?? {},
    ...(events ? { events } : {}),
  };
}

export interface TokenRow {
  id: string;
  name: string | null;
  role: string;
  hash: string;
  created_at: unknown;
  revoked_at: unknown;
}

export function tokenFromRow(r: TokenRow): TokenRecord {
  return { id: r.id, name: r.name, role: r.role as Role, hash: r.hash, createdAt: num(r.created_at), revokedAt: numOrNull(r.revoked_at) };
}

export interface AttackRow {
  id: string;
  definition: string;
  state: string;
  created_at: unknown;
  created_by: string | null;
  expires_at: unknown;
  halted_at: unknown;
  halted_by: string | null;
  injections: unknown;
}

/** An attack as stored; `active` past its expiry reads as `expired` even before the job marks it. */
export function attackFromRow(r: AttackRow, nowMs: number): AttackRecord {
  const def = (parseJson(r.definition) ?? {}) as AttackDefinition;
  const expiresAt = num(r.expires_at);
  const state = (r.state === 'active' && expiresAt <= nowMs ? 'expired' : r.state) as AttackState;
  return {
    id: r.id,
    ...def,
    state,
    createdAt: num(r.created_at),
    createdBy: r.created_by,
    expiresAt,
    haltedAt: numOrNull(r.halted_at),
    haltedBy: r.halted_by,
    injections: num(r.injections),
  };
}

/** The stored definition of an attack: exactly the fields of AttackDefinition, in a fixed order. */
export function attackDefinitionJson(a: AttackDefinition): string {
  const def: AttackDefinition = {
    ...(a.name !== undefined ? { name: a.name } : {}),
    target: a.target,
    ...(a.labels !== undefined ? { labels: a.labels } : {}),
    ...(a.entry !== undefined ? { entry: a.entry } : {}),
    fault: a.fault,
    percentage: a.percentage,
    durationMs: a.durationMs,
  };
  return JSON.stringify(def);
}

export interface CampaignRow {
  id: string;
  name: string | null;
  state: string;
  spec: string;
  created_at: unknown;
  created_by: string | null;
  started_at: unknown;
  finished_at: unknown;
  heartbeat_at: unknown;
  runner: string | null;
  stop_requested: unknown;
  progress: string | null;
  summary: string | null;
  result?: string | null;
  error: string | null;
  last_seq: unknown;
}

export function campaignFromRow(r: CampaignRow): CampaignRecord {
  return {
    id: r.id,
    name: r.name,
    state: r.state as CampaignState,
    spec: parseJson(r.spec),
    createdAt: num(r.created_at),
    createdBy: r.created_by,
    startedAt: numOrNull(r.started_at),
    finishedAt: numOrNull(r.finished_at),
    heartbeatAt: numOrNull(r.heartbeat_at),
    runner: r.runner,
    stopRequested: r.stop_requested === true || num(r.stop_requested) === 1,
    progress: parseJson(r.progress),
    summary: parseJson(r.summary),
    result: r.result === undefined ? null : parseJson(r.result),
    error: r.error,
    events: num(r.last_seq),
  };
}

export function auditDetails(a: AuditInput): string | null {
  return a.details === undefined ? null : JSON.stringify(a.details);
}

/** The buckets a window covers: bucket `from` … `to` inclusive (the window snapped to bucket edges). */
export function windowBuckets(q: GraphQuery, bucketMs: number): { from: number; to: number } {
  const from = Math.floor(q.sinceMs / bucketMs);
  const to = Math.max(from, Math.floor((q.untilMs - 1) / bucketMs));
  return { from, to };
}

/**
 * Splits a packed cumulative row, `calls,errors,hist` (one string so that the lookup is one
 * correlated subquery): undefined when there is none.
 */
export function unpackCum(packed: string | null | undefined): { calls: number; errors: number; hist: string } | undefined {
  if (!packed) return undefined;
  const a = packed.indexOf(',');
  const b = packed.indexOf(',', a + 1);
  if (a < 0 || b < 0) return undefined;
  return { calls: Number(packed.slice(0, a)), errors: Number(packed.slice(a + 1, b)), hist: packed.slice(b + 1) };
}

/** One edge's cumulative rows at the window's end (`u`) and just before its start (`s`, absent when none). */
export interface EdgeWindowRow {
  caller: string;
  callee: string;
  point: string;
  u_calls: unknown;
  u_errors: unknown;
  u_hist: string;
  s_calls: unknown;
  s_errors: unknown;
  s_hist: string | null;
}

export interface ServiceWindowRow {
  name: string;
  u_spans: unknown;
  u_requests: unknown;
  u_errors: unknown;
  s_spans: unknown;
  s_requests: unknown;
  s_errors: unknown;
}

/** The graph of a window from cumulative rows: differences at the two ends, merged by service pair when asked. */
export function buildGraph(q: GraphQuery, bucketMs: number, edgeRows: Iterable<EdgeWindowRow>, serviceRows: Iterable<ServiceWindowRow>): Graph {
  const { from, to } = windowBuckets(q, bucketMs);
  const byService = (q.by ?? 'service') === 'service';
  type Acc = { caller: string; callee: string; points: string[]; calls: number; errors: number; pairs: number[] };
  const merged = new Map<string, Acc>();
  const single: Acc[] = [];
  for (const r of edgeRows) {
    if (q.service !== undefined && r.caller !== q.service && r.callee !== q.service) continue;
    const calls = num(r.u_calls) - num(r.s_calls);
    if (calls <= 0) continue;
    const errors = num(r.u_errors) - num(r.s_errors);
    const pairs = subtractPairs(histPairs(r.u_hist), histPairs(r.s_hist));
    // Rows are one per (caller, callee, point) already: only the service view merges.
    if (!byService) {
      single.push({ caller: r.caller, callee: r.callee, points: [r.point], calls, errors, pairs });
      continue;
    }
    const key = `${r.caller}\u0000${r.callee}`;
    const e = merged.get(key);
    if (!e) merged.set(key, { caller: r.caller, callee: r.callee, points: [r.point], calls, errors, pairs });
    else {
      e.points.push(r.point);
      e.calls += calls;
      e.errors += errors;
      e.pairs = addPairs(e.pairs, pairs);
    }
  }
  const edges: GraphEdge[] = (byService ? [...merged.values()] : single)
    .map((e) => {
      const [p50, p99] = pairQuantilesMs(e.pairs, [0.5, 0.99]);
      return {
        caller: e.caller,
        callee: e.callee,
        points: e.points.sort(),
        calls: e.calls,
        errors: e.errors,
        errorRate: Math.round((e.errors / e.calls) * 1e6) / 1e6,
        p50Ms: p50 ?? null,
        p99Ms: p99 ?? null,
      };
    })
    .sort((a, b) => (a.caller < b.caller ? -1 : a.caller > b.caller ? 1 : a.callee < b.callee ? -1 : a.callee > b.callee ? 1 : a.points[0]! < b.points[0]! ? -1 : 1));
  const touched = new Set<string>();
  for (const e of edges) {
    touched.add(e.caller);
    touched.add(e.callee);
  }
  const nodes = new Map<string, GraphNode>();
  for (const r of serviceRows) {
    const spans = num(r.u_spans) - num(r.s_spans);
    if (spans <= 0) continue;
    if (q.service !== undefined && r.name !== q.service && !touched.has(r.name)) continue;
    nodes.set(r.name, { name: r.name, spans, requests: num(r.u_requests) - num(r.s_requests), errors: num(r.u_errors) - num(r.s_errors) });
  }
  // A callee that recorded no spans (not instrumented) is still a node of the graph.
  for (const name of touched) if (!nodes.has(name)) nodes.set(name, { name, spans: 0, requests: 0, errors: 0 });
  return {
    sinceMs: from * bucketMs,
    untilMs: (to + 1) * bucketMs,
    bucketMs,
    services: [...nodes.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
    edges,
  };
}
