import assert from 'node:assert/strict';
import { getEventListeners, setMaxListeners } from 'node:events';
import { afterEach, describe, mock, test } from 'node:test';
import { ATTR } from '@labcoat/core';
import { RateLimitedError } from '../../src/policies/errors.js';
import { RateLimitPolicy, rateLimit, type RateLimitRejectEvent } from '../../src/policies/rate-limit.js';

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}
function track<T>(p: Promise<T>): { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } {
  const t: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  p.then(
    (value) => Object.assign(t, { state: 'resolved', value }),
    (error: unknown) => Object.assign(t, { state: 'rejected', error }),
  );
  return t;
}
function fakeSpan(): { attributes: Record<string, unknown>; setAttribute(k: string, v: unknown): void } {
  const attributes: Record<string, unknown> = {};
  return { attributes, setAttribute: (k, v) => void (attributes[k] = v) };
}
function fake(): void {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
}
async function tick(ms: number): Promise<void> {
  mock.timers.tick(ms);
  await flush();
}

afterEach(() => mock.timers.reset());

describe('rate limiter, reject mode', () => {
  test('lets a burst through, then refuses with when to retry, refilling continuously', async () => {
    fake();
    const rl = rateLimit({ ratePerSec: 1, burst: 2, now: () => Date.now() });
    const events: RateLimitRejectEvent[] = [];
    rl.onReject((e) => events.push(e));
    assert.equal(await rl.execute(() => 1), 1);
    assert.equal(await rl.execute(() => 2), 2);
    let ran = false;
    const refused = rl.execute(() => {
      ran = true;
    });
    await assert.rejects(refused, (e) => e instanceof RateLimitedError && e.retryAfterMs === 1000);
    assert.equal(ran, false);
    await tick(500);
    await assert.rejects(
      rl.execute(() => 0),
      (e) => e instanceof RateLimitedError && Math.abs(e.retryAfterMs - 500) < 1e-6,
    );
    await tick(500);
    assert.equal(await rl.execute(() => 3), 3);
    assert.equal(events.length, 2);
    assert.equal(events[0]!.retryAfterMs, 1000);
    const t = rl.stats.totals();
    assert.equal(t.success, 3);
    assert.equal(t.rejected, 2);
  });

  test('tokens accumulate continuously up to the burst', async () => {
    fake();
    const rl = rateLimit({ ratePerSec: 10, burst: 5, now: () => Date.now() });
    for (let i = 0; i < 5; i++) await rl.execute(() => i);
    assert.equal(rl.availableTokens, 0);
    await tick(250);
    assert.ok(Math.abs(rl.availableTokens - 2.5) < 1e-9);
    await rl.execute(() => 0);
    await rl.execute(() => 0);
    await assert.rejects(
      rl.execute(() => 0),
      RateLimitedError,
    );
    await tick(60_000);
    assert.equal(rl.availableTokens, 5);
  });

  test('sets the span attribute and records a rejection', async () => {
    const rl = new RateLimitPolicy({ ratePerSec: 1, burst: 1 });
    const s1 = fakeSpan();
    const s2 = fakeSpan();
    const ctx = (span: ReturnType<typeof fakeSpan>) => ({ signal: new AbortController().signal, attempt: 1, hedge: 0, span });
    assert.equal(await rl.run(() => 'ok', ctx(s1)), 'ok');
    await assert.rejects(rl.run(() => 'no', ctx(s2)), RateLimitedError);
    assert.deepEqual(s1.attributes, {});
    assert.deepEqual(s2.attributes, { [ATTR.rateLimited]: true });
  });

  test('failures pass through and still consume their token', async () => {
    fake();
    const rl = rateLimit({ ratePerSec: 1, burst: 1, now: () => Date.now() });
    const failures: boolean[] = [];
    rl.onFailure((e) => failures.push(e.handled));
    await assert.rejects(
      rl.execute(() => {
        throw new Error('sync');
      }),
      /sync/,
    );
    await assert.rejects(rl.execute(() => 1), RateLimitedError);
    assert.deepEqual(failures, [true]);
    assert.equal(rl.stats.totals().failure, 1);
  });

  test('default burst is the rate rounded up (at least 1)', () => {
    assert.equal(rateLimit({ ratePerSec: 10 }).burst, 10);
    assert.equal(rateLimit({ ratePerSec: 2.5 }).burst, 3);
    assert.equal(rateLimit({ ratePerSec: 0.2 }).burst, 1);
    assert.equal(rateLimit({ ratePerSec: 1 }).mode, 'reject');
    assert.equal(rateLimit({ ratePerSec: 1, mode: 'wait' }).maxWaitMs, 5000);
  });

  test('validates its options', () => {
    assert.throws(() => rateLimit({} as never), /option "ratePerSec"/);
    assert.throws(() => rateLimit({ ratePerSec: 0 }), /option "ratePerSec"/);
    assert.throws(() => rateLimit({ ratePerSec: -1 }), /option "ratePerSec"/);
    assert.throws(() => rateLimit({ ratePerSec: NaN }), /option "ratePerSec"/);
    assert.throws(() => rateLimit({ ratePerSec: Infinity }), /option "ratePerSec"/);
    assert.throws(() => rateLimit({ ratePerSec: '5' as never }), /option "ratePerSec"/);
    assert.throws(() => rateLimit({ ratePerSec: 5, burst: 0 }), /option "burst"/);
    assert.throws(() => rateLimit({ ratePerSec: 5, burst: 1.5 }), /option "burst"/);
    assert.throws(() => rateLimit({ ratePerSec: 5, mode: 'queue' as never }), /option "mode"/);
    assert.throws(() => rateLimit({ ratePerSec: 5, mode: 'wait', maxWaitMs: -1 }), /option "maxWaitMs"/);
    assert.throws(() => rateLimit({ ratePerSec: 5, mode: 'wait', maxWaitMs: NaN }), /option "maxWaitMs"/);
    assert.throws(() => rateLimit({ ratePerSec: 5, maxWaitMs: 100 }), /option "maxWaitMs"/);
    assert.throws(() => rateLimit({ ratePerSec: 5, name: '' }), /option "name"/);
    assert.equal(rateLimit({ ratePerSec: 5, mode: 'wait', maxWaitMs: Infinity }).maxWaitMs, Infinity);
  });
});

