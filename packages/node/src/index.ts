/**
 * @labcoat/node — labcoat's in-process data plane: request context (AsyncLocalStorage), W3C
 * propagation, signed fault plans, injection points on fetch/undici, node:http(s) and generic
 * calls, server adapters, and span export.
 *
 * @example
 * ```ts
 * import { init } from '@labcoat/node';
 * init({ service: 'edge' }); // patches fetch and node:http, reads LABCOAT_KEY, LABCOAT_SERVICES
 * ```
 */
import { setLabcoat } from './global.js';
import { Labcoat, type LabcoatOptions } from './labcoat.js';
import { installHttpInterceptor } from './outbound/http.js';
import { installFetchInterceptor } from './outbound/undici.js';

export { Labcoat, type LabcoatOptions, type ClientCall, type ServerRequest } from './labcoat.js';
export { getLabcoat, setLabcoat } from './global.js';
export { RequestContext, currentContext, runWithContext } from './context.js';
export { hmacMac } from './mac.js';
export { extract, inject, outboundHeaders, nodeHeadersGetter, envGetter, type CarrierGetter, type CarrierSetter, type ExtractedContext, type OutboundHeaders } from './propagation.js';
export { TargetResolver, SERVICE_HEADER, ASK_HEADER } from './targets.js';
export { LiveSpan } from './spans.js';
export { newStats, totalInjections, type LabcoatStats, type AttackStats } from './stats.js';
export { AttackClient, ATTACK_BAGGAGE_KEY, encodeMark, decodeMark, type AttackOptions, type AttackState, type ActiveAttack, type AttackMark } from './attacks/index.js';
export type { SpanExporter } from './exporters/exporter.js';
export { InMemoryExporter } from './exporters/memory.js';
export { OtlpHttpExporter, type OtlpHttpExporterOptions } from './exporters/otlp-http.js';
export { labcoatInterceptor, installFetchInterceptor } from './outbound/undici.js';
export { installHttpInterceptor } from './outbound/http.js';
export { point, InjectedStatusError, type PointOptions } from './outbound/point.js';
export { networkError } from './outbound/fault-errors.js';
export { wrapRequestListener, instrumentServer } from './inbound/http.js';

export interface InitOptions extends LabcoatOptions {
  /** Route global fetch through labcoat (default true). */
  fetch?: boolean;
  /** Patch node:http/https clients (default true). */
  http?: boolean;
}

/** A started SDK with a way to undo what `init` installed. */
export interface Initialized extends Labcoat {
  /** Restores fetch and node:http, stops the attack feed, flushes spans, and clears the global instance. */
  close(): Promise<void>;
}

/**
 * Creates the process-wide SDK and installs the outbound interceptors (global fetch via undici,
 * node:http/https). Inbound, add the adapter for your server: {@link wrapRequestListener},
 * `@labcoat/node/fastify` or `@labcoat/node/hono`.
 */
export function init(options: InitOptions = {}): Initialized {
  const sdk = new Labcoat(options);
  setLabcoat(sdk);
  const undo: (() => void)[] = [];
  if (options.fetch !== false) undo.push(installFetchInterceptor());
  if (options.http !== false) undo.push(installHttpInterceptor());
  return Object.assign(sdk, {
    async close(): Promise<void> {
      for (const u of undo.reverse()) u();
      setLabcoat(undefined);
      await sdk.shutdown();
    },
  });
}
// For transports outside this package (the sidecar proxy in `labcoat`): W3C ids from the pooled generator.
export { newTraceId, newSpanId } from './ids.js';
// Resilience policies are also at `@labcoat/node/policies`.
export * from './policies/index.js';
