import { LabcoatInputError } from '../errors.js';
import type { FaultAction } from './action.js';

/** Parameters of a fault as they appear in a plan: `{ "kind": "status", "status": 503 }`. */
export type FaultSpec = { readonly kind: string; readonly delayMs?: number } & Readonly<Record<string, unknown>>;

/**
 * A fault kind: validates its parameters and turns them into an action. To add a kind, write one
 * file exporting a `FaultKind` and list it in `faults/index.ts`.
 */
export interface FaultKind<P = unknown> {
  readonly name: string;
  /** One line for `--help` and docs. */
  readonly summary: string;
  /** Validates plan parameters; throws LabcoatInputError naming the field and the accepted range. */
  parse(spec: Readonly<Record<string, unknown>>, where: string): P;
  /** The action for one firing. `random` is in [0,1) and deterministic per request and point. */
  action(params: P, delayMs: number, random: number): FaultAction;
}

/** Shared parameter readers so every kind reports bad input the same way. */
export const param = {
  int(spec: Readonly<Record<string, unknown>>, key: string, where: string, min: number, max: number, fallback?: number): number {
    const v = spec[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new LabcoatInputError(`${where}.${key}`, `expected an integer from ${min} to ${max}, got ${show(v)}`);
    }
    return v;
  },
  string(spec: Readonly<Record<string, unknown>>, key: string, where: string, maxLength: number, fallback?: string): string {
    const v = spec[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || v.length > maxLength) {
      throw new LabcoatInputError(`${where}.${key}`, `expected a string of at most ${maxLength} characters, got ${show(v)}`);
    }
    return v;
  },
  oneOf<T extends string>(spec: Readonly<Record<string, unknown>>, key: string, where: string, allowed: readonly T[], fallback?: T): T {
    const v = spec[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      throw new LabcoatInputError(`${where}.${key}`, `expected one of ${allowed.join(', ')}, got ${show(v)}`);
    }
    return v as T;
  },
};

/** Shows a bad value in an error message; never throws (JSON.stringify does on BigInt and cycles). */
export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'bigint') return `${v}n`;
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch {
    text = undefined;
  }
  if (text === undefined) {
    try {
      text = String(v);
    } catch {
      text = typeof v;
    }
  }
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** Longest delay or hang a plan may ask for: 10 minutes. Bounds every injected wait. */
export const MAX_FAULT_MS = 600_000;
