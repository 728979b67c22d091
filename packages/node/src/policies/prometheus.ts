import { LabcoatInputError } from '@labcoat/core';
import type { Policy } from './policy.js';
import { bulkheadOf, circuitStateOf, policiesOf, type PolicyRegistry, type PolicySource } from './registry.js';
import type { OutcomeName } from './stats.js';

/**
 * Prometheus metrics for resilience policies, through `prom-client` (an optional peer dependency:
 * @labcoat/node loads it only when this is used). As in opossum-prometheus, the collectors read each
 * policy's {@link RollingStats} when Prometheus scrapes (`collect()` callbacks), so executions cost
 * nothing extra however many policies are exported.
 *
 * Series (with the default prefix `labcoat_`):
 *
 * | metric | type | labels | from |
 * |---|---|---|---|
 * | `labcoat_policy_executions_total` | counter | policy, kind, outcome | `stats.totals()` (since the policy was made) |
 * | `labcoat_policy_retries_total` | counter | policy, kind | `stats.totals().retry`: extra attempts by retries and hedges |
 * | `labcoat_policy_latency_seconds` | gauge | policy, quantile (0, 0.5, 0.9, 0.99, 0.995, 1) | `stats.snapshot()`: the rolling window; NaN when it holds no execution |
 * | `labcoat_policy_latency_mean_seconds` | gauge | policy | same |
 * | `labcoat_policy_error_rate` | gauge | policy | `snapshot().errorRate`: (failures + timeouts) / attempted, 0–1, rolling |
 * | `labcoat_circuit_state` | gauge | policy, state (closed, open, half-open, isolated, forced-open, disabled) | `breaker.state`, 1 for the current state, 0 for the others |
 * | `labcoat_bulkhead_active` / `labcoat_bulkhead_queued` | gauge | policy | `bulkhead.active` / `bulkhead.queued` |
 *
 * `outcome` is one of success, failure, timeout, shortCircuited, rejected, fallbackSuccess,
 * fallbackFailure, cancelled; every one is exported (0 included) so `rate()` works from the start.
 * Latencies are summary-like gauges over the rolling window (10 s by default), not a Prometheus
 * histogram: they cannot be aggregated across instances, only compared.
 */

/** The label values prom-client takes. */
export type PromLabels = Record<string, string>;

/** What this module needs of a prom-client `Registry` (any version ≥ 15). */
export interface PromRegistryLike {
  removeSingleMetric(name: string): void;
  getSingleMetric(name: string): unknown;
}

/** What this module needs of a prom-client metric. */
export interface PromMetricLike {
  reset(): void;
}

export interface PromCounterLike extends PromMetricLike {
  inc(labels: PromLabels, value?: number): void;
}

export interface PromGaugeLike extends PromMetricLike {
  set(labels: PromLabels, value: number): void;
}

