/**
 * The Hystrix metrics stream: `hystrixSnapshot` against the fields the Hystrix dashboard checks,
 * and the request handler on a real node:http server on 127.0.0.1:0, read with http.get as Server-
 * Sent Events. Every test closes its clients and server and checks that no interval is left.
 */
import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import express from 'express';
import { ConsecutiveBreaker, CountBreaker } from '../../src/policies/breaker/index.js';
import { bulkhead } from '../../src/policies/bulkhead.js';
import { circuitBreaker } from '../../src/policies/circuit-breaker.js';
import { BrokenCircuitError, TimeoutError } from '../../src/policies/errors.js';
import { hystrixSnapshot, hystrixStream, hystrixThreadPoolSnapshot, type HystrixCommandData, type HystrixStreamHandler } from '../../src/policies/hystrix-stream.js';
import { BasePolicy, invoke, type CommonPolicyOptions, type PolicyContext, type PolicyFn } from '../../src/policies/policy.js';
import { PolicyRegistry } from '../../src/policies/registry.js';
import { Outcome } from '../../src/policies/stats.js';
import { wrap } from '../../src/policies/wrap.js';

class Clock {
  t = 1_000_000;
  readonly now = (): number => this.t;
}

/** A minimal circuit breaker: records outcomes into its stats and refuses calls unless `state` is closed. */
class TestBreaker extends BasePolicy {
  readonly kind = 'circuit-breaker' as const;
  state: string = 'closed';
  constructor(options: CommonPolicyOptions = {}) {
    super('circuit-breaker', options);
  }
  run<T>(fn: PolicyFn<T>, ctx: PolicyContext): Promise<T> {
    if (this.state !== 'closed') {
      this.stats.record(Outcome.shortCircuited);
      return Promise.reject(new BrokenCircuitError(this.name));
    }
    const start = this.now();
    return invoke(fn, ctx).then(
      (value) => {
        this.stats.record(Outcome.success, this.now() - start);
        return value;
      },
      (error: unknown) => {
        this.stats.record(error instanceof TimeoutError ? Outcome.timeout : Outcome.failure, this.now() - start);
        throw error;
      },
    );
  }
}

async function run(p: BasePolicy, clock: Clock, n: number, ms: number, end: 'ok' | 'fail' | 'timeout' = 'ok'): Promise<void> {
  for (let i = 0; i < n; i++) {
    await p
      .execute(() => {
        clock.t += ms;
        if (end === 'fail') throw new Error('boom');
        if (end === 'timeout') throw new TimeoutError(p.name, ms);
        return 'ok';
      })
      .catch(() => undefined);
  }
}

/** 3 successes (10 ms), 2 failures (40 ms), 1 timeout (100 ms), 2 short-circuited calls. */
async function busyBreaker(name = 'payments'): Promise<{ breaker: TestBreaker; clock: Clock }> {
  const clock = new Clock();
  const breaker = new TestBreaker({ name, now: clock.now });
  await run(breaker, clock, 3, 10);
  await run(breaker, clock, 2, 40, 'fail');
  await run(breaker, clock, 1, 100, 'timeout');
  breaker.state = 'open';
  await run(breaker, clock, 2, 0);
  breaker.state = 'closed';
  return { breaker, clock };
}

