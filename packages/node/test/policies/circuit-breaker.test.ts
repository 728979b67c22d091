/**
 * The circuit breaker's state machine, under node:test fake timers (the breaker reads time only
 * through its `now` option and never sets a timer): closed → open by each strategy, open →
 * half-open exactly at the end of the open period, half-open → closed / open, open-period backoff,
 * forced-open, disabled, metrics-only, isolation, snapshots, cancellation, classifiers, stats,
 * spans and the order of events.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { ATTR } from '@labcoat/core';
import { exponentialBackoff } from '../../src/policies/backoff.js';
import { ConsecutiveBreaker, CountBreaker, TimeWindowBreaker } from '../../src/policies/breaker/index.js';
import { CircuitBreakerPolicy, circuitBreaker, type CircuitBreakerOptions, type CircuitBreakerSnapshot, type OpenBackoff } from '../../src/policies/circuit-breaker.js';
import { BrokenCircuitError, IsolatedCircuitError } from '../../src/policies/errors.js';
import { handleResult, handleType } from '../../src/policies/handle.js';
import { NEVER, type PolicyContext } from '../../src/policies/policy.js';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
afterEach(() => mock.timers.reset());

const now = (): number => Date.now();
async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}
async function tick(ms: number): Promise<void> {
  mock.timers.tick(ms);
  await flush();
}

const ok = (): string => 'ok';
const boom = (): never => {
  throw new Error('boom');
};
/** A call that settles after `ms` of fake time. */
const after =
  (ms: number, fail = false) =>
  (): Promise<string> =>
    new Promise((resolve, reject) => setTimeout(() => (fail ? reject(new Error('late')) : resolve('late')), ms));

function make(options: CircuitBreakerOptions = {}): CircuitBreakerPolicy {
  return new CircuitBreakerPolicy({ now, halfOpenAfter: 1000, ...options });
}
async function failTimes(b: CircuitBreakerPolicy, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await b.execute(boom).catch(() => undefined);
}
/** Resolves to the value, or to the error the call rejected with. */
async function settle<T>(p: Promise<T>): Promise<T | unknown> {
  return p.then(
    (v) => v,
    (e: unknown) => e,
  );
}
/** Records every event of a breaker, in order. */
function journal(b: CircuitBreakerPolicy): string[] {
  const log: string[] = [];
  b.onSuccess(() => log.push('success'));
  b.onFailure((e) => log.push(`failure${e.handled ? '' : '(unhandled)'}`));
  b.onStateChange((e) => log.push(`${e.from}->${e.to}`));
  b.onBreak((e) => log.push(`break:${e.reason}`));
  b.onHalfOpen(() => log.push('half-open'));
  b.onReset((e) => log.push(`reset:${e.reason}`));
  b.onReject((e) => log.push(`reject:${e.state}${e.enforced ? '' : '(not enforced)'}`));
  return log;
}

