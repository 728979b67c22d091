import { LabcoatInputError } from './errors.js';

/**
 * The span model: the subset of OpenTelemetry's that labcoat needs, plus its own attributes.
 * Times are epoch milliseconds with sub-millisecond fractions.
 */

export type SpanKind = 'internal' | 'server' | 'client' | 'producer' | 'consumer';
export type AttributeValue = string | number | boolean | readonly string[];
export type Attributes = Record<string, AttributeValue>;

export interface SpanStatus {
  readonly code: 'unset' | 'ok' | 'error';
  readonly message?: string;
}

export interface SpanEvent {
  readonly name: string;
  readonly timeMs: number;
  readonly attributes?: Attributes;
}

export interface SpanData {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: SpanKind;
  /** The service that recorded the span (OTLP resource attribute `service.name`). */
  readonly service: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly status: SpanStatus;
  readonly attributes: Attributes;
  readonly events?: readonly SpanEvent[];
}

/** Attribute names labcoat writes on spans. */
export const ATTR = {
  /** Injection point id of a client span (`edge->profiles GET /profiles/:id`). */
  point: 'labcoat.point',
  /** Label of the fault injected on this call, when one was (`status:503`). */
  fault: 'labcoat.fault',
  /** Id of the plan that injected the fault. */
  planId: 'labcoat.plan.id',
  /** Id of the production attack that injected the fault (`atk_…`). */
  attackId: 'labcoat.attack.id',
  /** 1-based attempt number of this call within the request. */
  attempt: 'labcoat.attempt',
  /** The route template a server span served. */
  route: 'http.route',
  /** Service name announced by the callee in its reply (used to learn target names). */
  peerService: 'peer.service',
  /** On a server span: how many dependency calls the request started (lets a collector tell when a trace is complete). */
  calls: 'labcoat.calls',
  /** Calls declared optional at their injection point (fire-and-forget). */
  optional: 'labcoat.optional',
  /** On a policy span (kind internal, named `policy <name>`): the policy or pipeline's name. */
  policy: 'labcoat.policy',
  /** The kinds of policy in it, outermost first (`retry,circuit-breaker,timeout`). */
  policyKinds: 'labcoat.policy.kinds',
  /** How the policy execution ended: `success`, `fallback`, `failure` or `rejected`. */
  policyOutcome: 'labcoat.policy.outcome',
  /** Attempts a retry made (1 = no retry). */
  retryAttempts: 'labcoat.retry.attempts',
  /** Circuit state when the call arrived (`closed`, `open`, `half-open`, `isolated`). */
  breakerState: 'labcoat.breaker.state',
  /** True when the breaker refused the call. */
  breakerRejected: 'labcoat.breaker.rejected',
  /** True when a fallback produced the result. */
  fallback: 'labcoat.fallback',
  /** Which hedged attempt won (0 = the first); `labcoat.hedge.attempts` says how many were sent. */
  hedgeWinner: 'labcoat.hedge.winner',
  hedgeAttempts: 'labcoat.hedge.attempts',
  /** True when a bulkhead refused the call; `labcoat.bulkhead.queued` when it waited in its queue. */
  bulkheadRejected: 'labcoat.bulkhead.rejected',
  bulkheadQueued: 'labcoat.bulkhead.queued',
  /** True when a rate limiter refused the call. */
  rateLimited: 'labcoat.ratelimit.rejected',
  /** True when a timeout fired. */
  timedOut: 'labcoat.timeout',
  /** True when the call joined an identical call already in flight (request coalescing). */
  coalesced: 'labcoat.coalesced',
} as const;

const KIND_TO_OTLP: Record<SpanKind, number> = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };
const OTLP_TO_KIND: Record<number, SpanKind> = { 1: 'internal', 2: 'server', 3: 'client', 4: 'producer', 5: 'consumer' };
const STATUS_TO_OTLP = { unset: 0, ok: 1, error: 2 } as const;

interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
}
interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}

function toAnyValue(v: AttributeValue): OtlpAnyValue {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  return { arrayValue: { values: v.map((s) => ({ stringValue: s })) } };
}

function toAttributes(attrs: Attributes): OtlpKeyValue[] {
  return Object.entries(attrs).map(([key, value]) => ({ key, value: toAnyValue(value) }));
}

