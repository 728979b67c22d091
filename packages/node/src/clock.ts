import { performance } from 'node:perf_hooks';

/** When this process's monotonic clock started, in epoch ms. A getter that checks its receiver each read: read it once. */
export const TIME_ORIGIN = performance.timeOrigin;

/** Epoch milliseconds with sub-millisecond precision, monotonic within the process. */
export function nowMs(): number {
  return TIME_ORIGIN + performance.now();
}
