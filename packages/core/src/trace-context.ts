/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): `traceparent` and `tracestate`.
 * Pure functions; parsing never throws, it returns `undefined` for anything invalid so a bad
 * header can only ever cost the request its trace, never the request itself.
 */

/** The identity of one span as carried between processes. */
export interface SpanContext {
  /** 32 lowercase hex characters, not all zero. */
  readonly traceId: string;
  /** 16 lowercase hex characters, not all zero. */
  readonly spanId: string;
  /** Trace flags; bit 0 is "sampled". */
  readonly flags: number;
}

const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

/**
 * Parses a `traceparent` header. Future versions (not `00`, not `ff`) are accepted as the spec
 * asks: their first four fields are read and the rest ignored.
 *
 * @example parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')
 */
export function parseTraceparent(header: string | undefined | null): SpanContext | undefined {
  if (typeof header !== 'string' || header.length > 512) return undefined;
  // Hand-written rather than a regex: this runs on every request.
  let h = header;
  if (h.charCodeAt(0) <= 32 || h.charCodeAt(h.length - 1) <= 32) h = h.trim();
  if (h.length < 55 || h.charCodeAt(2) !== DASH || h.charCodeAt(35) !== DASH || h.charCodeAt(52) !== DASH) return undefined;
  if (!isLowerHex(h, 0, 2) || !isLowerHex(h, 3, 35) || !isLowerHex(h, 36, 52) || !isLowerHex(h, 53, 55)) return undefined;
  const version = h.slice(0, 2);
  if (version === 'ff') return undefined;
  if (h.length > 55 && (version === '00' || h.charCodeAt(55) !== DASH)) return undefined;
  const traceId = h.slice(3, 35);
  const spanId = h.slice(36, 52);
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, flags: parseInt(h.slice(53, 55), 16) };
}

const DASH = 45;

function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** Formats a version-00 `traceparent`. */
export function formatTraceparent(ctx: SpanContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${(ctx.flags & 0xff).toString(16).padStart(2, '0')}`;
}

const TRACESTATE_KEY = /^(?:[a-z][_0-9a-z\-*/]{0,255}|(?:[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13}))$/;
const TRACESTATE_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * Validates a `tracestate` header and returns it normalised (list members trimmed, empty ones
 * dropped, at most 32 members as the spec allows). Returns `undefined` when the header is absent
 * or invalid; the spec asks to discard an invalid tracestate whole rather than repair it.
 */
export function normalizeTracestate(header: string | undefined | null): string | undefined {
  if (typeof header !== 'string' || header.length === 0 || header.length > 8192) return undefined;
  const out: string[] = [];
  const seen = new Set<string>();
  for (const raw of header.split(',')) {
    const member = raw.trim();
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    const value = member.slice(eq + 1);
    if (!TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(value) || seen.has(key)) return undefined;
    seen.add(key);
    out.push(member);
  }
  if (out.length === 0 || out.length > 32) return undefined;
  return out.join(',');
}

/** True when a string is a valid, non-zero trace id. */
export function isValidTraceId(id: string): boolean {
  return /^[0-9a-f]{32}$/.test(id) && id !== ZERO_TRACE;
}

/** True when a string is a valid, non-zero span id. */
export function isValidSpanId(id: string): boolean {
  return /^[0-9a-f]{16}$/.test(id) && id !== ZERO_SPAN;
}
