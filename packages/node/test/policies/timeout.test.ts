/**
 * Timeout policy: deadlines fire exactly at `timeoutMs`, cooperative vs aggressive strategies,
 * nested deadlines (the inner never outlives the outer), caller cancellation, stats, events, span
 * attributes, option validation, and no timer or listener left behind after many executions.
 */
import assert from 'node:assert/strict';
import { getEventListeners, setMaxListeners } from 'node:events';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { ATTR, type AttributeValue } from '@labcoat/core';
import { TimeoutError } from '../../src/policies/errors.js';
import { NEVER, type PolicyContext, type PolicySpan } from '../../src/policies/policy.js';
import { timeout, TimeoutPolicy, type TimeoutEvent } from '../../src/policies/timeout.js';
import { wrap } from '../../src/policies/wrap.js';

const now = (): number => Date.now();

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Tracks whether a promise settled, and how, without awaiting it. */
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

/** A function that ignores its signal and never settles. */
const hang = (): Promise<never> => new Promise<never>(() => {});

/** A function that settles only when its signal aborts (rejecting with the reason), as fetch does. */
function honour({ signal }: PolicyContext): Promise<never> {
  return new Promise<never>((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** Resolves with `value` after `ms`, whatever the signal says. */
function after<T>(ms: number, value: T): () => Promise<T> {
  return () => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));
}

class FakeSpan implements PolicySpan {
  attributes: Record<string, AttributeValue> = {};
  setAttribute(key: string, value: AttributeValue): void {
    this.attributes[key] = value;
  }
}

describe('timeout (fake timers)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
  afterEach(() => mock.timers.reset());

  test('aggressive: rejects exactly at the deadline, not before, without waiting for fn', async () => {
    const policy = timeout({ timeoutMs: 100, now });
    const events: TimeoutEvent[] = [];
    policy.onTimeout((e) => events.push(e));
    let seen: AbortSignal | undefined;
    const t = track(
      policy.execute((ctx) => {
        seen = ctx.signal;
        return hang();
      }),
    );
    mock.timers.tick(99);
    await flush();
    assert.equal(t.state, 'pending');
    assert.equal(seen!.aborted, false);
    mock.timers.tick(1);
    await flush();
    assert.equal(t.state, 'rejected');
    assert.ok(t.error instanceof TimeoutError);
    assert.equal((t.error as TimeoutError).timeoutMs, 100);
    assert.equal((t.error as TimeoutError).policy, 'timeout');
    assert.equal(seen!.aborted, true);
    assert.equal(seen!.reason, t.error, 'the signal aborts with the same TimeoutError');
    assert.deepEqual(events, [{ timeoutMs: 100, durationMs: 100 }]);
    assert.equal(policy.stats.totals().timeout, 1);
    assert.equal(policy.stats.snapshot().latencyMs.max, 100);
  });

  test('aggressive is the default; a number is timeoutMs', () => {
    const p = timeout(250);
    assert.equal(p.strategy, 'aggressive');
    assert.equal(p.timeoutMs, 250);
    assert.equal(p.kind, 'timeout');
  });

  test('cooperative: aborts the signal at the deadline but waits for fn, then rejects with TimeoutError', async () => {
    const policy = timeout({ timeoutMs: 100, strategy: 'cooperative', now });
    let seen: AbortSignal | undefined;
    let timedOutAt = -1;
    policy.onTimeout(() => (timedOutAt = Date.now()));
    const t = track(
      policy.execute((ctx) => {
        seen = ctx.signal;
        return after(150, 'late')();
      }),
    );
    mock.timers.tick(100);
    await flush();
    assert.equal(seen!.aborted, true);
    assert.equal(timedOutAt, 100);
    assert.equal(t.state, 'pending', 'cooperative waits for fn');
    mock.timers.tick(49);
    await flush();
    assert.equal(t.state, 'pending');
    mock.timers.tick(1);
    await flush();
    assert.equal(t.state, 'rejected');
    assert.ok(t.error instanceof TimeoutError);
    assert.equal(seen!.reason, t.error);
    assert.equal(policy.stats.totals().timeout, 1);
    assert.equal(policy.stats.snapshot().latencyMs.max, 150);
  });

  test('cooperative: a fn that honours the signal rejects at the deadline with the TimeoutError', async () => {
    const policy = timeout({ timeoutMs: 100, strategy: 'cooperative', now });
    const t = track(policy.execute(honour));
    mock.timers.tick(99);
    await flush();
    assert.equal(t.state, 'pending');
    mock.timers.tick(1);
    await flush();
    assert.equal(t.state, 'rejected');
    assert.ok(t.error instanceof TimeoutError);
  });

  test('cooperative: a fn that fails on its own after the deadline still ends as a timeout', async () => {
    const policy = timeout({ timeoutMs: 50, strategy: 'cooperative', now });
    const t = track(policy.execute(() => new Promise((_r, reject) => setTimeout(() => reject(new Error('boom')), 80))));
    mock.timers.tick(80);
    await flush();
    assert.ok(t.error instanceof TimeoutError);
    assert.equal(policy.stats.totals().timeout, 1);
    assert.equal(policy.stats.totals().failure, 0);
  });

  for (const strategy of ['aggressive', 'cooperative'] as const) {
    test(`${strategy}: success before the deadline resolves, clears the timer, never fires`, async () => {
      const policy = timeout({ timeoutMs: 100, strategy, now });
      let fired = 0;
      policy.onTimeout(() => fired++);
      const durations: number[] = [];
      policy.onSuccess((e) => durations.push(e.durationMs));
      const t = track(policy.execute(after(60, 'ok')));
      mock.timers.tick(60);
      await flush();
      assert.equal(t.state, 'fulfilled');
      assert.equal(t.value, 'ok');
      mock.timers.tick(1000);
      await flush();
      assert.equal(fired, 0);
      assert.deepEqual(durations, [60]);
      assert.deepEqual(
        { success: policy.stats.totals().success, timeout: policy.stats.totals().timeout },
        { success: 1, timeout: 0 },
      );
    });

    test(`${strategy}: failures pass through (sync throw and rejection)`, async () => {
      const policy = timeout({ timeoutMs: 100, strategy, now });
      const failures: unknown[] = [];
      policy.onFailure((e) => failures.push('error' in e.reason ? e.reason.error : undefined));
      const e1 = new Error('sync');
      await assert.rejects(
        policy.execute(() => {
          throw e1;
        }),
        (e) => e === e1,
      );
      const e2 = new Error('async');
      await assert.rejects(policy.execute(() => Promise.reject(e2)), (e) => e === e2);
      assert.deepEqual(failures, [e1, e2]);
      assert.equal(policy.stats.totals().failure, 2);
    });

    test(`${strategy}: the caller's abort rejects with its reason and leaves no listener`, async () => {
      const policy = timeout({ timeoutMs: 1000, strategy, now });
      const caller = new AbortController();
      const t = track(policy.execute(honour, caller.signal));
      await flush();
      assert.equal(getEventListeners(caller.signal, 'abort').length, 1, 'linked while running');
      mock.timers.tick(10);
      const reason = new Error('user went away');
      caller.abort(reason);
      await flush();
      assert.equal(t.state, 'rejected');
      assert.equal(t.error, reason);
      assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
      assert.equal(policy.stats.totals().cancelled, 1);
      assert.equal(policy.stats.totals().timeout, 0);
    });

    test(`${strategy}: no listener is left on the caller's signal after success, failure or timeout`, async () => {
      const policy = timeout({ timeoutMs: 100, strategy, now });
      const caller = new AbortController();
      await policy.execute(() => 1, caller.signal);
      await assert.rejects(policy.execute(() => Promise.reject(new Error('x')), caller.signal));
      const t = track(policy.execute(honour, caller.signal));
      mock.timers.tick(100);
      await flush();
      assert.ok(t.error instanceof TimeoutError);
      assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
      assert.equal(caller.signal.aborted, false, 'our deadline does not abort the caller');
    });

    test(`${strategy}: an already-aborted caller signal rejects without calling fn`, async () => {
      const policy = timeout({ timeoutMs: 100, strategy, now });
      const caller = new AbortController();
      caller.abort(new Error('gone'));
      let called = false;
      await assert.rejects(
        policy.execute(() => {
          called = true;
        }, caller.signal),
        /gone/,
      );
      assert.equal(called, false);
      assert.equal(policy.stats.totals().cancelled, 1);
    });
  }

  test('aggressive: caller abort rejects at once even when fn ignores the signal', async () => {
    const policy = timeout({ timeoutMs: 1000, now });
    const caller = new AbortController();
    const t = track(policy.execute(hang, caller.signal));
    caller.abort();
    await flush();
    assert.equal(t.state, 'rejected');
    assert.equal((t.error as Error).name, 'AbortError');
  });

  test('cooperative: a caller abort before the deadline stays a cancellation even if fn runs past it', async () => {
    const policy = timeout({ timeoutMs: 100, strategy: 'cooperative', now });
    let fired = 0;
    policy.onTimeout(() => fired++);
    const caller = new AbortController();
    const t = track(policy.execute(after(300, 'late'), caller.signal));
    mock.timers.tick(50);
    caller.abort(new Error('stop'));
    await flush();
    assert.equal(t.state, 'pending', 'cooperative waits for fn');
    mock.timers.tick(250);
    await flush();
    assert.equal((t.error as Error).message, 'stop');
    assert.equal(fired, 0);
    assert.deepEqual([policy.stats.totals().cancelled, policy.stats.totals().timeout], [1, 0]);
  });

  test('nested: timeout(1000) inside timeout(100) rejects at 100 ms with the outer TimeoutError', async () => {
    const outer = timeout({ timeoutMs: 100, name: 'outer', now });
    const inner = timeout({ timeoutMs: 1000, name: 'inner', now });
    const t = track(wrap(outer, inner).execute(hang));
    mock.timers.tick(99);
    await flush();
    assert.equal(t.state, 'pending');
    mock.timers.tick(1);
    await flush();
    assert.equal(t.state, 'rejected');
    assert.ok(t.error instanceof TimeoutError);
    assert.equal((t.error as TimeoutError).policy, 'outer');
    assert.equal((t.error as TimeoutError).timeoutMs, 100);
    assert.equal(outer.stats.totals().timeout, 1);
    assert.equal(inner.stats.totals().cancelled, 1);
    assert.equal(inner.stats.totals().timeout, 0);
  });

  test('nested by hand (passing ctx.signal on), cooperative both, fn honouring the signal', async () => {
    const outer = timeout({ timeoutMs: 100, name: 'outer', strategy: 'cooperative', now });
    const inner = timeout({ timeoutMs: 1000, name: 'inner', strategy: 'cooperative', now });
    let innerSignal: AbortSignal | undefined;
    const t = track(
      outer.execute(({ signal }) =>
        inner.execute((ctx) => {
          innerSignal = ctx.signal;
          return honour(ctx);
        }, signal),
      ),
    );
    mock.timers.tick(100);
    await flush();
    assert.equal(t.state, 'rejected');
    assert.equal((t.error as TimeoutError).policy, 'outer');
    assert.equal(innerSignal!.reason, t.error);
    mock.timers.tick(2000);
    await flush();
    assert.equal(inner.stats.totals().timeout, 0, "the inner deadline's timer was cleared");
  });

  test('nested: a shorter inner deadline fires first with its own error', async () => {
    const outer = timeout({ timeoutMs: 1000, name: 'outer', now });
    const inner = timeout({ timeoutMs: 100, name: 'inner', now });
    const t = track(wrap(outer, inner).execute(hang));
    mock.timers.tick(100);
    await flush();
    assert.equal((t.error as TimeoutError).policy, 'inner');
    assert.equal(outer.stats.totals().failure, 1, 'the outer saw the inner timeout as a failure');
  });

  test('sets the timedOut span attribute when the deadline fires, not otherwise', async () => {
    const policy = timeout({ timeoutMs: 100, now });
    const span = new FakeSpan();
    const ctx: PolicyContext = { signal: NEVER, attempt: 1, hedge: 0, span };
    await policy.run(() => 'fast', ctx);
    assert.equal(span.attributes[ATTR.timedOut], undefined);
    const t = track(policy.run(hang, ctx));
    mock.timers.tick(100);
    await flush();
    assert.equal(t.state, 'rejected');
    assert.equal(span.attributes[ATTR.timedOut], true);
  });

  test('passes attempt, hedge and span through to fn', async () => {
    const policy = timeout({ timeoutMs: 100, now });
    const span = new FakeSpan();
    const got = await policy.run((c) => c, { signal: NEVER, attempt: 3, hedge: 2, span });
    assert.equal(got.attempt, 3);
    assert.equal(got.hedge, 2);
    assert.equal(got.span, span);
    assert.notEqual(got.signal, NEVER);
  });

  test('a late settlement after an aggressive timeout is ignored (no unhandled rejection)', async () => {
    const policy = timeout({ timeoutMs: 10, now });
    const t = track(policy.execute(() => new Promise((_r, reject) => setTimeout(() => reject(new Error('late')), 50))));
    mock.timers.tick(10);
    await flush();
    assert.ok(t.error instanceof TimeoutError);
    mock.timers.tick(40);
    await flush();
    assert.ok(t.error instanceof TimeoutError);
    assert.deepEqual([policy.stats.totals().timeout, policy.stats.totals().failure], [1, 0]);
  });
});

