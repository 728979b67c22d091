/**
 * Random service graphs for the LDFI benchmark, with the resilience patterns of a Netflix-like
 * system and the planted bugs of the demo (one of each pattern):
 *
 * - a hard path of critical services called by `edge` (the page composer, not critical itself):
 *   the only calls whose failure may fail the request; a critical service's own dependencies are
 *   critical with it (the engine's rule: a point is critical when its caller or target is);
 * - every call from a critical service to a non-critical one is protected: a fallback (static
 *   default) around retry + per-attempt timeout, retry across a replica (a second service), a
 *   fallback that reads a cache, or an optional fire-and-forget call;
 * - beneath a protected call, calls may be unprotected (a failure propagates up to the protection);
 * - every service uses datastores: a database, or a cache that falls back to the database;
 * - services with several calls fan out in parallel.
 *
 * Planted bugs (see `PlantedBug`): a fallback whose timeout is longer than the request deadline
 * (nested timeouts: only a hang shows it), a fallback that calls the same replica that failed, a call
 * declared optional but awaited, a service whose answer is wrong when two fallbacks fire together,
 * retries at two layers that multiply into a deadline miss, and a service that swallows a
 * database error and answers 200 with bad data.
 */
import type { PlantedBug, SimCall, SimPolicy, SimService, SimSystem } from './model.js';

export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GenerateOptions {
  /** Services, replicas included (at least 10). */
  readonly services: number;
  readonly seed?: number;
  /** Plant one bug of each pattern (default true). */
  readonly bugs?: boolean;
  readonly name?: string;
}

interface Node {
  readonly name: string;
  readonly critical: boolean;
  readonly depth: number;
  readonly children: Node[];
  parent?: Node;
  /** Bug role, so that no other bug or pattern lands on it. */
  role?: string;
}

const DEADLINE = 1000;

function guard(name: string, extra: Partial<SimPolicy> = {}): SimPolicy {
  return { name, fallback: 'static', retries: 1, backoffMs: 10, timeoutMs: 150, ...extra };
}

/**
 * A deterministic random system of `services` services (replicas included).
 *
 * @example
 * const sys = generateSystem({ services: 100, seed: 7 });
 * simulate(sys, new Map()).ok; // true: the baseline succeeds
 */
