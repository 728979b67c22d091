/**
 * Campaigns: explore runs launched through the server. `POST /api/campaigns` validates the options,
 * stores the campaign, and runs `explore()` in this process against the services named, reading
 * their spans from what this server ingests. Every progress event is committed to the store before
 * anyone can see it (SSE or GET), so a `kill -9` loses nothing that was acknowledged; a campaign
 * whose server died is marked `interrupted` (at the next start with SQLite; by another replica
 * once its heartbeat is stale with PostgreSQL). The report is stored when the run ends.
 */
import type { FaultSpec } from '@labcoat/core';
import { classesFromOptions, explore, type ClassInput, type ExploreOptions } from '../explore/api.js';
import { ExploreError } from '../explore/errors.js';
import { faultModes } from '../explore/plans.js';
import type { ProgressSink, ProgressState } from '../explore/progress.js';
import type { Actor, CampaignPatch, CampaignRecord, Store } from '../store/types.js';
import { newId } from './auth.js';
import { HttpError, type FieldError } from './http.js';
import type { SpanTap } from './span-tap.js';

/** The JSON a campaign is created with: the explore options that can travel as JSON. */
export interface CampaignSpec {
  readonly name?: string;
  readonly target?: string;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  readonly classes?: readonly ClassInput[];
  readonly expect?: ExploreOptions['expect'];
  readonly maxFaults?: number;
  readonly faults?: string | readonly string[] | Readonly<Record<string, FaultSpec>>;
  readonly critical?: ExploreOptions['critical'];
  readonly skipCritical?: boolean;
  readonly batching?: boolean;
  readonly batchSize?: number;
  readonly lineage?: 'precise' | 'plain';
  readonly baselineRuns?: number;
  readonly budget?: number;
  readonly timeBudgetMs?: number;
  readonly stopAtFirstFailure?: boolean;
  readonly seed?: number;
  readonly deadlineMs?: number;
  readonly spanWaitMs?: number;
  readonly settleMs?: number;
  readonly reset?: { readonly url: string };
  readonly resetBefore?: 'each' | 'tie-break';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const INT_FIELDS: Record<string, [number, number]> = {
  maxFaults: [1, 8],
  batchSize: [1, 64],
  baselineRuns: [1, 100],
  budget: [1, 100_000],
  timeBudgetMs: [1, 7 * 86_400_000],
  seed: [0, 2 ** 31 - 1],
  deadlineMs: [1, 600_000],
  spanWaitMs: [0, 600_000],
  settleMs: [0, 600_000],
};
const BOOL_FIELDS = ['skipCritical', 'batching', 'stopAtFirstFailure'];
const KNOWN = new Set(['name', 'target', 'method', 'headers', 'body', 'classes', 'expect', 'faults', 'critical', 'lineage', 'reset', 'resetBefore', ...Object.keys(INT_FIELDS), ...BOOL_FIELDS]);

function httpUrl(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Validates a campaign spec; every problem is reported with its field. */
export function validateCampaign(input: unknown): { ok: true; spec: CampaignSpec } | { ok: false; errors: FieldError[] } {
  if (!isObject(input)) return { ok: false, errors: [{ field: '', message: 'expected a JSON object of explore options: {"target":"http://…/home","maxFaults":2,…}' }] };
  const errors: FieldError[] = [];
  for (const k of Object.keys(input)) if (!KNOWN.has(k)) errors.push({ field: k, message: k === 'command' ? 'command workloads cannot be run through the server' : 'unknown field' });
  const name = input['name'];
  if (name !== undefined && (typeof name !== 'string' || name.length === 0 || name.length > 128)) errors.push({ field: 'name', message: 'expected a string of 1 to 128 characters' });
  if (input['target'] !== undefined && !httpUrl(input['target'])) errors.push({ field: 'target', message: 'expected an http(s) URL, e.g. http://127.0.0.1:3000/home' });
  if (input['method'] !== undefined && (typeof input['method'] !== 'string' || !/^[A-Za-z]{1,16}$/.test(input['method']))) errors.push({ field: 'method', message: 'expected an HTTP method' });
  const headers = input['headers'];
  if (headers !== undefined && (!isObject(headers) || Object.values(headers).some((v) => typeof v !== 'string'))) errors.push({ field: 'headers', message: 'expected an object of header name → string' });
  for (const [k, [min, max]] of Object.entries(INT_FIELDS)) {
    const v = input[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)) errors.push({ field: k, message: `expected an integer from ${min} to ${max}` });
  }
  for (const k of BOOL_FIELDS) if (input[k] !== undefined && typeof input[k] !== 'boolean') errors.push({ field: k, message: 'expected true or false' });
  if (input['lineage'] !== undefined && input['lineage'] !== 'precise' && input['lineage'] !== 'plain') errors.push({ field: 'lineage', message: 'expected "precise" or "plain"' });
  if (input['resetBefore'] !== undefined && input['resetBefore'] !== 'each' && input['resetBefore'] !== 'tie-break') errors.push({ field: 'resetBefore', message: 'expected "each" or "tie-break"' });
  const reset = input['reset'];
  if (reset !== undefined && (!isObject(reset) || !httpUrl(reset['url']) || Object.keys(reset).length !== 1)) {
    errors.push({ field: 'reset', message: 'expected {"url":"http://…"} (the server POSTs it to reset the system; shell commands are not run through the server)' });
  }
  const classes = input['classes'];
  if (classes !== undefined) {
    if (!Array.isArray(classes) || classes.length === 0 || classes.length > 100) errors.push({ field: 'classes', message: 'expected an array of 1 to 100 request classes' });
    else
      classes.forEach((c, i) => {
        if (!isObject(c)) errors.push({ field: `classes[${i}]`, message: 'expected an object {name, method, path|url, expect}' });
        else if (c['command'] !== undefined) errors.push({ field: `classes[${i}].command`, message: 'command workloads cannot be run through the server' });
      });
  }
  if (input['target'] === undefined && classes === undefined) errors.push({ field: 'target', message: 'say what to explore: a target URL, or classes (with a target as their base URL or full urls)' });
  const critical = input['critical'];
  if (critical !== undefined && !isObject(critical)) errors.push({ field: 'critical', message: 'expected {"services":[…],"points":[…]}' });
  if (input['faults'] !== undefined) {
    try {
      faultModes(input['faults'] as CampaignSpec['faults']);
    } catch (e) {
      errors.push({ field: 'faults', message: (e as Error).message.replace(/^--faults: /, '') });
    }
  }
  if (errors.length === 0) {
    // The library's own checks (classes, expectations), before anything is stored.
    try {
      classesFromOptions(toExploreOptions(input as CampaignSpec));
    } catch (e) {
      if (e instanceof ExploreError) errors.push({ field: classes !== undefined ? 'classes' : '', message: e.message });
      else throw e;
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, spec: input as CampaignSpec };
}

function toExploreOptions(spec: CampaignSpec): ExploreOptions {
  const { name: _name, ...rest } = spec;
  return rest as ExploreOptions;
}

interface Running {
  readonly controller: AbortController;
  /** Why it was aborted: a stop request, or the server shutting down. */
  why?: 'stopped' | 'shutdown';
  readonly done: Promise<void>;
}

export class Campaigns {
  private readonly running = new Map<string, Running>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly key: string | undefined,
    private readonly tap: SpanTap,
    private readonly replica: string,
    private readonly maxRunning: number,
    private readonly log: (line: string) => void,
    /** How old a running campaign's heartbeat may be before another replica calls it interrupted (PostgreSQL). */
    private readonly staleMs = 15_000,
  ) {}

  async start(): Promise<void> {
    // SQLite: one server per file, so whatever was running when it last stopped was interrupted.
    const interrupted = await this.store.interruptCampaigns(Date.now(), this.store.kind === 'sqlite' ? undefined : this.staleMs);
    if (interrupted.length > 0) this.log(`labcoat: campaign${interrupted.length === 1 ? '' : 's'} ${interrupted.join(', ')} marked interrupted (the server running ${interrupted.length === 1 ? 'it' : 'them'} stopped)`);
    this.timer = setInterval(() => void this.beat(), Math.max(200, Math.min(2000, Math.floor(this.staleMs / 3))));
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    try {
      const stop = await this.store.heartbeatCampaigns(this.replica, [...this.running.keys()], Date.now());
      for (const id of stop) this.abort(id, 'stopped');
      if (this.store.kind === 'postgres') await this.store.interruptCampaigns(Date.now(), this.staleMs);
    } catch {
      // the store is away; try again at the next beat
    }
  }

  /** A stop request seen through the store's notifications. */
  noticeStop(id: string): void {
    if (this.running.has(id)) this.abort(id, 'stopped');
  }

  get runningCount(): number {
    return this.running.size;
  }

  private abort(id: string, why: 'stopped' | 'shutdown'): void {
    const r = this.running.get(id);
    if (!r) return;
    r.why ??= why;
    r.controller.abort();
  }

  async create(spec: CampaignSpec, actor: Actor): Promise<CampaignRecord> {
    if (!this.key) throw new HttpError(503, 'this server has no key (--key or LABCOAT_KEY): a campaign signs fault plans with the key the services share');
    if (this.running.size >= this.maxRunning) throw new HttpError(429, `this server already runs ${this.running.size} campaign${this.running.size === 1 ? '' : 's'} (at most ${this.maxRunning}); try again when one ends`, undefined, { 'retry-after': '10' });
    const now = Date.now();
    const record: CampaignRecord = {
      id: newId('cmp'),
      name: spec.name ?? null,
      state: 'running',
      spec,
      createdAt: now,
      createdBy: actor.id,
      startedAt: now,
      finishedAt: null,
      heartbeatAt: now,
      runner: this.replica,
      stopRequested: false,
      progress: null,
      summary: null,
      result: null,
      error: null,
      events: 0,
    };
    await this.store.insertCampaign(record, { actor, action: 'campaign.create', target: record.id, details: { name: record.name } });
    const controller = new AbortController();
    const entry: Running = { controller, done: Promise.resolve() };
    this.running.set(record.id, entry);
    (entry as { done: Promise<void> }).done = this.run(record, spec, entry).finally(() => this.running.delete(record.id));
    return record;
  }

  private async run(record: CampaignRecord, spec: CampaignSpec, entry: Running): Promise<void> {
    const id = record.id;
    // Events are appended one after another, in order; each is committed before the next starts.
    let chain: Promise<unknown> = Promise.resolve();
    const append = (type: string, data: unknown, patch?: CampaignPatch): Promise<void> => {
      const p = chain.then(() => this.store.appendCampaignEvent(id, type, data, Date.now(), patch));
      chain = p.catch((e: Error) => this.log(`labcoat: campaign ${id}: could not store a ${type} event: ${e.message}`));
      return p.then(() => undefined);
    };
    let latest: ProgressState | undefined;
    let lastWrite = 0;
    let timer: NodeJS.Timeout | undefined;
    const flushProgress = (): void => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (!latest) return;
      const state = latest;
      latest = undefined;
      lastWrite = Date.now();
      void append('progress', state, { progress: state });
    };
    const sink: ProgressSink = {
      startClass: (name, budget) => {
        flushProgress();
        void append('class-start', { className: name, budget });
      },
      update: (state) => {
        latest = state;
        // At most five progress events a second are stored; the last one always is.
        const wait = 200 - (Date.now() - lastWrite);
        if (wait <= 0) flushProgress();
        else if (!timer) timer = setTimeout(flushProgress, wait);
      },
      endClass: (name) => {
        flushProgress();
        void append('class-end', { className: name });
      },
      log: (line) => void append('log', { line }),
      stop: () => flushProgress(),
    };
    const { source, release } = this.tap.acquire();
    try {
      await append('state', { state: 'running' });
      const report = await explore({ ...toExploreOptions(spec), key: this.key!, collector: source, progress: sink, signal: entry.controller.signal });
      flushProgress();
      await chain;
      const summary = { experiments: report.experiments, bugs: report.bugs, certified: report.certified };
      const state = entry.why === 'shutdown' ? 'interrupted' : entry.why === 'stopped' ? 'stopped' : 'finished';
      await append('state', { state, ...summary }, { state, finishedAt: Date.now(), summary, result: report, ...(state === 'interrupted' ? { error: 'the server shut down before the campaign finished' } : {}) });
    } catch (e) {
      flushProgress();
      await chain;
      const message = e instanceof ExploreError ? `${e.code}: ${e.message}` : (e as Error).message;
      await append('state', { state: 'failed', error: message }, { state: 'failed', finishedAt: Date.now(), error: message }).catch(() => {});
    } finally {
      if (timer) clearTimeout(timer);
      release();
    }
  }

  /** Stops every campaign this replica runs (they end `interrupted`) and waits, bounded, for their last events. */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const all = [...this.running.entries()];
    for (const [id] of all) this.abort(id, 'shutdown');
    await Promise.race([Promise.all(all.map(([, r]) => r.done.catch(() => {}))), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }
}
