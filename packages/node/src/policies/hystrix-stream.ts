import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Policy } from './policy.js';
import { circuitStateOf, policiesOf, type PolicySource } from './registry.js';
import type { StatsSnapshot } from './stats.js';
import { checkDuration, checkFunction, checkInteger } from './validate.js';

/**
 * A live metrics stream in the format of Netflix Hystrix's `hystrix.stream`
 * (`HystrixMetricsStreamServlet`), so a Hystrix dashboard or Turbine can watch labcoat policies:
 * Server-Sent Events, one `data: {…}` message per policy per interval.
 *
 * Each policy is shown as a `HystrixCommand`; a bulkhead is also shown as a `HystrixThreadPool` (the
 * dashboard's thread-pool panel). Counts come from the policy's rolling window (`stats.snapshot()`,
 * 10 s by default, like Hystrix's), mapped as follows:
 *
 * | Hystrix field | from |
 * |---|---|
 * | rollingCountSuccess | success |
 * | rollingCountFailure | failure + fallbackSuccess + fallbackFailure (a fallback ran because the call failed; Hystrix counts that failure too) |
 * | rollingCountTimeout | timeout |
 * | rollingCountShortCircuited | shortCircuited |
 * | rollingCountSemaphoreRejected | rejected (bulkhead full, rate limited) |
 * | rollingCountFallbackSuccess / FallbackFailure | fallbackSuccess / fallbackFailure |
 * | rollingCountExceptionsThrown | executions that ended in an error for the caller: failure + timeout + shortCircuited + rejected + fallbackFailure + cancelled |
 * | errorCount | rollingCountFailure + timeout + rejected (Hystrix's health counts: short circuits excluded) |
 * | requestCount | success + errorCount |
 * | errorPercentage | ⌊errorCount / requestCount × 100⌋ (0 when no request) |
 * | isCircuitBreakerOpen | the breaker's `state` is open, half-open (Hystrix reports it as open), isolated or forced-open; false without a breaker |
 * | latencyExecute, latencyTotal (+ `_mean`) | rolling latency percentiles 0…100 in whole ms (both the same: labcoat times one span per execution) |
 * | currentConcurrentExecutionCount, rollingMaxConcurrentExecutionCount | a bulkhead's `active` (0 otherwise; no rolling max is kept) |
 * | propertyValue_* | the policy's options where labcoat has an equivalent (see {@link hystrixSnapshot}), else 0/false |
 * | rollingCountBadRequests, CollapsedRequests, Emit, FallbackEmit, FallbackMissing, FallbackRejection, ResponsesFromCache, ThreadPoolRejected | 0 |
 *
 * Every number is a whole number (as Hystrix's are), so Turbine can sum them.
 */

/** Latency percentiles in whole ms, keyed as Hystrix keys them. */
export interface HystrixPercentiles {
  '0': number;
  '25': number;
  '50': number;
  '75': number;
  '90': number;
  '95': number;
  '99': number;
  '99.5': number;
  '100': number;
}

/** One `HystrixCommand` message of the stream. */
export interface HystrixCommandData {
  type: 'HystrixCommand';
  name: string;
  group: string;
  currentTime: number;
  isCircuitBreakerOpen: boolean;
  errorPercentage: number;
  errorCount: number;
  requestCount: number;
  rollingCountBadRequests: number;
  rollingCountCollapsedRequests: number;
  rollingCountEmit: number;
  rollingCountExceptionsThrown: number;
  rollingCountFailure: number;
  rollingCountFallbackEmit: number;
  rollingCountFallbackFailure: number;
  rollingCountFallbackMissing: number;
  rollingCountFallbackRejection: number;
  rollingCountFallbackSuccess: number;
  rollingCountResponsesFromCache: number;
  rollingCountSemaphoreRejected: number;
  rollingCountShortCircuited: number;
  rollingCountSuccess: number;
  rollingCountThreadPoolRejected: number;
  rollingCountTimeout: number;
  currentConcurrentExecutionCount: number;
  rollingMaxConcurrentExecutionCount: number;
  latencyExecute_mean: number;
  latencyExecute: HystrixPercentiles;
  latencyTotal_mean: number;
  latencyTotal: HystrixPercentiles;
  propertyValue_circuitBreakerRequestVolumeThreshold: number;
  propertyValue_circuitBreakerSleepWindowInMilliseconds: number;
  propertyValue_circuitBreakerErrorThresholdPercentage: number;
  propertyValue_circuitBreakerForceOpen: boolean;
  propertyValue_circuitBreakerForceClosed: boolean;
  propertyValue_circuitBreakerEnabled: boolean;
  propertyValue_executionIsolationStrategy: 'SEMAPHORE' | 'THREAD';
  propertyValue_executionIsolationThreadTimeoutInMilliseconds: number;
  propertyValue_executionTimeoutInMilliseconds: number;
  propertyValue_executionIsolationThreadInterruptOnTimeout: boolean;
  propertyValue_executionIsolationThreadPoolKeyOverride: string | null;
  propertyValue_executionIsolationSemaphoreMaxConcurrentRequests: number;
  propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests: number;
  propertyValue_metricsRollingStatisticalWindowInMilliseconds: number;
  propertyValue_requestCacheEnabled: boolean;
  propertyValue_requestLogEnabled: boolean;
  reportingHosts: number;
  threadPool: string;
}

