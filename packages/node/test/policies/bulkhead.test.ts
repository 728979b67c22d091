import assert from 'node:assert/strict';
import { getEventListeners, setMaxListeners } from 'node:events';
import { afterEach, describe, mock, test } from 'node:test';
import { ATTR } from '@labcoat/core';
import { BulkheadPolicy, bulkhead, type BulkheadRejectEvent } from '../../src/policies/bulkhead.js';
import { BulkheadRejectedError } from '../../src/policies/errors.js';
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
function fakeSpan(): { attributes: Record<string, unknown>; setAttribute(k: string, v: unknown): void } {
  const attributes: Record<string, unknown> = {};
  return { attributes, setAttribute: (k, v) => void (attributes[k] = v) };
}
function ctxWith(span: ReturnType<typeof fakeSpan>, signal = new AbortController().signal): PolicyContext {
  return { signal, attempt: 1, hedge: 0, span };
}
/** Tracks a promise's state without letting its rejection go unhandled. */
function track<T>(p: Promise<T>): { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } {
  const t: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  p.then(
    (value) => Object.assign(t, { state: 'resolved', value }),
    (error: unknown) => Object.assign(t, { state: 'rejected', error }),
  );
  return t;
}

afterEach(() => mock.timers.reset());

describe('bulkhead', () => {
  test('runs at most maxConcurrent, queues maxQueue, refuses the rest', async () => {
    const b = bulkhead(2, 2);
    const rejects: BulkheadRejectEvent[] = [];
    b.onReject((e) => rejects.push(e));
    const gates = Array.from({ length: 5 }, () => deferred<number>());
    let started = 0;
    const calls = gates.map((g, i) =>
      track(
        b.execute(async () => {
          started++;
          await g.promise;
          return i;
        }),
      ),
    );
    await flush();
    assert.equal(started, 2);
    assert.equal(b.active, 2);
    assert.equal(b.queued, 2);
    assert.equal(b.executionSlots, 0);
    assert.equal(b.queueSlots, 0);
    assert.equal(calls[4]!.state, 'rejected');
    assert.ok(calls[4]!.error instanceof BulkheadRejectedError);
    assert.deepEqual(rejects, [{ reason: 'full', active: 2, queued: 2 }]);
    for (const g of gates) g.resolve(0);
    await flush();
    assert.equal(started, 4);
    assert.deepEqual(
      calls.slice(0, 4).map((c) => c.state),
      ['resolved', 'resolved', 'resolved', 'resolved'],
    );
    assert.equal(b.active, 0);
    assert.equal(b.queued, 0);
    assert.equal(b.executionSlots, 2);
    assert.equal(b.queueSlots, 2);
    const totals = b.stats.totals();
    assert.equal(totals.success, 4);
    assert.equal(totals.rejected, 1);
  });

  test('queued calls start first in, first out as slots free up', async () => {
    const b = bulkhead({ maxConcurrent: 1, maxQueue: Infinity });
    const order: number[] = [];
    const gates = Array.from({ length: 6 }, () => deferred());
    const done = gates.map((g, i) =>
      b.execute(async () => {
        order.push(i);
        await g.promise;
      }),
    );
    await flush();
    assert.equal(b.queued, 5);
    assert.equal(b.queueSlots, Infinity);
    // Each freed slot goes to the oldest waiter.
    for (let i = 0; i < gates.length; i++) {
      gates[i]!.resolve();
      await flush();
      assert.deepEqual(order, Array.from({ length: Math.min(i + 2, 6) }, (_, j) => j));
    }
    await Promise.all(done);
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  });

  test('failures and synchronous throws free the slot and pass through', async () => {
    const b = bulkhead(1, 2);
    const boom = new Error('boom');
    const first = b.execute(() => {
      throw boom;
    });
    const second = b.execute(() => Promise.reject(boom));
    const third = b.execute(() => 'ok');
    await assert.rejects(first, (e) => e === boom);
    await assert.rejects(second, (e) => e === boom);
    assert.equal(await third, 'ok');
    assert.equal(b.active, 0);
    const totals = b.stats.totals();
    assert.equal(totals.failure, 2);
    assert.equal(totals.success, 1);
  });

  test('a queued call whose signal aborts leaves the queue at once without taking a slot', async () => {
    const b = bulkhead(1, 2);
    const gate = deferred();
    const running = b.execute(() => gate.promise);
    const ac = new AbortController();
    let abortedRan = false;
    const queued = track(
      b.execute(() => {
        abortedRan = true;
      }, ac.signal),
    );
    let nextRan = false;
    const next = b.execute(() => {
      nextRan = true;
      return 'next';
    });
    await flush();
    assert.equal(b.queued, 2);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    const reason = new Error('caller gave up');
    ac.abort(reason);
    await flush();
    assert.equal(queued.state, 'rejected');
    assert.equal(queued.error, reason);
    assert.equal(b.queued, 1);
    assert.equal(b.active, 1);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    gate.resolve();
    await running;
    assert.equal(await next, 'next');
    assert.equal(nextRan, true);
    assert.equal(abortedRan, false);
    assert.equal(b.stats.totals().cancelled, 1);
  });

  test('an already aborted signal is refused before taking a slot', async () => {
    const b = bulkhead(1);
    const ac = new AbortController();
    ac.abort(new Error('early'));
    await assert.rejects(
      b.execute(() => 'x', ac.signal),
      /early/,
    );
    assert.equal(b.active, 0);
  });

  test('a started call keeps no listener on the caller signal', async () => {
    const b = bulkhead(1, 1);
    const ac = new AbortController();
    const gate = deferred();
    const first = b.execute(() => gate.promise, ac.signal);
    const second = b.execute(() => 'two', ac.signal);
    await flush();
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    gate.resolve();
    await first;
    assert.equal(await second, 'two');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  });

  test('queue wait timeout refuses the call after exactly queueTimeoutMs', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const b = bulkhead({ maxConcurrent: 1, maxQueue: 5, queueTimeoutMs: 100, now: () => Date.now() });
    const rejects: BulkheadRejectEvent[] = [];
    b.onReject((e) => rejects.push(e));
    const gate = deferred();
    const running = b.execute(() => gate.promise);
    const waiting = track(b.execute(() => 'late'));
    mock.timers.tick(99);
    await flush();
    assert.equal(waiting.state, 'pending');
    mock.timers.tick(1);
    await flush();
    assert.equal(waiting.state, 'rejected');
    assert.ok(waiting.error instanceof BulkheadRejectedError);
    assert.equal(b.queued, 0);
    assert.deepEqual(rejects, [{ reason: 'queue-timeout', active: 1, queued: 0 }]);
    // A waiter that gets its slot in time has its timer cleared.
    const inTime = track(b.execute(() => 'in time'));
    mock.timers.tick(50);
    gate.resolve();
    await running;
    await flush();
    assert.equal(inTime.state, 'resolved');
    mock.timers.tick(1000);
    await flush();
    assert.equal(inTime.value, 'in time');
    assert.equal(b.stats.totals().rejected, 1);
  });

  test('span attributes: queued and rejected', async () => {
    const b = new BulkheadPolicy({ maxConcurrent: 1, maxQueue: 1 });
    const gate = deferred();
    const s1 = fakeSpan();
    const s2 = fakeSpan();
    const s3 = fakeSpan();
    const p1 = b.run(() => gate.promise, ctxWith(s1));
    const p2 = b.run(() => 'queued', ctxWith(s2));
    const p3 = b.run(() => 'refused', ctxWith(s3));
    await assert.rejects(p3, BulkheadRejectedError);
    gate.resolve();
    await p1;
    assert.equal(await p2, 'queued');
    assert.deepEqual(s1.attributes, {});
    assert.deepEqual(s2.attributes, { [ATTR.bulkheadQueued]: true });
    assert.deepEqual(s3.attributes, { [ATTR.bulkheadRejected]: true });
  });

  test('success and failure events with durations', async () => {
    const b = bulkhead(1);
    const events: string[] = [];
    b.onSuccess(({ durationMs }) => events.push(`ok ${durationMs >= 0}`));
    b.onFailure(({ handled }) => events.push(`fail ${handled}`));
    await b.execute(() => 1);
    await b.execute(() => Promise.reject(new Error('x'))).catch(() => {});
    assert.deepEqual(events, ['ok true', 'fail true']);
  });

  test('validates its options', () => {
    assert.throws(() => bulkhead(0), /option "maxConcurrent"/);
    assert.throws(() => bulkhead(1.5), /option "maxConcurrent"/);
    assert.throws(() => bulkhead(Infinity), /option "maxConcurrent"/);
    assert.throws(() => bulkhead(1, -1), /option "maxQueue"/);
    assert.throws(() => bulkhead(1, 0.5), /option "maxQueue"/);
    assert.throws(() => bulkhead({} as never), /option "maxConcurrent"/);
    assert.throws(() => bulkhead({ maxConcurrent: 1, queueTimeoutMs: -5 }), /option "queueTimeoutMs"/);
    assert.throws(() => bulkhead({ maxConcurrent: 1, queueTimeoutMs: NaN }), /option "queueTimeoutMs"/);
    assert.throws(() => bulkhead(1, 0, { name: 'bad name!' }), /option "name"/);
    const ok = bulkhead(3, Infinity, { name: 'pool', queueTimeoutMs: Infinity });
    assert.equal(ok.name, 'pool');
    assert.equal(ok.maxQueue, Infinity);
    assert.equal(bulkhead(2).maxQueue, 0);
  });

  test('10k executions leave no timer or listener behind', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const b = bulkhead({ maxConcurrent: 8, maxQueue: Infinity, queueTimeoutMs: 60_000 });
    const ac = new AbortController();
    setMaxListeners(Infinity, ac.signal);
    const batch: Promise<unknown>[] = [];
    for (let i = 0; i < 10_000; i++) {
      batch.push(b.execute(() => (i % 3 === 0 ? Promise.reject(new Error('x')) : new Promise((r) => setImmediate(r))), ac.signal).catch(() => {}));
      if (batch.length === 500) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
    assert.equal(b.active, 0);
    assert.equal(b.queued, 0);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    assert.equal(after, before);
  });
});