describe('closed → open', () => {
  test('ConsecutiveBreaker: N failures in a row; a success in between starts again', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(3) });
    await failTimes(b, 2);
    assert.equal(await b.execute(ok), 'ok');
    await failTimes(b, 2);
    assert.equal(b.state, 'closed');
    await failTimes(b, 1);
    assert.equal(b.state, 'open');
    let called = false;
    const err = await settle(b.execute(() => (called = true)));
    assert.ok(err instanceof BrokenCircuitError);
    assert.equal(err.policy, 'circuit-breaker');
    assert.equal(called, false);
  });

  test('CountBreaker: failure rate over the last calls, not before minimumCalls', async () => {
    const b = make({ breaker: new CountBreaker({ size: 4, failureRateThreshold: 0.5, minimumCalls: 4 }) });
    await failTimes(b, 2);
    await b.execute(ok);
    assert.equal(b.state, 'closed'); // 3 calls: below the minimum although 2/3 failed
    await b.execute(ok);
    assert.equal(b.state, 'open'); // 2/4
  });

  test('TimeWindowBreaker: failures older than the window do not count', async () => {
    const b = make({ breaker: new TimeWindowBreaker({ windowMs: 1000, buckets: 10, failureRateThreshold: 0.5, minimumCalls: 3 }) });
    await failTimes(b, 2);
    await tick(1000);
    await b.execute(ok);
    await b.execute(ok);
    await failTimes(b, 1);
    assert.equal(b.state, 'closed'); // 1 of 3 in the window
    await failTimes(b, 1);
    assert.equal(b.state, 'open'); // 2 of 4
  });

  test('slow-call rate: calls of at least slowCallDurationMs', async () => {
    const b = make({ slowCallDurationMs: 100, breaker: new CountBreaker({ size: 3, failureRateThreshold: 1, slowCallRateThreshold: 0.6, minimumCalls: 3 }) });
    const reasons: string[] = [];
    b.onBreak((e) => reasons.push(e.reason));
    const p1 = b.execute(after(100));
    await tick(100);
    assert.equal(await p1, 'late');
    const p2 = b.execute(after(99));
    await tick(99);
    await p2;
    assert.equal(b.state, 'closed');
    const p3 = b.execute(after(150));
    await tick(150);
    await p3;
    assert.equal(b.state, 'open');
    assert.deepEqual(reasons, ['slow-call-rate']);
  });

  test('a call admitted while closed that ends after the circuit opened changes nothing', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1) });
    const slow = b.execute(after(500, true));
    await failTimes(b, 1);
    assert.equal(b.state, 'open');
    const before = b.toJSON();
    await tick(500);
    await settle(slow);
    assert.deepEqual(b.toJSON(), before);
  });

  test('… nor one that ends after the circuit opened and closed again', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1) });
    const slow = b.execute(after(2000, true));
    await failTimes(b, 1);
    await tick(1000);
    await b.execute(ok); // the probe closes the circuit
    assert.equal(b.state, 'closed');
    await tick(1000);
    await settle(slow); // fails now, in a closed period it did not start in
    assert.equal(b.state, 'closed');
  });
});

