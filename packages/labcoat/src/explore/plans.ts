/**
 * From the engine's faults to what travels: a signed fault plan with one rule per fault
 * (`{ match: { point }, fault: faults[mode] }`), a short expiry, and the report's view of a fault.
 */
import {
  compileFault,
  encodePlan,
  LabcoatInputError,
  parseFaultShorthand,
  PLAN_MAX_BYTES,
  PLAN_MAX_RULES,
  type Fault,
  type FaultSpec,
  type PlanMac,
} from '@labcoat/core';
import { ExploreError } from './errors.js';
import type { FaultRef } from './types.js';

/** The fault modes used when none are given. */
export const DEFAULT_FAULT_MODES = ['error', '503', 'hang'] as const;

/**
 * Parses fault modes from `--faults error,503,hang` (shorthands: `error`, a status, `hang`,
 * `delay:200`, `reset`, `malformed`, `corrupt`) or takes a name → FaultSpec map as is. A `hang`
 * without `maxMs` gets `hangMaxMs`, so a caller without timeouts is not held for a minute.
 */
export function faultModes(input: string | readonly string[] | Readonly<Record<string, FaultSpec>> | undefined, hangMaxMs = 30_000): Record<string, FaultSpec> {
  const modes: Record<string, FaultSpec> = {};
  if (input !== undefined && typeof input === 'object' && !Array.isArray(input)) {
    for (const [name, spec] of Object.entries(input as Record<string, FaultSpec>)) {
      try {
        compileFault(spec, `faults.${name}`);
      } catch (e) {
        throw new ExploreError('usage', (e as Error).message);
      }
      modes[name] = spec;
    }
  } else {
    const list = typeof input === 'string' ? input.split(',') : ((input as readonly string[] | undefined) ?? DEFAULT_FAULT_MODES);
    for (const raw of list) {
      const name = raw.trim();
      if (!name) continue;
      try {
        const spec = parseFaultShorthand(name);
        modes[name] = spec.kind === 'hang' && spec['maxMs'] === undefined ? { ...spec, maxMs: hangMaxMs } : spec;
      } catch (e) {
        const msg = e instanceof LabcoatInputError ? e.message : String(e);
        throw new ExploreError('usage', `--faults: ${msg}`);
      }
    }
  }
  if (Object.keys(modes).length === 0) throw new ExploreError('usage', '--faults: name at least one fault mode, e.g. error,503,hang');
  return modes;
}

/** The report's view of a fault: its point, the engine's mode and the kind the mode injects. */
export function faultRef(f: Fault, modes: Readonly<Record<string, FaultSpec>>): FaultRef {
  return { point: f.point, kind: modes[f.mode]?.kind ?? 'unknown', mode: f.mode };
}

/** The label the SDK writes on a span when this mode fires (`status:503`, `error:ECONNREFUSED`, `hang`). */
export function modeLabel(spec: FaultSpec): string {
  return compileFault(spec, 'fault').label;
}

/**
 * Signs the plan that injects exactly `faults`: one rule per fault, armed for every attempt of
 * its call, expiring `ttlMs` from now. Throws ExploreError when a mode is unknown or the plan does
 * not fit in a token (64 rules, 4096 bytes).
 */
export function signFaults(faults: readonly Fault[], modes: Readonly<Record<string, FaultSpec>>, mac: PlanMac, id: string, ttlMs: number, now = Date.now()): string {
  if (faults.length > PLAN_MAX_RULES) {
    throw new ExploreError('plan', `experiment ${id} asks for ${faults.length} faults; a plan carries at most ${PLAN_MAX_RULES} rules (lower --batch-size / batchSize)`);
  }
  const rules = faults.map((f) => {
    const fault = modes[f.mode];
    if (!fault) throw new ExploreError('engine', `the engine asked for fault mode "${f.mode}", which is not one of ${Object.keys(modes).join(', ')}`);
    return { match: { point: f.point }, fault };
  });
  try {
    return encodePlan({ v: 1, id, exp: now + ttlMs, rules }, mac);
  } catch (e) {
    const msg = (e as Error).message;
    throw new ExploreError('plan', /bytes; the limit/.test(msg) ? `experiment ${id}: ${faults.length} faults do not fit in one plan (${PLAN_MAX_BYTES} bytes); lower --batch-size (batchSize). ${msg}` : `experiment ${id}: ${msg}`);
  }
}

/** A stable key for a fault set (order-independent). */
export function faultSetKey(faults: readonly { point: string; mode: string }[]): string {
  return faults
    .map((f) => `${f.point}\u0000${f.mode}`)
    .sort()
    .join('\u0001');
}
