/**
 * Bytes allocated by a piece of code: the growth of the used V8 heap, plus the external memory V8
 * accounts for (the off-heap backing stores of typed arrays over 64 bytes), across a batch during
 * which no garbage collection ran. Run the process with `--expose-gc` (a full GC before
 * each batch empties the young generation) and a young generation large enough to hold a whole
 * batch (`--min-semi-space-size=64 --max-semi-space-size=64`: without the minimum, V8 starts
 * with a 1 MB semi-space and scavenges long before it grows). Batches during which a GC ran
 * anyway are reported as `undefined`, never as a figure.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { setImmediate as macrotask } from 'node:timers/promises';
import v8 from 'node:v8';

export interface AllocMeter {
  /** Heap bytes allocated by `run()`, or undefined when a GC ran during it. */
  measure(run: () => Promise<void>): Promise<number | undefined>;
  /** Heap bytes allocated by the measurement itself (an empty `run`), subtracted by `measure`. */
  readonly overhead: number;
  close(): void;
}

const forceGc = (globalThis as { gc?: () => void }).gc;

/** True when the process can force a GC (started with `--expose-gc`). */
export const canForceGc = typeof forceGc === 'function';

/** The V8 heap in use plus external memory V8 accounts for (typed arrays' off-heap backing stores). */
function usedHeap(): number {
  const h = v8.getHeapStatistics();
  return h.used_heap_size + h.external_memory;
}

export async function createAllocMeter(): Promise<AllocMeter> {
  const gcs: { start: number; end: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, end: e.startTime + e.duration });
    if (gcs.length > 10_000) gcs.splice(0, gcs.length - 1_000);
  });
  observer.observe({ entryTypes: ['gc'] });

  async function raw(run: () => Promise<void>): Promise<number | undefined> {
    forceGc?.();
    await macrotask(); // deliver the forced GC's entry before the batch starts
    const t0 = performance.now();
    const h0 = usedHeap();
    await run();
    const h1 = usedHeap();
    const t1 = performance.now();
    await macrotask(); // GC entries are delivered asynchronously
    await macrotask();
    if (h1 < h0) return undefined;
    for (const g of gcs) if (g.end >= t0 && g.start <= t1) return undefined;
    return h1 - h0;
  }

  const empty = async (): Promise<void> => {};
  const calib: number[] = [];
  for (let i = 0; i < 5; i++) {
    const b = await raw(empty);
    if (b !== undefined) calib.push(b);
  }
  calib.sort((a, b) => a - b);
  const overhead = calib[calib.length >> 1] ?? 0;

  return {
    overhead,
    async measure(run) {
      const b = await raw(run);
      return b === undefined ? undefined : Math.max(0, b - overhead);
    },
    close() {
      observer.disconnect();
    },
  };
}
