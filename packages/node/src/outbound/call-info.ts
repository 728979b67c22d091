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

/**
 * Returns the caller's headers with labcoat's trace headers in place of any it set itself. Accepts
 * every shape HTTP clients use: a flat `[name, value, …]` array, an iterable of pairs, or an object.
 * The caller's object is never modified.
 */
export function withTraceHeaders(headers: unknown, add: OutboundHeaders): string[] | Record<string, HeaderValue> {
  const ours = Object.entries(add) as [string, string][];
  if (Array.isArray(headers)) {
    const out: string[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (!OWN.has(String(headers[i]).toLowerCase())) out.push(String(headers[i]), headers[i + 1] as string);
    }
    for (const [k, v] of ours) out.push(k, v);
    return out;
  }
  const out: Record<string, HeaderValue> = {};
  const pairs =
    headers && typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function'
      ? (headers as Iterable<[string, HeaderValue]>)
      : Object.entries((headers ?? {}) as Record<string, HeaderValue>);
  for (const [k, v] of pairs) if (v !== undefined && !OWN.has(k.toLowerCase())) out[k] = v;
  for (const [k, v] of ours) out[k] = v;
  return out;
}