/** The keys hystrix-dashboard's hystrixCommand.js `validateData` requires (plus the template's). */
const DASHBOARD_KEYS = [
  'reportingHosts', 'type', 'name', 'group', 'isCircuitBreakerOpen', 'errorPercentage', 'errorCount', 'requestCount',
  'rollingCountCollapsedRequests', 'rollingCountExceptionsThrown', 'rollingCountFailure', 'rollingCountFallbackFailure',
  'rollingCountFallbackRejection', 'rollingCountFallbackSuccess', 'rollingCountResponsesFromCache', 'rollingCountSemaphoreRejected',
  'rollingCountShortCircuited', 'rollingCountSuccess', 'rollingCountThreadPoolRejected', 'rollingCountTimeout', 'rollingCountBadRequests',
  'currentConcurrentExecutionCount', 'latencyExecute_mean', 'latencyExecute', 'latencyTotal_mean', 'latencyTotal',
  'propertyValue_circuitBreakerRequestVolumeThreshold', 'propertyValue_circuitBreakerSleepWindowInMilliseconds',
  'propertyValue_circuitBreakerErrorThresholdPercentage', 'propertyValue_circuitBreakerForceOpen', 'propertyValue_circuitBreakerForceClosed',
  'propertyValue_executionIsolationStrategy', 'propertyValue_executionIsolationThreadTimeoutInMilliseconds',
  'propertyValue_executionIsolationThreadInterruptOnTimeout', 'propertyValue_executionIsolationSemaphoreMaxConcurrentRequests',
  'propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests', 'propertyValue_requestCacheEnabled', 'propertyValue_requestLogEnabled',
  'propertyValue_metricsRollingStatisticalWindowInMilliseconds',
];
/** hystrixThreadPool.js `validateData`. */
const THREAD_POOL_KEYS = [
  'type', 'name', 'currentActiveCount', 'currentCompletedTaskCount', 'currentCorePoolSize', 'currentLargestPoolSize', 'currentMaximumPoolSize',
  'currentPoolSize', 'currentQueueSize', 'currentTaskCount', 'rollingCountThreadsExecuted', 'rollingMaxActiveThreads', 'reportingHosts',
  'propertyValue_queueSizeRejectionThreshold', 'propertyValue_metricsRollingStatisticalWindowInMilliseconds',
];
const PERCENTILE_KEYS = ['0', '25', '50', '75', '90', '95', '99', '99.5', '100'];

function timeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

async function waitFor<T>(pick: () => T | undefined | false, what: string, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = pick();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function serve(t: TestContext, handler: HystrixStreamHandler): Promise<{ server: Server; url: string }> {
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    handler.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface SseClient {
  status: number;
  headers: IncomingHttpHeaders;
  /** Parsed `data:` messages, in order. */
  events: Record<string, unknown>[];
  /** Comment lines (`: ping`). */
  comments: string[];
  body: string;
  ended: boolean;
  close(): void;
}

/** Connects with http.get and parses the stream as it arrives. */
async function connect(url: string): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      const c: SseClient = { status: res.statusCode ?? 0, headers: res.headers, events: [], comments: [], body: '', ended: false, close: () => req.destroy() };
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        c.body += chunk;
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const message = buf.slice(0, i);
          buf = buf.slice(i + 2);
          for (const line of message.split('\n')) {
            if (line.startsWith('data: ')) c.events.push(JSON.parse(line.slice(6)) as Record<string, unknown>);
            else if (line.startsWith(':')) c.comments.push(line);
          }
        }
      });
      res.on('end', () => (c.ended = true));
      res.on('close', () => (c.ended = true));
      res.on('error', () => undefined);
      resolve(c);
    });
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
  });
}

