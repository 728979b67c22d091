/**
 * Retry policy and retry budget: exact schedules (fake timers, fixed random), Retry-After in
 * seconds and as an HTTP date, budget exhaustion, retry on results, non-retryable failures,
 * cancellation during backoff, events, span attributes, option validation, composition with
 * timeouts, and no timer or listener left behind after many executions.
 */
import assert from 'node:assert/strict';
import { getEventListeners, setMaxListeners } from 'node:events';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import fc from 'fast-check';
import { ATTR, type AttributeValue } from '@labcoat/core';
import { InjectedStatusError } from '../../src/outbound/point.js';
import { constantBackoff, delaysBackoff, exponentialBackoff } from '../../src/policies/backoff.js';
import { BrokenCircuitError, RateLimitedError, TimeoutError } from '../../src/policies/errors.js';
import { handleHttp, handleResult, handleType } from '../../src/policies/handle.js';
import { NEVER, type PolicyContext, type PolicySpan } from '../../src/policies/policy.js';
import { RetryBudget, retryBudget } from '../../src/policies/retry-budget.js';
import { parseRetryAfter, retry, retryAfterMs, RetryPolicy, type GiveUpEvent, type RetryEvent } from '../../src/policies/retry.js';
import { timeout } from '../../src/policies/timeout.js';
import { wrap } from '../../src/policies/wrap.js';

const now = (): number => Date.now();

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Moves fake time by `ms`, letting the promise chains that follow each timer run. */
async function tick(ms: number): Promise<void> {
  mock.timers.tick(ms);
  await flush();
}

