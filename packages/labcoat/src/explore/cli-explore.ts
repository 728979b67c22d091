/**
 * `labcoat explore`: flags → the library API, a collector on loopback, a progress bar on stderr,
 * the table and certificate (or the JSON report) on stdout, exit 0 (no bugs), 1 (bugs), 2 (usage
 * or baseline error).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { Collector } from '../collector.js';
import { parseDuration } from '../duration.js';
import { explore, type ClassInput, type ExploreOptions } from './api.js';
import { loadClassesFile } from './config.js';
import { ExploreError } from './errors.js';
import { renderHtml } from './html.js';
import { parseJsonCheck, parseStatusList } from './oracle.js';
import { terminalProgress, type ProgressSink } from './progress.js';
import { exitCodeOf, renderText } from './report.js';
import type { ExplorationReport } from './types.js';

export interface ExploreFlags {
  target?: string;
  method: string;
  body?: string;
  header: string[];
  command?: string;
  config?: string;
  name?: string;
  expectStatus?: string;
  expectJson: string[];
  expectSchema?: string;
  deadline?: string;
  maxFaults: string;
  faults?: string;
  critical?: string;
  skipCritical: boolean;
  budget?: string;
  timeBudget?: string;
  firstFailure?: boolean;
  baselineRuns?: string;
  batching: boolean;
  batchSize?: string;
  lineage?: 'precise' | 'plain';
  seed?: string;
  reset?: string;
  resetUrl?: string;
  resetBefore: 'each' | 'tie-break';
  settle?: string;
  spanWait?: string;
  key?: string;
  collectorPort?: string;
  otlpListen?: string;
  report?: string;
  html?: string;
  json?: boolean;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function int(text: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new ExploreError('usage', `${flag}: expected an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return n;
}

function duration(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseDuration(text, flag);
  } catch (e) {
    throw new ExploreError('usage', (e as Error).message);
  }
}

/** `--critical auth,edge->auth POST /login`: names with `->` are points (or globs), the rest services. */
export function parseCritical(text: string | undefined): { services?: string[]; points?: string[] } | undefined {
  if (!text) return undefined;
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  const points = items.filter((s) => s.includes('->'));
  const services = items.filter((s) => !s.includes('->'));
  return { ...(services.length ? { services } : {}), ...(points.length ? { points } : {}) };
}

function mergeCritical(
  a: { services?: readonly string[]; points?: readonly string[] } | undefined,
  b: { services?: readonly string[]; points?: readonly string[] } | undefined,
): { services?: string[]; points?: string[] } | undefined {
  if (!a && !b) return undefined;
  const services = [...new Set([...(a?.services ?? []), ...(b?.services ?? [])])];
  const points = [...new Set([...(a?.points ?? []), ...(b?.points ?? [])])];
  return { ...(services.length ? { services } : {}), ...(points.length ? { points } : {}) };
}

