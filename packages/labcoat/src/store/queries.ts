/**
 * Span queries the web console needs, shared by both stores: the recent spans of a graph edge, the
 * latest traces of a request class and the request classes seen. Each store supplies a cursor
 * over its rows (newest first, `(start_ms, id)` descending); the matching is done here, with the
 * same rules as the graph (`derive.ts`), so an edge's spans are exactly what the graph counted.
 */
import { ATTR, type SpanData } from '@labcoat/core';
import { spanFromRow, type SpanRow } from './common.js';
import { edgeOf, isError } from './derive.js';
import type { EdgeSpansQuery, TraceClass, TraceClassesQuery, TracesQuery, TraceSummary } from './types.js';

export interface CursorRow extends SpanRow {
  id: number | string;
}

export interface Cursor {
  readonly startMs: number;
  readonly id: number;
}

/** Fetches up to `limit` rows older than `before` (all when undefined), newest first. */
export type RowFetch = (before: Cursor | undefined, limit: number) => Promise<CursorRow[]>;

const BATCH = 500;
/** How many candidate rows one query looks at, at most (a bound on its cost). */
export const SCAN_LIMIT = 20_000;

async function scan(fetch: RowFetch, visit: (s: SpanData) => boolean): Promise<void> {
  let before: Cursor | undefined;
  for (let seen = 0; seen < SCAN_LIMIT; ) {
    const rows = await fetch(before, BATCH);
    for (const r of rows) {
      seen++;
      if (!visit(spanFromRow(r))) return;
    }
    if (rows.length < BATCH) return;
    const last = rows[rows.length - 1]!;
    before = { startMs: Number(last.start_ms), id: Number(last.id) };
  }
}

/** Client (and producer) spans of `caller` whose edge goes to `callee` (and `point`), newest first. */
export async function findEdgeSpans(fetch: RowFetch, q: EdgeSpansQuery): Promise<SpanData[]> {
  const out: SpanData[] = [];
  await scan(fetch, (s) => {
    const e = edgeOf(s);
    if (e && e.caller === q.caller && e.callee === q.callee && (q.point === undefined || e.point === q.point)) out.push(s);
    return out.length < q.limit;
  });
  return out;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** A request's class: `<method> <route>` of its entry server span, else the span's name. */
export function requestClass(s: SpanData): string {
  const method = str(s.attributes['http.request.method']) ?? str(s.attributes['http.method']);
  const route = str(s.attributes[ATTR.route]);
  return method && route ? `${method.toUpperCase()} ${route}` : s.name;
}

/**
 * The latest traces whose entry span (kind server, no parent stored — `fetchRoots` returns those)
 * has the class asked for; `fetchTraces` loads the spans of the traces found, for their counts.
 */
export async function findTraces(fetchRoots: RowFetch, fetchTraces: (ids: readonly string[]) => Promise<SpanData[]>, q: TracesQuery): Promise<TraceSummary[]> {
  const roots: SpanData[] = [];
  const seen = new Set<string>();
  await scan(fetchRoots, (s) => {
    if (seen.has(s.traceId)) return true;
    if ((q.class === undefined || requestClass(s) === q.class) && (q.service === undefined || s.service === q.service)) {
      seen.add(s.traceId);
      roots.push(s);
    }
    return roots.length < q.limit;
  });
  if (roots.length === 0) return [];
  const byTrace = new Map<string, SpanData[]>();
  for (const s of await fetchTraces(roots.map((r) => r.traceId))) {
    let list = byTrace.get(s.traceId);
    if (!list) byTrace.set(s.traceId, (list = []));
    list.push(s);
  }
  return roots.map((root) => {
    const spans = byTrace.get(root.traceId) ?? [root];
    const start = Math.min(root.startMs, ...spans.map((s) => s.startMs));
    const end = Math.max(root.endMs, ...spans.map((s) => s.endMs));
    return {
      traceId: root.traceId,
      service: root.service,
      class: requestClass(root),
      startMs: start,
      durationMs: Math.round((end - start) * 1000) / 1000,
      spans: spans.length,
      errors: spans.filter(isError).length,
      faults: spans.filter((s) => s.attributes[ATTR.fault] !== undefined).length,
      status: isError(root) ? 'error' : 'ok',
    };
  });
}

/** The request classes of the entry spans since `sinceMs`, most frequent first. */
export async function findTraceClasses(fetchRoots: RowFetch, q: TraceClassesQuery): Promise<TraceClass[]> {
  const classes = new Map<string, { service: string; class: string; count: number; lastMs: number }>();
  await scan(fetchRoots, (s) => {
    const cls = requestClass(s);
    const key = `${s.service}\u0000${cls}`;
    const c = classes.get(key);
    if (c) {
      c.count++;
      c.lastMs = Math.max(c.lastMs, s.startMs);
    } else classes.set(key, { service: s.service, class: cls, count: 1, lastMs: s.startMs });
    return true;
  });
  return [...classes.values()].sort((a, b) => b.count - a.count || b.lastMs - a.lastMs || a.class.localeCompare(b.class)).slice(0, q.limit);
}

/** The critical services setting, stored as JSON under this key. */
export const CRITICAL_KEY = 'critical.services';
