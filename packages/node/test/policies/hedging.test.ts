import assert from 'node:assert/strict';
import { getEventListeners, setMaxListeners } from 'node:events';
import { after, afterEach, before, describe, mock, test } from 'node:test';
import { ATTR } from '@labcoat/core';
import { CancelledError } from '../../src/policies/errors.js';
import { handleResult, handleType } from '../../src/policies/handle.js';
import { HedgeBudget, HedgingPolicy, hedging, type HedgeEvent } from '../../src/policies/hedging.js';
import type { PolicyContext } from '../../src/policies/policy.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}
function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}
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

/** A function whose every attempt waits on a deferred the test settles, recording its context. */
function controllable<T>() {
  const attempts: { ctx: PolicyContext; d: Deferred<T> }[] = [];
  const fn = (ctx: PolicyContext): Promise<T> => {
    const d = deferred<T>();
    attempts.push({ ctx, d });
    return d.promise;
  };
  return { fn, attempts };
}

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown): void => void unhandled.push(e);
before(() => process.on('unhandledRejection', onUnhandled));
after(() => process.off('unhandledRejection', onUnhandled));
afterEach(async () => {
  mock.timers.reset();
  // Give any stray rejection a chance to surface before the check.
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(unhandled, [], 'no unhandled rejections');
});

function fake(): void {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
}