function readArg(text: string, flag: string): string {
  if (!text.startsWith('@')) return text;
  try {
    return readFileSync(text.slice(1), 'utf8');
  } catch (e) {
    throw new ExploreError('usage', `${flag} ${text}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/** Flags → library options (without collector, progress and signal). */
export function optionsFromFlags(o: ExploreFlags): ExploreOptions {
  const sources = [o.target !== undefined && !o.config, o.command !== undefined, o.config !== undefined].filter(Boolean).length;
  if (sources === 0) throw new ExploreError('usage', 'say what to explore: --target URL (an HTTP request), --command "CMD" (exit 0 = success), or --config classes.json');
  if (o.command !== undefined && (o.target !== undefined || o.config !== undefined)) throw new ExploreError('usage', '--command cannot be combined with --target or --config');
  const expect: { -readonly [K in keyof NonNullable<ExploreOptions['expect']>]: NonNullable<ExploreOptions['expect']>[K] } = {};
  if (o.expectStatus) expect.status = parseStatusList(o.expectStatus);
  if (o.expectJson.length) expect.json = Object.fromEntries(o.expectJson.map(parseJsonCheck));
  if (o.expectSchema) {
    try {
      expect.schema = JSON.parse(readArg(o.expectSchema.startsWith('@') ? o.expectSchema : `@${o.expectSchema}`, '--expect-schema')) as object;
    } catch (e) {
      if (e instanceof ExploreError) throw e;
      throw new ExploreError('usage', `--expect-schema ${o.expectSchema}: not valid JSON (${(e as Error).message})`);
    }
  }
  const deadlineMs = duration(o.deadline, '--deadline');
  const headers: Record<string, string> = {};
  for (const h of o.header) {
    const i = h.indexOf(':');
    if (i <= 0) throw new ExploreError('usage', `--header ${JSON.stringify(h)}: expected "name: value"`);
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  let critical = parseCritical(o.critical);
  const base: { -readonly [K in keyof ExploreOptions]: ExploreOptions[K] } = {};
  if (o.config) {
    const file = loadClassesFile(o.config, o.target);
    if (Object.keys(expect).length || o.header.length || o.body !== undefined) {
      throw new ExploreError('usage', 'with --config, put expectations, headers and bodies in the file (per class)');
    }
    critical = mergeCritical(critical, file.critical);
    base.classes = file.classes.map((c): ClassInput => ({
      name: c.name,
      ...(c.http ? { url: c.http.url, method: c.http.method, headers: c.http.headers, ...(c.http.body !== undefined ? { body: c.http.body } : {}) } : {}),
      ...(c.command !== undefined ? { command: c.command } : {}),
      expect: c.expect,
      ...(c.critical ? { critical: c.critical } : {}),
    }));
  } else if (o.command !== undefined) {
    base.command = o.command;
    if (Object.keys(expect).some((k) => k !== 'deadlineMs')) throw new ExploreError('usage', 'a --command workload is judged by its exit code; --expect-status/--expect-json/--expect-schema apply to HTTP requests');
  } else {
    try {
      new URL(o.target!);
    } catch {
      throw new ExploreError('usage', `--target ${JSON.stringify(o.target)} is not a URL; expected e.g. http://127.0.0.1:3000/home`);
    }
    base.target = o.target!;
    base.method = o.method;
    if (Object.keys(headers).length) base.headers = headers;
    if (o.body !== undefined) base.body = readArg(o.body, '--body');
  }
  if (!o.config && Object.keys(expect).length) base.expect = expect;
  if (o.name && base.classes === undefined) {
    // One class: give it the requested name.
    const single = { ...(base.command !== undefined ? { command: base.command } : { url: base.target!, method: base.method ?? 'GET' }) };
    base.classes = [{ name: o.name, ...single, ...(base.headers ? { headers: base.headers } : {}), ...(base.body !== undefined ? { body: base.body } : {}), ...(base.expect ? { expect: base.expect } : {}) }];
    delete base.target;
    delete base.command;
    delete base.method;
    delete base.headers;
    delete base.body;
    delete base.expect;
  }
  if (o.reset && o.resetUrl) throw new ExploreError('usage', 'give --reset or --reset-url, not both');
  const maxFaults = int(o.maxFaults, '--max-faults', 1, 8)!;
  const budget = int(o.budget, '--budget', 1, 1_000_000);
  const baselineRuns = int(o.baselineRuns, '--baseline-runs', 1, 100);
  const seed = int(o.seed, '--seed', 0, 2 ** 31);
  const batchSize = int(o.batchSize, '--batch-size', 1, 64);
  const timeBudgetMs = duration(o.timeBudget, '--time-budget');
  const settleMs = duration(o.settle, '--settle');
  const spanWaitMs = duration(o.spanWait, '--span-wait');
  return {
    ...base,
    maxFaults,
    ...(o.faults ? { faults: o.faults } : {}),
    ...(critical ? { critical } : {}),
    skipCritical: o.skipCritical,
    batching: o.batching,
    ...(batchSize !== undefined ? { batchSize } : {}),
    ...(o.lineage ? { lineage: o.lineage } : {}),
    ...(budget !== undefined ? { budget } : {}),
    ...(baselineRuns !== undefined ? { baselineRuns } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(timeBudgetMs !== undefined ? { timeBudgetMs } : {}),
    ...(o.firstFailure ? { stopAtFirstFailure: true } : {}),
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
    ...(settleMs !== undefined ? { settleMs } : {}),
    ...(spanWaitMs !== undefined ? { spanWaitMs } : {}),
    ...(o.reset ? { reset: o.reset } : o.resetUrl ? { reset: { url: o.resetUrl } } : {}),
    resetBefore: o.resetBefore,
    ...(o.key ? { key: o.key } : {}),
  };
}

/** Ctrl-C once: stop after the current experiment and report; twice: leave now. */
export function interruptible(progress: ProgressSink): { signal: AbortSignal; dispose(): void; interrupted(): boolean } {
  const controller = new AbortController();
  let count = 0;
  const onSignal = (): void => {
    count++;
    if (count === 1) {
      progress.log('interrupted: finishing the current experiment, then reporting (Ctrl-C again to quit now)');
      controller.abort(new Error('interrupted'));
    } else process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    interrupted: () => count > 0,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Prints the report (JSON or text), writes the files, sets the exit code. */
export function finish(report: ExplorationReport, o: { json?: boolean; report?: string; html?: string }, interrupted: boolean): void {
  if (o.report) writeFileSync(o.report, `${JSON.stringify(report, null, 2)}\n`);
  if (o.html) writeFileSync(o.html, renderHtml(report));
  if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else {
    process.stdout.write(`${renderText(report, process.stdout.isTTY === true)}\n`);
    if (o.report) process.stdout.write(`JSON report: ${o.report}\n`);
    if (o.html) process.stdout.write(`HTML report: ${o.html}\n`);
  }
  process.exitCode = interrupted ? 130 : exitCodeOf(report);
}

async function startCollector(o: ExploreFlags): Promise<Collector> {
  let host = '127.0.0.1';
  let port = int(o.collectorPort, '--collector-port', 0, 65535) ?? 0;
  if (o.otlpListen) {
    const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d+)$/.exec(o.otlpListen);
    if (!m) throw new ExploreError('usage', `--otlp-listen ${JSON.stringify(o.otlpListen)}: expected host:port or port, e.g. 127.0.0.1:4318`);
    host = m[1]?.replace(/^\[|\]$/g, '') ?? host;
    port = int(m[2], '--otlp-listen', 0, 65535)!;
  }
  try {
    return await Collector.start({ host, port });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ExploreError('usage', `cannot listen for spans on ${host}:${port}: ${code === 'EADDRINUSE' ? 'the port is in use (another collector?); pick another with --collector-port' : (code ?? (e as Error).message)}`);
  }
}

export function registerExplore(program: Command): void {
  program
    .command('explore')
    .description('find the minimal sets of dependency failures that break a request, or certify there are none up to --max-faults')
    .option('--target <url>', 'the request to explore (or, with --config, the base URL of the classes)')
    .option('--method <method>', 'HTTP method', 'GET')
    .option('--body <text|@file>', 'request body')
    .option('--header <"name: value">', 'request header (repeatable)', collect, [])
    .option('--command <cmd>', 'a shell command as the workload: exit 0 = success; context in TRACEPARENT/TRACESTATE/BAGGAGE')
    .option('--config <file>', 'several request classes from a JSON file (see docs)')
    .option('--name <name>', 'name of the request class in the report')
    .option('--expect-status <list>', 'accepted statuses, e.g. 200,204 or 2xx (default 2xx)')
    .option('--expect-json <ptr=value>', 'JSON pointer check, e.g. /user/id=42 (repeatable; /ptr alone = must exist)', collect, [])
    .option('--expect-schema <file>', 'JSON Schema the body must satisfy')
    .option('--deadline <duration>', 'latency budget and deadline of one execution (default 5s)')
    .option('--max-faults <k>', 'largest fault set to consider', '2')
    .option('--faults <list>', 'fault modes to inject: error, a status (503), hang, delay:MS, reset, malformed, corrupt (default error,503,hang)')
    .option('--critical <list>', 'services or point ids (with ->) allowed to fail the request; their failure sets are expected, not bugs')
    .option('--no-skip-critical', 'also try fault sets made only of critical points')
    .option('--budget <n>', 'experiments per request class at most (default 2000)')
    .option('--time-budget <duration>', 'stop after this long, e.g. 10m')
    .option('--first-failure', 'stop at the first confirmed failure set')
    .option('--baseline-runs <n>', 'no-fault runs before exploring (default 3)')
    .option('--no-batching', 'one hypothesis per experiment')
    .option('--batch-size <n>', 'most faults in one batched experiment (default 16)')
    .addOption(new Option('--lineage <kind>', 'precise: calls whose result the success did not use do not support it; plain: every call does').choices(['precise', 'plain']))
    .option('--seed <n>', 'seed for randomised choices')
    .option('--reset <cmd>', 'shell command that resets the system between experiments')
    .option('--reset-url <url>', 'URL to POST to reset the system between experiments')
    .addOption(new Option('--reset-before <when>', 'when to reset: before each experiment, or only before the decisive run of a disagreeing rerun').choices(['each', 'tie-break']).default('each'))
    .option('--settle <duration>', 'wait between experiments, e.g. 100ms')
    .option('--span-wait <duration>', 'how long to wait for a trace to complete after the answer (default 2s)')
    .addOption(new Option('--key <secret>', 'the plan signing key the services share').env('LABCOAT_KEY'))
    .option('--collector-port <port>', 'port for the OTLP/HTTP collector on 127.0.0.1 (default: any free port, printed)')
    .option('--otlp-listen <host:port>', 'address for the OTLP/HTTP collector')
    .option('--report <file>', 'write the JSON report')
    .option('--html <file>', 'write a self-contained HTML report')
    .option('--json', 'print only the JSON report on stdout')
    .addHelpText(
      'after',
      '\nThe services must share the key (LABCOAT_KEY) and export spans to the collector this command starts\n' +
        '(LABCOAT_OTLP_URL=http://127.0.0.1:<port>/v1/traces; fix the port with --collector-port).\n' +
        'Exit codes: 0 no failure set, 1 failure sets found, 2 usage or baseline error.',
    )
    .action(async (o: ExploreFlags) => {
      const options = optionsFromFlags(o);
      const key = o.key ?? process.env['LABCOAT_KEY'];
      if (!key) throw new ExploreError('usage', 'no plan signing key: pass --key or set LABCOAT_KEY to the secret your services share (at least 16 bytes)');
      const progress = terminalProgress();
      const collector = await startCollector(o);
      progress.log(`collecting spans at ${collector.url} (the services must export there: LABCOAT_OTLP_URL=${collector.url})`);
      const stop = interruptible(progress);
      let report: ExplorationReport;
      try {
        report = await explore({ ...options, key, collector, progress, signal: stop.signal });
      } finally {
        stop.dispose();
        progress.stop();
        await collector.close();
      }
      finish(report, o, stop.interrupted());
    });
}
