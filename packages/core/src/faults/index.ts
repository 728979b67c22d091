import { LabcoatInputError } from '../errors.js';
import type { FaultAction } from './action.js';
import { delayKind } from './delay.js';
import { errorKind } from './error.js';
import { hangKind } from './hang.js';
import { MAX_FAULT_MS, param, type FaultKind, type FaultSpec } from './kind.js';
import { malformedKind } from './malformed.js';
import { resetKind } from './reset.js';
import { statusKind } from './status.js';

export type { FaultAction, BodyDamage } from './action.js';
export { MAX_FAULT_MS, param, type FaultKind, type FaultSpec } from './kind.js';

/** Every fault kind labcoat knows, by name. Add a kind here after writing its file. */
export const FAULT_KINDS: ReadonlyMap<string, FaultKind<any>> = new Map(
  [errorKind, statusKind, delayKind, hangKind, resetKind, malformedKind].map((k) => [k.name, k]),
);

/** A fault from a plan, validated and ready to fire. */
export interface CompiledFault {
  readonly kind: string;
  readonly spec: FaultSpec;
  /** A short label for spans and reports, e.g. `status:503`, `error:ECONNREFUSED`, `hang`. */
  readonly label: string;
  action(random: number): FaultAction;
}

/** Validates a fault spec from a plan; throws LabcoatInputError naming the bad field. */
export function compileFault(spec: unknown, where: string): CompiledFault {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new LabcoatInputError(where, 'expected an object like {"kind":"status","status":503}');
  }
  const record = spec as Record<string, unknown>;
  const kindName = record['kind'];
  const kind = typeof kindName === 'string' ? FAULT_KINDS.get(kindName) : undefined;
  if (!kind) {
    throw new LabcoatInputError(`${where}.kind`, `unknown fault kind ${JSON.stringify(kindName)}; known kinds: ${[...FAULT_KINDS.keys()].join(', ')}`);
  }
  const delayMs = param.int(record, 'delayMs', where, 0, MAX_FAULT_MS, 0);
  const params = kind.parse(record, where);
  const label = faultLabel(kind.name, record);
  return {
    kind: kind.name,
    spec: record as FaultSpec,
    label,
    action: (random) => kind.action(params, delayMs, random),
  };
}

function faultLabel(kind: string, spec: Record<string, unknown>): string {
  switch (kind) {
    case 'status':
      return `status:${String(spec['status'])}`;
    case 'error':
      return `error:${String(spec['code'] ?? 'ECONNREFUSED')}`;
    case 'delay':
      return `delay:${String(spec['ms'])}ms`;
    case 'malformed':
      return `malformed:${String(spec['mode'] ?? 'truncate')}`;
    default:
      return kind;
  }
}

/**
 * Shorthands accepted wherever a person types a fault (CLI flags): `error`, `503`, `hang`,
 * `delay:200`, `reset`, `malformed`, `corrupt`, or a JSON object.
 */
export function parseFaultShorthand(text: string): FaultSpec {
  const t = text.trim();
  if (t.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(t);
    } catch {
      throw new LabcoatInputError('fault', `${JSON.stringify(t)} is not valid JSON`);
    }
    compileFault(parsed, 'fault');
    return parsed as FaultSpec;
  }
  let spec: FaultSpec;
  if (/^\d{3}$/.test(t)) spec = { kind: 'status', status: Number(t) };
  else if (/^delay:\d+$/.test(t)) spec = { kind: 'delay', ms: Number(t.slice(6)) };
  else if (t === 'corrupt') spec = { kind: 'malformed', mode: 'corrupt' };
  else if (t === 'truncate') spec = { kind: 'malformed', mode: 'truncate' };
  else if (/^error:[A-Z]+$/.test(t)) spec = { kind: 'error', code: t.slice(6) };
  else spec = { kind: t };
  compileFault(spec, 'fault');
  return spec;
}
