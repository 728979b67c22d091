import assert from 'node:assert/strict';
import { getEventListeners, setMaxListeners } from 'node:events';
import { describe, test } from 'node:test';
import { ATTR, Baggage } from '@labcoat/core';
import { Labcoat, RequestContext, runWithContext } from '../../src/index.js';
import { CoalescePolicy, coalesce, type CoalesceEvent } from '../../src/policies/coalesce.js';
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

/** An underlying call the test settles, counting how often it was made and keeping its signal. */
function shared<T>() {
  const d = deferred<T>();
  const state = { calls: 0, signal: undefined as AbortSignal | undefined };
  const fn = (ctx: PolicyContext): Promise<T> => {
    state.calls++;
    state.signal = ctx.signal;
    return d.promise;
  };
  return { fn, d, state };
}

describe('coalesce', () => {
  test('N concurrent callers with one key make one call and share its result', async () => {
    const c = coalesce();
    const joins: CoalesceEvent[] = [];
    c.onJoin((e) => joins.push(e));
    const s = shared<{ id: number }>();
    const results = Array.from({ length: 50 }, () => c.executeKeyed('user:1', s.fn));
    assert.equal(s.state.calls, 1);
    assert.equal(c.inFlight, 1);
    const value = { id: 1 };
    s.d.resolve(value);
    const got = await Promise.all(results);
    assert.ok(got.every((v) => v === value));
    assert.equal(c.inFlight, 0, 'the key is forgotten once the call settles');
    assert.equal(joins.length, 49);
    assert.deepEqual(joins[48], { key: 'user:1', callers: 50 });
    assert.equal(c.stats.totals().success, 50);
    // No caching: the next call is a new one.
    let again = 0;
    assert.equal(await c.executeKeyed('user:1', () => ++again), 1);
    assert.equal(again, 1);
  });

  test('different keys do not share', async () => {
    const c = coalesce();
    let calls = 0;
    const [a, b, a2] = await Promise.all([
      c.executeKeyed('a', async () => `a${++calls}`),
      c.executeKeyed('b', async () => `b${++calls}`),
      c.executeKeyed('a', async () => `never${++calls}`),
    ]);
    assert.equal(calls, 2);
    assert.equal(a, 'a1');
    assert.equal(b, 'b2');
    assert.equal(a2, 'a1');
  });

  test('a rejection is shared by every caller', async () => {
    const c = coalesce();
    const s = shared<string>();
    const calls = Array.from({ length: 5 }, () => track(c.executeKeyed(42, s.fn)));
    const boom = new Error('boom');
    s.d.reject(boom);
    await flush();
    assert.ok(calls.every((x) => x.state === 'rejected' && x.error === boom));
    assert.equal(c.inFlight, 0);
    assert.equal(c.stats.totals().failure, 5);
    // A synchronous throw too.
    await assert.rejects(
      c.executeKeyed('sync', () => {
        throw boom;
      }),
      (e) => e === boom,
    );
    assert.equal(c.inFlight, 0);
  });

  test('a joiner that aborts detaches alone; the others still get the result', async () => {
    const c = coalesce();
    const s = shared<string>();
    const leader = track(c.executeKeyed('k', s.fn));
    const ac = new AbortController();
    const quitter = track(c.executeKeyed('k', s.fn, ac.signal));
    const stayer = track(c.executeKeyed('k', s.fn));
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    const reason = new Error('not interested');
    ac.abort(reason);
    await flush();
    assert.equal(quitter.state, 'rejected');
    assert.equal(quitter.error, reason);
    assert.equal(s.state.signal!.aborted, false, 'the shared call goes on');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    s.d.resolve('data');
    await flush();
    assert.equal(leader.value, 'data');
    assert.equal(stayer.value, 'data');
    assert.equal(s.state.calls, 1);
    const t = c.stats.totals();
    assert.equal(t.cancelled, 1);
    assert.equal(t.success, 2);
  });

  test('the leader aborting does not cancel the call its joiners wait for', async () => {
    const c = coalesce();
    const s = shared<string>();
    const ac = new AbortController();
    const leader = track(c.executeKeyed('k', s.fn, ac.signal));
    const joiner = track(c.executeKeyed('k', s.fn));
    ac.abort();
    await flush();
    assert.equal(leader.state, 'rejected');
    assert.equal((leader.error as Error).name, 'AbortError');
    assert.equal(s.state.signal!.aborted, false);
    s.d.resolve('ok');
    await flush();
    assert.equal(joiner.value, 'ok');
  });

  test('when every caller gives up, the shared call is aborted and the key freed', async () => {
    const c = coalesce();
    const s = shared<string>();
    const acs = [new AbortController(), new AbortController(), new AbortController()];
    const calls = acs.map((ac) => track(c.executeKeyed('k', s.fn, ac.signal)));
    acs[0]!.abort();
    acs[1]!.abort();
    await flush();
    assert.equal(s.state.signal!.aborted, false);
    const last = new Error('last one out');
    acs[2]!.abort(last);
    await flush();
    assert.equal(s.state.signal!.aborted, true);
    assert.equal(s.state.signal!.reason, last);
    assert.ok(calls.every((x) => x.state === 'rejected'));
    assert.equal(c.inFlight, 0);
    // A new caller starts afresh rather than joining the doomed call.
    const fresh = c.executeKeyed('k', () => 'fresh');
    // The abandoned call settling late changes nothing.
    s.d.reject(last);
    assert.equal(await fresh, 'fresh');
    await flush();
    assert.equal(c.inFlight, 0);
    assert.equal(c.stats.totals().cancelled, 3);
    for (const ac of acs) assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  });

  test('an already aborted caller neither starts nor joins a call', async () => {
    const c = coalesce();
    const ac = new AbortController();
    ac.abort(new Error('early'));
    let calls = 0;
    await assert.rejects(
      c.executeKeyed('k', () => ++calls, ac.signal),
      /early/,
    );
    assert.equal(calls, 0);
    assert.equal(c.inFlight, 0);
  });

  test('execute keys by the function itself, or by the key option', async () => {
    const byFn = coalesce();
    const s = shared<number>();
    const p1 = byFn.execute(s.fn);
    const p2 = byFn.execute(s.fn);
    const other = byFn.execute(() => -1);
    s.d.resolve(7);
    assert.deepEqual(await Promise.all([p1, p2, other]), [7, 7, -1]);
    assert.equal(s.state.calls, 1);

    let current = 'x';
    const byOption = new CoalescePolicy({ key: () => current, name: 'by-option' });
    const s2 = shared<string>();
    const q1 = byOption.execute(s2.fn);
    const q2 = byOption.execute(() => 'not called');
    current = 'y';
    const q3 = byOption.execute(() => 'y');
    s2.d.resolve('x');
    assert.deepEqual(await Promise.all([q1, q2, q3]), ['x', 'x', 'y']);
    assert.equal(s2.state.calls, 1);
  });

  test('joiners get labcoat.coalesced on their span; the shared call runs with the first caller context', async () => {
    const c = new CoalescePolicy({ key: () => 'same' });
    const s = shared<string>();
    const spans = [fakeSpan(), fakeSpan(), fakeSpan()];
    let sharedCtx: PolicyContext | undefined;
    const fn = (ctx: PolicyContext) => {
      sharedCtx = ctx;
      return s.fn(ctx);
    };
    const ps = spans.map((span, i) => c.run(fn, { signal: new AbortController().signal, attempt: 3, hedge: i, span }));
    s.d.resolve('v');
    await Promise.all(ps);
    assert.deepEqual(spans[0]!.attributes, {});
    assert.deepEqual(spans[1]!.attributes, { [ATTR.coalesced]: true });
    assert.deepEqual(spans[2]!.attributes, { [ATTR.coalesced]: true });
    assert.equal(sharedCtx?.attempt, 3);
    assert.equal(sharedCtx?.hedge, 0);
    assert.equal(sharedCtx?.span, spans[0]);
  });

  test('inside a labcoat request, executeKeyed opens one span per caller and marks the joiners', async () => {
    const sdk = new Labcoat({ service: 'coalesce-test', exporter: 'memory' });
    const c = coalesce({ labcoat: sdk, name: 'users' });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const s = shared<string>();
    const results = await runWithContext(new RequestContext(traceId, '00f067aa0ba902b7', 1, undefined, Baggage.EMPTY, undefined), () => {
      const ps = [c.executeKeyed('u1', s.fn), c.executeKeyed('u1', s.fn), c.executeKeyed('u1', s.fn)];
      s.d.resolve('user');
      return Promise.all(ps);
    });
    assert.deepEqual(results, ['user', 'user', 'user']);
    const spans = sdk.memory!.trace(traceId).filter((x) => x.name === 'policy users');
    assert.equal(spans.length, 3);
    assert.deepEqual(
      spans.map((x) => x.attributes[ATTR.coalesced] === true),
      [false, true, true],
    );
    assert.ok(spans.every((x) => x.attributes[ATTR.policyOutcome] === 'success'));
    assert.equal(s.state.calls, 1);
  });

  test('a key function that throws rejects the call', async () => {
    const c = coalesce({
      key: () => {
        throw new Error('no key');
      },
    });
    await assert.rejects(
      c.execute(() => 1),
      /no key/,
    );
  });

  test('validates its options', () => {
    assert.throws(() => coalesce({ key: 'id' as never }), /option "key"/);
    assert.throws(() => coalesce({ name: 'white space' }), /option "name"/);
    assert.equal(coalesce({ name: 'users' }).name, 'users');
    assert.equal(coalesce().kind, 'coalesce');
  });

  test('10k executions leave no in-flight key, timer or listener behind', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const c = coalesce();
    const ac = new AbortController();
    setMaxListeners(Infinity, ac.signal);
    let calls = 0;
    const batch: Promise<unknown>[] = [];
    for (let i = 0; i < 10_000; i++) {
      const key = `k${i % 50}`;
      batch.push(
        c
          .executeKeyed(
            key,
            () => {
              calls++;
              return i % 7 === 0 ? Promise.reject(new Error('x')) : new Promise((r) => setImmediate(r, key));
            },
            ac.signal,
          )
          .catch(() => {}),
      );
      if (batch.length === 500) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
    assert.ok(calls <= 10_000);
    assert.equal(c.inFlight, 0);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    assert.equal(after, before);
  });
});