/** The metric configuration passed to prom-client's constructors. */
export interface PromMetricConfig {
  name: string;
  help: string;
  labelNames: string[];
  /** prom-client `Registry` instances (typed loosely so that prom-client's own constructor types accept this configuration). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  registers: any[];
  aggregator: 'sum' | 'max' | 'average';
  collect: () => void;
}

/** What this module needs of the `prom-client` module. */
export interface PromClientLike {
  Counter: new (config: PromMetricConfig) => PromCounterLike;
  Gauge: new (config: PromMetricConfig) => PromGaugeLike;
  register: PromRegistryLike;
}

export interface PrometheusMetricsOptions {
  /** The prom-client module (default: `await import('prom-client')`). Pass yours when bundling or when two copies exist. */
  client?: PromClientLike;
  /** The prom-client registry to add the collectors to (default: prom-client's global `register`). */
  registry?: PromRegistryLike;
  /** The policies to export: a fixed array/Set (read again at every scrape) or a {@link PolicyRegistry}. */
  policies?: PolicySource;
  /** A registry of policies to export; exported with `policies` when both are given. Default, when neither is: `defaultPolicyRegistry`. */
  policyRegistry?: PolicyRegistry;
  /** Prepended to every metric name (default `labcoat_`). */
  prefix?: string;
}

/** Collectors registered in a prom-client registry; `dispose()` removes them. */
export interface PrometheusMetrics {
  /** The names of the metrics registered (prefix included). */
  readonly names: readonly string[];
  /** Unregisters every collector from the prom-client registry. Idempotent. */
  dispose(): void;
}

const OUTCOMES: readonly Exclude<OutcomeName, 'retry'>[] = ['success', 'failure', 'timeout', 'shortCircuited', 'rejected', 'fallbackSuccess', 'fallbackFailure', 'cancelled'];
const QUANTILES: readonly (readonly [string, number])[] = [
  ['0', 0],
  ['0.5', 50],
  ['0.9', 90],
  ['0.99', 99],
  ['0.995', 99.5],
  ['1', 100],
];
/** The circuit states a breaker reports; any other state string it returns is exported as well. */
export const CIRCUIT_STATES: readonly string[] = ['closed', 'open', 'half-open', 'isolated', 'forced-open', 'disabled'];

/**
 * Registers the policy collectors in a prom-client registry, loading prom-client with a dynamic
 * import unless `options.client` is given. Throws (a clear error) when prom-client is not installed.
 *
 * @example
 * import { Registry } from 'prom-client';
 * const registry = new Registry();
 * const breaker = circuitBreaker({ name: 'payments' });
 * const metrics = await prometheusMetrics({ registry, policies: [breaker] });
 * app.get('/metrics', async (_req, res) => res.type(registry.contentType).send(await registry.metrics()));
 * // on shutdown: metrics.dispose();
 */
export async function prometheusMetrics(options: PrometheusMetricsOptions = {}): Promise<PrometheusMetrics> {
  const client = options.client ?? (await loadPromClient());
  return new PrometheusPolicyMetrics(client, options);
}

async function loadPromClient(): Promise<PromClientLike> {
  try {
    const mod: PromClientLike & { default?: PromClientLike } = await import('prom-client');
    return typeof mod.Counter === 'function' ? mod : (mod.default as PromClientLike);
  } catch (error) {
    throw new Error(`prometheusMetrics(): cannot load "prom-client" (npm install prom-client), or pass it as option "client": ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * The collectors, made synchronously from the prom-client module you pass. Most code calls
 * {@link prometheusMetrics} instead.
 *
 * @example
 * import * as promClient from 'prom-client';
 * const metrics = new PrometheusPolicyMetrics(promClient, { policies: defaultPolicyRegistry });
 */
export class PrometheusPolicyMetrics implements PrometheusMetrics {
  readonly names: readonly string[];
  private readonly registry: PromRegistryLike;
  private disposed = false;

  constructor(client: PromClientLike, options: Omit<PrometheusMetricsOptions, 'client'> = {}) {
    if (client === null || typeof client !== 'object' || typeof client.Counter !== 'function' || typeof client.Gauge !== 'function') {
      throw new TypeError('prometheusMetrics(): option "client" must be the prom-client module');
    }
    const prefix = options.prefix ?? 'labcoat_';
    if (typeof prefix !== 'string' || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
      throw new LabcoatInputError('prometheusMetrics option "prefix"', `must be empty or a valid Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*); got ${JSON.stringify(prefix)}`);
    }
    const registry = options.registry ?? client.register;
    this.registry = registry;
    const sources: PolicySource[] = [];
    if (options.policies !== undefined) sources.push(options.policies);
    if (options.policyRegistry !== undefined) sources.push(options.policyRegistry);
    const list = (): Policy[] => (sources.length === 0 ? policiesOf(undefined) : sources.length === 1 ? policiesOf(sources[0]) : [...new Set(sources.flatMap((s) => policiesOf(s)))]);

    const names: string[] = [];
    const made: string[] = [];
    const counter = (name: string, help: string, labelNames: string[], fill: (c: PromCounterLike, policies: Policy[]) => void): void => {
      const full = prefix + name;
      names.push(full);
      const c: PromCounterLike = new client.Counter({
        name: full,
        help,
        labelNames,
        registers: [registry],
        aggregator: 'sum',
        collect: () => {
          c.reset();
          fill(c, list());
        },
      });
      made.push(full);
    };
    const gauge = (name: string, help: string, labelNames: string[], aggregator: PromMetricConfig['aggregator'], fill: (g: PromGaugeLike, policies: Policy[]) => void): void => {
      const full = prefix + name;
      names.push(full);
      const g: PromGaugeLike = new client.Gauge({
        name: full,
        help,
        labelNames,
        registers: [registry],
        aggregator,
        collect: () => {
          g.reset();
          fill(g, list());
        },
      });
      made.push(full);
    };

    try {
      counter('policy_executions_total', 'Executions of a resilience policy by outcome, since the policy was made.', ['policy', 'kind', 'outcome'], (c, policies) => {
        for (const p of policies) {
          const totals = p.stats.totals();
          for (const outcome of OUTCOMES) c.inc({ policy: p.name, kind: p.kind, outcome }, totals[outcome]);
        }
      });
      counter('policy_retries_total', 'Extra attempts made by a retry or hedging policy, since the policy was made.', ['policy', 'kind'], (c, policies) => {
        for (const p of policies) c.inc({ policy: p.name, kind: p.kind }, p.stats.totals().retry);
      });
      gauge('policy_latency_seconds', 'Latency quantiles of a policy over its rolling window (NaN when the window is empty).', ['policy', 'quantile'], 'max', (g, policies) => {
        for (const p of policies) {
          const lat = p.stats.snapshot().latencyMs;
          const empty = lat.max === 0 && lat.mean === 0;
          for (const [q, pct] of QUANTILES) g.set({ policy: p.name, quantile: q }, empty ? Number.NaN : lat.percentile(pct) / 1000);
        }
      });
      gauge('policy_latency_mean_seconds', 'Mean latency of a policy over its rolling window (NaN when the window is empty).', ['policy'], 'average', (g, policies) => {
        for (const p of policies) {
          const lat = p.stats.snapshot().latencyMs;
          g.set({ policy: p.name }, lat.max === 0 && lat.mean === 0 ? Number.NaN : lat.mean / 1000);
        }
      });
      gauge('policy_error_rate', 'Failures and timeouts over attempted executions in the rolling window, 0 to 1.', ['policy'], 'average', (g, policies) => {
        for (const p of policies) g.set({ policy: p.name }, p.stats.snapshot().errorRate);
      });
      gauge('circuit_state', 'State of a circuit breaker: 1 for its current state, 0 for the others.', ['policy', 'state'], 'sum', (g, policies) => {
        for (const p of policies) {
          if (p.kind !== 'circuit-breaker') continue;
          const state = circuitStateOf(p);
          for (const s of CIRCUIT_STATES) g.set({ policy: p.name, state: s }, s === state ? 1 : 0);
          if (state !== undefined && !CIRCUIT_STATES.includes(state)) g.set({ policy: p.name, state }, 1);
        }
      });
      gauge('bulkhead_active', 'Executions running in a bulkhead now.', ['policy'], 'sum', (g, policies) => {
        for (const p of policies) {
          const n = bulkheadOf(p)?.active;
          if (n !== undefined) g.set({ policy: p.name }, n);
        }
      });
      gauge('bulkhead_queued', 'Executions waiting in a bulkhead queue now.', ['policy'], 'sum', (g, policies) => {
        for (const p of policies) {
          const n = bulkheadOf(p)?.queued;
          if (n !== undefined) g.set({ policy: p.name }, n);
        }
      });
    } catch (error) {
      for (const name of made) registry.removeSingleMetric(name);
      throw error;
    }
    this.names = names;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const name of this.names) this.registry.removeSingleMetric(name);
  }
}