/** One `HystrixThreadPool` message of the stream (sent for bulkheads). */
export interface HystrixThreadPoolData {
  type: 'HystrixThreadPool';
  name: string;
  currentTime: number;
  currentActiveCount: number;
  currentCompletedTaskCount: number;
  currentCorePoolSize: number;
  currentLargestPoolSize: number;
  currentMaximumPoolSize: number;
  currentPoolSize: number;
  currentQueueSize: number;
  currentTaskCount: number;
  rollingCountThreadsExecuted: number;
  rollingMaxActiveThreads: number;
  rollingCountCommandRejections: number;
  propertyValue_queueSizeRejectionThreshold: number;
  propertyValue_metricsRollingStatisticalWindowInMilliseconds: number;
  reportingHosts: number;
}

/** Options of {@link hystrixSnapshot}. */
export interface HystrixSnapshotOptions {
  /** The command group (default: the policy's kind). */
  group?: string | ((policy: Policy) => string);
  /** Fields to set or override per policy, e.g. breaker properties labcoat cannot read. */
  properties?: (policy: Policy) => Partial<HystrixCommandData> | undefined;
}

const INT_MAX = 2_147_483_647;

/** A whole number JSON can carry (Infinity → Java's Integer.MAX_VALUE, NaN → 0). */
function int(n: number): number {
  if (Number.isNaN(n)) return 0;
  if (n >= INT_MAX) return INT_MAX;
  return Math.round(n);
}

/** A numeric property of a duck-typed policy, or undefined. */
function num(p: object | undefined, ...keys: string[]): number | undefined {
  if (p === undefined) return undefined;
  for (const k of keys) {
    const v: unknown = (p as Record<string, unknown>)[k];
    if (typeof v === 'number') return v;
  }
  return undefined;
}

/** The breaker strategy of a circuit breaker (its `breaker` property), or undefined. */
function strategyOf(breaker: Policy | undefined): object | undefined {
  const s: unknown = breaker === undefined ? undefined : (breaker as unknown as { breaker?: unknown }).breaker;
  return s !== null && typeof s === 'object' ? s : undefined;
}

/** The policy itself when it is of `kind`, else the first policy of `kind` inside a pipeline. */
function find(policy: Policy, kind: Policy['kind']): Policy | undefined {
  if (policy.kind === kind) return policy;
  const inner: unknown = (policy as unknown as { policies?: unknown }).policies;
  if (!Array.isArray(inner)) return undefined;
  for (const p of inner as Policy[]) {
    const found = p !== null && typeof p === 'object' ? find(p, kind) : undefined;
    if (found !== undefined) return found;
  }
  return undefined;
}

const PCTS = [0, 25, 50, 75, 90, 95, 99, 99.5, 100] as const;

function percentiles(s: StatsSnapshot): HystrixPercentiles {
  const p = s.latencyMs.percentile;
  const out = {} as Record<string, number>;
  for (const q of PCTS) out[String(q)] = int(p(q));
  return out as unknown as HystrixPercentiles;
}