describe('open → half-open → closed / open', () => {
  test('half-open exactly when the open period ends, not a millisecond before', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1), halfOpenAfter: 1000 });
    await failTimes(b, 1);
    await tick(999);
    assert.ok((await settle(b.execute(ok))) instanceof BrokenCircuitError);
    assert.equal(b.state, 'open');
    await tick(1);
    assert.equal(b.state, 'half-open');
    assert.equal(await b.execute(ok), 'ok');
    assert.equal(b.state, 'closed');
  });

  test('without a state read, the first call after the open period is the probe', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1), halfOpenAfter: 1000 });
    await failTimes(b, 1);
    await tick(5000);
    assert.equal(await b.execute(ok), 'ok');
    assert.equal(b.state, 'closed');
  });

  test('half-open admits halfOpenProbes calls and closes after halfOpenSuccessThreshold successes', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1), halfOpenProbes: 2 });
    await failTimes(b, 1);
    await tick(1000);
    const p1 = b.execute(after(100));
    const p2 = b.execute(after(200));
    const third = await settle(b.execute(ok));
    assert.ok(third instanceof BrokenCircuitError);
    assert.match((third as Error).message, /half-open/);
    await tick(100);
    assert.equal(await p1, 'late');
    assert.equal(b.state, 'half-open'); // 1 of 2 successes
    await tick(100);
    assert.equal(await p2, 'late');
    assert.equal(b.state, 'closed');
  });

  test('halfOpenSuccessThreshold below the probe count closes on the first successes', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1), halfOpenProbes: 3, halfOpenSuccessThreshold: 1 });
    await failTimes(b, 1);
    await tick(1000);
    const slow = b.execute(after(100, true));
    assert.equal(await b.execute(ok), 'ok');
    assert.equal(b.state, 'closed');
    await tick(100);
    await settle(slow);
    assert.equal(b.state, 'closed'); // the late probe failure belongs to the half-open period that ended
  });

  test('a failed probe reopens the circuit for a new open period', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1) });
    const reasons: string[] = [];
    b.onBreak((e) => reasons.push(`${e.reason}#${e.consecutiveOpens}`));
    await failTimes(b, 1);
    await tick(1000);
    await failTimes(b, 1);
    assert.equal(b.state, 'open');
    await tick(999);
    assert.equal(b.state, 'open');
    await tick(1);
    assert.equal(b.state, 'half-open');
    assert.deepEqual(reasons, ['consecutive-failures#1', 'half-open-probe-failed#2']);
  });

  test('a slow probe fails when slow calls can open the circuit', async () => {
    const b = make({ slowCallDurationMs: 50, breaker: new CountBreaker({ size: 1, minimumCalls: 1, slowCallRateThreshold: 1 }) });
    const reasons: string[] = [];
    b.onBreak((e) => reasons.push(e.reason));
    const p = b.execute(after(50));
    await tick(50);
    await p;
    assert.equal(b.state, 'open');
    await tick(1000);
    const probe = b.execute(after(60));
    await tick(60);
    await probe;
    assert.equal(b.state, 'open');
    assert.deepEqual(reasons, ['slow-call-rate', 'half-open-probe-slow']);
  });

  test('halfOpenTimeoutMs: a probe that never ends does not hold the circuit half-open', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1), halfOpenTimeoutMs: 500 });
    const reasons: string[] = [];
    b.onBreak((e) => reasons.push(e.reason));
    await failTimes(b, 1);
    await tick(1000);
    const stuck = b.execute(after(2000, true)); // fails at t = 3000
    await tick(499);
    assert.ok((await settle(b.execute(ok))) instanceof BrokenCircuitError);
    assert.equal(b.state, 'half-open');
    await tick(1);
    assert.ok((await settle(b.execute(ok))) instanceof BrokenCircuitError);
    assert.equal(b.state, 'open');
    assert.deepEqual(reasons, ['consecutive-failures', 'half-open-timeout']);
    await tick(1000);
    assert.equal(b.state, 'half-open');
    await tick(500);
    await settle(stuck); // the old probe fails in the new half-open period: it is not this period's probe
    assert.equal(b.state, 'half-open');
    assert.equal(await b.execute(ok), 'ok');
    assert.equal(b.state, 'closed');
  });

  test('closing forgets the window: the strategy starts empty', async () => {
    const strategy = new ConsecutiveBreaker(2);
    const b = make({ breaker: strategy });
    await failTimes(b, 2);
    await tick(1000);
    await b.execute(ok);
    assert.equal(b.state, 'closed');
    assert.equal(strategy.consecutiveFailures, 0);
    await failTimes(b, 1);
    assert.equal(b.state, 'closed');
  });
});

describe('open-period backoff', () => {
  /** Opens (or reopens from half-open) the circuit and measures how long it stays open. */
  async function openPeriod(b: CircuitBreakerPolicy): Promise<number> {
    await failTimes(b, 1);
    assert.equal(b.state, 'open');
    const opened = Date.now();
    let step = 0;
    while (b.state === 'open') {
      await tick(1);
      step++;
      assert.ok(step < 100_000);
    }
    return Date.now() - opened;
  }

  test('{ initialMs, maxMs, multiplier }: grows on each consecutive open, capped; back to the start after closing', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1), halfOpenAfter: { initialMs: 100, maxMs: 350, multiplier: 2 } });
    const periods: number[] = [];
    for (let i = 0; i < 4; i++) periods.push(await openPeriod(b));
    assert.deepEqual(periods, [100, 200, 350, 350]);
    await b.execute(ok);
    assert.equal(b.state, 'closed');
    assert.equal(await openPeriod(b), 100);
  });

  test('a function of the consecutive open count', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1), halfOpenAfter: (n) => n * 50 });
    assert.deepEqual([await openPeriod(b), await openPeriod(b), await openPeriod(b)], [50, 100, 150]);
  });

  test('a backoff object: labcoat exponentialBackoff, or anything with next()', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1), halfOpenAfter: exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 400, jitter: 'none' }) });
    assert.deepEqual([await openPeriod(b), await openPeriod(b), await openPeriod(b), await openPeriod(b)], [100, 200, 400, 400]);

    const attempts: number[] = [];
    const delays = [30, 70, 90];
    const custom: OpenBackoff = {
      next: (info) => {
        attempts.push(info.attempt);
        return { delayMs: delays[info.attempt - 1] ?? 90, next: custom.next };
      },
    };
    const c = make({ breaker: new ConsecutiveBreaker(1), halfOpenAfter: custom });
    assert.deepEqual([await openPeriod(c), await openPeriod(c)], [30, 70]);
    assert.deepEqual(attempts, [1, 2]);
  });

  test('onBreak reports the open period', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1), halfOpenAfter: { initialMs: 10, multiplier: 3 } });
    const periods: number[] = [];
    b.onBreak((e) => periods.push(e.openForMs));
    await openPeriod(b);
    await openPeriod(b);
    assert.deepEqual(periods, [10, 30]);
  });
});

