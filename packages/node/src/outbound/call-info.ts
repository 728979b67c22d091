import type { PointDescriptor } from '@labcoat/core';
import type { Labcoat } from '../labcoat.js';
import type { OutboundHeaders } from '../propagation.js';
import { ASK_HEADER } from '../targets.js';

/** Builds the injection point of an HTTP call from its parts (shared by every HTTP transport). */
export function httpPoint(sdk: Labcoat, hostname: string, port: string | number, method: string, path: string): PointDescriptor {
  const target = sdk.targets.resolve(hostname, port);
  return { caller: sdk.service, target, method: method.toUpperCase(), route: sdk.routeOf(target, path) };
}

/** Span name for an HTTP client call: `GET profiles /profiles/:id`. */
export function httpSpanName(p: PointDescriptor): string {
  return `${p.method} ${p.target} ${p.route}`;
}

const OWN = new Set(['traceparent', 'tracestate', 'baggage', ASK_HEADER]);

/** Adds the ask for the callee's name to a call's headers when the resolver has none for it yet. */
export function askForName(sdk: Labcoat, hostname: string, port: string | number, headers: OutboundHeaders): OutboundHeaders {
  if (sdk.targets.shouldAsk(hostname, port)) headers[ASK_HEADER] = 'service';
  return headers;
}
type HeaderValue = string | number | readonly string[] | undefined;

/** Whether a header name is one labcoat sets (checked by length first: most headers are not). */
function isOwn(name: string): boolean {
  const n = name.length;
  return (n === 7 || n === 10 || n === 11) && (OWN.has(name) || OWN.has(name.toLowerCase()));
}

/** Puts labcoat's headers on `out` (an object of header names). */
function addOwn(out: Record<string, HeaderValue>, add: OutboundHeaders): Record<string, HeaderValue> {
  out['traceparent'] = add.traceparent;
  if (add.tracestate !== undefined) out['tracestate'] = add.tracestate;
  if (add.baggage !== undefined) out['baggage'] = add.baggage;
  const ask = add[ASK_HEADER];
  if (ask !== undefined) out[ASK_HEADER] = ask;
  return out;
}

/**
 * Returns the caller's headers with labcoat's trace headers in place of any it set itself. Accepts
 * every shape HTTP clients use: a flat `[name, value, …]` array, an iterable of pairs, or an object.
 * The caller's object is never modified.
 */
export function withTraceHeaders(headers: unknown, add: OutboundHeaders): string[] | Record<string, HeaderValue> {
  if (Array.isArray(headers)) {
    const out: string[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = String(headers[i]);
      if (!isOwn(name)) out.push(name, headers[i + 1] as string);
    }
    for (const [k, v] of Object.entries(add) as [string, string | undefined][]) if (v !== undefined) out.push(k, v);
    return out;
  }
  const out: Record<string, HeaderValue> = {};
  if (headers === null || headers === undefined || typeof headers !== 'object') return addOwn(out, add);
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [k, v] of headers as Iterable<[string, HeaderValue]>) if (v !== undefined && !isOwn(k)) out[k] = v;
  } else {
    const h = headers as Record<string, HeaderValue>;
    for (const k in h) {
      if (!Object.hasOwn(h, k)) continue;
      const v = h[k];
      if (v !== undefined && !isOwn(k)) out[k] = v;
    }
  }
  return addOwn(out, add);
}
