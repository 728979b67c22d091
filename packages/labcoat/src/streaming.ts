import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodePlan, type FaultSpec } from '@labcoat/core';
import { hmacMac } from '@labcoat/node';
import { checkAnswer, loadClasses, type ClassesFile, type Expectation, type RequestClass, type Violation } from './classes.js';
import { freePorts, startServices, stopServices, type RunningService, type ServiceSpec } from './launcher.js';

const ROOT = new URL('../../../../examples/streaming/', import.meta.url);
const DIST = new URL('dist/src/', ROOT);

/** Where the streaming demo's description files are. */
export const STREAMING_FILES = {
  classes: new URL('classes.json', ROOT),
  bugs: new URL('bugs.json', ROOT),
} as const;

/**
 * The services of examples/streaming, in start order (they all start at once), with the compiled
 * script each runs. The three cache zones run the same script under different names.
 */
export const STREAMING_SERVICES: readonly { name: string; script: string }[] = [
  ...['a', 'b', 'c'].map((z) => ({ name: `evcache-${z}`, script: 'evcache-zone' })),
  ...['metadata', 'auth', 'profiles', 'subscriptions', 'trending', 'ratings', 'recommendations', 'bookmarks', 'mylist', 'artwork', 'licensing', 'telemetry', 'edge'].map((name) => ({
    name,
    script: name,
  })),
];

/** One fault of a bug's revealing set: an exact point id, a fault kind and its parameters. */
export interface BugFault {
  point: string;
  kind: string;
  [param: string]: unknown;
}

/** A planted bug as `bugs.json` describes it. */
export interface PlantedBug {
  id: string;
  title: string;
  /** The request class that reveals it. */
  class: string;
  /** Source file(s) where it lives. */
  where?: string;
  pattern?: string;
  /** Minimal fault sets that reveal it (each is enough on its own). */
  faultSets: BugFault[][];
  symptom: string;
}

/** Reads examples/streaming/bugs.json. */
export function loadBugs(): PlantedBug[] {
  const raw = JSON.parse(readFileSync(STREAMING_FILES.bugs, 'utf8')) as unknown;
  if (!Array.isArray(raw)) throw new Error('examples/streaming/bugs.json must be an array of bugs');
  return raw as PlantedBug[];
}

/** Reads examples/streaming/classes.json. */
export function loadStreamingClasses(): ClassesFile {
  return loadClasses(STREAMING_FILES.classes);
}

/**
 * Parses a `--bugs` value: `none`, `all` or a comma list of ids. Throws, listing the valid ids,
 * when one is unknown. Returns the ids switched on.
 */
export function parseBugList(spec: string | undefined, bugs: readonly PlantedBug[] = loadBugs()): string[] {
  const valid = bugs.map((b) => b.id);
  const s = (spec ?? 'none').trim();
  if (s === '' || s === 'none') return [];
  if (s === 'all') return valid;
  const ids = [...new Set(s.split(',').map((x) => x.trim()).filter((x) => x !== ''))];
  const unknown = ids.filter((id) => !valid.includes(id));
  if (unknown.length > 0) {
    throw new Error(`unknown bug id${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}. Valid ids: ${valid.join(', ')} (or "all", "none")`);
  }
  return ids;
}

export interface StreamingOptions {
  /** Shared plan-signing key (default: a random one; read it back from the result). */
  key?: string;
  /** Where services export spans (OTLP/HTTP JSON). */
  otlpUrl?: string;
  /** Bugs to switch on: `none` (default), `all`, a comma list, or a list of ids. */
  bugs?: string | readonly string[];
  /** How long each service may take to get ready (default 30 s). */
  readyTimeoutMs?: number;
  /** Requests of each class to send once ready, to warm connections and JIT (default 0). */
  warmup?: number;
}

/** A running streaming system. */
export interface Streaming {
  readonly key: string;
  readonly bugs: readonly string[];
  readonly services: Readonly<Record<string, RunningService>>;
  readonly edgeUrl: string;
  readonly classes: ClassesFile;
  /** From the first spawn until every service printed its readiness line. */
  readonly startupMs: number;
  /** Stops every process (SIGTERM, then SIGKILL); resolves when all have exited. */
  stop(): Promise<void>;
}

/**
 * Starts examples/streaming: sixteen processes on 127.0.0.1, all at once, each told its own port
 * and everyone else's (`PORT`, `LABCOAT_SERVICES`) so that injection point ids name services from
 * the first request on. Waits for every readiness line; if any service fails, stops the others and
 * throws with what it printed. Services stop by themselves if this process dies without stopping them.
 */
