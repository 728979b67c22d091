/**
 * What the service graph learns from a batch of spans, computed before the batch is written so the
 * store only adds numbers: one edge per dependency call (a client or producer span), keyed by
 * caller service, callee service and injection point, with calls, errors and a latency histogram;
 * and per service the spans it recorded, the requests it served (server spans) and how many of those failed.
 */
import { ATTR, parsePointId, templatePath, type SpanData } from '@labcoat/core';
import { binOf, type Hist } from './hist.js';

export interface EdgeDelta {
  readonly caller: string;
  readonly callee: string;
  readonly point: string;
  calls: number;
  errors: number;
  readonly hist: Hist;
}

export interface ServiceDelta {
  readonly name: string;
  spans: number;
  requests: number;
  errors: number;
}

export interface BatchAggregates {
  readonly edges: Map<string, EdgeDelta>;
  readonly services: Map<string, ServiceDelta>;
}

export function emptyAggregates(): BatchAggregates {
  return { edges: new Map(), services: new Map() };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 && v.length <= 512 ? v : undefined);

/** The HTTP status a span recorded, if any (current and older semantic conventions). */
function httpStatus(s: SpanData): number | undefined {
  const v = s.attributes['http.response.status_code'] ?? s.attributes['http.status_code'];
  return typeof v === 'number' ? v : undefined;
}

/** A failed call or request: error status, or an HTTP status of 500 or more. */
export function isError(s: SpanData): boolean {
  if (s.status.code === 'error') return true;
  const status = httpStatus(s);
  return status !== undefined && status >= 500;
}

/**
 * The edge a span is evidence of: client and producer spans only. The callee comes from the
 * span's injection point (`labcoat.point`), else `peer.service`, else `server.address`
 * (`net.peer.name`); a call to an unknown callee is not an edge.
 */
export function edgeOf(s: SpanData): { caller: string; callee: string; point: string } | undefined {
  if (s.kind !== 'client' && s.kind !== 'producer') return undefined;
  const a = s.attributes;
  const pointAttr = str(a[ATTR.point]);
  const target = pointAttr ? targetOf(pointAttr) : undefined;
  if (target !== undefined && pointAttr) return { caller: s.service, callee: target, point: pointAttr };
  const callee = str(a[ATTR.peerService]) ?? str(a['server.address']) ?? str(a['net.peer.name']);
  if (!callee) return undefined;
  const method = str(a['http.request.method']) ?? str(a['http.method']);
  let route: string | undefined = str(a['http.route']);
  if (!route) {
    const url = str(a['url.full']) ?? str(a['http.url']);
    if (url) {
      try {
        route = templatePath(new URL(url).pathname);
      } catch {
        route = undefined;
      }
    }
  }
  const point = method ? `${s.service}->${callee} ${method.toUpperCase()}${route ? ` ${route}` : ''}` : `${s.service}->${callee} ${s.name || 'call'}`;
  return { caller: s.service, callee, point };
}

/** Point ids repeat endlessly: their parsed targets are cached (bounded). */
const targets = new Map<string, string | null>();

function targetOf(point: string): string | undefined {
  let t = targets.get(point);
  if (t === undefined) {
    t = parsePointId(point)?.target ?? null;
    if (targets.size >= 10_000) targets.clear();
    targets.set(point, t);
  }
  return t ?? undefined;
}

/** Adds one span to a batch's aggregates. */
export function aggregate(into: BatchAggregates, s: SpanData): void {
  let svc = into.services.get(s.service);
  if (!svc) into.services.set(s.service, (svc = { name: s.service, spans: 0, requests: 0, errors: 0 }));
  svc.spans++;
  const error = isError(s);
  if (s.kind === 'server' || s.kind === 'consumer') {
    svc.requests++;
    if (error) svc.errors++;
  }
  const edge = edgeOf(s);
  if (!edge) return;
  const key = `${edge.caller}\u0000${edge.callee}\u0000${edge.point}`;
  let e = into.edges.get(key);
  if (!e) into.edges.set(key, (e = { ...edge, calls: 0, errors: 0, hist: new Map() }));
  e.calls++;
  if (error) e.errors++;
  const bin = binOf(s.endMs - s.startMs);
  e.hist.set(bin, (e.hist.get(bin) ?? 0) + 1);
}

/** Rough stored size of a span in bytes (what size-based retention counts). */
export function spanBytes(s: SpanData, attributes: string, events: string | null): number {
  return 96 + s.name.length + s.service.length + attributes.length + (events?.length ?? 0) + (s.status.message?.length ?? 0);
}
