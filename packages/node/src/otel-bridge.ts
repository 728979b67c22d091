import { createRequire } from 'node:module';
import { isValidSpanId, isValidTraceId, type SpanContext } from '@labcoat/core';

interface OtelApi {
  trace: { getActiveSpan(): { spanContext(): { traceId: string; spanId: string; traceFlags: number } } | undefined };
}

let api: OtelApi | null | undefined;

/**
 * When `@opentelemetry/api` is loaded in the process and an OpenTelemetry span is active, labcoat
 * continues that trace instead of starting its own: its spans become children of the active
 * OpenTelemetry span. labcoat's own request context, when there is one, wins, because it carries
 * the fault plan.
 */
export function activeOtelSpanContext(): SpanContext | undefined {
  if (api === undefined) {
    try {
      api = createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
    } catch {
      api = null;
    }
  }
  if (!api) return undefined;
  try {
    const sc = api.trace.getActiveSpan()?.spanContext();
    if (!sc || !isValidTraceId(sc.traceId) || !isValidSpanId(sc.spanId)) return undefined;
    return { traceId: sc.traceId, spanId: sc.spanId, flags: sc.traceFlags };
  } catch {
    return undefined;
  }
}