export function generateSystem(options: GenerateOptions): SimSystem {
  const n = Math.max(10, Math.floor(options.services));
  const rnd = prng(options.seed ?? 1);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  const withBugs = options.bugs ?? true;
  const pad = String(n).length;
  const name = (i: number): string => `svc${String(i).padStart(pad, '0')}`;

  // 1. The tree: edge, the critical hard path, then everything else attached at random.
  const edge: Node = { name: 'edge', critical: true, depth: 0, children: [] };
  const nodes: Node[] = [edge];
  const replicaCount = Math.floor(n / 12);
  const bugServices = withBugs ? 6 : 0; // the bug corners add six leaf services
  const plain = n - 1 - replicaCount - bugServices;
  const criticalCount = Math.max(2, Math.round(n / 25));
  let next = 1;
  const attach = (parent: Node, critical: boolean): Node => {
    const node: Node = { name: name(next++), critical, depth: parent.depth + 1, children: [], parent };
    parent.children.push(node);
    nodes.push(node);
    return node;
  };
  for (let i = 0; i < criticalCount; i++) {
    const parents = nodes.filter((x) => x.critical && x.depth <= 1 && x.children.length < 4);
    attach(parents.length > 0 ? pick(parents) : edge, true);
  }
  for (let i = criticalCount; i < plain; i++) {
    const parents = nodes.filter((x) => x.children.length < (x.critical ? 6 : 4) && x.depth < 7);
    attach(pick(parents), false);
  }
  const critical = new Set(nodes.filter((x) => x.critical && x !== edge).map((x) => x.name));

  // 2. Services and their calls.
  const services = new Map<string, SimService>();
  const calls = new Map<string, SimCall[]>();
  const extra = new Map<string, Partial<SimService>>();
  for (const node of nodes) calls.set(node.name, []);
  const httpCall = (from: string, to: string, policy?: SimPolicy, optional?: 'forget' | 'awaited'): SimCall => ({
    point: `${from}->${to} GET /${to}/:id`,
    target: to,
    kind: 'http',
    ...(policy ? { policy } : {}),
    ...(optional ? { optional } : {}),
  });
  const store = (from: string, target: string, op: string, policy?: SimPolicy, optional?: 'forget' | 'awaited'): SimCall => ({
    point: `${from}->${target} ${op}`,
    target,
    kind: 'store',
    ...(policy ? { policy } : {}),
    ...(optional ? { optional } : {}),
  });

  // Datastores first (they come first in each handler).
  for (const node of nodes) {
    const list = calls.get(node.name)!;
    if (node === edge) {
      // The edge composes the page: feature flags with a default, nothing it cannot do without.
      list.push(store('edge', 'config', 'get', { name: 'edge-flags', fallback: 'static', timeoutMs: 30 }));
      continue;
    }
    const db = store(node.name, `${node.name}-db`, 'query');
    if (rnd() < 0.35) {
      list.push(store(node.name, `${node.name}-cache`, 'get', { name: `${node.name}-cache`, fallback: db, timeoutMs: 50 }));
    } else if (rnd() < 0.8) list.push(db);
    // A second query on the database, and fire-and-forget events.
    if (rnd() < 0.55) list.push(store(node.name, `${node.name}-db`, 'write'));
    if (rnd() < 0.4) list.push(store(node.name, 'events', 'publish', undefined, 'forget'));
    // Feature flags, with a static default when the config store fails.
    if (rnd() < 0.3) list.push(store(node.name, 'config', 'get', { name: `${node.name}-flags`, fallback: 'static', timeoutMs: 30 }));
  }

  // Replicas: leaf services with a twin, reached by retrying on the twin.
  let replicasLeft = replicaCount;
  const replicaOf = new Map<string, string>();

  for (const node of nodes) {
    const list = calls.get(node.name)!;
    for (const child of node.children) {
      if (child.critical) {
        list.push(httpCall(node.name, child.name));
        continue;
      }
      const r = rnd();
      if (node.critical) {
        if (r < 0.55) list.push(httpCall(node.name, child.name, guard(`${child.name}`)));
        else if (r < 0.72 && replicasLeft > 0) {
          replicasLeft--;
          const twin = `${child.name}-b`;
          replicaOf.set(twin, child.name);
          list.push(httpCall(node.name, child.name, guard(child.name, { retries: 1, replicas: [httpCall(node.name, twin)] })));
        } else if (r < 0.76 && child.children.length === 0) {
          // A fallback that reads a cache: both down is a genuine two-fault failure.
          list.push(httpCall(node.name, child.name, guard(child.name, { retries: 0, fallback: store(node.name, `${child.name}-cache`, 'get') })));
        } else if (r < 0.8) {
          list.push(httpCall(node.name, child.name, guard(child.name)));
        } else list.push(httpCall(node.name, child.name, undefined, 'forget'));
      } else {
        if (r < 0.45) list.push(httpCall(node.name, child.name));
        else if (r < 0.8) list.push(httpCall(node.name, child.name, guard(child.name, { timeoutMs: 100 })));
        else list.push(httpCall(node.name, child.name, undefined, 'forget'));
      }
    }
  }
  // Services named by replicas, with the calls of their twin's leaf shape (a database).
  for (const [twin] of replicaOf) calls.set(twin, [store(twin, `${twin}-db`, 'query')]);

  // 3. Planted bugs, each on its own small corner of the graph.
  const bugs: PlantedBug[] = [];
  if (withBugs) {
    // Every bug sits in a corner of the page the edge composes (as in the demo).
    const host = (_i: number): Node => edge;
    const newLeaf = (parent: Node, role: string): Node => {
      const node = attach(parent, false);
      node.role = role;
      calls.set(node.name, [store(node.name, `${node.name}-db`, 'query')]);
      return node;
    };
    // Nested timeouts: the fallback's timeout (1500 ms) is longer than the request's deadline.
    {
      const p = host(0);
      const leaf = newLeaf(p, 'nested-timeout');
      const c = httpCall(p.name, leaf.name, guard(leaf.name, { timeoutMs: 1500, retries: 0 }));
      calls.get(p.name)!.push(c);
      bugs.push({ name: 'nested-timeout', pattern: 'nested-timeout', points: [c.point, `${leaf.name}->${leaf.name}-db query`], description: `${p.name} waits up to 1500 ms for ${leaf.name} before falling back, past the ${DEADLINE} ms deadline: a hang fails the request, an error does not` });
    }
    // Fallback to the same replica: the fallback calls the very point that failed.
    {
      const p = host(1);
      const leaf = newLeaf(p, 'fallback-same-replica');
      const primary = httpCall(p.name, leaf.name);
      const c = httpCall(p.name, leaf.name, guard(leaf.name, { retries: 0, fallback: primary }));
      calls.get(p.name)!.push(c);
      bugs.push({ name: 'fallback-same-replica', pattern: 'fallback-same-replica', points: [c.point, `${leaf.name}->${leaf.name}-db query`], description: `${p.name}'s fallback for ${leaf.name} calls ${leaf.name} again` });
    }
    // Optional without fallback: declared optional, but awaited and its failure propagates.
    {
      const p = host(2);
      const c = store(p.name, `${p.name}-audit`, 'write', undefined, 'awaited');
      calls.get(p.name)!.push(c);
      bugs.push({ name: 'optional-without-fallback', pattern: 'optional-without-fallback', points: [c.point], description: `${p.name} declares its audit write optional but awaits it and lets its failure through` });
    }
    // Two-fault: two fallbacks firing together make the answer wrong.
    {
      const p = host(3);
      const a = newLeaf(p, 'two-fault-a');
      const b = newLeaf(p, 'two-fault-b');
      const ca = httpCall(p.name, a.name, guard(a.name));
      const cb = httpCall(p.name, b.name, guard(b.name));
      calls.get(p.name)!.push(ca, cb);
      extra.set(p.name, { ...extra.get(p.name), badWhenAllDegraded: [[ca.point, cb.point]] });
      bugs.push({ name: 'two-fault', pattern: 'two-fault', points: [ca.point, cb.point, `${a.name}->${a.name}-db query`, `${b.name}->${b.name}-db query`], description: `${p.name} renders an empty page when the fallbacks for ${a.name} and ${b.name} both fire` });
    }
    // Retry storm: retries at two layers (3 × 3 attempts with backoff) outlast the deadline.
    {
      const p = host(4);
      const t = newLeaf(p, 'retry-storm');
      const u = store(t.name, `${t.name}-db`, 'query', { name: `${t.name}-db`, retries: 2, backoffMs: 200 });
      calls.set(t.name, [u]);
      const c = httpCall(p.name, t.name, { name: t.name, fallback: 'static', retries: 2, backoffMs: 200, timeoutMs: 300 });
      calls.get(p.name)!.push(c);
      bugs.push({ name: 'retry-storm', pattern: 'retry-storm', points: [c.point, u.point], description: `${p.name} retries ${t.name} 3 times, ${t.name} retries its database 3 times: an error deep down takes longer than the deadline before the fallback` });
    }
    // Swallowed error: a service answers 200 with bad data when its database fails.
    {
      const p = host(5);
      const w = newLeaf(p, 'swallowed-error');
      extra.set(w.name, { swallow: true });
      const c = httpCall(p.name, w.name, guard(w.name));
      calls.get(p.name)!.push(c);
      bugs.push({ name: 'swallowed-error', pattern: 'swallowed-error', points: [c.point, `${w.name}->${w.name}-db query`], description: `${w.name} swallows its database's error and answers 200 with empty data, so ${p.name}'s fallback never fires` });
    }
  }

  // Top up to exactly n services with guarded leaves (unused replicas leave room).
  while (nodes.length + replicaOf.size < n) {
    const parents = nodes.filter((x) => x.children.length < 6 && x.depth < 7 && x.role === undefined);
    const parent = pick(parents);
    const leaf = attach(parent, false);
    calls.set(leaf.name, [store(leaf.name, `${leaf.name}-db`, 'query')]);
    calls.get(parent.name)!.push(httpCall(parent.name, leaf.name, guard(leaf.name, { timeoutMs: parent.critical ? 150 : 100 })));
  }
  for (const node of nodes) {
    const list = calls.get(node.name)!;
    services.set(node.name, {
      name: node.name,
      route: `/${node.name}/:id`,
      latencyMs: 1 + Math.floor(rnd() * 4),
      calls: list,
      ...(list.length > 1 ? { parallel: true } : {}),
      ...extra.get(node.name),
    });
  }
  for (const [twin] of replicaOf) {
    services.set(twin, { name: twin, route: `/${twin}/:id`, latencyMs: 2, calls: calls.get(twin)! });
  }
  return {
    name: options.name ?? `random-${n}`,
    entry: 'edge',
    services,
    deadlineMs: DEADLINE,
    critical: [...critical],
    bugs,
  };
}