describe('by hand: forceOpen, disable, isolate, metrics-only', () => {
  test('forceOpen rejects everything, whatever the time, until reset()', async () => {
    const b = make();
    const log = journal(b);
    b.forceOpen();
    assert.equal(b.state, 'forced-open');
    await tick(1_000_000);
    const err = await settle(b.execute(ok));
    assert.ok(err instanceof BrokenCircuitError);
    assert.match((err as Error).message, /forced open/);
    assert.equal(b.state, 'forced-open');
    b.reset();
    assert.equal(b.state, 'closed');
    assert.equal(await b.execute(ok), 'ok');
    assert.deepEqual(log, ['closed->forced-open', 'break:forced', 'reject:forced-open', 'forced-open->closed', 'reset:reset', 'success']);
  });

  test('disable lets everything through and counts nothing into the strategy', async () => {
    const strategy = new ConsecutiveBreaker(1);
    const b = make({ breaker: strategy });
    b.disable();
    assert.equal(b.state, 'disabled');
    let calls = 0;
    for (let i = 0; i < 5; i++) {
      await b
        .execute(() => {
          calls++;
          throw new Error('x');
        })
        .catch(() => undefined);
    }
    assert.equal(calls, 5);
    assert.equal(b.state, 'disabled');
    assert.equal(strategy.consecutiveFailures, 0);
    assert.equal(b.stats.totals().failure, 5);
    b.reset();
    assert.equal(b.state, 'closed');
  });

  test('isolate: two handles; the circuit closes when both are disposed', async () => {
    const b = make();
    const log = journal(b);
    const h1 = b.isolate();
    const h2 = b.isolate();
    assert.equal(b.state, 'isolated');
    const err = await settle(b.execute(ok));
    assert.ok(err instanceof IsolatedCircuitError);
    assert.ok(err instanceof BrokenCircuitError);
    h1.dispose();
    h1.dispose(); // twice: counts once
    assert.equal(b.state, 'isolated');
    await tick(1_000_000);
    assert.ok((await settle(b.execute(ok))) instanceof IsolatedCircuitError);
    h2.dispose();
    assert.equal(b.state, 'closed');
    assert.equal(await b.execute(ok), 'ok');
    assert.deepEqual(log, ['closed->isolated', 'break:isolated', 'reject:isolated', 'reject:isolated', 'isolated->closed', 'reset:isolation-released', 'success']);
  });

  test('reset() ends an isolation; its handles then do nothing', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1) });
    const h = b.isolate();
    b.reset();
    assert.equal(b.state, 'closed');
    await failTimes(b, 1);
    assert.equal(b.state, 'open');
    h.dispose();
    assert.equal(b.state, 'open');
    // Nor does an old handle end a newer isolation.
    const old = b.isolate();
    b.forceOpen();
    const fresh = b.isolate();
    old.dispose();
    assert.equal(b.state, 'isolated');
    fresh.dispose();
    assert.equal(b.state, 'closed');
  });

  test("metrics-only: transitions happen and are reported, but no call is refused", async () => {
    const b = make({ breaker: new ConsecutiveBreaker(2), mode: 'metrics-only' });
    const log = journal(b);
    await failTimes(b, 2);
    assert.equal(b.state, 'open');
    assert.equal(await b.execute(ok), 'ok'); // would have been refused
    await tick(1000);
    assert.equal(await b.execute(ok), 'ok'); // the probe
    assert.equal(b.state, 'closed');
    b.forceOpen();
    assert.equal(await b.execute(ok), 'ok');
    assert.equal(b.stats.totals().shortCircuited, 0);
    assert.deepEqual(log, [
      'failure',
      'failure',
      'closed->open',
      'break:consecutive-failures',
      'reject:open(not enforced)',
      'success',
      'open->half-open',
      'half-open',
      'success',
      'half-open->closed',
      'reset:probes-succeeded',
      'closed->forced-open',
      'break:forced',
      'reject:forced-open(not enforced)',
      'success',
    ]);
  });
});

