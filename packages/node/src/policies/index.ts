/**
 * `@labcoat/node/policies`: resilience policies (circuit breaker, retry, timeout, fallback,
 * bulkhead, hedging, rate limit, coalescing), composable with {@link wrap}, with their metrics
 * (Prometheus, Hystrix stream). Every public module of this folder is re-exported here.
 *
 * @example
 * ```ts
 * import { circuitBreaker, retry, timeout, wrap } from '@labcoat/node/policies';
 * const resilient = wrap(retry({ maxAttempts: 3 }), circuitBreaker(), timeout(500));
 * const res = await resilient.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export * from './policy.js';
export * from './stats.js';
export * from './events.js';
export * from './errors.js';
export * from './handle.js';
export * from './wrap.js';
export * from './timeout.js';
export * from './backoff.js';
export * from './retry-budget.js';
export * from './retry.js';
export * from './fallback.js';
export * from './circuit-breaker.js';
export * from './breaker/index.js';
export * from './bulkhead.js';
export * from './hedging.js';
export * from './rate-limit.js';
export * from './coalesce.js';
export * from './registry.js';
export * from './prometheus.js';
export * from './hystrix-stream.js';
