import { compileFault, compileGlob, type Baggage, type CompiledFault, type PointDescriptor } from '@labcoat/core';

/**
 * An attack as the SDK holds it: compiled from the control plane's signed snapshot (see
 * docs/ARCHITECTURE.md, "Production attacks"). Matching is by globs (`*` within a segment, `**`
 * across), as in plans.
 */
export interface ActiveAttack {
  readonly id: string;
  readonly name: string | undefined;
  readonly fault: CompiledFault;
  /** Share of matching requests that join, 0 < p ≤ 100. */
  readonly percentage: number;
  /** Epoch ms after which the attack injects nothing even if still held. */
  readonly expiresAt: number;
  /** Whether a call's point is one the attack faults. */
  targets(point: PointDescriptor, id: string): boolean;
  /** Whether an incoming request's baggage carries every label the attack requires. */
  labelsMatch(baggage: Baggage): boolean;
  /**
   * Whether an incoming request may join, by `entry.routes` (`GET /home`, `* /titles/*`, `/home`):
   * the method, and the raw path or its route template. Undefined: every request may join.
   */
  readonly entry: ((method: string, path: string, template: () => string) => boolean) | undefined;
}

/** A verified, parsed snapshot. */
export interface Snapshot {
  readonly attacks: readonly ActiveAttack[];
  readonly leaseMs: number;
  readonly serverTime: number;
  readonly seq: number | undefined;
  /** Attack definitions the SDK could not compile (skipped, never injected). */
  readonly skipped: number;
}

const ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_ATTACKS = 1000;
const MAX_GLOBS = 64;
export const DEFAULT_LEASE_MS = 5000;

/** Parses a snapshot body whose signature was already checked. Undefined when it is not a snapshot. */
export function parseSnapshot(body: string, nowMs: number): Snapshot | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!isObject(parsed) || parsed['v'] !== 1 || !Array.isArray(parsed['attacks']) || parsed['attacks'].length > MAX_ATTACKS) return undefined;
  const serverTime = parsed['serverTime'];
  if (typeof serverTime !== 'number' || !Number.isFinite(serverTime)) return undefined;
  const lease = parsed['leaseMs'];
  const leaseMs = typeof lease === 'number' && lease >= 100 && lease <= 3_600_000 ? lease : DEFAULT_LEASE_MS;
  const seq = typeof parsed['seq'] === 'number' ? parsed['seq'] : undefined;
  const attacks: ActiveAttack[] = [];
  let skipped = 0;
  for (const a of parsed['attacks'] as unknown[]) {
    const compiled = compileAttack(a, nowMs);
    if (compiled) attacks.push(compiled);
    else skipped++;
  }
  return { attacks, leaseMs, serverTime, seq, skipped };
}

/**
 * Compiles one attack definition; undefined when anything about it is off (unknown fault kind,
 * no target, bad percentage, halted, expired…): an attack the SDK does not fully understand
 * injects nothing.
 */
export function compileAttack(input: unknown, nowMs: number): ActiveAttack | undefined {
  try {
    if (!isObject(input)) return undefined;
    const id = input['id'];
    if (typeof id !== 'string' || !ID.test(id)) return undefined;
    if (input['state'] !== undefined && input['state'] !== 'active') return undefined;
    const expiresAt = input['expiresAt'] === undefined ? Infinity : input['expiresAt'];
    if (typeof expiresAt !== 'number' || Number.isNaN(expiresAt) || expiresAt <= nowMs) return undefined;
    const percentage = input['percentage'];
    if (typeof percentage !== 'number' || !(percentage > 0 && percentage <= 100)) return undefined;
    const targets = compileTarget(input['target']);
    if (!targets) return undefined;
    const labelsMatch = compileLabels(input['labels']);
    if (!labelsMatch) return undefined;
    const entry = compileEntry(input['entry']);
    if (entry === null) return undefined;
    const fault = compileFault(input['fault'], `attack ${id}.fault`);
    const name = typeof input['name'] === 'string' ? input['name'] : undefined;
    return { id, name, fault, percentage, expiresAt, targets, labelsMatch, entry };
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A list of globs; undefined when absent or empty; null when malformed. */
function globs(v: unknown, caseInsensitive = false): ((s: string) => boolean)[] | undefined | null {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > MAX_GLOBS) return null;
  if (v.length === 0) return undefined;
  const out: ((s: string) => boolean)[] = [];
  for (const g of v) {
    if (typeof g !== 'string' || g.length === 0 || g.length > 512) return null;
    out.push(compileGlob(g, caseInsensitive));
  }
  return out;
}

type PointTest = (p: PointDescriptor, id: string) => boolean;

/** All given selectors must match (any glob within one); a target with none is refused, never "everything". */
function compileTarget(v: unknown): PointTest | undefined {
  if (!isObject(v)) return undefined;
  const tests: PointTest[] = [];
  const services = globs(v['services']);
  const points = globs(v['points']);
  const callers = globs(v['callers']);
  const routes = globs(v['routes']);
  if (services === null || points === null || callers === null || routes === null) return undefined;
  if (services) tests.push((p) => services.some((g) => g(p.target)));
  if (points) tests.push((_p, id) => points.some((g) => g(id)));
  if (callers) tests.push((p) => callers.some((g) => g(p.caller)));
  if (routes) tests.push((p) => routes.some((g) => g(p.route)));
  if (tests.length === 0) return undefined;
  return (p, id) => tests.every((t) => t(p, id));
}

/** Baggage member globs, all required. */
function compileLabels(v: unknown): ((b: Baggage) => boolean) | undefined {
  if (v === undefined || v === null) return () => true;
  if (!isObject(v)) return undefined;
  const entries = Object.entries(v);
  if (entries.length > MAX_GLOBS) return undefined;
  const tests: [string, (s: string) => boolean][] = [];
  for (const [key, glob] of entries) {
    if (typeof glob !== 'string' || glob.length > 512) return undefined;
    tests.push([key, compileGlob(glob)]);
  }
  if (tests.length === 0) return () => true;
  return (b) =>
    tests.every(([key, g]) => {
      const value = b.get(key);
      return value !== undefined && g(value);
    });
}

/** `entry.routes`: `METHOD glob`, `* glob` or `glob`. Undefined: any request; null: malformed. */
function compileEntry(v: unknown): ActiveAttack['entry'] | null {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) return null;
  const routes = v['routes'];
  if (routes === undefined) return undefined;
  if (!Array.isArray(routes) || routes.length > MAX_GLOBS) return null;
  if (routes.length === 0) return undefined;
  const tests: ((method: string, path: string, template: () => string) => boolean)[] = [];
  for (const r of routes) {
    if (typeof r !== 'string' || r.length === 0 || r.length > 512) return null;
    const text = r.trim();
    const space = text.indexOf(' ');
    const method = space === -1 ? '*' : text.slice(0, space).toUpperCase();
    const route = compileGlob(space === -1 ? text : text.slice(space + 1).trim());
    tests.push((m, path, template) => (method === '*' || method === m.toUpperCase()) && (route(path) || route(template())));
  }
  return (m, path, template) => tests.some((t) => t(m, path, template));
}