describe('hedging', () => {
  test('a fast answer sends no hedge and leaves no timer', async () => {
    fake();
    const h = hedging({ delayMs: 100, budget: false, now: () => Date.now() });
    let calls = 0;
    assert.equal(
      await h.execute(() => {
        calls++;
        return 'fast';
      }),
      'fast',
    );
    mock.timers.tick(1000);
    await flush();
    assert.equal(calls, 1);
    const t = h.stats.totals();
    assert.equal(t.success, 1);
    assert.equal(t.retry, 0);
  });

  test('hedges after exactly delayMs; the first success wins and the loser is aborted and swallowed', async () => {
    fake();
    const h = new HedgingPolicy({ delayMs: 100, budget: false, now: () => Date.now() });
    const hedges: HedgeEvent[] = [];
    h.onHedge((e) => hedges.push(e));
    const { fn, attempts } = controllable<string>();
    const span = fakeSpan();
    const caller = new AbortController();
    const result = track(h.run(fn, { signal: caller.signal, attempt: 1, hedge: 0, span }));
    assert.equal(attempts.length, 1);
    mock.timers.tick(99);
    await flush();
    assert.equal(attempts.length, 1);
    mock.timers.tick(1);
    await flush();
    assert.equal(attempts.length, 2);
    assert.deepEqual(
      attempts.map((a) => a.ctx.hedge),
      [0, 1],
    );
    assert.notEqual(attempts[0]!.ctx.signal, attempts[1]!.ctx.signal);
    assert.deepEqual(hedges, [{ hedge: 1, reason: 'delay', elapsedMs: 100 }]);
    attempts[1]!.d.resolve('second');
    await flush();
    assert.equal(result.state, 'resolved');
    assert.equal(result.value, 'second');
    assert.equal(attempts[0]!.ctx.signal.aborted, true);
    assert.ok(attempts[0]!.ctx.signal.reason instanceof CancelledError);
    assert.equal(attempts[1]!.ctx.signal.aborted, false, 'the winner is not aborted');
    // The loser rejects after losing (as a cooperative fetch would): swallowed.
    attempts[0]!.d.reject(attempts[0]!.ctx.signal.reason);
    await flush();
    assert.deepEqual(span.attributes, { [ATTR.hedgeAttempts]: 2, [ATTR.hedgeWinner]: 1 });
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
    const t = h.stats.totals();
    assert.equal(t.success, 1);
    assert.equal(t.retry, 1);
  });

  test('the first attempt can still win after a hedge was sent', async () => {
    fake();
    const h = hedging({ delayMs: 50, maxAttempts: 3, budget: false, now: () => Date.now() });
    const { fn, attempts } = controllable<string>();
    const span = fakeSpan();
    const result = track(h.run(fn, { signal: new AbortController().signal, attempt: 1, hedge: 0, span }));
    mock.timers.tick(50);
    await flush();
    assert.equal(attempts.length, 2);
    attempts[0]!.d.resolve('first');
    await flush();
    assert.equal(result.value, 'first');
    assert.equal(attempts[1]!.ctx.signal.aborted, true);
    mock.timers.tick(500);
    await flush();
    assert.equal(attempts.length, 2, 'no third attempt after the execution settled');
    assert.deepEqual(span.attributes, { [ATTR.hedgeAttempts]: 2, [ATTR.hedgeWinner]: 0 });
  });

  test('a fast failure sends the next hedge at once, without waiting for the delay', async () => {
    fake();
    const h = hedging({ delayMs: 1000, maxAttempts: 3, budget: false, now: () => Date.now() });
    const hedges: HedgeEvent[] = [];
    h.onHedge((e) => hedges.push(e));
    const { fn, attempts } = controllable<string>();
    const result = track(h.execute(fn));
    attempts[0]!.d.reject(new Error('refused'));
    await flush();
    assert.equal(attempts.length, 2);
    assert.deepEqual(hedges, [{ hedge: 1, reason: 'failure', elapsedMs: 0 }]);
    // The delay restarts for the new attempt.
    mock.timers.tick(999);
    await flush();
    assert.equal(attempts.length, 2);
    mock.timers.tick(1);
    await flush();
    assert.equal(attempts.length, 3);
    assert.equal(hedges[1]!.reason, 'delay');
    attempts[2]!.d.resolve('third');
    await flush();
    assert.equal(result.value, 'third');
    attempts[1]!.d.reject(new Error('late loser'));
    await flush();
  });

  test('when every attempt fails, it rejects with the last failure', async () => {
    fake();
    const h = hedging({ delayMs: 10, maxAttempts: 3, budget: false, now: () => Date.now() });
    const failures: unknown[] = [];
    h.onFailure((e) => failures.push('error' in e.reason ? e.reason.error : undefined));
    const { fn, attempts } = controllable<string>();
    const result = track(h.execute(fn));
    mock.timers.tick(10);
    await flush();
    mock.timers.tick(10);
    await flush();
    assert.equal(attempts.length, 3);
    const last = new Error('third');
    attempts[1]!.d.reject(new Error('second'));
    attempts[0]!.d.reject(new Error('first'));
    await flush();
    assert.equal(result.state, 'pending');
    attempts[2]!.d.reject(last);
    await flush();
    assert.equal(result.state, 'rejected');
    assert.equal(result.error, last);
    assert.deepEqual(failures, [last]);
    const t = h.stats.totals();
    assert.equal(t.failure, 1);
    assert.equal(t.retry, 2);
  });

  test('synchronous throws count as failures too', async () => {
    const h = hedging({ delayMs: 10, maxAttempts: 3, budget: false });
    let n = 0;
    await assert.rejects(
      h.execute(() => {
        n++;
        throw new Error(`sync ${n}`);
      }),
      /sync 3/,
    );
    assert.equal(n, 3);
  });

  test('results the classifier calls failures are hedged over; all bad returns the last one', async () => {
    const h = hedging({ delayMs: 1000, maxAttempts: 3, budget: false, handle: handleResult<{ status: number }>((r) => r.status >= 500) });
    let n = 0;
    const out = await h.execute(() => ({ status: 500 + n++ }));
    assert.deepEqual(out, { status: 502 });
    assert.equal(h.stats.totals().failure, 1);
    let m = 0;
    assert.deepEqual(await h.execute(() => ({ status: m++ === 0 ? 503 : 200 })), { status: 200 });
  });

  test('an error the classifier does not handle ends the execution at once', async () => {
    fake();
    const h = hedging({ delayMs: 10, maxAttempts: 3, budget: false, handle: handleType(TypeError), now: () => Date.now() });
    const { fn, attempts } = controllable<string>();
    const result = track(h.execute(fn));
    mock.timers.tick(10);
    await flush();
    assert.equal(attempts.length, 2);
    const fatal = new RangeError('bad input');
    attempts[1]!.d.reject(fatal);
    await flush();
    assert.equal(result.error, fatal);
    assert.equal(attempts[0]!.ctx.signal.aborted, true);
    mock.timers.tick(100);
    await flush();
    assert.equal(attempts.length, 2);
    attempts[0]!.d.resolve('too late');
    await flush();
  });

  test('the caller aborting aborts every attempt and rejects with its reason', async () => {
    fake();
    const h = hedging({ delayMs: 10, maxAttempts: 3, budget: false, now: () => Date.now() });
    const { fn, attempts } = controllable<string>();
    const caller = new AbortController();
    const result = track(h.execute(fn, caller.signal));
    mock.timers.tick(10);
    await flush();
    assert.equal(attempts.length, 2);
    const reason = new Error('client went away');
    caller.abort(reason);
    await flush();
    assert.equal(result.error, reason);
    assert.ok(attempts.every((a) => a.ctx.signal.aborted && a.ctx.signal.reason === reason));
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
    mock.timers.tick(100);
    await flush();
    assert.equal(attempts.length, 2, 'no hedge after cancellation');
    for (const a of attempts) a.d.reject(reason);
    await flush();
    assert.equal(h.stats.totals().cancelled, 1);
    // Already aborted: no attempt at all.
    await assert.rejects(h.execute(fn, caller.signal), (e) => e === reason);
    assert.equal(attempts.length, 2);
  });

  test('delayMs 0 sends every attempt at once; Infinity only after a failure', async () => {
    fake();
    const parallel = hedging({ delayMs: 0, maxAttempts: 4, budget: false, now: () => Date.now() });
    const p = controllable<number>();
    const r1 = track(parallel.execute(p.fn));
    assert.deepEqual(
      p.attempts.map((a) => a.ctx.hedge),
      [0, 1, 2, 3],
    );
    p.attempts[2]!.d.resolve(2);
    await flush();
    assert.equal(r1.value, 2);
    assert.deepEqual(
      p.attempts.map((a) => a.ctx.signal.aborted),
      [true, true, false, true],
    );

    const sequential = hedging({ delayMs: Infinity, maxAttempts: 3, budget: false, now: () => Date.now() });
    const s = controllable<number>();
    const r2 = track(sequential.execute(s.fn));
    mock.timers.tick(1_000_000);
    await flush();
    assert.equal(s.attempts.length, 1);
    s.attempts[0]!.d.reject(new Error('x'));
    await flush();
    assert.equal(s.attempts.length, 2);
    s.attempts[1]!.d.resolve(7);
    await flush();
    assert.equal(r2.value, 7);
  });

  test('the budget caps hedges to a share of the calls over its window', async () => {
    fake();
    const h = hedging({ delayMs: 10, budget: { ratio: 0.1, minPerSec: 0, windowMs: 1000 }, now: () => Date.now() });
    assert.equal(h.budget?.available, 0);
    const c = controllable<number>();
    const results = Array.from({ length: 25 }, () => track(h.execute(c.fn)));
    assert.equal(h.budget?.available, 2);
    mock.timers.tick(10);
    await flush();
    assert.equal(c.attempts.length, 25 + 2, '10% of 25 calls → 2 hedges');
    assert.equal(h.stats.totals().retry, 2);
    for (const a of c.attempts) a.d.resolve(1);
    await flush();
    assert.ok(results.every((r) => r.state === 'resolved'));
    // The window slides: the old calls are forgotten, and with them the right to hedge.
    mock.timers.tick(1000);
    const c2 = controllable<number>();
    const more = Array.from({ length: 9 }, () => track(h.execute(c2.fn)));
    mock.timers.tick(10);
    await flush();
    assert.equal(c2.attempts.length, 9, 'no hedge: 9 calls earn none');
    for (const a of c2.attempts) a.d.resolve(1);
    await flush();
    assert.ok(more.every((r) => r.state === 'resolved'));
  });

  test('the budget floor allows a few hedges when traffic is low, and a budget can be shared', async () => {
    fake();
    const budget = new HedgeBudget({ ratio: 0, minPerSec: 1, windowMs: 2000, now: () => Date.now() });
    assert.equal(budget.available, 2);
    const a = hedging({ delayMs: 10, budget, now: () => Date.now() });
    const b = hedging({ delayMs: 10, budget, now: () => Date.now() });
    const c = controllable<number>();
    const rs = [track(a.execute(c.fn)), track(b.execute(c.fn)), track(a.execute(c.fn))];
    mock.timers.tick(10);
    await flush();
    assert.equal(c.attempts.length, 3 + 2);
    assert.equal(budget.available, 0);
    for (const x of c.attempts) x.d.resolve(0);
    await flush();
    assert.ok(rs.every((r) => r.state === 'resolved'));
  });

  test('the default budget is on: 10% plus a small floor', () => {
    const h = hedging({ delayMs: 10 });
    assert.ok(h.budget);
    assert.equal(h.budget.ratio, 0.1);
    assert.equal(h.budget.available, 10);
    assert.equal(hedging({ delayMs: 10, budget: false }).budget, undefined);
  });

  test('a fast failure denied by the budget waits for the attempts still running', async () => {
    fake();
    const h = hedging({ delayMs: 10, maxAttempts: 3, budget: { ratio: 0, minPerSec: 1, windowMs: 1000 }, now: () => Date.now() });
    const c = controllable<number>();
    const r = track(h.execute(c.fn));
    mock.timers.tick(10);
    await flush();
    assert.equal(c.attempts.length, 2, 'the one hedge of the floor');
    c.attempts[0]!.d.reject(new Error('first failed'));
    await flush();
    assert.equal(c.attempts.length, 2, 'budget spent');
    assert.equal(r.state, 'pending');
    c.attempts[1]!.d.resolve(5);
    await flush();
    assert.equal(r.value, 5);
  });

  test('validates its options', () => {
    assert.throws(() => hedging({} as never), /option "delayMs"/);
    assert.throws(() => hedging({ delayMs: -1 }), /option "delayMs"/);
    assert.throws(() => hedging({ delayMs: NaN }), /option "delayMs"/);
    assert.throws(() => hedging({ delayMs: 10, maxAttempts: 0 }), /option "maxAttempts"/);
    assert.throws(() => hedging({ delayMs: 10, maxAttempts: 11 }), /option "maxAttempts"/);
    assert.throws(() => hedging({ delayMs: 10, maxAttempts: 2.5 }), /option "maxAttempts"/);
    assert.throws(() => hedging({ delayMs: 10, budget: { ratio: 1.5 } }), /option "budget.ratio"/);
    assert.throws(() => hedging({ delayMs: 10, budget: {} as never }), /option "budget.ratio"/);
    assert.throws(() => hedging({ delayMs: 10, budget: { ratio: 0.1, minPerSec: -1 } }), /option "budget.minPerSec"/);
    assert.throws(() => hedging({ delayMs: 10, budget: { ratio: 0.1, windowMs: 0 } }), /option "budget.windowMs"/);
    assert.throws(() => hedging({ delayMs: 10, budget: true as never }), /option "budget"/);
    assert.throws(() => hedging({ delayMs: 10, handle: (() => true) as never }), /option "handle"/);
    assert.equal(hedging({ delayMs: 10 }).maxAttempts, 2);
    assert.equal(hedging({ delayMs: 10, maxAttempts: 1 }).maxAttempts, 1);
  });

  test('10k executions leave no timer behind', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const h = hedging({ delayMs: 5_000, maxAttempts: 3, budget: false });
    const caller = new AbortController();
    setMaxListeners(Infinity, caller.signal);
    const batch: Promise<unknown>[] = [];
    for (let i = 0; i < 10_000; i++) {
      const fn = i % 4 === 0 ? () => Promise.reject(new Error('x')) : () => new Promise((r) => setImmediate(r, i));
      batch.push(h.execute(fn, caller.signal).catch(() => {}));
      if (batch.length === 500) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
    const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    assert.equal(after, before);
  });
});
