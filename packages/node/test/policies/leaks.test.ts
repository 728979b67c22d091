/**
 * A policy never leaks timers or listeners: 100k calls through every policy, succeeding, failing,
 * timing out and cancelled, leave no pending timers, no listeners on the caller's long-lived
 * signal, and a heap that returns to about where it started.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { test } from 'node:test';
import { ConsecutiveBreaker } from '../../src/policies/breaker/index.js';
import { bulkhead } from '../../src/policies/bulkhead.js';
import { circuitBreaker } from '../../src/policies/circuit-breaker.js';
import { coalesce } from '../../src/policies/coalesce.js';
import { fallback } from '../../src/policies/fallback.js';
import { hedging } from '../../src/policies/hedging.js';
import { rateLimit } from '../../src/policies/rate-limit.js';
import { retry } from '../../src/policies/retry.js';
import { timeout } from '../../src/policies/timeout.js';
import { wrap } from '../../src/policies/wrap.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

test('100k calls through every policy leave no timers, no listeners and a bounded heap', { timeout: 60_000 }, async () => {
  const caller = new AbortController();
  // Generous limits and a never-opening breaker: every call really runs through every layer.
  const pipeline = wrap(
    fallback(() => 'fallback'),
    retry({ maxAttempts: 2, backoff: 0 }),
    circuitBreaker({ breaker: new ConsecutiveBreaker(1_000_000_000) }),
    bulkhead({ maxConcurrent: 64, maxQueue: 1_000 }),
    rateLimit({ ratePerSec: 1e9, burst: 1e9 }),
    timeout({ timeoutMs: 1_000, strategy: 'cooperative' }),
    { name: 'leak-test' },
  );
  const hedged = hedging({ delayMs: 0, maxAttempts: 2, budget: false });
  const coalescer = coalesce();
  const short = timeout({ timeoutMs: 1, strategy: 'aggressive' });
  const baselineTimers = timers();

  const work = async (i: number): Promise<unknown> => {
    switch (i % 5) {
      case 0:
        return pipeline.execute(() => i, caller.signal);
      case 1:
        return pipeline.execute(() => Promise.reject(new Error('boom')), caller.signal);
      case 2:
        return hedged.execute(({ signal }) => new Promise((resolve) => (signal.aborted ? resolve(0) : resolve(i))), caller.signal);
      case 3:
        return coalescer.executeKeyed(i % 7, () => i, caller.signal);
      default: {
        // Cancelled by its own signal half the time, otherwise succeeds quickly.
        const own = new AbortController();
        const p = pipeline.execute(() => new Promise((r) => setImmediate(r, i)), own.signal);
        if (i % 10 === 4) own.abort(new Error('caller gave up'));
        return p.catch(() => 'cancelled');
      }
    }
  };

  // Warm-up, then measure the heap.
  for (let i = 0; i < 5_000; i++) await work(i);
  const heapBefore = heapAfterGc();
  const N = 100_000;
  const BATCH = 200;
  for (let i = 0; i < N; i += BATCH) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < i + BATCH; j++) batch.push(work(j));
    await Promise.all(batch);
  }
  // A few calls that really time out, so the timeout's own timer path is exercised too.
  for (let i = 0; i < 200; i++) await short.execute(() => new Promise((r) => setTimeout(r, 5))).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 20));

  assert.equal(timers(), baselineTimers, 'every timer a policy started has been cleared');
  assert.equal(getEventListeners(caller.signal, 'abort').length, 0, 'no listener left on the caller signal');
  assert.equal(coalescer.inFlight, 0);
  const grownMb = (heapAfterGc() - heapBefore) / 1e6;
  assert.ok(grownMb < 8, `heap grew by ${grownMb.toFixed(1)} MB over 100k calls`);
  const totals = pipeline.stats.totals();
  assert.ok(totals.success > 0 && totals.cancelled > 0 && totals.failure === 0, `the fallback answered the failures: ${JSON.stringify(totals)}`);
});
