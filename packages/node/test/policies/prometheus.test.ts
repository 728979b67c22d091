/**
 * Prometheus collectors and the policy registry. Each test makes a fresh prom-client `Registry`,
 * runs executions through real policies (a test-local breaker built on BasePolicy, the real
 * bulkhead), scrapes with `registry.metrics()` and reads the text exposition.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LabcoatInputError } from '@labcoat/core';
import * as promClient from 'prom-client';
import { ConsecutiveBreaker } from '../../src/policies/breaker/index.js';
import { bulkhead } from '../../src/policies/bulkhead.js';
import { circuitBreaker } from '../../src/policies/circuit-breaker.js';
import { BrokenCircuitError, TimeoutError } from '../../src/policies/errors.js';
import { BasePolicy, invoke, type CommonPolicyOptions, type PolicyContext, type PolicyFn } from '../../src/policies/policy.js';
import { PrometheusPolicyMetrics, prometheusMetrics } from '../../src/policies/prometheus.js';
import { defaultPolicyRegistry, PolicyRegistry } from '../../src/policies/registry.js';
import { Outcome } from '../../src/policies/stats.js';

/** A manual clock: executions move it forward to take a known time. */
class Clock {
  t = 1_000_000;
  readonly now = (): number => this.t;
}

/** A minimal circuit breaker: records outcomes into its stats and refuses calls while `state` is open. */
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

