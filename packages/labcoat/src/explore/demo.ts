/**
 * `labcoat demo`: starts the demo system (examples/streaming: sixteen processes on loopback, with
 * switchable planted bugs; or examples/chain with `--chain`), explores every request class with
 * the critical declarations of its classes file, prints the failure sets and certificates, and
 * stops everything — also on Ctrl-C and on errors.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startChain, type Chain } from '../chain.js';
import { Collector } from '../collector.js';
import { parseBugList, startStreaming, STREAMING_FILES, type Streaming } from '../streaming.js';
import { explore, type ClassInput } from './api.js';
import { loadClassesFile } from './config.js';
import { ExploreError } from './errors.js';
import type { ProgressSink } from './progress.js';
import type { ExplorerFactory } from './runner.js';
import type { ExplorationReport } from './types.js';

export interface ExploreDemoOptions {
  /** `none` (default), `all`, or bug ids (streaming only). */
  readonly bugs?: string;
  readonly maxFaults?: number;
  readonly budget?: number;
  readonly timeBudgetMs?: number;
  readonly faults?: string;
  /** Explore examples/chain (three services, one class) instead of examples/streaming. */
  readonly chain?: boolean;
  /** Only these classes (names). */
  readonly classes?: readonly string[];
  readonly progress: ProgressSink;
  readonly signal?: AbortSignal;
  readonly explorer?: ExplorerFactory;
}

/** Whether examples/streaming is built (its scripts and classes file exist). */
export function streamingAvailable(): boolean {
  return existsSync(fileURLToPath(STREAMING_FILES.classes)) && existsSync(fileURLToPath(new URL('dist/src/edge.js', STREAMING_FILES.classes)));
}

/** The chain's one request class: edge answers 200 with a numeric rating only when every hop worked. */
export const CHAIN_CLASS: ClassInput = {
  name: 'chain',
  method: 'GET',
  path: '/chain/42',
  expect: { status: [200], json: { '/downstream/body/ratings/body/stars': { $type: 'number' } }, deadlineMs: 5000 },
};

export async function runExploreDemo(o: ExploreDemoOptions): Promise<ExplorationReport & { system: string; bugsOn: readonly string[] }> {
  const useChain = o.chain === true || !streamingAvailable();
  if (useChain && o.bugs !== undefined && o.bugs !== 'none') throw new ExploreError('usage', '--bugs applies to the streaming demo system; examples/chain has no planted bugs');
  if (!useChain) {
    try {
      parseBugList(o.bugs); // an unknown id fails here, before anything starts
    } catch (e) {
      throw new ExploreError('usage', `--bugs: ${(e as Error).message}`);
    }
  }
  const key = randomBytes(24).toString('base64url');
  const collector = await Collector.start();
  let system: Streaming | Chain | undefined;
  try {
    let classes: ClassInput[];
    let critical: Parameters<typeof explore>[0]['critical'];
    let target: string;
    let bugsOn: readonly string[] = [];
    if (useChain) {
      o.progress.log('starting examples/chain: edge → catalog → ratings (3 processes)…');
      const chain = await startChain({ key, otlpUrl: collector.url });
      system = chain;
      target = chain.edge.url;
      classes = [CHAIN_CLASS];
    } else {
      o.progress.log(`starting examples/streaming (16 processes)${o.bugs && o.bugs !== 'none' ? `, bugs on: ${o.bugs}` : ''}…`);
      const streaming = await startStreaming({ key, otlpUrl: collector.url, ...(o.bugs !== undefined ? { bugs: o.bugs } : {}) });
      system = streaming;
      bugsOn = streaming.bugs;
      target = streaming.edgeUrl;
      const file = loadClassesFile(fileURLToPath(STREAMING_FILES.classes), target);
      critical = file.critical;
      classes = file.classes.map((c) => ({
        name: c.name,
        ...(c.http ? { url: c.http.url, method: c.http.method, headers: c.http.headers, ...(c.http.body !== undefined ? { body: c.http.body } : {}) } : {}),
        expect: c.expect,
      }));
      o.progress.log(`all services ready in ${streaming.startupMs} ms; exploring ${classes.map((c) => c.name).join(', ')}`);
    }
    if (o.classes?.length) {
      const unknown = o.classes.filter((n) => !classes.some((c) => c.name === n));
      if (unknown.length) throw new ExploreError('usage', `--class: unknown class ${unknown.join(', ')}; the demo has ${classes.map((c) => c.name).join(', ')}`);
      classes = classes.filter((c) => o.classes!.includes(c.name));
    }
    const report = await explore({
      target,
      classes,
      key,
      collector,
      ...(critical ? { critical } : {}),
      ...(o.maxFaults !== undefined ? { maxFaults: o.maxFaults } : {}),
      ...(o.budget !== undefined ? { budget: o.budget } : {}),
      ...(o.timeBudgetMs !== undefined ? { timeBudgetMs: o.timeBudgetMs } : {}),
      ...(o.faults ? { faults: o.faults } : {}),
      ...(o.explorer ? { explorer: o.explorer } : {}),
      progress: o.progress,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return { ...report, system: useChain ? 'chain' : 'streaming', bugsOn };
  } finally {
    o.progress.log('stopping services…');
    await system?.stop();
    await collector.close();
  }
}