export async function startStreaming(options: StreamingOptions = {}): Promise<Streaming> {
  const bugs = typeof options.bugs === 'string' || options.bugs === undefined ? parseBugList(options.bugs) : parseBugList(options.bugs.join(',') || 'none');
  const classes = loadStreamingClasses();
  const key = options.key ?? randomBytes(24).toString('base64url');
  const specsOn = (ports: number[]): ServiceSpec[] => {
    const serviceMap = STREAMING_SERVICES.map((s, i) => `${s.name}=127.0.0.1:${ports[i]!}`).join(',');
    const base: Record<string, string> = { LABCOAT_KEY: key, LABCOAT_SERVICES: serviceMap, LABCOAT_DEMO_BUGS: bugs.join(',') || 'none' };
    if (options.otlpUrl) base['LABCOAT_OTLP_URL'] = options.otlpUrl;
    return STREAMING_SERVICES.map((s, i) => ({
      name: s.name,
      script: fileURLToPath(new URL(`${s.script}.js`, DIST)),
      port: ports[i]!,
      watchStdin: true,
      env: { ...base, LABCOAT_SERVICE: s.name },
    }));
  };
  let started = Date.now();
  let running: RunningService[];
  try {
    running = await startServices(specsOn(await freePorts(STREAMING_SERVICES.length)), options.readyTimeoutMs ?? 30_000);
  } catch (e) {
    // A port chosen up front was taken by someone else before its service bound it: once more, with new ports.
    if (!(e as Error).message.includes('EADDRINUSE')) throw e;
    started = Date.now();
    running = await startServices(specsOn(await freePorts(STREAMING_SERVICES.length)), options.readyTimeoutMs ?? 30_000);
  }
  const startupMs = Date.now() - started;
  const byName = Object.fromEntries(running.map((r) => [r.name, r]));
  const edgeUrl = byName['edge']!.url;
  let stopped: Promise<void> | undefined;
  const system: Streaming = {
    key,
    bugs,
    services: byName,
    edgeUrl,
    classes,
    startupMs,
    stop: () => (stopped ??= stopServices(running)),
  };
  try {
    for (let round = 0; round < (options.warmup ?? 0); round++) {
      await Promise.all(classes.classes.map((c) => sendClass(edgeUrl, c.method, c.path, c.headers ?? {}).catch(() => undefined)));
    }
  } catch (e) {
    await system.stop();
    throw e;
  }
  return system;
}

/** Sends one request to the edge and reads its JSON answer (bounded by `timeoutMs`). */
export async function sendClass(
  edgeUrl: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  timeoutMs = 5000,
): Promise<{ status: number; body: unknown; durationMs: number }> {
  const t0 = performance.now();
  const res = await fetch(`${edgeUrl}${path}`, { method, headers, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  const durationMs = performance.now() - t0;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, durationMs };
}

/** A signed plan (the `labcoat.plan` baggage value) that injects each fault at its exact point, on every attempt. */
export function signFaults(key: string, faults: readonly BugFault[], id = 'experiment', ttlMs = 60_000): string {
  const rules = faults.map(({ point, ...fault }) => ({ match: { point }, fault: fault as FaultSpec }));
  return encodePlan({ v: 1, id, exp: Date.now() + ttlMs, rules }, hmacMac(key));
}

/** One request of a class, possibly under faults, and the oracle's verdict. */
export interface ExperimentResult {
  readonly class: string;
  readonly faults: readonly BugFault[];
  readonly status: number;
  readonly body: unknown;
  readonly durationMs: number;
  /** What the oracle found wrong; empty when the answer is correct. */
  readonly violations: Violation[];
  readonly traceId: string;
  /** The span id sent as the request's parent (the entry span's parent, for trace completeness). */
  readonly parentSpanId: string;
}

/**
 * Sends one request of `cls` to the edge under a signed plan injecting `faults` (none: no plan),
 * with a fresh trace id, and judges the answer with `expect` (default: the class's own oracle).
 */
export async function runClass(
  system: Pick<Streaming, 'edgeUrl' | 'key'>,
  cls: RequestClass,
  options: { faults?: readonly BugFault[]; expect?: Expectation; planId?: string; timeoutMs?: number } = {},
): Promise<ExperimentResult> {
  const faults = options.faults ?? [];
  const traceId = randomBytes(16).toString('hex');
  const parentSpanId = randomBytes(8).toString('hex');
  const headers: Record<string, string> = { ...cls.headers, traceparent: `00-${traceId}-${parentSpanId}-01` };
  if (faults.length > 0) headers['baggage'] = `labcoat.plan=${signFaults(system.key, faults, options.planId ?? `exp-${traceId.slice(0, 8)}`)}`;
  const expect = options.expect ?? cls.expect;
  const answer = await sendClass(system.edgeUrl, cls.method, cls.path, headers, options.timeoutMs ?? Math.max(5000, (expect.deadlineMs ?? 0) * 3));
  return { class: cls.name, faults, ...answer, violations: checkAnswer(expect, answer), traceId, parentSpanId };
}