function track<T>(p: Promise<T>): { state: 'pending' | 'fulfilled' | 'rejected'; value?: T; error?: unknown } {
  const t: { state: 'pending' | 'fulfilled' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  p.then(
    (value) => {
      t.state = 'fulfilled';
      t.value = value;
    },
    (error: unknown) => {
      t.state = 'rejected';
      t.error = error;
    },
  );
  return t;
}

class FakeSpan implements PolicySpan {
  attributes: Record<string, AttributeValue> = {};
  setAttribute(key: string, value: AttributeValue): void {
    this.attributes[key] = value;
  }
}

class NetworkError extends Error {}

/** A function failing `failures` times (with the errors `make` builds), then returning `value`. */
function flaky<T>(failures: number, value: T, make: (attempt: number) => unknown = (a) => new NetworkError(`attempt ${a}`)) {
  const attempts: number[] = [];
  const fn = (ctx: PolicyContext): T => {
    attempts.push(ctx.attempt);
    if (attempts.length <= failures) throw make(attempts.length);
    return value;
  };
  return { fn, attempts };
}

describe('retry (fake timers)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
  afterEach(() => mock.timers.reset());

  test('success on the first attempt: one call, attempt 1, no retry counted', async () => {
    const policy = retry({ maxAttempts: 3, now });
    const span = new FakeSpan();
    const { fn, attempts } = flaky(0, 'ok');
    assert.equal(await policy.run(fn, { signal: NEVER, attempt: 1, hedge: 0, span }), 'ok');
    assert.deepEqual(attempts, [1]);
    assert.equal(policy.stats.totals().success, 1);
    assert.equal(policy.stats.totals().retry, 0);
    assert.equal(span.attributes[ATTR.retryAttempts], 1);
  });

  test('exact schedule with a fixed random: exponential full jitter 50, 100, 200 ms', async () => {
    const backoff = exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 'full', random: () => 0.5 });
    const policy = retry({ maxAttempts: 4, backoff, now });
    const retries: RetryEvent[] = [];
    policy.onRetry((e) => retries.push(e));
    const { fn, attempts } = flaky(3, 'ok');
    const t = track(policy.execute(fn));
    await flush();
    assert.deepEqual(attempts, [1]);
    for (const [delay, expected] of [
      [50, [1, 2]],
      [100, [1, 2, 3]],
      [200, [1, 2, 3, 4]],
    ] as const) {
      await tick(delay - 1);
      assert.equal(attempts.length, expected.length - 1, `not before ${delay} ms`);
      await tick(1);
      assert.deepEqual(attempts, expected, `at ${delay} ms`);
    }
    assert.equal(t.state, 'fulfilled');
    assert.equal(t.value, 'ok');
    assert.deepEqual(
      retries.map((e) => [e.attempt, e.delayMs, ((e.reason as { error: Error }).error).message]),
      [
        [2, 50, 'attempt 1'],
        [3, 100, 'attempt 2'],
        [4, 200, 'attempt 3'],
      ],
    );
    assert.equal(policy.stats.totals().retry, 3);
    assert.equal(policy.stats.totals().success, 1);
    assert.equal(policy.stats.snapshot().latencyMs.max, 350);
  });

  test('gives up after maxAttempts, rethrowing the last error', async () => {
    const policy = retry({ maxAttempts: 3, backoff: 10, now });
    const giveUps: GiveUpEvent[] = [];
    policy.onGiveUp((e) => giveUps.push(e));
    const failures: boolean[] = [];
    policy.onFailure((e) => failures.push(e.handled));
    const { fn, attempts } = flaky(Infinity, 'never');
    const t = track(policy.execute(fn));
    await tick(10);
    await tick(10);
    assert.equal(t.state, 'rejected');
    assert.equal((t.error as Error).message, 'attempt 3');
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.equal(giveUps.length, 1);
    assert.equal(giveUps[0]!.attempts, 3);
    assert.equal(giveUps[0]!.cause, 'maxAttempts');
    assert.deepEqual(failures, [true]);
    assert.deepEqual([policy.stats.totals().failure, policy.stats.totals().retry], [1, 2]);
  });

  test('maxRetries: n means n + 1 attempts', async () => {
    const policy = retry({ maxRetries: 2, backoff: 0, now });
    assert.equal(policy.maxAttempts, 3);
    const { fn, attempts } = flaky(Infinity, 0);
    await assert.rejects(policy.execute(fn), NetworkError);
    assert.deepEqual(attempts, [1, 2, 3]);
  });

  test('a failure the classifier does not handle passes through at once', async () => {
    const policy = retry({ maxAttempts: 5, backoff: 0, handle: handleType(NetworkError), now });
    let retried = 0;
    policy.onRetry(() => retried++);
    const handled: boolean[] = [];
    policy.onFailure((e) => handled.push(e.handled));
    const { fn, attempts } = flaky(Infinity, 0, () => new TypeError('bug'));
    await assert.rejects(policy.execute(fn), TypeError);
    assert.deepEqual(attempts, [1]);
    assert.equal(retried, 0);
    assert.deepEqual(handled, [false]);
  });

  test('retries failing results, and returns the last one when attempts run out', async () => {
    const policy = retry({ maxAttempts: 3, backoff: 0, handle: handleResult<{ status: number }>((r) => r.status >= 500), now });
    const cancelled: number[] = [];
    const response = (status: number, n: number) => ({ status, n, body: { cancel: async () => void cancelled.push(n) } });
    let n = 0;
    const last = await policy.execute(() => response(503, ++n));
    assert.equal(last.status, 503);
    assert.equal(last.n, 3, 'the last failing result is returned');
    assert.deepEqual(cancelled, [1, 2], 'discarded results have their body cancelled; the returned one does not');
    n = 0;
    const good = await policy.execute(() => (++n < 2 ? response(500, n) : response(200, n)));
    assert.equal(good.status, 200);
    assert.equal(policy.stats.totals().failure, 1);
    assert.equal(policy.stats.totals().success, 1);
  });

  test('Retry-After in seconds (InjectedStatusError headers) outweighs a shorter backoff', async () => {
    const policy = retry({ maxAttempts: 2, backoff: 10, now });
    const delays: number[] = [];
    policy.onRetry((e) => delays.push(e.delayMs));
    const { fn, attempts } = flaky(1, 'ok', () => new InjectedStatusError(503, { 'Retry-After': '2' }, ''));
    const t = track(policy.execute(fn));
    await tick(1999);
    assert.deepEqual(attempts, [1]);
    await tick(1);
    assert.deepEqual(attempts, [1, 2]);
    assert.equal(t.value, 'ok');
    assert.deepEqual(delays, [2000]);
  });

  test('Retry-After as an HTTP date on a fetch Response result', async () => {
    const policy = retry({ maxAttempts: 2, backoff: 10, handle: handleHttp, now });
    mock.timers.setTime(1_700_000_000_000);
    const at = new Date(Date.now() + 3000).toUTCString();
    let calls = 0;
    const t = track(policy.execute(() => (++calls === 1 ? new Response(null, { status: 503, headers: { 'retry-after': at } }) : new Response('ok'))));
    await flush();
    await tick(2999);
    assert.equal(calls, 1);
    await tick(1);
    assert.equal(calls, 2);
    await flush();
    assert.equal((t.value as Response).status, 200);
  });

  test('a backoff longer than the Retry-After wins', async () => {
    const policy = retry({ maxAttempts: 2, backoff: 5000, now });
    const delays: number[] = [];
    policy.onRetry((e) => delays.push(e.delayMs));
    const t = track(policy.execute(flaky(1, 1, () => new RateLimitedError('limiter', 1200)).fn));
    await tick(5000);
    assert.equal(t.value, 1);
    assert.deepEqual(delays, [5000]);
  });

  test('Retry-After is capped at maxRetryAfterMs, honoured from retryAfterMs and axios-like errors, ignored when disabled', async () => {
    const delaysOf = async (policy: RetryPolicy, make: () => unknown): Promise<number[]> => {
      const delays: number[] = [];
      policy.onRetry((e) => delays.push(e.delayMs));
      const t = track(policy.execute(flaky(1, 'ok', make).fn));
      await tick(100_000);
      assert.equal(t.value, 'ok');
      return delays;
    };
    assert.deepEqual(await delaysOf(retry({ maxAttempts: 2, backoff: 0, maxRetryAfterMs: 30_000, now }), () => new InjectedStatusError(429, { 'retry-after': '3600' }, '')), [30_000]);
    assert.deepEqual(await delaysOf(retry({ maxAttempts: 2, backoff: 0, now }), () => new RateLimitedError('rl', 750)), [750]);
    const axiosLike = Object.assign(new Error('Request failed with status code 503'), { response: { status: 503, headers: { 'retry-after': '4' } } });
    assert.deepEqual(await delaysOf(retry({ maxAttempts: 2, backoff: 0, now }), () => axiosLike), [4000]);
    assert.deepEqual(await delaysOf(retry({ maxAttempts: 2, backoff: 7, honorRetryAfter: false, now }), () => new RateLimitedError('rl', 750)), [7]);
  });

  test('an abort during backoff rejects at once with the reason, and no further attempt is made', async () => {
    const policy = retry({ maxAttempts: 5, backoff: 1000, now });
    const caller = new AbortController();
    const { fn, attempts } = flaky(Infinity, 0);
    const t = track(policy.execute(fn, caller.signal));
    await tick(500);
    const reason = new Error('client closed');
    caller.abort(reason);
    await flush();
    assert.equal(t.state, 'rejected');
    assert.equal(t.error, reason);
    await tick(10_000);
    assert.deepEqual(attempts, [1]);
    assert.equal(policy.stats.totals().cancelled, 1);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
  });

  test('an attempt that fails because the caller aborted is not retried', async () => {
    const policy = retry({ maxAttempts: 5, backoff: 0, now });
    const caller = new AbortController();
    let calls = 0;
    const t = track(
      policy.execute(({ signal }) => {
        calls++;
        return new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
      }, caller.signal),
    );
    await flush();
    caller.abort();
    await flush();
    assert.equal(t.state, 'rejected');
    assert.equal((t.error as Error).name, 'AbortError');
    assert.equal(calls, 1);
  });

  test('an already-aborted signal: no attempt at all', async () => {
    const policy = retry({ now });
    let calls = 0;
    await assert.rejects(policy.execute(() => calls++, AbortSignal.abort(new Error('early'))), /early/);
    assert.equal(calls, 0);
  });

  test('budget: refused retries end the execution with the last error', async () => {
    // ratio 0 and a floor of 0.1/s over 10 s: exactly one retry per window.
    const budget = new RetryBudget({ ratio: 0, minRetriesPerSec: 0.1, windowMs: 10_000, now });
    const policy = retry({ maxAttempts: 5, backoff: 0, budget, now });
    const giveUps: GiveUpEvent['cause'][] = [];
    policy.onGiveUp((e) => giveUps.push(e.cause));
    const a = flaky(Infinity, 0);
    await assert.rejects(policy.execute(a.fn), /attempt 2/);
    assert.deepEqual(a.attempts, [1, 2]);
    const b = flaky(Infinity, 0);
    await assert.rejects(policy.execute(b.fn), /attempt 1/);
    assert.deepEqual(b.attempts, [1]);
    assert.deepEqual(giveUps, ['budget', 'budget']);
    await tick(10_000);
    const c = flaky(Infinity, 0);
    await assert.rejects(policy.execute(c.fn), /attempt 2/);
    assert.deepEqual(c.attempts, [1, 2], 'the window slid: the floor is back');
  });

  test('budget: retries are limited to ratio × calls, shared between policies', async () => {
    const budget = retryBudget({ ratio: 0.5, minRetriesPerSec: 0, now });
    const p1 = retry({ maxAttempts: 2, backoff: 0, budget, now });
    const p2 = retry({ maxAttempts: 2, backoff: 0, budget, now });
    for (let i = 0; i < 4; i++) await (i % 2 ? p1 : p2).execute(() => 'ok');
    assert.deepEqual(budget.snapshot(), { calls: 4, retries: 0, available: 2 });
    let calls = 0;
    const failing = (): never => {
      calls++;
      throw new NetworkError('down');
    };
    for (let i = 0; i < 4; i++) await assert.rejects((i % 2 ? p1 : p2).execute(failing));
    // 8 calls allow 4 retries, all taken: 4 executions × 2 attempts = 8 calls to fn.
    assert.equal(calls, 8);
    await assert.rejects(p1.execute(failing));
    assert.equal(calls, 9, '9 calls allow 4.5 retries: the 5th is refused');
    assert.deepEqual(budget.snapshot(), { calls: 9, retries: 4, available: 0 });
  });

  test('sets the retryAttempts span attribute on failure too', async () => {
    const policy = retry({ maxAttempts: 3, backoff: 0, now });
    const span = new FakeSpan();
    await assert.rejects(policy.run(flaky(Infinity, 0).fn, { signal: NEVER, attempt: 1, hedge: 0, span }));
    assert.equal(span.attributes[ATTR.retryAttempts], 3);
  });

  test('policy rejections are retried like any error with handleAll (BrokenCircuitError)', async () => {
    const policy = retry({ maxAttempts: 2, backoff: delaysBackoff([25]), now });
    const { fn, attempts } = flaky(1, 'ok', () => new BrokenCircuitError('cb'));
    const t = track(policy.execute(fn));
    await tick(25);
    assert.equal(t.value, 'ok');
    assert.deepEqual(attempts, [1, 2]);
  });

  test('each attempt under wrap(retry, timeout) gets its own deadline', async () => {
    const perTry = timeout({ timeoutMs: 100, now });
    const policy = retry({ maxAttempts: 3, backoff: constantBackoff(0), handle: handleType(TimeoutError), now });
    let calls = 0;
    const t = track(wrap(policy, perTry).execute(({ attempt }) => (++calls, attempt < 3 ? new Promise<never>(() => {}) : 'third time lucky')));
    await tick(100);
    await tick(0);
    await tick(100);
    await tick(0);
    assert.equal(t.value, 'third time lucky');
    assert.equal(calls, 3);
    assert.equal(perTry.stats.totals().timeout, 2);
  });

  test('an outer timeout aborts the retry during its backoff with the TimeoutError', async () => {
    const overall = timeout({ timeoutMs: 250, now });
    const policy = retry({ maxAttempts: 10, backoff: 100, now });
    const { fn, attempts } = flaky(Infinity, 0);
    const t = track(wrap(overall, policy).execute(fn));
    await flush();
    await tick(100);
    await tick(100);
    await tick(49);
    assert.equal(t.state, 'pending');
    assert.deepEqual(attempts, [1, 2, 3]);
    await tick(1);
    assert.ok(t.error instanceof TimeoutError);
    await tick(1000);
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.equal(policy.stats.totals().cancelled, 1);
  });

  test('ctx.attempt restarts at 1 inside a retry nested in a retry', async () => {
    const outer = retry({ maxAttempts: 2, backoff: 0, now });
    const inner = retry({ maxAttempts: 2, backoff: 0, now });
    const seen: number[] = [];
    await assert.rejects(
      wrap(outer, inner).execute(({ attempt }) => {
        seen.push(attempt);
        throw new NetworkError('x');
      }),
    );
    assert.deepEqual(seen, [1, 2, 1, 2]);
  });
});

