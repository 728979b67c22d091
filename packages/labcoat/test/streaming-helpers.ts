/** Shared by the streaming tests: bounded parallelism, a seeded random source, span queries. */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SpanData } from '@labcoat/core';
import { isTraceComplete, type Collector } from '../src/collector.js';
import type { ExperimentResult } from '../src/streaming.js';

/** Runs `fn` over `items`, at most `limit` at a time, keeping the order of results. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** mulberry32: a small seeded generator in [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The spans of an experiment's trace, once complete (or after `timeoutMs`). */
export function spansOf(collector: Collector, r: ExperimentResult, timeoutMs = 4000): Promise<SpanData[]> {
  return collector.waitForTrace(r.traceId, (s) => isTraceComplete(s, r.parentSpanId), timeoutMs);
}

/** Injection point ids of the client spans of a trace. */
export function pointsIn(spans: readonly SpanData[]): Set<string> {
  return new Set(spans.filter((s) => s.kind === 'client' && typeof s.attributes['labcoat.point'] === 'string').map((s) => s.attributes['labcoat.point'] as string));
}

/** Point ids where a fault fired in a trace. */
export function faultedIn(spans: readonly SpanData[]): Set<string> {
  return new Set(spans.filter((s) => s.attributes['labcoat.fault'] !== undefined).map((s) => String(s.attributes['labcoat.point'])));
}

export function describeResult(r: ExperimentResult): string {
  const faults = r.faults.map((f) => `${f.point} ⚡${f.kind}${f['status'] ? ` ${String(f['status'])}` : ''}`).join(' + ') || 'no faults';
  return `${r.class} [${faults}] → ${r.status} in ${Math.round(r.durationMs)} ms: ${r.violations.map((v) => v.message).join('; ')} ${JSON.stringify(r.body)?.slice(0, 200)}`;
}

/**
 * Takes a machine-wide lock shared by the streaming test files, so that two of them (sixteen
 * processes each, timing-sensitive oracles) never run at the same time when the runner runs files
 * in parallel. A lock whose owner died is taken over. Resolves with the release function.
 */
export async function streamingTestLock(timeoutMs = 240_000): Promise<() => void> {
  const dir = join(tmpdir(), 'labcoat-streaming-tests.lock');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        rmSync(dir, { recursive: true, force: true });
      };
      process.once('exit', release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    } catch {
      // being written or removed right now
    }
    let ownerAlive = true;
    if (Number.isInteger(owner) && owner > 0) {
      try {
        process.kill(owner, 0);
      } catch {
        ownerAlive = false;
      }
    }
    if (!ownerAlive) rmSync(dir, { recursive: true, force: true });
    else if (Date.now() > deadline) throw new Error(`another streaming test (pid ${owner}) held ${dir} for ${timeoutMs} ms`);
    else await new Promise((r) => setTimeout(r, 250));
  }
}