/**
 * The `HystrixCommand` message for one policy at `now` (epoch ms). For a pipeline (`wrap(…)`),
 * counts and latencies are the pipeline's own; breaker state, timeout and concurrency come from the
 * first breaker, timeout and bulkhead inside it.
 *
 * `propertyValue_*` come from:
 * - the breaker: `state` (`isolated`/`forced-open` → ForceOpen; `disabled`, or `mode: 'metrics-only'`
 *   → ForceClosed; no breaker → Enabled false); its strategy (`breaker.breaker`): `minimumCalls`,
 *   or a ConsecutiveBreaker's `threshold` → RequestVolumeThreshold; `failureRateThreshold` × 100, or
 *   100 for a ConsecutiveBreaker → ErrorThresholdPercentage; `halfOpenAfterMs` when the breaker
 *   exposes it → SleepWindowInMilliseconds (else 0: set it with `options.properties`);
 * - a timeout's `timeoutMs` → ExecutionTimeoutInMilliseconds (and InterruptOnTimeout true);
 * - a bulkhead's `maxConcurrent` → ExecutionIsolationSemaphoreMaxConcurrentRequests;
 * - `stats.windowMs` → MetricsRollingStatisticalWindowInMilliseconds.
 * `options.properties` sets or overrides any field.
 *
 * @example
 * const msg = hystrixSnapshot(breaker);
 * console.log(msg.errorPercentage, msg.isCircuitBreakerOpen, msg.latencyExecute['99']);
 */
export function hystrixSnapshot(policy: Policy, now: number = Date.now(), options: HystrixSnapshotOptions = {}): HystrixCommandData {
  const s = policy.stats.snapshot();
  const c = s.counts;
  const failure = c.failure + c.fallbackSuccess + c.fallbackFailure;
  const errorCount = failure + c.timeout + c.rejected;
  const requestCount = c.success + errorCount;
  const breaker = find(policy, 'circuit-breaker');
  const state = breaker === undefined ? undefined : circuitStateOf(breaker);
  const timeout = find(policy, 'timeout');
  const bulk = find(policy, 'bulkhead');
  const active = int(num(bulk, 'active') ?? 0);
  const timeoutMs = int(num(timeout, 'timeoutMs') ?? 0);
  const strategy = strategyOf(breaker);
  const rate = num(strategy, 'failureRateThreshold');
  const consecutive = strategy !== undefined && (strategy as { kind?: unknown }).kind === 'consecutive';
  const metricsOnly = breaker !== undefined && (breaker as { mode?: unknown }).mode === 'metrics-only';
  const latency = percentiles(s);
  const mean = int(s.latencyMs.mean);
  const group = options.group === undefined ? policy.kind : typeof options.group === 'string' ? options.group : options.group(policy);
  const data: HystrixCommandData = {
    type: 'HystrixCommand',
    name: policy.name,
    group,
    currentTime: Math.round(now),
    isCircuitBreakerOpen: state !== undefined && state !== 'closed' && state !== 'disabled',
    errorPercentage: requestCount === 0 ? 0 : Math.floor((errorCount / requestCount) * 100),
    errorCount: int(errorCount),
    requestCount: int(requestCount),
    rollingCountBadRequests: 0,
    rollingCountCollapsedRequests: 0,
    rollingCountEmit: 0,
    rollingCountExceptionsThrown: int(c.failure + c.timeout + c.shortCircuited + c.rejected + c.fallbackFailure + c.cancelled),
    rollingCountFailure: int(failure),
    rollingCountFallbackEmit: 0,
    rollingCountFallbackFailure: int(c.fallbackFailure),
    rollingCountFallbackMissing: 0,
    rollingCountFallbackRejection: 0,
    rollingCountFallbackSuccess: int(c.fallbackSuccess),
    rollingCountResponsesFromCache: 0,
    rollingCountSemaphoreRejected: int(c.rejected),
    rollingCountShortCircuited: int(c.shortCircuited),
    rollingCountSuccess: int(c.success),
    rollingCountThreadPoolRejected: 0,
    rollingCountTimeout: int(c.timeout),
    currentConcurrentExecutionCount: active,
    rollingMaxConcurrentExecutionCount: active,
    latencyExecute_mean: mean,
    latencyExecute: latency,
    latencyTotal_mean: mean,
    latencyTotal: { ...latency },
    propertyValue_circuitBreakerRequestVolumeThreshold: int(num(strategy, 'minimumCalls', 'threshold') ?? 0),
    propertyValue_circuitBreakerSleepWindowInMilliseconds: int(num(breaker, 'halfOpenAfterMs') ?? 0),
    propertyValue_circuitBreakerErrorThresholdPercentage: rate !== undefined ? int(rate * 100) : consecutive ? 100 : 0,
    propertyValue_circuitBreakerForceOpen: state === 'isolated' || state === 'forced-open',
    propertyValue_circuitBreakerForceClosed: state === 'disabled' || metricsOnly,
    propertyValue_circuitBreakerEnabled: breaker !== undefined && state !== 'disabled',
    propertyValue_executionIsolationStrategy: 'SEMAPHORE',
    propertyValue_executionIsolationThreadTimeoutInMilliseconds: timeoutMs,
    propertyValue_executionTimeoutInMilliseconds: timeoutMs,
    propertyValue_executionIsolationThreadInterruptOnTimeout: timeout !== undefined,
    propertyValue_executionIsolationThreadPoolKeyOverride: null,
    propertyValue_executionIsolationSemaphoreMaxConcurrentRequests: int(num(bulk, 'maxConcurrent') ?? 0),
    propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests: 0,
    propertyValue_metricsRollingStatisticalWindowInMilliseconds: int(s.windowMs),
    propertyValue_requestCacheEnabled: false,
    propertyValue_requestLogEnabled: false,
    reportingHosts: 1,
    threadPool: bulk?.name ?? policy.name,
  };
  const extra = options.properties?.(policy);
  return extra === undefined ? data : { ...data, ...extra };
}