describe('Retry-After parsing', () => {
  const t0 = Date.UTC(2025, 0, 1, 12, 0, 0);
  test('seconds, HTTP dates, junk', () => {
    assert.equal(parseRetryAfter('120', t0), 120_000);
    assert.equal(parseRetryAfter(' 3 ', t0), 3000);
    assert.equal(parseRetryAfter('1.5', t0), 1500);
    assert.equal(parseRetryAfter(2, t0), 2000);
    assert.equal(parseRetryAfter(['5'], t0), 5000);
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 12:00:30 GMT', t0), 30_000);
    assert.equal(parseRetryAfter('Tue, 31 Dec 2024 12:00:00 GMT', t0), 0, 'a past date means now');
    assert.equal(parseRetryAfter('-1', t0), undefined);
    assert.equal(parseRetryAfter('soon', t0), undefined);
    assert.equal(parseRetryAfter('', t0), undefined);
    assert.equal(parseRetryAfter(undefined, t0), undefined);
  });

  test('where it is found', () => {
    assert.equal(retryAfterMs(new InjectedStatusError(503, { 'retry-after': '1' }, ''), t0), 1000);
    assert.equal(retryAfterMs(new Response(null, { status: 429, headers: { 'Retry-After': '2' } }), t0), 2000);
    assert.equal(retryAfterMs({ statusCode: 503, headers: { 'retry-after': '3' } }, t0), 3000);
    assert.equal(retryAfterMs({ headers: new Map([['retry-after', '4']]) }, t0), 4000);
    assert.equal(retryAfterMs({ response: { headers: { 'RETRY-AFTER': '5' } } }, t0), 5000);
    assert.equal(retryAfterMs(new RateLimitedError('x', 60), t0), 60);
    assert.equal(retryAfterMs(new Error('plain'), t0), undefined);
    assert.equal(retryAfterMs({ headers: { 'content-type': 'x' } }, t0), undefined);
    assert.equal(retryAfterMs('503', t0), undefined);
    assert.equal(retryAfterMs(null, t0), undefined);
  });

  test('property: any whole number of seconds round-trips', () => {
    fc.assert(fc.property(fc.nat(1e9), (s) => parseRetryAfter(String(s), t0) === s * 1000));
  });
});

