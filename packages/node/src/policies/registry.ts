import { LabcoatInputError } from '@labcoat/core';
import type { Disposable } from './events.js';
import type { Policy } from './policy.js';
import { checkInteger } from './validate.js';

/** Options of {@link PolicyRegistry}. */
export interface PolicyRegistryOptions {
  /** Most policies held at once (default 1000). */
  maxPolicies?: number;
}

interface Entry {
  readonly policy: Policy;
  refs: number;
}

/**
 * Which policies metrics exporters (Prometheus, the Hystrix stream) report on. Registration is
 * explicit — nothing is added when a policy is created — and undone explicitly.
 *
 * The registry holds its policies STRONGLY until the handle `add` returned is disposed (or
 * `remove`/`clear` is called): weak references would make what a scrape shows depend on when the
 * garbage collector last ran. To keep a forgotten `dispose()` from growing it without limit, it is
 * bounded (`maxPolicies`, default 1000): adding one more throws instead of evicting silently.
 *
 * Names are the identity in metrics, so two different policies may not share one: give each policy
 * a `name` (the default is its kind, so two unnamed breakers clash). Adding the same policy again
 * is fine; it stays registered until every handle for it has been disposed.
 *
 * @example
 * const metrics = new PolicyRegistry();
 * const breaker = circuitBreaker({ name: 'payments' });
 * const registration = metrics.add(breaker);
 * await prometheusMetrics({ policyRegistry: metrics });
 * app.get('/hystrix.stream', hystrixStream({ policies: metrics }));
 * registration.dispose(); // the breaker leaves both
 */
export class PolicyRegistry {
  readonly maxPolicies: number;
  private readonly entries = new Map<string, Entry>();

  constructor(options: PolicyRegistryOptions = {}) {
    this.maxPolicies = checkInteger('PolicyRegistry', 'maxPolicies', options.maxPolicies, 1000, 1);
  }

  /**
   * Registers `policy` for metrics. Dispose the returned handle to unregister it (each handle undoes
   * its own `add` once; a policy added twice stays until both handles are disposed).
   *
   * @throws LabcoatInputError when another policy already has this name, or the registry is full.
   * @example
   * const breaker = circuitBreaker({ name: 'payments' });
   * const registration = defaultPolicyRegistry.add(breaker);
   * // … later, when the breaker is no longer used:
   * registration.dispose();
   */
  add(policy: Policy): Disposable {
    if (policy === null || typeof policy !== 'object' || typeof policy.name !== 'string' || typeof policy.stats?.snapshot !== 'function') {
      throw new TypeError('PolicyRegistry.add(): argument is not a labcoat policy');
    }
    let entry = this.entries.get(policy.name);
    if (entry !== undefined && entry.policy !== policy) {
      throw new LabcoatInputError(
        `PolicyRegistry.add(${policy.name})`,
        `another ${entry.policy.kind} policy is already registered as "${policy.name}"; give each policy its own "name" option`,
      );
    }
    if (entry === undefined) {
      if (this.entries.size >= this.maxPolicies) {
        throw new LabcoatInputError(
          `PolicyRegistry.add(${policy.name})`,
          `the registry already holds ${this.maxPolicies} policies (option "maxPolicies"); dispose the registrations of policies no longer used`,
        );
      }
      entry = { policy, refs: 0 };
      this.entries.set(policy.name, entry);
    }
    entry.refs++;
    const held = entry;
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) return;
        disposed = true;
        if (--held.refs === 0 && this.entries.get(held.policy.name) === held) this.entries.delete(held.policy.name);
      },
    };
  }

  /** Unregisters `policy` whatever handles are outstanding. Returns whether it was registered. */
  remove(policy: Policy): boolean {
    const entry = this.entries.get(policy.name);
    if (entry === undefined || entry.policy !== policy) return false;
    entry.refs = 0;
    this.entries.delete(policy.name);
    return true;
  }

  /** The registered policy called `name`. */
  get(name: string): Policy | undefined {
    return this.entries.get(name)?.policy;
  }

  has(policy: Policy): boolean {
    return this.entries.get(policy.name)?.policy === policy;
  }

  /** The registered policies, in the order they were first added. A copy: safe to keep. */
  list(): Policy[] {
    return Array.from(this.entries.values(), (e) => e.policy);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Unregisters every policy. */
  clear(): void {
    for (const e of this.entries.values()) e.refs = 0;
    this.entries.clear();
  }
}

const KEY = Symbol.for('labcoat.policies.registry');
const slot = globalThis as unknown as Record<symbol, PolicyRegistry | undefined>;

/**
 * The process-wide registry, which `prometheusMetrics()` and `hystrixStream()` read when given no
 * other. Shared through a global symbol, so two copies of @labcoat/node in one process see one
 * registry.
 *
 * @example
 * const breaker = circuitBreaker({ name: 'payments' });
 * defaultPolicyRegistry.add(breaker);
 * await prometheusMetrics(); // exports labcoat_policy_executions_total{policy="payments",…}
 */
export const defaultPolicyRegistry: PolicyRegistry = (slot[KEY] ??= new PolicyRegistry());

/** Where exporters get their policies: a registry (read on every scrape/tick) or a fixed list. */
export type PolicySource = PolicyRegistry | Iterable<Policy>;

/** The policies of `source` right now (deduplicated by instance). */
export function policiesOf(source: PolicySource | undefined): Policy[] {
  if (source === undefined) return defaultPolicyRegistry.list();
  if (isRegistry(source)) return source.list();
  return [...new Set(source)];
}

/** A PolicyRegistry, also one from another copy of this module. */
export function isRegistry(source: unknown): source is PolicyRegistry {
  return source instanceof PolicyRegistry || (typeof source === 'object' && source !== null && typeof (source as PolicyRegistry).list === 'function' && typeof (source as PolicyRegistry).add === 'function');
}

/** The state string of a circuit breaker policy (duck-typed `state`), or undefined. */
export function circuitStateOf(policy: Policy): string | undefined {
  const state: unknown = (policy as unknown as { state?: unknown }).state;
  return typeof state === 'string' ? state : undefined;
}

/** `active`/`queued` of a bulkhead policy (duck-typed), or undefined for other kinds. */
export function bulkheadOf(policy: Policy): { active: number; queued: number } | undefined {
  if (policy.kind !== 'bulkhead') return undefined;
  const b = policy as unknown as { active?: unknown; queued?: unknown };
  return { active: typeof b.active === 'number' ? b.active : 0, queued: typeof b.queued === 'number' ? b.queued : 0 };
}