function msToNanos(ms: number): string {
  const whole = Math.floor(ms);
  const frac = Math.round((ms - whole) * 1e6);
  return (BigInt(whole) * 1_000_000n + BigInt(frac)).toString();
}

function nanosToMs(n: unknown): number {
  if (typeof n === 'number') return n / 1e6;
  if (typeof n !== 'string' || !/^\d{1,20}$/.test(n)) return NaN;
  const big = BigInt(n);
  return Number(big / 1_000_000n) + Number(big % 1_000_000n) / 1e6;
}

/**
 * Encodes spans as an OTLP/HTTP JSON `ExportTraceServiceRequest` (ids in hex, as the OTLP JSON
 * mapping specifies), one resource per service.
 */
export function toOtlpJson(spans: readonly SpanData[], scope = { name: 'labcoat', version: '0.1.0' }): object {
  const byService = new Map<string, SpanData[]>();
  for (const s of spans) {
    let list = byService.get(s.service);
    if (!list) byService.set(s.service, (list = []));
    list.push(s);
  }
  return {
    resourceSpans: [...byService].map(([service, list]) => ({
      resource: { attributes: toAttributes({ 'service.name': service }) },
      scopeSpans: [
        {
          scope,
          spans: list.map((s) => ({
            traceId: s.traceId,
            spanId: s.spanId,
            ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
            name: s.name,
            kind: KIND_TO_OTLP[s.kind],
            startTimeUnixNano: msToNanos(s.startMs),
            endTimeUnixNano: msToNanos(s.endMs),
            attributes: toAttributes(s.attributes),
            ...(s.events && s.events.length > 0
              ? { events: s.events.map((e) => ({ name: e.name, timeUnixNano: msToNanos(e.timeMs), attributes: toAttributes(e.attributes ?? {}) })) }
              : {}),
            status: { code: STATUS_TO_OTLP[s.status.code], ...(s.status.message ? { message: s.status.message } : {}) },
          })),
        },
      ],
    })),
  };
}

function fromAnyValue(v: OtlpAnyValue | undefined): AttributeValue | undefined {
  if (!v || typeof v !== 'object') return undefined;
  if (typeof v.stringValue === 'string') return v.stringValue;
  if (typeof v.boolValue === 'boolean') return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (typeof v.doubleValue === 'number') return v.doubleValue;
  if (v.arrayValue && Array.isArray(v.arrayValue.values)) return v.arrayValue.values.map((x) => String(fromAnyValue(x) ?? ''));
  return undefined;
}

function fromAttributes(list: unknown): Attributes {
  const out: Attributes = {};
  if (!Array.isArray(list)) return out;
  for (const kv of list as OtlpKeyValue[]) {
    if (!kv || typeof kv.key !== 'string') continue;
    const v = fromAnyValue(kv.value);
    if (v !== undefined) out[kv.key] = v;
  }
  return out;
}

const HEX32 = /^[0-9a-f]{32}$/i;
const HEX16 = /^[0-9a-f]{16}$/i;

/**
 * Decodes an OTLP/HTTP JSON `ExportTraceServiceRequest`. Throws LabcoatInputError
 * with the path of the first bad span, so a collector can answer 400 with the reason.
 */