describe('RetryBudget', () => {
  test('the floor alone allows minRetriesPerSec × window seconds', () => {
    let t = 0;
    const budget = new RetryBudget({ ratio: 0.2, minRetriesPerSec: 2, windowMs: 5000, now: () => t });
    let allowed = 0;
    while (budget.tryRetry()) allowed++;
    assert.equal(allowed, 10);
    t = 4999;
    assert.equal(budget.tryRetry(), false, 'still inside the window');
    t = 5000;
    assert.equal(budget.tryRetry(), true, 'the first bucket left the window');
  });

  test('property: retries taken never exceed ratio × calls + floor over any window', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 3000 }), call: fc.boolean() }), { maxLength: 300 }),
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.integer({ min: 0, max: 5 }),
        (ops, ratio, minPerSec) => {
          let t = 0;
          const windowMs = 10_000;
          const budget = new RetryBudget({ ratio, minRetriesPerSec: minPerSec, windowMs, buckets: 10, now: () => t });
          for (const op of ops) {
            t += op.dt;
            if (op.call) {
              budget.recordCall();
              continue;
            }
            // The guarantee holds when a retry is granted; later, calls may age out of the window
            // before the retries they paid for do.
            if (!budget.tryRetry()) continue;
            const s = budget.snapshot();
            if (s.retries > ratio * s.calls + (minPerSec * windowMs) / 1000 + 1e-9) return false;
          }
          return true;
        },
      ),
    );
  });

  test('bad options throw, naming the option', () => {
    assert.throws(() => new RetryBudget({ ratio: -0.1 }), /retryBudget option "ratio"/);
    assert.throws(() => new RetryBudget({ ratio: 11 }), /option "ratio"/);
    assert.throws(() => new RetryBudget({ minRetriesPerSec: -1 }), /option "minRetriesPerSec"/);
    assert.throws(() => new RetryBudget({ windowMs: 0 }), /option "windowMs"/);
    assert.throws(() => new RetryBudget({ buckets: 0 }), /option "buckets"/);
    assert.throws(() => new RetryBudget({ buckets: 1.5 }), /option "buckets"/);
  });
});