describe('snapshot and hydrate', () => {
  test('a restarted process resumes the open circuit, its open period and backoff', async () => {
    const options = (): CircuitBreakerOptions => ({ breaker: new CountBreaker({ size: 2, minimumCalls: 2 }), halfOpenAfter: { initialMs: 1000, multiplier: 2 } });
    const b1 = make(options());
    await failTimes(b1, 2);
    await tick(1000);
    await failTimes(b1, 1); // the probe fails: open for 2000 ms from t=1000
    await tick(500);
    const snap = JSON.parse(JSON.stringify(b1)) as CircuitBreakerSnapshot;
    assert.deepEqual(snap, { v: 1, state: 'open', openedAt: 1000, halfOpenAt: 3000, consecutiveOpens: 2, strategy: { kind: 'count', calls: [1, 1] } });

    const b2 = make({ ...options(), initialState: snap });
    assert.equal(b2.state, 'open');
    assert.ok((await settle(b2.execute(ok))) instanceof BrokenCircuitError);
    await tick(1499);
    assert.equal(b2.state, 'open');
    await tick(1);
    assert.equal(b2.state, 'half-open');
    await failTimes(b2, 1); // third open in a row: 4000 ms
    await tick(3999);
    assert.equal(b2.state, 'open');
    await tick(1);
    assert.equal(await b2.execute(ok), 'ok');
    assert.equal(b2.state, 'closed');
  });

  test('a closed circuit carries its window', async () => {
    const b1 = make({ breaker: new CountBreaker({ size: 3, minimumCalls: 3, failureRateThreshold: 0.6 }) });
    await failTimes(b1, 1);
    await b1.execute(ok);
    const b2 = make({ breaker: new CountBreaker({ size: 3, minimumCalls: 3, failureRateThreshold: 0.6 }), initialState: b1.toJSON() });
    await failTimes(b2, 1);
    assert.equal(b2.state, 'open');
  });

  test('toJSON is JSON-safe in every state; half-open, forced-open and isolated come back sensibly', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1) });
    const roundTrip = (): CircuitBreakerSnapshot => {
      const s = b.toJSON();
      assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
      return JSON.parse(JSON.stringify(s)) as CircuitBreakerSnapshot;
    };
    assert.equal(roundTrip().state, 'closed');
    await failTimes(b, 1);
    await tick(1000);
    const half = roundTrip();
    assert.equal(half.state, 'half-open');
    const c = make({ breaker: new ConsecutiveBreaker(1), initialState: half });
    assert.equal(c.state, 'half-open');
    assert.equal(await c.execute(ok), 'ok'); // its probe
    assert.equal(c.state, 'closed');

    const h = b.isolate();
    const iso = roundTrip();
    assert.equal(iso.state, 'isolated');
    const d = make({ initialState: iso });
    assert.equal(d.state, 'forced-open'); // no isolation handle survives a restart
    h.dispose();
    b.disable();
    assert.equal(make({ initialState: roundTrip() }).state, 'disabled');
    // halfOpenAt null: open until reset (a schedule that returned Infinity).
    const e = make({ breaker: new ConsecutiveBreaker(1), halfOpenAfter: () => Infinity });
    await failTimes(e, 1);
    assert.equal(e.toJSON().halfOpenAt, null);
    const f = make({ initialState: e.toJSON() });
    await tick(1e9);
    assert.equal(f.state, 'open');
  });

  test('a snapshot of another kind of strategy is ignored, not an error', () => {
    const snap: CircuitBreakerSnapshot = { v: 1, state: 'closed', openedAt: null, halfOpenAt: null, consecutiveOpens: 0, strategy: { kind: 'time-window', bucketMs: 100, buckets: [] } };
    assert.equal(make({ breaker: new CountBreaker(), initialState: snap }).state, 'closed');
  });

  test('bad snapshots throw naming the field', () => {
    const base: CircuitBreakerSnapshot = { v: 1, state: 'open', openedAt: 0, halfOpenAt: 100, consecutiveOpens: 1, strategy: null };
    const bad = (patch: Record<string, unknown>): CircuitBreakerSnapshot => ({ ...base, ...patch }) as unknown as CircuitBreakerSnapshot;
    assert.throws(() => make({ initialState: 'x' as unknown as CircuitBreakerSnapshot }), /option "initialState": must be an object/);
    assert.throws(() => make({ initialState: bad({ v: 2 }) }), /option "initialState\.v"/);
    assert.throws(() => make({ initialState: bad({ state: 'ajar' }) }), /option "initialState\.state"/);
    assert.throws(() => make({ initialState: bad({ openedAt: null }) }), /option "initialState\.openedAt"/);
    assert.throws(() => make({ initialState: bad({ openedAt: 'yesterday' }) }), /option "initialState\.openedAt"/);
    assert.throws(() => make({ initialState: bad({ halfOpenAt: -5 }) }), /option "initialState\.halfOpenAt": must not be before openedAt/);
    assert.throws(() => make({ initialState: bad({ state: 'half-open', halfOpenAt: null }) }), /option "initialState\.halfOpenAt"/);
    assert.throws(() => make({ initialState: bad({ consecutiveOpens: -1 }) }), /option "initialState\.consecutiveOpens"/);
    assert.throws(() => make({ initialState: bad({ strategy: [1] }) }), /option "initialState\.strategy"/);
    assert.throws(
      () => make({ breaker: new CountBreaker({ size: 3 }), initialState: bad({ strategy: { kind: 'count', calls: [0, 9] } }) }),
      /circuitBreaker option "initialState\.strategy\.calls\[1\]": must be a whole number from 0 to 3; got 9/,
    );
  });
});

