import { LabcoatInputError } from '@labcoat/core';

/**
 * Option checks shared by the policies. Bad options throw at construction with the option's name
 * and the accepted range, never later in a call.
 */

function where(policy: string, option: string): string {
  return `${policy} option "${option}"`;
}

function describe(value: unknown): string {
  return typeof value === 'number' ? String(value) : JSON.stringify(value) ?? String(value);
}

/** A duration in milliseconds: finite, ≥ min (default 0). Returns the value, or `fallback` when undefined. */
export function checkDuration(policy: string, option: string, value: number | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new LabcoatInputError(where(policy, option), `must be a finite number of milliseconds ≥ ${min}; got ${describe(value)}`);
  }
  return value;
}

/** A whole number in [min, max]. `Infinity` is accepted only when `max` is Infinity. */
export function checkInteger(policy: string, option: string, value: number | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const ok = typeof value === 'number' && value >= min && value <= max && (Number.isInteger(value) || (value === Infinity && max === Infinity));
  if (!ok) {
    const range = max === Infinity ? `≥ ${min} (or Infinity)` : max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new LabcoatInputError(where(policy, option), `must be a whole number ${range}; got ${describe(value)}`);
  }
  return value;
}

/** A ratio in [min, max] (default [0, 1]). */
export function checkRatio(policy: string, option: string, value: number | undefined, fallback: number, min = 0, max = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= min && value <= max)) {
    throw new LabcoatInputError(where(policy, option), `must be a number from ${min} to ${max}; got ${describe(value)}`);
  }
  return value;
}

/** One of a fixed set of strings. */
export function checkChoice<T extends string>(policy: string, option: string, value: T | undefined, fallback: T, choices: readonly T[]): T {
  if (value === undefined) return fallback;
  if (!choices.includes(value)) {
    throw new LabcoatInputError(where(policy, option), `must be one of ${choices.map((c) => `"${c}"`).join(', ')}; got ${describe(value)}`);
  }
  return value;
}

/** A policy name: shows up in metrics, errors and spans. */
export function checkName(kind: string, value: string | undefined): string {
  if (value === undefined) return kind;
  if (typeof value !== 'string' || !/^[\w.:+/-]{1,128}$/.test(value)) {
    throw new LabcoatInputError(`${kind} option "name"`, `must be 1–128 letters, digits or . _ : + / -; got ${describe(value)}`);
  }
  return value;
}

/** A function option. */
export function checkFunction<F>(policy: string, option: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw new LabcoatInputError(where(policy, option), `must be a function; got ${describe(value)}`);
  }
  return value;
}