describe('retry options', () => {
  test('bad options throw at construction, naming the option', () => {
    assert.throws(() => retry({ maxAttempts: 0 }), /retry option "maxAttempts"/);
    assert.throws(() => retry({ maxAttempts: 1.5 }), /option "maxAttempts"/);
    assert.throws(() => retry({ maxRetries: -1 }), /option "maxRetries"/);
    assert.throws(() => retry({ maxAttempts: 3, maxRetries: 2 }), /option "maxAttempts".*not both/);
    assert.throws(() => retry({ backoff: -1 }), /option "backoff"/);
    assert.throws(() => retry({ backoff: {} as never }), /option "backoff"/);
    assert.throws(() => retry({ handle: (() => true) as never }), /option "handle"/);
    assert.throws(() => retry({ budget: { tryRetry: () => true } as never }), /option "budget"/);
    assert.throws(() => retry({ honorRetryAfter: 'yes' as never }), /option "honorRetryAfter"/);
    assert.throws(() => retry({ maxRetryAfterMs: -5 }), /option "maxRetryAfterMs"/);
    assert.throws(() => retry({ name: '' }), /option "name"/);
  });

  test('defaults: 3 attempts, exponential backoff, Retry-After honoured up to 60 s; Infinity allowed', () => {
    const p = retry();
    assert.equal(p.maxAttempts, 3);
    assert.equal(p.honorRetryAfter, true);
    assert.equal(p.maxRetryAfterMs, 60_000);
    assert.equal(p.kind, 'retry');
    assert.equal(retry({ maxAttempts: Infinity }).maxAttempts, Infinity);
  });
});