describe('rate limiter, wait mode', () => {
  test('waiters get their tokens in arrival order, as they come', async () => {
    fake();
    const rl = rateLimit({ ratePerSec: 10, burst: 1, mode: 'wait', maxWaitMs: 10_000, now: () => Date.now() });
    const started: [number, number][] = [];
    const calls = [0, 1, 2, 3].map((i) => track(rl.execute(() => started.push([i, Date.now()]))));
    await flush();
    assert.deepEqual(started, [[0, 0]]);
    assert.equal(rl.waiting, 3);
    await tick(99);
    assert.equal(started.length, 1);
    await tick(1);
    assert.deepEqual(started, [
      [0, 0],
      [1, 100],
    ]);
    await tick(100);
    await tick(100);
    assert.deepEqual(started, [
      [0, 0],
      [1, 100],
      [2, 200],
      [3, 300],
    ]);
    assert.ok(calls.every((c) => c.state === 'resolved'));
    assert.equal(rl.waiting, 0);
    assert.equal(rl.stats.totals().success, 4);
  });

  test('a drain timer that fires late does not cost the waiters their tokens', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    let clock = 0;
    const rl = rateLimit({ ratePerSec: 10, burst: 1, mode: 'wait', now: () => clock });
    const started: string[] = [];
    await rl.execute(() => started.push('a'));
    const rest = ['b', 'c', 'd'].map((x) => rl.execute(() => started.push(x)));
    clock = 300; // the event loop was blocked: the timer due at 100 runs at 300
    mock.timers.tick(100);
    await Promise.all(rest);
    assert.deepEqual(started, ['a', 'b', 'c', 'd']);
    assert.ok(rl.availableTokens < 1e-9, 'and the bucket is not over-full afterwards');
  });

  test('a newcomer never overtakes a waiter, even when a token came in between', async () => {
    // The clock moves while the drain timer has not fired yet.
    mock.timers.enable({ apis: ['setTimeout'] });
    let clock = 0;
    const rl = rateLimit({ ratePerSec: 10, burst: 1, mode: 'wait', now: () => clock });
    const order: string[] = [];
    await rl.execute(() => order.push('a'));
    const b = rl.execute(() => order.push('b'));
    clock = 150; // a token is in the bucket, but b is waiting for it
    assert.ok(rl.availableTokens >= 1);
    const c = rl.execute(() => order.push('c'));
    await flush();
    assert.deepEqual(order, ['a']);
    mock.timers.tick(100);
    await flush();
    assert.deepEqual(order, ['a', 'b']);
    clock = 250;
    mock.timers.tick(100);
    await Promise.all([b, c]);
    assert.deepEqual(order, ['a', 'b', 'c']);
  });

  test('a call that would wait longer than maxWaitMs is refused at once with its wait', async () => {
    fake();
    const rl = rateLimit({ ratePerSec: 10, burst: 1, mode: 'wait', maxWaitMs: 250, now: () => Date.now() });
    const span = fakeSpan();
    const calls = [0, 1, 2].map((i) => track(rl.execute(() => i)));
    const refused = track(rl.run(() => 3, { signal: new AbortController().signal, attempt: 1, hedge: 0, span }));
    await flush();
    assert.equal(refused.state, 'rejected');
    assert.ok(refused.error instanceof RateLimitedError);
    assert.ok(Math.abs(refused.error.retryAfterMs - 300) < 1e-6);
    assert.deepEqual(span.attributes, { [ATTR.rateLimited]: true });
    await tick(200);
    assert.ok(calls.every((c) => c.state === 'resolved'));
  });

  test('a waiter whose signal aborts leaves the queue at once; the next one moves up', async () => {
    fake();
    const rl = rateLimit({ ratePerSec: 10, burst: 1, mode: 'wait', now: () => Date.now() });
    const started: [string, number][] = [];
    await rl.execute(() => started.push(['a', Date.now()]));
    const ac = new AbortController();
    const b = track(rl.execute(() => started.push(['b', Date.now()]), ac.signal));
    const c = track(rl.execute(() => started.push(['c', Date.now()])));
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    await tick(50);
    const reason = new Error('gave up');
    ac.abort(reason);
    await flush();
    assert.equal(b.state, 'rejected');
    assert.equal(b.error, reason);
    assert.equal(rl.waiting, 1);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    await tick(50);
    assert.deepEqual(started, [
      ['a', 0],
      ['c', 100],
    ]);
    assert.equal(c.state, 'resolved');
    assert.equal(rl.stats.totals().cancelled, 1);
  });

  test('when every waiter aborts, the drain timer is cleared', async () => {
    fake();
    const rl = rateLimit({ ratePerSec: 1, burst: 1, mode: 'wait', now: () => Date.now() });
    await rl.execute(() => 0);
    const ac = new AbortController();
    let ran = false;
    const w = track(
      rl.execute(() => {
        ran = true;
      }, ac.signal),
    );
    ac.abort();
    await tick(5000);
    assert.equal(w.state, 'rejected');
    assert.equal((w.error as Error).name, 'AbortError');
    assert.equal(ran, false);
    // The bucket refilled meanwhile: the next call goes at once.
    assert.equal(await rl.execute(() => 'now'), 'now');
  });

  test('10k executions leave no timer or listener behind', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const rl = rateLimit({ ratePerSec: 200_000, burst: 100, mode: 'wait', maxWaitMs: 10_000 });
    const ac = new AbortController();
    setMaxListeners(Infinity, ac.signal);
    const batch: Promise<unknown>[] = [];
    let ok = 0;
    for (let i = 0; i < 10_000; i++) {
      batch.push(rl.execute(() => (i % 5 === 0 ? Promise.reject(new Error('x')) : ok++), ac.signal).catch(() => {}));
      if (batch.length === 500) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
    assert.equal(ok, 8000);
    assert.equal(rl.waiting, 0);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    assert.equal(after, before);
  });
});