describe('timeout options', () => {
  test('bad options throw at construction, naming the option', () => {
    assert.throws(() => timeout(-1), /option "timeoutMs"/);
    assert.throws(() => timeout(0), /option "timeoutMs".*> 0/);
    assert.throws(() => timeout(Number.NaN), /option "timeoutMs"/);
    assert.throws(() => timeout(Infinity), /option "timeoutMs"/);
    assert.throws(() => timeout(2 ** 31), /option "timeoutMs"/);
    assert.throws(() => timeout({} as { timeoutMs: number }), /option "timeoutMs".*required/);
    assert.throws(() => timeout({ timeoutMs: 10, strategy: 'eager' as 'aggressive' }), /option "strategy"/);
    assert.throws(() => timeout({ timeoutMs: 10, name: 'no spaces' }), /option "name"/);
    assert.throws(() => new TimeoutPolicy(null as unknown as { timeoutMs: number }), /timeout options/);
  });
});

describe('timeout (real timers)', () => {
  test('10k executions leave no pending timer and no listener', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const aggressive = timeout(1000);
    const cooperative = timeout({ timeoutMs: 1000, strategy: 'cooperative' });
    const short = timeout(1);
    const caller = new AbortController();
    setMaxListeners(20_000, caller.signal); // thousands of concurrent executions share one caller signal here
    const runs: Promise<unknown>[] = [];
    for (let i = 0; i < 10_000; i++) {
      const p = i % 2 === 0 ? aggressive : cooperative;
      if (i % 10 === 0) runs.push(p.execute(() => Promise.reject(new Error('x')), caller.signal).catch(() => undefined));
      else runs.push(p.execute((ctx) => ctx.attempt, i % 3 === 0 ? caller.signal : undefined));
    }
    // A few real deadlines, aggressive and cooperative.
    for (let i = 0; i < 20; i++) runs.push(short.execute(hang, caller.signal).catch(() => undefined));
    const coop = timeout({ timeoutMs: 1, strategy: 'cooperative' });
    for (let i = 0; i < 20; i++) runs.push(coop.execute(honour, caller.signal).catch(() => undefined));
    await Promise.all(runs);
    assert.equal(timers(), before);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
    assert.equal(short.stats.totals().timeout, 20);
    assert.equal(coop.stats.totals().timeout, 20);
  });
});