export function fromOtlpJson(body: unknown): SpanData[] {
  const fail = (where: string, what: string): never => {
    throw new LabcoatInputError(where, what);
  };
  if (typeof body !== 'object' || body === null) fail('body', 'expected an ExportTraceServiceRequest object');
  const resourceSpans = (body as { resourceSpans?: unknown }).resourceSpans;
  if (!Array.isArray(resourceSpans)) fail('resourceSpans', 'expected an array');
  const out: SpanData[] = [];
  (resourceSpans as unknown[]).forEach((rs, i) => {
    const r = rs as { resource?: { attributes?: unknown }; scopeSpans?: unknown };
    const service = String(fromAttributes(r?.resource?.attributes)['service.name'] ?? 'unknown_service');
    if (!Array.isArray(r?.scopeSpans)) fail(`resourceSpans[${i}].scopeSpans`, 'expected an array');
    (r.scopeSpans as unknown[]).forEach((ss, j) => {
      const spans = (ss as { spans?: unknown })?.spans;
      if (spans === undefined) return;
      if (!Array.isArray(spans)) fail(`resourceSpans[${i}].scopeSpans[${j}].spans`, 'expected an array');
      (spans as Record<string, unknown>[]).forEach((s, k) => {
        const where = `resourceSpans[${i}].scopeSpans[${j}].spans[${k}]`;
        if (typeof s !== 'object' || s === null) fail(where, 'expected a span object');
        const traceId = s['traceId'];
        const spanId = s['spanId'];
        if (typeof traceId !== 'string' || !HEX32.test(traceId)) fail(`${where}.traceId`, 'expected 32 hex characters');
        if (typeof spanId !== 'string' || !HEX16.test(spanId)) fail(`${where}.spanId`, 'expected 16 hex characters');
        const parent = s['parentSpanId'];
        if (parent !== undefined && parent !== '' && (typeof parent !== 'string' || !HEX16.test(parent))) {
          fail(`${where}.parentSpanId`, 'expected 16 hex characters or nothing');
        }
        const startMs = nanosToMs(s['startTimeUnixNano']);
        const endMs = nanosToMs(s['endTimeUnixNano']);
        if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) fail(where, 'startTimeUnixNano/endTimeUnixNano must be decimal nanoseconds');
        const status = (s['status'] ?? {}) as { code?: number | string; message?: string };
        const code = status.code === 2 || status.code === 'STATUS_CODE_ERROR' ? 'error' : status.code === 1 || status.code === 'STATUS_CODE_OK' ? 'ok' : 'unset';
        const kindNum = typeof s['kind'] === 'number' ? s['kind'] : 1;
        const events = Array.isArray(s['events'])
          ? (s['events'] as Record<string, unknown>[]).map((e) => ({
              name: String(e?.['name'] ?? ''),
              timeMs: nanosToMs(e?.['timeUnixNano']),
              attributes: fromAttributes(e?.['attributes']),
            }))
          : undefined;
        out.push({
          traceId: (traceId as string).toLowerCase(),
          spanId: (spanId as string).toLowerCase(),
          ...(typeof parent === 'string' && parent !== '' ? { parentSpanId: parent.toLowerCase() } : {}),
          name: String(s['name'] ?? ''),
          kind: OTLP_TO_KIND[kindNum] ?? 'internal',
          service,
          startMs,
          endMs,
          status: { code, ...(typeof status.message === 'string' && status.message ? { message: status.message } : {}) },
          attributes: fromAttributes(s['attributes']),
          ...(events ? { events } : {}),
        });
      });
    });
  });
  return out;
}

/** A span with its children, for reading a trace as a tree. */
export interface SpanNode {
  readonly span: SpanData;
  readonly children: SpanNode[];
}

/**
 * Assembles one trace's spans into trees. Normally one root; spans whose parent never arrived
 * become extra roots, which is how a hop that dropped context shows up.
 */
export function buildTraceTree(spans: readonly SpanData[]): SpanNode[] {
  const nodes = new Map<string, SpanNode>();
  for (const s of spans) nodes.set(s.spanId, { span: s, children: [] });
  const roots: SpanNode[] = [];
  const parentOf = new Map<SpanNode, SpanNode>();
  for (const node of nodes.values()) {
    const parent = node.span.parentSpanId ? nodes.get(node.span.parentSpanId) : undefined;
    if (parent) {
      parent.children.push(node);
      parentOf.set(node, parent);
    } else roots.push(node);
  }
  // Parent links that loop (a span naming itself or one of its descendants as parent) would leave
  // those spans unreachable from every root, and the tree cyclic: break each loop at one span,
  // which becomes a root like an orphan does.
  const reached = new Set<SpanNode>();
  const reach = (from: SpanNode) => {
    const stack = [from];
    for (let n = stack.pop(); n; n = stack.pop()) {
      if (reached.has(n)) continue;
      reached.add(n);
      for (const c of n.children) stack.push(c);
    }
  };
  roots.forEach(reach);
  for (const node of nodes.values()) {
    if (reached.has(node)) continue;
    const path = new Set<SpanNode>();
    let onLoop = node;
    while (!path.has(onLoop)) {
      path.add(onLoop);
      onLoop = parentOf.get(onLoop)!;
    }
    const parent = parentOf.get(onLoop)!;
    parent.children.splice(parent.children.indexOf(onLoop), 1);
    roots.push(onLoop);
    reach(onLoop);
  }
  const byStart = (a: SpanNode, b: SpanNode) => a.span.startMs - b.span.startMs;
  for (const node of nodes.values()) node.children.sort(byStart);
  return roots.sort(byStart);
}