describe('retry (real timers)', () => {
  test('10k executions leave no pending timer and no listener', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const caller = new AbortController();
    setMaxListeners(20_000, caller.signal);
    const fast = retry({ maxAttempts: 3, backoff: 0 });
    const timed = wrap(retry({ maxAttempts: 2, backoff: 1 }), timeout(1000));
    const runs: Promise<unknown>[] = [];
    for (let i = 0; i < 10_000; i++) {
      const p = i % 2 === 0 ? fast : timed;
      const fn = i % 5 === 0 ? flaky(1, i).fn : i % 7 === 0 ? flaky(Infinity, i).fn : () => i;
      runs.push(p.execute(fn, i % 3 === 0 ? caller.signal : undefined).catch(() => undefined));
    }
    await Promise.all(runs);
    // Executions waiting in a long backoff when their caller aborts.
    const slow = retry({ maxAttempts: 5, backoff: 60_000 });
    const aborter = new AbortController();
    setMaxListeners(200, aborter.signal);
    const waiting = Array.from({ length: 100 }, () => slow.execute(flaky(Infinity, 0).fn, aborter.signal).catch((e: unknown) => e));
    await new Promise((r) => setImmediate(r));
    assert.ok(timers() >= before + 100, 'the backoffs are pending');
    aborter.abort();
    const errors = await Promise.all(waiting);
    assert.ok(errors.every((e) => (e as Error).name === 'AbortError'));
    assert.equal(timers(), before);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
    assert.equal(getEventListeners(aborter.signal, 'abort').length, 0);
  });
});