describe('hystrixSnapshot', () => {
  test('maps the rolling stats to the HystrixCommand fields the dashboard reads', async () => {
    const { breaker } = await busyBreaker();
    const snap = breaker.stats.snapshot();
    const m = hystrixSnapshot(breaker, 1_700_000_000_123);
    for (const k of DASHBOARD_KEYS) assert.ok((m as unknown as Record<string, unknown>)[k] != null, `missing ${k}`);
    assert.equal(m.type, 'HystrixCommand');
    assert.equal(m.name, 'payments');
    assert.equal(m.group, 'circuit-breaker');
    assert.equal(m.currentTime, 1_700_000_000_123);
    assert.equal(m.isCircuitBreakerOpen, false);
    assert.equal(m.rollingCountSuccess, snap.counts.success);
    assert.equal(m.rollingCountSuccess, 3);
    assert.equal(m.rollingCountFailure, 2);
    assert.equal(m.rollingCountTimeout, 1);
    assert.equal(m.rollingCountShortCircuited, 2);
    assert.equal(m.rollingCountSemaphoreRejected, 0);
    assert.equal(m.rollingCountThreadPoolRejected, 0);
    assert.equal(m.rollingCountExceptionsThrown, 5);
    // Health counts exclude short circuits: 3 errors in 6 requests.
    assert.equal(m.requestCount, 6);
    assert.equal(m.errorCount, 3);
    assert.equal(m.errorPercentage, 50);
    assert.equal(m.errorPercentage, Math.floor(snap.errorRate * 100));
    // (JSON key order is not meaningful: JS lists integer-like keys such as "100" first.)
    assert.deepEqual(Object.keys(m.latencyExecute).sort(), [...PERCENTILE_KEYS].sort());
    assert.deepEqual(Object.keys(m.latencyTotal).sort(), [...PERCENTILE_KEYS].sort());
    for (const k of PERCENTILE_KEYS) assert.ok(Number.isInteger(m.latencyExecute[k as '50']), `latencyExecute[${k}]`);
    // Percentiles are histogram bucket bounds (within ~9%), rounded to whole ms.
    assert.ok(m.latencyExecute['0'] >= 10 && m.latencyExecute['0'] <= 11, `p0 ${m.latencyExecute['0']}`);
    assert.equal(m.latencyExecute['50'], m.latencyExecute['0']);
    assert.ok(m.latencyExecute['90'] >= 91 && m.latencyExecute['90'] <= 100, `p90 ${m.latencyExecute['90']}`);
    assert.equal(m.latencyExecute['100'], 100);
    assert.equal(m.latencyExecute_mean, 35); // (30 + 80 + 100) / 6
    assert.equal(m.propertyValue_metricsRollingStatisticalWindowInMilliseconds, 10_000);
    assert.equal(m.propertyValue_executionIsolationStrategy, 'SEMAPHORE');
    assert.equal(m.propertyValue_circuitBreakerEnabled, true);
    assert.equal(m.reportingHosts, 1);
    // Every number is whole (Turbine sums them as integers).
    for (const [k, v] of Object.entries(m)) if (typeof v === 'number') assert.ok(Number.isInteger(v), `${k} = ${v}`);

    breaker.state = 'half-open';
    assert.equal(hystrixSnapshot(breaker).isCircuitBreakerOpen, true);
    breaker.state = 'isolated';
    const iso = hystrixSnapshot(breaker);
    assert.equal(iso.isCircuitBreakerOpen, true);
    assert.equal(iso.propertyValue_circuitBreakerForceOpen, true);
    breaker.state = 'disabled';
    const off = hystrixSnapshot(breaker);
    assert.equal(off.isCircuitBreakerOpen, false);
    assert.equal(off.propertyValue_circuitBreakerForceClosed, true);
  });

  test('group and properties options; a pipeline reports its inner breaker, timeout and bulkhead', async () => {
    const breaker = new TestBreaker({ name: 'inner-breaker' });
    const pool = bulkhead({ name: 'pool', maxConcurrent: 4, maxQueue: 8 });
    const pipeline = wrap(pool, breaker);
    breaker.state = 'open';
    const m = hystrixSnapshot(pipeline, Date.now(), { group: 'payments-api', properties: (p) => ({ propertyValue_circuitBreakerSleepWindowInMilliseconds: p.name.length }) });
    assert.equal(m.name, 'pool+inner-breaker');
    assert.equal(m.group, 'payments-api');
    assert.equal(m.isCircuitBreakerOpen, true);
    assert.equal(m.propertyValue_executionIsolationSemaphoreMaxConcurrentRequests, 4);
    assert.equal(m.propertyValue_circuitBreakerSleepWindowInMilliseconds, 'pool+inner-breaker'.length);
    assert.equal(m.threadPool, 'pool');
    // An empty window: zeros, not NaN.
    assert.equal(m.errorPercentage, 0);
    assert.equal(m.latencyExecute['99'], 0);
    assert.equal(m.latencyExecute_mean, 0);
    const plain = hystrixSnapshot(new TestBreaker({ name: 'x' }), 0, { group: (p) => `g-${p.name}` });
    assert.equal(plain.group, 'g-x');
  });

  test('with the real circuitBreaker(): counts, open state and breaker properties', async () => {
    const breaker = circuitBreaker({ name: 'real', breaker: new ConsecutiveBreaker(2), halfOpenAfterMs: 60_000 });
    await breaker.execute(() => 'ok');
    for (let i = 0; i < 2; i++) await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => undefined);
    await breaker.execute(() => 'not called').catch(() => undefined);
    const m = hystrixSnapshot(breaker);
    assert.equal(m.isCircuitBreakerOpen, true);
    assert.equal(m.rollingCountSuccess, 1);
    assert.equal(m.rollingCountFailure, 2);
    assert.equal(m.rollingCountShortCircuited, 1);
    assert.equal(m.requestCount, 3);
    assert.equal(m.errorPercentage, 66);
    assert.equal(m.propertyValue_circuitBreakerEnabled, true);
    assert.equal(m.propertyValue_circuitBreakerRequestVolumeThreshold, 2);
    assert.equal(m.propertyValue_circuitBreakerErrorThresholdPercentage, 100);
    assert.equal(m.propertyValue_circuitBreakerForceOpen, false);
    breaker.forceOpen();
    assert.equal(hystrixSnapshot(breaker).propertyValue_circuitBreakerForceOpen, true);
    breaker.reset();
    assert.equal(hystrixSnapshot(breaker).isCircuitBreakerOpen, false);

    const rated = circuitBreaker({ name: 'rated', breaker: new CountBreaker({ size: 20, minimumCalls: 7, failureRateThreshold: 0.3 }), mode: 'metrics-only' });
    const r = hystrixSnapshot(rated);
    assert.equal(r.propertyValue_circuitBreakerRequestVolumeThreshold, 7);
    assert.equal(r.propertyValue_circuitBreakerErrorThresholdPercentage, 30);
    assert.equal(r.propertyValue_circuitBreakerForceClosed, true);
  });

  test('a bulkhead is also a HystrixThreadPool', async () => {
    const pool = bulkhead({ name: 'db', maxConcurrent: 1, maxQueue: 1 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const calls = [pool.execute(() => gate), pool.execute(() => gate)];
    const refused = pool.execute(() => gate).catch(() => undefined);
    const tp = hystrixThreadPoolSnapshot(pool, 5);
    assert.ok(tp);
    for (const k of THREAD_POOL_KEYS) assert.ok((tp as unknown as Record<string, unknown>)[k] != null, `missing ${k}`);
    assert.equal(tp.type, 'HystrixThreadPool');
    assert.equal(tp.currentActiveCount, 1);
    assert.equal(tp.currentQueueSize, 1);
    assert.equal(tp.currentMaximumPoolSize, 1);
    assert.equal(tp.rollingCountCommandRejections, 1);
    assert.equal(tp.propertyValue_queueSizeRejectionThreshold, 1);
    const cmd = hystrixSnapshot(pool);
    assert.equal(cmd.currentConcurrentExecutionCount, 1);
    assert.equal(cmd.rollingCountSemaphoreRejected, 1);
    assert.equal(cmd.errorCount, 1);
    release();
    await Promise.all([...calls, refused]);
    assert.equal(hystrixThreadPoolSnapshot(pool)?.rollingCountThreadsExecuted, 2);
    assert.equal(hystrixThreadPoolSnapshot(new TestBreaker()), undefined);
    // Infinity becomes Java's Integer.MAX_VALUE, never null.
    assert.equal(hystrixThreadPoolSnapshot(bulkhead({ maxConcurrent: 1, maxQueue: Infinity }))?.propertyValue_queueSizeRejectionThreshold, 2_147_483_647);
  });
});

describe('hystrixStream', () => {
  test('streams one HystrixCommand message per policy per interval over SSE, and stops its timer on disconnect', async (t) => {
    const { breaker, clock } = await busyBreaker();
    const handler = hystrixStream({ policies: [breaker], intervalMs: 40 });
    const { url } = await serve(t, handler);
    const before = timeouts();

    const c = await connect(`${url}/hystrix.stream`);
    assert.equal(c.status, 200);
    assert.match(c.headers['content-type'] ?? '', /^text\/event-stream/);
    assert.match(c.headers['cache-control'] ?? '', /no-cache/);
    assert.equal(c.headers.connection, 'keep-alive');
    await waitFor(() => c.events.length >= 2, 'two data events');
    assert.equal(handler.clients, 1);
    assert.equal(timeouts(), before + 1);

    for (const e of c.events.slice(0, 2)) {
      const m = e as unknown as HystrixCommandData;
      assert.equal(m.type, 'HystrixCommand');
      assert.equal(m.name, 'payments');
      assert.equal(m.requestCount, 6);
      assert.equal(m.errorCount, 3);
      assert.equal(m.errorPercentage, 50);
      assert.equal(m.isCircuitBreakerOpen, false);
      assert.equal(m.rollingCountShortCircuited, 2);
      assert.equal(m.reportingHosts, 1);
      assert.ok(Math.abs(m.currentTime - Date.now()) < 5000);
      for (const k of PERCENTILE_KEYS) {
        assert.equal(typeof m.latencyExecute[k as '50'], 'number');
        assert.equal(typeof m.latencyTotal[k as '50'], 'number');
      }
      assert.equal(m.latencyExecute['100'], 100);
      for (const k of DASHBOARD_KEYS) assert.ok(e[k] != null, `missing ${k}`);
    }

    // Later messages follow the stats.
    breaker.state = 'open';
    await run(breaker, clock, 1, 10, 'ok');
    const open = (await waitFor(() => c.events.find((e) => e.isCircuitBreakerOpen === true), 'an open-circuit message')) as unknown as HystrixCommandData;
    assert.equal(open.rollingCountShortCircuited, 3);

    c.close();
    await waitFor(() => handler.clients === 0, 'the server to see the disconnect');
    await waitFor(() => timeouts() === before, 'the stream interval to be cleared');
  });

  test('over maxClients a client gets a 503; a freed place is reusable', async (t) => {
    const handler = hystrixStream({ policies: [new TestBreaker()], intervalMs: 50, maxClients: 1 });
    const { url } = await serve(t, handler);
    const first = await connect(url);
    assert.equal(first.status, 200);
    const second = await connect(url);
    assert.equal(second.status, 503);
    await waitFor(() => second.ended, 'the 503 body');
    assert.match(second.body, /MaxConcurrentConnections reached: 1/);
    assert.equal(second.headers['retry-after'], '5');
    assert.equal(handler.clients, 1);
    first.close();
    await waitFor(() => handler.clients === 0, 'the first client to leave');
    const third = await connect(url);
    assert.equal(third.status, 200);
    await waitFor(() => third.events.length >= 1, 'a message');
    third.close();
    await waitFor(() => handler.clients === 0, 'the third client to leave');
  });

  test('pings when there is nothing to send; honours ?delay=; HystrixThreadPool messages for bulkheads', async (t) => {
    const policies = new PolicyRegistry();
    const handler = hystrixStream({ policies, intervalMs: 60_000 });
    const { url } = await serve(t, handler);
    const before = timeouts();
    const c = await connect(`${url}/hystrix.stream?delay=100`);
    await waitFor(() => c.comments.length >= 2, 'two pings (the first at once, the next after ?delay=100 ms)');
    assert.deepEqual(c.comments.slice(0, 2), [': ping', ': ping']);
    assert.equal(c.events.length, 0);

    const reg = policies.add(bulkhead({ name: 'db', maxConcurrent: 2 }));
    await waitFor(() => c.events.some((e) => e.type === 'HystrixThreadPool'), 'a thread pool message');
    const cmd = c.events.find((e) => e.type === 'HystrixCommand');
    assert.equal(cmd?.name, 'db');
    assert.equal(c.events.find((e) => e.type === 'HystrixThreadPool')?.currentMaximumPoolSize, 2);
    reg.dispose();

    c.close();
    await waitFor(() => handler.clients === 0 && timeouts() === before, 'the stream to stop');
  });

  test('close() ends every stream and refuses new ones; non-GET is refused', async (t) => {
    const handler = hystrixStream({ policies: [new TestBreaker()], intervalMs: 50 });
    const { url } = await serve(t, handler);
    const before = timeouts();
    const post = await new Promise<number>((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(post, 405);
    const a = await connect(url);
    const b = await connect(url);
    await waitFor(() => handler.clients === 2, 'two clients');
    handler.close();
    await waitFor(() => a.ended && b.ended, 'both streams to end');
    assert.equal(handler.clients, 0);
    assert.equal(timeouts(), before);
    const late = await connect(url);
    assert.equal(late.status, 503);
  });

  test('works as an Express route handler', async (t) => {
    const handler = hystrixStream({ policies: [new TestBreaker({ name: 'via-express' })], intervalMs: 30 });
    const app = express();
    app.get('/hystrix.stream', handler);
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    t.after(async () => {
      handler.close();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const c = await connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hystrix.stream`);
    assert.equal(c.status, 200);
    await waitFor(() => c.events.length >= 2, 'two messages');
    assert.equal(c.events[0]?.name, 'via-express');
    c.close();
    await waitFor(() => handler.clients === 0, 'the client to leave');
  });

  test('bad options throw', () => {
    assert.throws(() => hystrixStream({ intervalMs: -1 }), /option "intervalMs"/);
    assert.throws(() => hystrixStream({ maxClients: 0 }), /option "maxClients"/);
    assert.throws(() => hystrixStream({ properties: 3 as never }), /option "properties"/);
  });
});
