import { Labcoat, type LabcoatOptions } from './labcoat.js';

const KEY = Symbol.for('labcoat.sdk.global');
const slot = globalThis as unknown as Record<symbol, Labcoat | undefined>;

/** The process-wide SDK instance that global interceptors use, if `init()` was called. */
export function getLabcoat(): Labcoat | undefined {
  return slot[KEY];
}

/** Makes `sdk` the process-wide instance (or clears it with undefined). */
export function setLabcoat(sdk: Labcoat | undefined): void {
  slot[KEY] = sdk;
}

export type { LabcoatOptions };