/** Runs `n` calls through `p` that take `ms` each on `clock` and end with `end` ('ok', 'fail' or 'timeout'). */
async function run(p: BasePolicy, clock: Clock, n: number, ms: number, end: 'ok' | 'fail' | 'timeout' | 'refused' = 'ok'): Promise<void> {
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

/** The exposition as `name{a="x",b="y"}` (labels sorted) → value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparsable exposition line: ${line}`);
    const labels = (m[2] ?? '')
      .split(/,(?=[a-zA-Z_]\w*=")/)
      .filter((l) => l !== '')
      .sort()
      .join(',');
    out.set(`${m[1]}{${labels}}`, Number(m[3]));
  }
  return out;
}

function key(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',')}}`;
}

function value(series: Map<string, number>, name: string, labels: Record<string, string>): number {
  const k = key(name, labels);
  const v = series.get(k);
  assert.ok(v !== undefined, `series ${k} missing; have:\n${[...series.keys()].join('\n')}`);
  return v;
}

async function scrape(registry: promClient.Registry): Promise<Map<string, number>> {
  return parse(await registry.metrics());
}

describe('prometheusMetrics', () => {
  test('exports executions by outcome, error rate, latency quantiles and circuit state, read at scrape time', async () => {
    const clock = new Clock();
    const breaker = new TestBreaker({ name: 'payments', now: clock.now });
    const registry = new promClient.Registry();
    const metrics = await prometheusMetrics({ client: promClient, registry, policies: [breaker] });

    await run(breaker, clock, 3, 10);
    await run(breaker, clock, 2, 40, 'fail');
    await run(breaker, clock, 1, 100, 'timeout');
    breaker.state = 'open';
    await run(breaker, clock, 4, 0);
    breaker.state = 'closed';

    const s = await scrape(registry);
    const ex = (outcome: string): number => value(s, 'labcoat_policy_executions_total', { policy: 'payments', kind: 'circuit-breaker', outcome });
    assert.equal(ex('success'), 3);
    assert.equal(ex('failure'), 2);
    assert.equal(ex('timeout'), 1);
    assert.equal(ex('shortCircuited'), 4);
    for (const zero of ['rejected', 'fallbackSuccess', 'fallbackFailure', 'cancelled']) assert.equal(ex(zero), 0, zero);
    assert.equal(value(s, 'labcoat_policy_retries_total', { policy: 'payments', kind: 'circuit-breaker' }), 0);

    // (2 failures + 1 timeout) / 6 attempted calls
    assert.equal(value(s, 'labcoat_policy_error_rate', { policy: 'payments' }), 0.5);

    const q = (quantile: string): number => value(s, 'labcoat_policy_latency_seconds', { policy: 'payments', quantile });
    // Latencies: 3 × 10 ms, 2 × 40 ms, 1 × 100 ms (+ 4 refused calls without a duration). Histogram buckets are within ~9%.
    assert.ok(Math.abs(q('0.5') - 0.01) <= 0.001, `p50 ${q('0.5')}`);
    assert.ok(Math.abs(q('0.9') - 0.1) <= 0.01, `p90 ${q('0.9')}`);
    assert.equal(q('1'), 0.1);
    assert.ok(q('0') <= q('0.5') && q('0.5') <= q('0.9') && q('0.9') <= q('0.99') && q('0.99') <= q('0.995') && q('0.995') <= q('1'));
    assert.ok(Math.abs(value(s, 'labcoat_policy_latency_mean_seconds', { policy: 'payments' }) - 0.21 / 6) < 1e-9);

    assert.equal(value(s, 'labcoat_circuit_state', { policy: 'payments', state: 'closed' }), 1);
    assert.equal(value(s, 'labcoat_circuit_state', { policy: 'payments', state: 'open' }), 0);
    assert.equal(value(s, 'labcoat_circuit_state', { policy: 'payments', state: 'half-open' }), 0);

    // The next scrape reads the stats again.
    breaker.state = 'half-open';
    await run(breaker, clock, 1, 0);
    const s2 = await scrape(registry);
    assert.equal(value(s2, 'labcoat_circuit_state', { policy: 'payments', state: 'half-open' }), 1);
    assert.equal(value(s2, 'labcoat_circuit_state', { policy: 'payments', state: 'closed' }), 0);
    assert.equal(value(s2, 'labcoat_policy_executions_total', { policy: 'payments', kind: 'circuit-breaker', outcome: 'shortCircuited' }), 5);

    // A state outside the known ones is exported too.
    breaker.state = 'melted';
    assert.equal(value(await scrape(registry), 'labcoat_circuit_state', { policy: 'payments', state: 'melted' }), 1);

    metrics.dispose();
  });

  test('the text exposition has HELP and TYPE lines for each metric', async () => {
    const registry = new promClient.Registry();
    const metrics = await prometheusMetrics({ client: promClient, registry, policies: [new TestBreaker({ name: 'a' })] });
    const text = await registry.metrics();
    assert.match(text, /^# TYPE labcoat_policy_executions_total counter$/m);
    assert.match(text, /^# TYPE labcoat_policy_latency_seconds gauge$/m);
    assert.match(text, /^# TYPE labcoat_circuit_state gauge$/m);
    assert.match(text, /^# HELP labcoat_policy_error_rate .+$/m);
    assert.deepEqual([...metrics.names].sort(), [
      'labcoat_bulkhead_active',
      'labcoat_bulkhead_queued',
      'labcoat_circuit_state',
      'labcoat_policy_error_rate',
      'labcoat_policy_executions_total',
      'labcoat_policy_latency_mean_seconds',
      'labcoat_policy_latency_seconds',
      'labcoat_policy_retries_total',
    ]);
    metrics.dispose();
  });

  test('latency is NaN while the window holds no execution', async () => {
    const registry = new promClient.Registry();
    const metrics = await prometheusMetrics({ client: promClient, registry, policies: [new TestBreaker({ name: 'idle' })] });
    const s = await scrape(registry);
    assert.ok(Number.isNaN(value(s, 'labcoat_policy_latency_seconds', { policy: 'idle', quantile: '0.99' })));
    assert.ok(Number.isNaN(value(s, 'labcoat_policy_latency_mean_seconds', { policy: 'idle' })));
    assert.equal(value(s, 'labcoat_policy_error_rate', { policy: 'idle' }), 0);
    metrics.dispose();
  });

  test('bulkhead active and queued gauges come from a real bulkhead; other kinds have none', async () => {
    const registry = new promClient.Registry();
    const pool = bulkhead({ name: 'db', maxConcurrent: 1, maxQueue: 2 });
    const breaker = new TestBreaker({ name: 'brk' });
    const metrics = await prometheusMetrics({ client: promClient, registry, policies: [pool, breaker] });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const calls = [pool.execute(() => gate), pool.execute(() => gate), pool.execute(() => gate)];
    const refused = pool.execute(() => gate).catch((e: unknown) => e);

    const s = await scrape(registry);
    assert.equal(value(s, 'labcoat_bulkhead_active', { policy: 'db' }), 1);
    assert.equal(value(s, 'labcoat_bulkhead_queued', { policy: 'db' }), 2);
    assert.equal(value(s, 'labcoat_policy_executions_total', { policy: 'db', kind: 'bulkhead', outcome: 'rejected' }), 1);
    assert.ok(!s.has(key('labcoat_bulkhead_active', { policy: 'brk' })));
    assert.ok(![...s.keys()].some((k) => k.startsWith('labcoat_circuit_state{') && k.includes('policy="db"')));

    release();
    await Promise.all(calls);
    await refused;
    const s2 = await scrape(registry);
    assert.equal(value(s2, 'labcoat_bulkhead_active', { policy: 'db' }), 0);
    assert.equal(value(s2, 'labcoat_bulkhead_queued', { policy: 'db' }), 0);
    assert.equal(value(s2, 'labcoat_policy_executions_total', { policy: 'db', kind: 'bulkhead', outcome: 'success' }), 3);
    metrics.dispose();
  });

  test('dispose() unregisters every collector, and the same names can be registered again', async () => {
    const registry = new promClient.Registry();
    const breaker = new TestBreaker({ name: 'gone' });
    const metrics = await prometheusMetrics({ client: promClient, registry, policies: [breaker] });
    assert.match(await registry.metrics(), /labcoat_policy_executions_total\{/);
    metrics.dispose();
    metrics.dispose(); // idempotent
    assert.doesNotMatch(await registry.metrics(), /labcoat_/);
    for (const name of metrics.names) assert.equal(registry.getSingleMetric(name), undefined);

    const again = new PrometheusPolicyMetrics(promClient, { registry, policies: [breaker] });
    assert.match(await registry.metrics(), /labcoat_policy_executions_total\{policy="gone"/);
    again.dispose();
  });

  test('a name clash with metrics already in the registry throws and leaves nothing half-registered', async () => {
    const registry = new promClient.Registry();
    new promClient.Gauge({ name: 'labcoat_policy_error_rate', help: 'taken', registers: [registry] });
    await assert.rejects(prometheusMetrics({ client: promClient, registry, policies: [] }), /already been registered/);
    assert.equal(registry.getSingleMetric('labcoat_policy_executions_total'), undefined);
    assert.ok(registry.getSingleMetric('labcoat_policy_error_rate'));
  });

  test('reads a PolicyRegistry at every scrape; prefix option; prom-client loaded by dynamic import', async () => {
    const registry = new promClient.Registry();
    const policies = new PolicyRegistry();
    const clock = new Clock();
    const a = new TestBreaker({ name: 'a', now: clock.now });
    const metrics = await prometheusMetrics({ registry, policyRegistry: policies, prefix: 'svc_' });
    assert.doesNotMatch(await registry.metrics(), /policy="a"/);
    const handle = policies.add(a);
    await run(a, clock, 2, 5);
    assert.equal(value(await scrape(registry), 'svc_policy_executions_total', { policy: 'a', kind: 'circuit-breaker', outcome: 'success' }), 2);
    handle.dispose();
    assert.doesNotMatch(await registry.metrics(), /policy="a"/);
    metrics.dispose();
  });

  test('without a policy source it reads the default registry', async () => {
    const registry = new promClient.Registry();
    const p = new TestBreaker({ name: 'prometheus-test-default' });
    const handle = defaultPolicyRegistry.add(p);
    try {
      const metrics = await prometheusMetrics({ client: promClient, registry });
      assert.match(await registry.metrics(), /labcoat_circuit_state\{policy="prometheus-test-default",state="closed"\} 1/);
      metrics.dispose();
    } finally {
      handle.dispose();
    }
  });

  test('with the real circuitBreaker(): outcomes and every state it goes through', async () => {
    const registry = new promClient.Registry();
    const breaker = circuitBreaker({ name: 'real', breaker: new ConsecutiveBreaker(2), halfOpenAfterMs: 60_000 });
    const metrics = await prometheusMetrics({ client: promClient, registry, policies: [breaker] });
    const state = async (): Promise<string[]> => {
      const s = await scrape(registry);
      return ['closed', 'open', 'half-open', 'isolated', 'forced-open', 'disabled'].filter((st) => value(s, 'labcoat_circuit_state', { policy: 'real', state: st }) === 1);
    };
    assert.equal(await breaker.execute(() => 'ok'), 'ok');
    assert.deepEqual(await state(), ['closed']);
    for (let i = 0; i < 2; i++) await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => undefined);
    assert.ok((await breaker.execute(() => 'not called').catch((e: unknown) => e)) instanceof BrokenCircuitError);
    const s = await scrape(registry);
    const ex = (outcome: string): number => value(s, 'labcoat_policy_executions_total', { policy: 'real', kind: 'circuit-breaker', outcome });
    assert.equal(ex('success'), 1);
    assert.equal(ex('failure'), 2);
    assert.equal(ex('shortCircuited'), 1);
    assert.ok(Math.abs(value(s, 'labcoat_policy_error_rate', { policy: 'real' }) - 2 / 3) < 1e-9);
    assert.deepEqual(await state(), ['open']);
    const isolation = breaker.isolate();
    assert.deepEqual(await state(), ['isolated']);
    isolation.dispose();
    breaker.forceOpen();
    assert.deepEqual(await state(), ['forced-open']);
    breaker.disable();
    assert.deepEqual(await state(), ['disabled']);
    breaker.reset();
    assert.deepEqual(await state(), ['closed']);
    metrics.dispose();
  });

  test('bad options throw', async () => {
    await assert.rejects(prometheusMetrics({ client: promClient, registry: new promClient.Registry(), prefix: 'bad-prefix' }), /option "prefix"/);
    assert.throws(() => new PrometheusPolicyMetrics({} as never), /option "client"/);
  });
});

describe('PolicyRegistry', () => {
  test('add / list / get / dispose; the same policy twice stays until both handles are disposed', () => {
    const r = new PolicyRegistry();
    const a = new TestBreaker({ name: 'a' });
    const b = new TestBreaker({ name: 'b' });
    const ha = r.add(a);
    const hb = r.add(b);
    assert.deepEqual(r.list(), [a, b]);
    assert.equal(r.get('b'), b);
    assert.equal(r.size, 2);
    const ha2 = r.add(a);
    ha.dispose();
    ha.dispose(); // idempotent: does not undo the second add
    assert.ok(r.has(a));
    ha2.dispose();
    assert.ok(!r.has(a));
    assert.deepEqual(r.list(), [b]);
    assert.equal(r.remove(b), true);
    assert.equal(r.remove(b), false);
    hb.dispose(); // after remove: harmless
    assert.equal(r.size, 0);
  });

  test('another policy with a taken name is refused; a disposed name can be reused', () => {
    const r = new PolicyRegistry();
    const h = r.add(new TestBreaker());
    assert.throws(() => r.add(new TestBreaker()), (e: unknown) => e instanceof LabcoatInputError && /already registered as "circuit-breaker"/.test(e.message));
    h.dispose();
    const other = new TestBreaker();
    r.add(other);
    assert.equal(r.get('circuit-breaker'), other);
  });

  test('bounded by maxPolicies', () => {
    const r = new PolicyRegistry({ maxPolicies: 2 });
    r.add(new TestBreaker({ name: 'x1' }));
    const h = r.add(new TestBreaker({ name: 'x2' }));
    assert.throws(() => r.add(new TestBreaker({ name: 'x3' })), /option "maxPolicies"/);
    h.dispose();
    r.add(new TestBreaker({ name: 'x3' }));
    r.clear();
    assert.equal(r.size, 0);
    assert.throws(() => new PolicyRegistry({ maxPolicies: 0 }), /option "maxPolicies"/);
    assert.throws(() => r.add({} as never), /not a labcoat policy/);
  });
});
