import {
  Baggage,
  formatTraceparent,
  normalizeTracestate,
  parseTraceparent,
  PLAN_BAGGAGE_KEY,
  type SpanContext,
} from '@labcoat/core';

/** Reads a header from any carrier (IncomingHttpHeaders, Fetch Headers, env…), as OpenTelemetry's TextMapGetter does. */
export interface CarrierGetter<C> {
  get(carrier: C, key: string): string | readonly string[] | undefined | null;
}

/** Writes a header into any carrier. */
export interface CarrierSetter<C> {
  set(carrier: C, key: string, value: string): void;
}

/** Getter for Node's IncomingHttpHeaders (lower-case keys). */
export const nodeHeadersGetter: CarrierGetter<Record<string, string | string[] | undefined>> = {
  get: (carrier, key) => carrier[key],
};

/** Getter for environment variables (`TRACEPARENT`, `TRACESTATE`, `BAGGAGE`) as command workloads receive them. */
export const envGetter: CarrierGetter<Record<string, string | undefined>> = {
  get: (carrier, key) => carrier[key.toUpperCase()],
};

/** What arrives with a request. */
export interface ExtractedContext {
  readonly parent: SpanContext | undefined;
  readonly tracestate: string | undefined;
  readonly baggage: Baggage;
  /** The raw plan token, not yet verified. */
  readonly planToken: string | undefined;
}

function first(v: string | readonly string[] | undefined | null): string | undefined {
  if (v == null) return undefined;
  return typeof v === 'string' ? v : v[0];
}

/** Extracts trace context and baggage. Never throws: anything invalid is simply absent. */
export function extract<C>(getter: CarrierGetter<C>, carrier: C): ExtractedContext {
  let parent: SpanContext | undefined;
  let tracestate: string | undefined;
  let baggage = Baggage.EMPTY;
  try {
    parent = parseTraceparent(first(getter.get(carrier, 'traceparent')));
    // tracestate without a valid traceparent is meaningless (spec §3.3.1).
    tracestate = parent ? normalizeTracestate(joinAll(getter.get(carrier, 'tracestate'))) : undefined;
    const raw = getter.get(carrier, 'baggage');
    baggage = Baggage.parse(raw == null ? undefined : typeof raw === 'string' ? raw : [...raw]);
  } catch {
    // A carrier whose getter throws counts as carrying nothing.
  }
  return { parent, tracestate, baggage, planToken: baggage.getRaw(PLAN_BAGGAGE_KEY) };
}

function joinAll(v: string | readonly string[] | undefined | null): string | undefined {
  if (v == null) return undefined;
  return typeof v === 'string' ? v : v.join(',');
}

/** The headers an outbound call carries. */
export interface OutboundHeaders {
  traceparent: string;
  tracestate?: string;
  baggage?: string;
  /** `service` when an HTTP transport asks the callee to announce its name (see `targets.ts`). */
  'labcoat-ask'?: string;
}

export function outboundHeaders(traceId: string, spanId: string, flags: number, tracestate: string | undefined, baggage: Baggage): OutboundHeaders {
  const out: OutboundHeaders = { traceparent: formatTraceparent({ traceId, spanId, flags }) };
  if (tracestate) out.tracestate = tracestate;
  const b = baggage.toString();
  if (b !== '') out.baggage = b;
  return out;
}

/** Writes outbound headers through a setter. */
export function inject<C>(setter: CarrierSetter<C>, carrier: C, headers: OutboundHeaders): void {
  setter.set(carrier, 'traceparent', headers.traceparent);
  if (headers.tracestate) setter.set(carrier, 'tracestate', headers.tracestate);
  if (headers.baggage) setter.set(carrier, 'baggage', headers.baggage);
}