/**
 * The `HystrixThreadPool` message for a bulkhead (undefined for other kinds): its slots as the
 * pool's threads and its queue as the pool's queue.
 *
 * @example
 * const msg = hystrixThreadPoolSnapshot(bulkhead({ maxConcurrent: 10 }));
 * console.log(msg?.currentActiveCount, msg?.currentQueueSize);
 */
export function hystrixThreadPoolSnapshot(policy: Policy, now: number = Date.now()): HystrixThreadPoolData | undefined {
  if (policy.kind !== 'bulkhead') return undefined;
  const s = policy.stats.snapshot();
  const c = s.counts;
  const totals = policy.stats.totals();
  const active = int(num(policy, 'active') ?? 0);
  const queued = int(num(policy, 'queued') ?? 0);
  const size = int(num(policy, 'maxConcurrent') ?? active);
  const completed = int(totals.success + totals.failure + totals.timeout + totals.fallbackSuccess + totals.fallbackFailure + totals.cancelled);
  return {
    type: 'HystrixThreadPool',
    name: policy.name,
    currentTime: Math.round(now),
    currentActiveCount: active,
    currentCompletedTaskCount: completed,
    currentCorePoolSize: size,
    currentLargestPoolSize: size,
    currentMaximumPoolSize: size,
    currentPoolSize: size,
    currentQueueSize: queued,
    currentTaskCount: int(completed + active + queued),
    rollingCountThreadsExecuted: int(c.success + c.failure + c.timeout + c.fallbackSuccess + c.fallbackFailure + c.cancelled),
    rollingMaxActiveThreads: active,
    rollingCountCommandRejections: int(c.rejected),
    propertyValue_queueSizeRejectionThreshold: int(num(policy, 'maxQueue') ?? 0),
    propertyValue_metricsRollingStatisticalWindowInMilliseconds: int(s.windowMs),
    reportingHosts: 1,
  };
}

/** Options of {@link hystrixStream}. */
export interface HystrixStreamOptions extends HystrixSnapshotOptions {
  /** The policies to stream: a `PolicyRegistry` (default: `defaultPolicyRegistry`) or a fixed array/Set, read at every interval. */
  policies?: PolicySource;
  /** Time between two rounds of messages, in ms (default 500, ≥ 10). */
  intervalMs?: number;
  /**
   * Honour the `?delay=<ms>` query parameter the Hystrix dashboard and Turbine send (clamped to
   * `minDelayMs`…60 000; default true).
   */
  allowDelayParam?: boolean;
  /** Smallest `?delay=` accepted (default 100 ms). */
  minDelayMs?: number;
  /** At most this many clients at once; more get a 503 (default 10). */
  maxClients?: number;
  /** A `: ping` comment is written at least this often, and on every interval with no message (default 10 000 ms). */
  pingIntervalMs?: number;
  /** Value of `access-control-allow-origin`, for dashboards that read the stream from the browser (default: not sent). */
  allowOrigin?: string;
}

/** A node:http / Express request handler that streams Hystrix metrics. */
export interface HystrixStreamHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** Clients streaming now. */
  readonly clients: number;
  /**
   * Ends every stream and refuses new ones (503). Call it before `server.close()`, which otherwise
   * waits for the open streams.
   */
  close(): void;
}