describe('what counts', () => {
  test('handle: only the classified errors count; the others still reach the caller', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1), handle: handleType(TypeError) });
    const log = journal(b);
    const err = await settle(b.execute(() => Promise.reject(new RangeError('not mine'))));
    assert.ok(err instanceof RangeError);
    assert.equal(b.state, 'closed');
    await settle(b.execute(() => Promise.reject(new TypeError('mine'))));
    assert.equal(b.state, 'open');
    assert.deepEqual(log.slice(0, 3), ['failure(unhandled)', 'failure', 'closed->open']);
  });

  test('handle: a result can be a failure; the caller still gets it', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(2), handle: handleResult((v: { status: number }) => v.status >= 500) });
    const causes: unknown[] = [];
    b.onBreak((e) => causes.push(e.cause));
    assert.deepEqual(await b.execute(() => ({ status: 503 })), { status: 503 });
    assert.deepEqual(await b.execute(async () => ({ status: 500 })), { status: 500 });
    assert.equal(b.state, 'open');
    assert.deepEqual(causes, [{ value: { status: 500 } }]);
  });

  test('a synchronous throw is a rejection, and counts', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1) });
    const p = b.execute(boom);
    assert.ok(p instanceof Promise);
    await assert.rejects(p, /boom/);
    assert.equal(b.state, 'open');
  });

  test('an already aborted signal: rejected with its reason, fn not called, not counted', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1) });
    const ac = new AbortController();
    const reason = new Error('caller gave up');
    ac.abort(reason);
    let called = false;
    assert.equal(await settle(b.execute(() => (called = true), ac.signal)), reason);
    assert.equal(called, false);
    assert.equal(b.state, 'closed');
    assert.equal(b.stats.totals().cancelled, 1);
  });

  test('a call cancelled by its signal does not count against the dependency', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1) });
    const ac = new AbortController();
    const p = b.execute(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error))), ac.signal);
    ac.abort();
    const err = await settle(p);
    assert.equal((err as Error).name, 'AbortError');
    assert.equal(b.state, 'closed');
    assert.equal(b.stats.totals().cancelled, 1);
    assert.equal(b.stats.totals().failure, 0);
  });

  test('a cancelled probe gives its slot back', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1) });
    await failTimes(b, 1);
    await tick(1000);
    const ac = new AbortController();
    const probe = b.execute(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error))), ac.signal);
    assert.ok((await settle(b.execute(ok))) instanceof BrokenCircuitError);
    ac.abort();
    await settle(probe);
    assert.equal(b.state, 'half-open');
    assert.equal(await b.execute(ok), 'ok');
    assert.equal(b.state, 'closed');
  });

  test('a throwing classifier is reported, and the call keeps its outcome', async () => {
    const warn = mock.method(process, 'emitWarning', () => undefined);
    try {
      const b = make({ handle: { error: () => true, result: () => { throw new Error('bad classifier'); } } });
      assert.equal(await b.execute(ok), 'ok');
      assert.equal(await b.execute(async () => 'ok'), 'ok');
      await flush();
      assert.equal(warn.mock.callCount(), 2);
      assert.match(String(warn.mock.calls[0]!.arguments[0]), /bad classifier/);
    } finally {
      warn.mock.restore();
    }
  });
});

