/**
 * Fallback policy: values and (async) functions, classifiers for errors and results, policy
 * rejections always falling back, a failing fallback, caller cancellation, stats, events, span
 * attributes, and composition with retry and timeout.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { ATTR, type AttributeValue } from '@labcoat/core';
import { constantBackoff } from '../../src/policies/backoff.js';
import { BrokenCircuitError, BulkheadRejectedError, RateLimitedError, TimeoutError } from '../../src/policies/errors.js';
import { fallback, FallbackPolicy, type FallbackEvent, type FallbackReason } from '../../src/policies/fallback.js';
import { handleHttp, handleType } from '../../src/policies/handle.js';
import { NEVER, type PolicyContext, type PolicySpan } from '../../src/policies/policy.js';
import { retry } from '../../src/policies/retry.js';
import { timeout } from '../../src/policies/timeout.js';
import { wrap } from '../../src/policies/wrap.js';

class FakeSpan implements PolicySpan {
  attributes: Record<string, AttributeValue> = {};
  setAttribute(key: string, value: AttributeValue): void {
    this.attributes[key] = value;
  }
}

class NetworkError extends Error {}

const ctxWith = (span: PolicySpan, signal: AbortSignal = NEVER): PolicyContext => ({ signal, attempt: 1, hedge: 0, span });
const fail = (error: unknown) => (): never => {
  throw error;
};

describe('fallback', () => {
  test('a failing call gets the fallback value; the span and stats say so', async () => {
    const policy = fallback('cached');
    const events: FallbackEvent[] = [];
    policy.onFallback((e) => events.push(e));
    const span = new FakeSpan();
    const boom = new NetworkError('down');
    assert.equal(await policy.run(fail(boom), ctxWith(span)), 'cached');
    assert.equal(span.attributes[ATTR.fallback], true);
    assert.deepEqual(events, [{ reason: { error: boom } }]);
    assert.equal(policy.stats.totals().fallbackSuccess, 1);
    assert.equal(policy.kind, 'fallback');
  });

  test('a successful call passes through untouched', async () => {
    const policy = fallback('cached');
    const span = new FakeSpan();
    let fellBack = 0;
    policy.onFallback(() => fellBack++);
    assert.equal(await policy.run(() => Promise.resolve('fresh'), ctxWith(span)), 'fresh');
    assert.equal(span.attributes[ATTR.fallback], undefined);
    assert.equal(fellBack, 0);
    assert.equal(policy.stats.totals().success, 1);
  });

  test('a function computes the fallback from the failure and the context (sync or async)', async () => {
    const seen: [FallbackReason, number][] = [];
    const sync = fallback((reason: FallbackReason, ctx: PolicyContext) => {
      seen.push([reason, ctx.attempt]);
      return `for ${((reason as { error: Error }).error).message}`;
    });
    assert.equal(await sync.execute(fail(new Error('e1'))), 'for e1');
    const asyncFb = new FallbackPolicy(async () => {
      await Promise.resolve();
      return 42;
    });
    assert.equal(await asyncFb.execute(() => Promise.reject(new Error('e2'))), 42);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]![1], 1);
  });

  test('to fall back to a function, return it from one', async () => {
    const handler = (): string => 'handler';
    const policy = fallback(() => handler);
    const got = await policy.execute<() => string>(fail(new Error('x')));
    assert.equal(got, handler);
  });

  test('the classifier picks which errors fall back; others pass through as failures', async () => {
    const policy = fallback('cached', { handle: handleType(NetworkError) });
    const handled: boolean[] = [];
    policy.onFailure((e) => handled.push(e.handled));
    assert.equal(await policy.execute(fail(new NetworkError('net'))), 'cached');
    const bug = new TypeError('bug');
    await assert.rejects(policy.execute(fail(bug)), (e) => e === bug);
    assert.deepEqual(handled, [false]);
    assert.deepEqual([policy.stats.totals().fallbackSuccess, policy.stats.totals().failure], [1, 1]);
  });

  test('results the classifier counts as failures fall back too', async () => {
    const policy = fallback({ status: 200, body: 'stale' }, { handle: handleHttp });
    const got = await policy.execute(() => ({ status: 503, body: 'unavailable' }));
    assert.deepEqual(got, { status: 200, body: 'stale' });
    const reasons: FallbackReason[] = [];
    policy.onFallback((e) => reasons.push(e.reason));
    await policy.execute(() => ({ status: 429 }));
    assert.deepEqual(reasons, [{ value: { status: 429 } }]);
    assert.deepEqual(await policy.execute(() => ({ status: 404 })), { status: 404 }, '4xx other than 429 is not a failure for handleHttp');
  });

  test('policy rejections always fall back, whatever the classifier', async () => {
    const policy = fallback('degraded', { handle: handleType(NetworkError) });
    for (const refusal of [new BrokenCircuitError('cb'), new BulkheadRejectedError('bh', 10, 0), new RateLimitedError('rl', 100)]) {
      assert.equal(await policy.execute(fail(refusal)), 'degraded', refusal.name);
    }
    assert.equal(policy.stats.totals().fallbackSuccess, 3);
  });

  test('a fallback function that throws: fallbackFailure, and its error is the execution’s', async () => {
    const fbError = new Error('cache empty');
    const policy = fallback(async () => {
      throw fbError;
    });
    const failures: [boolean, unknown][] = [];
    policy.onFailure((e) => failures.push([e.handled, 'error' in e.reason ? e.reason.error : undefined]));
    const span = new FakeSpan();
    await assert.rejects(policy.run(fail(new Error('original')), ctxWith(span)), (e) => e === fbError);
    assert.equal(span.attributes[ATTR.fallback], undefined);
    assert.deepEqual(failures, [[true, fbError]]);
    assert.equal(policy.stats.totals().fallbackFailure, 1);
  });

  test('onSuccess fires for fallback results too, with the duration', async () => {
    const policy = fallback(0);
    let successes = 0;
    policy.onSuccess(() => successes++);
    await policy.execute(() => 1);
    await policy.execute(fail(new Error('x')));
    assert.equal(successes, 2);
  });

  test("a caller's abort is not fallen back on: it rejects with the signal's reason", async () => {
    const policy = fallback('cached');
    const caller = new AbortController();
    const reason = new Error('client went away');
    const p = policy.execute(
      ({ signal }) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
      caller.signal,
    );
    caller.abort(reason);
    await assert.rejects(p, (e) => e === reason);
    assert.equal(policy.stats.totals().cancelled, 1);
    assert.equal(policy.stats.totals().fallbackSuccess, 0);
  });

  test('bad options throw at construction, naming the option', () => {
    assert.throws(() => fallback(1, { handle: 'all' as never }), /fallback option "handle"/);
    assert.throws(() => fallback(1, { name: 'a b' }), /fallback option "name"/);
  });
});

describe('fallback in pipelines (fake timers)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
  afterEach(() => mock.timers.reset());
  const now = (): number => Date.now();
  async function tick(ms: number): Promise<void> {
    mock.timers.tick(ms);
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }

  test('wrap(fallback, retry, timeout): every attempt times out, the fallback answers', async () => {
    const fb = fallback('from cache', { now });
    const reasons: FallbackReason[] = [];
    fb.onFallback((e) => reasons.push(e.reason));
    const r = retry({ maxAttempts: 2, backoff: constantBackoff(50), now });
    const t = timeout({ timeoutMs: 100, now });
    let result: unknown;
    void wrap(fb, r, t)
      .execute(() => new Promise<never>(() => {}))
      .then((v) => (result = v));
    await tick(0);
    await tick(100);
    await tick(50);
    assert.equal(result, undefined);
    await tick(100);
    assert.equal(result, 'from cache');
    assert.ok((reasons[0] as { error: unknown }).error instanceof TimeoutError);
    assert.equal(r.stats.totals().retry, 1);
  });

  test('wrap(timeout, fallback): the outer deadline is not fallen back on', async () => {
    const outer = timeout({ timeoutMs: 100, now });
    const fb = fallback('never used', { now });
    let error: unknown;
    void wrap(outer, fb)
      .execute(({ signal }) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })))
      .catch((e: unknown) => (error = e));
    await tick(100);
    assert.ok(error instanceof TimeoutError);
    assert.equal(fb.stats.totals().cancelled, 1);
  });
});