/**
 * A request handler that serves a Hystrix metrics stream (Server-Sent Events): point a Hystrix
 * dashboard or Turbine at it. Every `intervalMs` it writes one `data: {…}` message per policy (plus a
 * `HystrixThreadPool` message per bulkhead); the first round goes out as soon as a client connects.
 * Each client has its own timer, stopped when the client disconnects; a client that does not read
 * fast enough skips rounds rather than buffering them. Over `maxClients`, clients get a 503.
 *
 * @example
 * import http from 'node:http';
 * const breaker = circuitBreaker({ name: 'payments' });
 * defaultPolicyRegistry.add(breaker);
 * const stream = hystrixStream();
 * const server = http.createServer((req, res) => (req.url?.startsWith('/hystrix.stream') ? stream(req, res) : app(req, res)));
 * // Express: app.get('/hystrix.stream', stream);
 * // shutdown: stream.close(); server.close();
 */
export function hystrixStream(options: HystrixStreamOptions = {}): HystrixStreamHandler {
  const intervalMs = checkDuration('hystrixStream', 'intervalMs', options.intervalMs, 500, 10);
  const minDelayMs = checkDuration('hystrixStream', 'minDelayMs', options.minDelayMs, 100, 10);
  const maxClients = checkInteger('hystrixStream', 'maxClients', options.maxClients, 10, 1);
  const pingIntervalMs = checkDuration('hystrixStream', 'pingIntervalMs', options.pingIntervalMs, 10_000, 100);
  checkFunction('hystrixStream', 'properties', options.properties);
  const allowDelay = options.allowDelayParam ?? true;
  const source = options.policies;
  const snapshotOptions: HystrixSnapshotOptions = { group: options.group, properties: options.properties };
  const streams = new Set<() => void>();
  let closed = false;

  const frames = (now: number): string => {
    let out = '';
    for (const p of policiesOf(source)) {
      try {
        out += `data: ${JSON.stringify(hystrixSnapshot(p, now, snapshotOptions))}\n\n`;
        const pool = hystrixThreadPoolSnapshot(p, now);
        if (pool !== undefined) out += `data: ${JSON.stringify(pool)}\n\n`;
      } catch {
        // A policy whose stats cannot be read is left out of this round; the stream goes on.
      }
    }
    return out;
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (closed) return refuse(res, 503, 'the Hystrix stream has been shut down');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return refuse(res, 405, 'use GET');
    }
    if (streams.size >= maxClients) return refuse(res, 503, `MaxConcurrentConnections reached: ${maxClients}`);
    const headers: Record<string, string> = {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-store, max-age=0, must-revalidate',
      pragma: 'no-cache',
      'x-accel-buffering': 'no',
    };
    if (req.httpVersionMajor < 2) headers.connection = 'keep-alive';
    if (options.allowOrigin !== undefined) headers['access-control-allow-origin'] = options.allowOrigin;
    res.writeHead(200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const delay = allowDelay ? delayOf(req.url, intervalMs, minDelayMs) : intervalMs;
    let lastPing = Date.now();
    const tick = (): void => {
      if (res.writableNeedDrain || res.destroyed) return;
      const now = Date.now();
      let out = frames(now);
      if (out === '' || now - lastPing >= pingIntervalMs) {
        out += ': ping\n\n';
        lastPing = now;
      }
      res.write(out);
    };
    const timer = setInterval(tick, delay);
    const stop = (): void => {
      if (!streams.delete(stop)) return;
      clearInterval(timer);
      res.off('close', stop);
      res.off('error', stop);
      if (!res.writableEnded && !res.destroyed) res.end();
    };
    streams.add(stop);
    res.on('close', stop);
    res.on('error', stop);
    tick();
  };

  return Object.defineProperties(handler, {
    clients: { get: () => streams.size, enumerable: true },
    close: {
      value: (): void => {
        closed = true;
        for (const stop of [...streams]) stop();
      },
    },
  }) as HystrixStreamHandler;
}

function refuse(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache', ...(status === 503 ? { 'retry-after': '5' } : {}) });
  res.end(message + '\n');
}

/** The `?delay=` of a request URL, clamped, or the default interval. */
function delayOf(url: string | undefined, fallback: number, min: number): number {
  const q = url?.indexOf('?') ?? -1;
  if (q < 0) return fallback;
  const raw = new URLSearchParams(url!.slice(q + 1)).get('delay');
  if (raw === null || !/^\d+$/.test(raw)) return fallback;
  return Math.min(60_000, Math.max(min, Number(raw)));
}