describe('observability', () => {
  test('stats: success and failure with durations, refusals as shortCircuited', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(2) });
    const p = b.execute(after(40));
    await tick(40);
    await p;
    await failTimes(b, 2);
    await settle(b.execute(ok));
    await settle(b.execute(ok));
    const t = b.stats.totals();
    assert.equal(t.success, 1);
    assert.equal(t.failure, 2);
    assert.equal(t.shortCircuited, 2);
    const snap = b.stats.snapshot();
    assert.ok(snap.latencyMs.max >= 40 && snap.latencyMs.max < 41);
  });

  test('spans: the state the call found, and whether it was refused', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1) });
    const run = async (fn: () => unknown): Promise<Record<string, unknown>> => {
      const attrs: Record<string, unknown> = {};
      const ctx: PolicyContext = { signal: NEVER, attempt: 1, hedge: 0, span: { setAttribute: (k, v) => (attrs[k] = v) } };
      await settle(b.run(fn, ctx));
      return attrs;
    };
    assert.deepEqual(await run(ok), { [ATTR.breakerState]: 'closed' });
    assert.deepEqual(await run(boom), { [ATTR.breakerState]: 'closed' });
    assert.deepEqual(await run(ok), { [ATTR.breakerState]: 'open', [ATTR.breakerRejected]: true });
    await tick(1000);
    assert.deepEqual(await run(ok), { [ATTR.breakerState]: 'half-open' });
    b.isolate();
    assert.deepEqual(await run(ok), { [ATTR.breakerState]: 'isolated', [ATTR.breakerRejected]: true });
  });

  test('events fire in order: the outcome, then the state change, then its specific event', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1), halfOpenAfter: 100 });
    const log = journal(b);
    await failTimes(b, 1);
    await settle(b.execute(ok));
    await tick(100);
    await b.execute(ok);
    await failTimes(b, 1);
    await tick(100);
    await failTimes(b, 1);
    assert.deepEqual(log, [
      'failure',
      'closed->open',
      'break:consecutive-failures',
      'reject:open',
      'open->half-open',
      'half-open',
      'success',
      'half-open->closed',
      'reset:probes-succeeded',
      'failure',
      'closed->open',
      'break:consecutive-failures',
      'open->half-open',
      'half-open',
      'failure',
      'half-open->open',
      'break:half-open-probe-failed',
    ]);
  });

  test('onBreak tells the cause; listeners can be disposed', async () => {
    const b = make({ breaker: new ConsecutiveBreaker(1) });
    const seen: unknown[] = [];
    const sub = b.onBreak((e) => seen.push(e));
    const err = new Error('down');
    await settle(b.execute(() => Promise.reject(err)));
    assert.deepEqual(seen, [{ reason: 'consecutive-failures', from: 'closed', openForMs: 1000, consecutiveOpens: 1, cause: { error: err } }]);
    sub.dispose();
    b.reset();
    await failTimes(b, 1);
    assert.equal(seen.length, 1);
  });
});

describe('construction', () => {
  test('bad options throw naming the option', () => {
    assert.throws(() => make({ halfOpenProbes: 0 }), /option "halfOpenProbes"/);
    assert.throws(() => make({ halfOpenProbes: 2, halfOpenSuccessThreshold: 3 }), /option "halfOpenSuccessThreshold"/);
    assert.throws(() => make({ halfOpenAfter: -1 }), /option "halfOpenAfter"/);
    assert.throws(() => make({ halfOpenAfter: undefined, halfOpenAfterMs: Number.NaN }), /option "halfOpenAfterMs"/);
    assert.throws(() => new CircuitBreakerPolicy({ halfOpenAfter: 5, halfOpenAfterMs: 5 }), /option "halfOpenAfterMs": give either/);
    assert.throws(() => make({ halfOpenAfter: { initialMs: 100, maxMs: 50 } }), /option "halfOpenAfter\.maxMs"/);
    assert.throws(() => make({ halfOpenAfter: { initialMs: 100, multiplier: 0.5 } }), /option "halfOpenAfter\.multiplier"/);
    assert.throws(() => make({ halfOpenAfter: {} as { initialMs: number } }), /option "halfOpenAfter\.initialMs"/);
    assert.throws(() => make({ halfOpenAfter: 'soon' as unknown as number }), /option "halfOpenAfter"/);
    assert.throws(() => make({ halfOpenTimeoutMs: -1 }), /option "halfOpenTimeoutMs"/);
    assert.throws(() => make({ slowCallDurationMs: -1 }), /option "slowCallDurationMs"/);
    assert.throws(() => make({ mode: 'shadow' as 'metrics-only' }), /option "mode"/);
    assert.throws(() => make({ breaker: {} as ConsecutiveBreaker }), /option "breaker"/);
    assert.throws(() => make({ handle: { error: () => true } as never }), /option "handle"/);
    assert.throws(() => make({ name: 'has spaces' }), /option "name"/);
  });

  test('a strategy object belongs to one breaker', () => {
    const strategy = new CountBreaker();
    make({ breaker: strategy });
    assert.throws(() => make({ breaker: strategy }), /option "breaker": is already used by another circuit breaker/);
  });

  test('defaults: 5 consecutive failures, 10 s open, one probe', async () => {
    const b = circuitBreaker({ now });
    assert.equal(b.kind, 'circuit-breaker');
    assert.equal(b.halfOpenAfterMs, 10_000);
    assert.equal(b.halfOpenProbes, 1);
    await failTimes(b, 4);
    assert.equal(b.state, 'closed');
    await failTimes(b, 1);
    assert.equal(b.state, 'open');
    await tick(9999);
    assert.equal(b.state, 'open');
    await tick(1);
    assert.equal(b.state, 'half-open');
  });

  test('no timers: an open breaker holds nothing on the event loop', async () => {
    mock.timers.reset();
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const b = circuitBreaker({ breaker: new ConsecutiveBreaker(1), halfOpenAfter: 60_000 });
    await failTimes(b, 1);
    assert.equal(b.state, 'open');
    assert.equal(timers(), before);
  });

  test("an async fn's own promise is what the caller gets (the breaker watches it from the side)", async () => {
    const b = make();
    const p = Promise.resolve(42);
    assert.equal(b.execute(() => p), p);
    assert.equal(await b.execute(() => p), 42);
  });
});

describe('latency sampling on the default clock', () => {
  test('counts every call but measures a sample of fast successes; a custom clock measures all', async () => {
    const sampled = circuitBreaker({ name: 'sampled' });
    for (let i = 0; i < 4000; i++) await sampled.execute(() => i);
    const snap = sampled.stats.snapshot();
    assert.equal(snap.counts.success, 4000, 'counts are exact');
    assert.ok(snap.latencyMs.samples >= 4000 / 8 && snap.latencyMs.samples < 4000, `sampled ${snap.latencyMs.samples} of 4000`);
    let t = 0;
    const exact = circuitBreaker({ name: 'exact', now: () => t++ });
    for (let i = 0; i < 100; i++) await exact.execute(() => i);
    assert.equal(exact.stats.snapshot().latencyMs.samples, 100);
  });
});
