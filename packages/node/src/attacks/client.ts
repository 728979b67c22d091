import { unitFromKey, type Baggage, type FaultAction, type PlanMac, type PointDescriptor } from '@labcoat/core';
import type { RequestContext } from '../context.js';
import type { LabcoatStats } from '../stats.js';
import { DEFAULT_LEASE_MS, parseSnapshot, type ActiveAttack } from './attack.js';
import { FeedTransport } from './feed.js';
import { ATTACK_BAGGAGE_KEY, encodeMark, MARK_MAX_IDS, MARK_TTL_MS, MarkVerifier, type AttackMark } from './mark.js';
import { InjectionReporter } from './reporter.js';

/** How this SDK takes part in production attacks. */
export interface AttackOptions {
  /** The control plane's base URL, e.g. `http://labcoat:7070` (env `LABCOAT_CONTROL_URL`). */
  url?: string;
  /** A token with role `service` (env `LABCOAT_CONTROL_TOKEN`). */
  token?: string;
  /**
   * This service is an entry (an edge): it decides which incoming requests join which attacks and
   * marks them in baggage (env `LABCOAT_ATTACK_ENTRY=1`, or a comma list of entry service names such
   * as `LABCOAT_ATTACK_ENTRY=edge` for an environment shared by several services). Default false:
   * only inject for marked requests.
   */
  entry?: boolean;
  /** An upper bound on the lease the control plane grants (ms); the dead-man switch trips after it. */
  leaseMs?: number;
  /** How often injection counts are reported to the control plane (ms, default 3000). */
  reportIntervalMs?: number;
  /** Where the client's few log lines go (default `console.warn`). */
  log?: (line: string) => void;
}

/**
 * Where the attack client stands:
 * - `connected`: holding the attacks of a valid snapshot received over the event stream;
 * - `polling`: the same, received by polling (the stream failed repeatedly);
 * - `suspended`: no valid snapshot within the lease (or none yet): nothing is injected;
 * - `disabled`: not configured, no key, or closed.
 */
export type AttackState = 'connected' | 'polling' | 'suspended' | 'disabled';

interface ResolvedOptions {
  url: URL;
  token: string | undefined;
  entry: boolean;
  leaseMs: number | undefined;
  reportIntervalMs: number;
  log: (line: string) => void;
}

const NONE: readonly ActiveAttack[] = Object.freeze([]);

/** Reads the options and their environment fallbacks; undefined when attacks are not configured. Throws on bad options. */
export function resolveAttackOptions(options: AttackOptions | false | undefined, env: Record<string, string | undefined>, service = ''): ResolvedOptions | undefined {
  if (options === false) return undefined;
  const o = options ?? {};
  const rawUrl = o.url ?? env['LABCOAT_CONTROL_URL'];
  if (rawUrl === undefined || rawUrl === '') return undefined;
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new Error(`labcoat: attacks.url (LABCOAT_CONTROL_URL) must be an http(s) URL; got ${JSON.stringify(rawUrl)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`labcoat: attacks.url (LABCOAT_CONTROL_URL) must be an http(s) URL; got ${JSON.stringify(rawUrl)}`);
  }
  const leaseMs = o.leaseMs;
  if (leaseMs !== undefined && !(Number.isFinite(leaseMs) && leaseMs >= 100 && leaseMs <= 3_600_000)) {
    throw new Error(`labcoat: attacks.leaseMs must be a number of milliseconds from 100 to 3600000; got ${String(leaseMs)}`);
  }
  const reportIntervalMs = o.reportIntervalMs ?? 3000;
  if (!(Number.isFinite(reportIntervalMs) && reportIntervalMs >= 10 && reportIntervalMs <= 600_000)) {
    throw new Error(`labcoat: attacks.reportIntervalMs must be a number of milliseconds from 10 to 600000; got ${String(reportIntervalMs)}`);
  }
  const entryEnv = env['LABCOAT_ATTACK_ENTRY'];
  return {
    url,
    token: o.token ?? (env['LABCOAT_CONTROL_TOKEN'] || undefined),
    // `1`/`true`, or a comma list of the services that are entries (for an environment shared by several).
    entry: o.entry ?? (entryEnv === '1' || entryEnv === 'true' || (entryEnv ?? '').split(',').some((s) => s.trim() === service && service !== '')),
    leaseMs,
    reportIntervalMs,
    log: o.log ?? ((line) => console.warn(line)),
  };
}

/**
 * The SDK's side of production attacks (issue 6): subscribes to the control plane's signed attack
 * feed, holds the active attacks under a lease (dead-man switch), marks requests at an entry, and
 * decides injections for marked requests. Nothing is injected without both a valid signed
 * snapshot and a valid signed mark for the request's trace.
 *
 * Reached as `labcoat.attacks`.
 */
export class AttackClient {
  /** Whether this SDK decides which incoming requests join attacks. */
  readonly entry: boolean;
  private current: AttackState;
  private held: readonly ActiveAttack[] = NONE;
  private byId = new Map<string, ActiveAttack>();
  /** Epoch ms until which the held attacks may inject. */
  private leaseUntil = 0;
  private lease: number;
  private lastValidAt: number;
  private lastServerTime = -Infinity;
  private tripped = false;
  private deadman: NodeJS.Timeout | undefined;
  private readonly transport: FeedTransport | undefined;
  private readonly reporter: InjectionReporter | undefined;
  private readonly verifier: MarkVerifier;
  private readonly logged = new Set<string>();
  private readonly log: (line: string) => void;
  private readonly maxLease: number;

  constructor(
    options: ResolvedOptions | undefined,
    private readonly mac: PlanMac | undefined,
    private readonly stats: LabcoatStats,
  ) {
    this.verifier = new MarkVerifier(mac);
    this.entry = options?.entry ?? false;
    this.log = options?.log ?? (() => {});
    this.maxLease = options?.leaseMs ?? Infinity;
    this.lease = Math.min(DEFAULT_LEASE_MS, this.maxLease);
    this.lastValidAt = Date.now();
    if (!options) {
      this.current = 'disabled';
      return;
    }
    if (!mac) {
      this.current = 'disabled';
      this.logOnce('no-key', `labcoat: the attack feed (${options.url.origin}) is disabled: no signing key to verify it with. Set LABCOAT_KEY (or the \`key\` option) to the control plane's key`);
      return;
    }
    this.current = 'suspended';
    const transport = new FeedTransport(options.url, options.token, {
      accept: (envelope, via) => this.acceptEnvelope(envelope, via),
      leaseMs: () => this.lease,
      logOnce: (key, line) => this.logOnce(key, line),
      failed: () => {
        this.stats.attacks.feedFailures++;
      },
    });
    this.transport = transport;
    this.reporter = new InjectionReporter((id, n, t) => transport.report(id, n, t), options.reportIntervalMs, stats);
    // Nothing held yet: the switch trips (and says so) if no valid snapshot comes within a lease.
    this.armDeadman();
    transport.start();
  }

  /** Where the client stands (see {@link AttackState}). */
  get state(): AttackState {
    return this.current;
  }

  /** The attacks held now (empty when suspended or disabled). */
  get active(): readonly ActiveAttack[] {
    return this.held;
  }

  /** Ids of the attacks held now. */
  get ids(): string[] {
    return this.held.map((a) => a.id);
  }

  /** Stops the feed, the timers and the reporter (after one last short report). Idempotent. */
  async close(): Promise<void> {
    if (this.current === 'disabled' && !this.transport) return;
    this.current = 'disabled';
    this.drop();
    clearTimeout(this.deadman);
    this.deadman = undefined;
    this.transport?.close();
    await this.reporter?.close(1000);
  }

  private logOnce(key: string, line: string): void {
    if (this.logged.has(key)) return;
    this.logged.add(key);
    try {
      this.log(line);
    } catch {
      // A logger that throws loses its line, nothing else.
    }
  }

  private drop(): void {
    this.held = NONE;
    this.byId = new Map();
    this.leaseUntil = 0;
  }

  // ---- the feed ------------------------------------------------------------------------------

  /**
   * Takes one `{"body": "<JSON>", "sig": "<b64url HMAC>"}` envelope. The signature is checked over
   * the body's bytes before anything in it is read. True when it was a valid, fresh snapshot (now held).
   * Public for tests; the feed transport calls it. Never throws.
   */
  acceptEnvelope(text: string, via: 'sse' | 'poll'): boolean {
    if (this.current === 'disabled' || !this.mac) return false;
    let body: unknown;
    let sig: unknown;
    try {
      const env = JSON.parse(text) as unknown;
      if (typeof env !== 'object' || env === null || Array.isArray(env)) throw new Error('not an object');
      ({ body, sig } = env as Record<string, unknown>);
    } catch {
      this.stats.attacks.malformedSnapshots++;
      return false;
    }
    if (typeof body !== 'string' || typeof sig !== 'string') {
      this.stats.attacks.malformedSnapshots++;
      return false;
    }
    let valid = false;
    try {
      valid = this.mac.verify(body, sig);
    } catch {
      valid = false;
    }
    if (!valid) {
      this.stats.attacks.badSignature++;
      this.logOnce('bad-signature', 'labcoat: an attack feed snapshot had a bad signature and was ignored; does this service share LABCOAT_KEY with the control plane?');
      return false;
    }
    const now = Date.now();
    const snapshot = parseSnapshot(body, now);
    if (!snapshot) {
      this.stats.attacks.malformedSnapshots++;
      return false;
    }
    // An older snapshot than one already taken (a replay, a lagging replica) is ignored, except
    // after the switch tripped: then any valid snapshot resumes.
    if (snapshot.serverTime < this.lastServerTime && !this.tripped) {
      this.stats.attacks.staleSnapshots++;
      return false;
    }
    this.lastServerTime = snapshot.serverTime;
    this.stats.attacks.snapshots++;
    this.stats.attacks.skippedAttacks += snapshot.skipped;
    this.lease = Math.min(snapshot.leaseMs, this.maxLease);
    this.leaseUntil = now + this.lease;
    this.lastValidAt = now;
    this.held = snapshot.attacks.length === 0 ? NONE : Object.freeze([...snapshot.attacks]);
    this.byId = new Map(snapshot.attacks.map((a) => [a.id, a]));
    this.current = via === 'sse' ? 'connected' : 'polling';
    if (this.tripped) {
      this.tripped = false;
      this.logged.delete('deadman');
      this.logged.delete('resumed');
      this.logOnce('resumed', 'labcoat: control plane reachable again; attacks resumed');
    }
    this.armDeadman();
    return true;
  }

  private armDeadman(): void {
    clearTimeout(this.deadman);
    this.deadman = setTimeout(() => this.checkLease(), Math.max(1, this.leaseUntil === 0 ? this.lease : this.leaseUntil - Date.now()));
    this.deadman.unref();
  }

  private checkLease(): void {
    this.deadman = undefined;
    if (this.current === 'disabled') return;
    const now = Date.now();
    if (now < this.leaseUntil) return this.armDeadman();
    this.drop();
    this.current = 'suspended';
    if (!this.tripped) {
      this.tripped = true;
      this.stats.attacks.deadman++;
      this.logOnce('deadman', `labcoat: control plane unreachable for ${Math.round(now - this.lastValidAt)} ms; attacks suspended (dead-man switch)`);
    }
  }

  // ---- entry ---------------------------------------------------------------------------------

  /**
   * At an entry, for a request that carries no mark: which held attacks it joins (labels, entry
   * routes, then the draw `unitFromKey(traceId|attackId) < percentage/100`). Returns the baggage
   * with the signed mark (written even when nothing was joined, so nobody downstream re-decides),
   * or undefined when the request already carries a mark or nothing is held.
   */
  enter(traceId: string, baggage: Baggage, method: string, path: string, template: () => string): { baggage: Baggage; mark: AttackMark } | undefined {
    if (!this.mac || baggage.getRaw(ATTACK_BAGGAGE_KEY) !== undefined) return undefined;
    const now = Date.now();
    if (now >= this.leaseUntil) return undefined;
    const ids: string[] = [];
    let route: string | undefined;
    const routeOf = (): string => (route ??= template());
    for (const attack of this.held) {
      if (attack.expiresAt <= now || !attack.labelsMatch(baggage)) continue;
      if (attack.entry && !attack.entry(method, path, routeOf)) continue;
      if (unitFromKey(`${traceId}|${attack.id}`) >= attack.percentage / 100) continue;
      ids.push(attack.id);
      if (ids.length >= MARK_MAX_IDS) break;
    }
    const mark: AttackMark = { ids, exp: now + MARK_TTL_MS, t: traceId };
    this.stats.attacks.marked++;
    if (ids.length > 0) this.stats.attacks.joined++;
    return { baggage: baggage.with(ATTACK_BAGGAGE_KEY, encodeMark(mark, this.mac)), mark };
  }

  // ---- injection -----------------------------------------------------------------------------

  /**
   * For a dependency call no plan rule faulted: the attack to inject, if the request carries a
   * valid mark (signature, trace, expiry; verified once per request and cached) naming an attack
   * held under a valid lease whose target matches the point.
   */
  decide(ctx: RequestContext, point: PointDescriptor, pointId: string, attempt: number): { attack: ActiveAttack; action: FaultAction } | undefined {
    const now = Date.now();
    let mark = ctx.attackMark;
    if (mark === undefined) {
      const raw = ctx.baggage.getRaw(ATTACK_BAGGAGE_KEY);
      if (raw === undefined) {
        this.stats.attacks.unmarked++;
        mark = null;
      } else {
        const verified = this.verifier.verify(raw, ctx.traceId, now);
        if (typeof verified === 'string') {
          this.stats.attacks.invalidMark++;
          mark = null;
        } else mark = verified;
      }
      ctx.attackMark = mark;
    }
    if (mark === null || mark.ids.length === 0 || mark.exp <= now || now >= this.leaseUntil) return undefined;
    for (const id of mark.ids) {
      const attack = this.byId.get(id);
      if (!attack || attack.expiresAt <= now || !attack.targets(point, pointId)) continue;
      this.stats.attacks.injections[id] = (this.stats.attacks.injections[id] ?? 0) + 1;
      this.reporter?.count(id);
      return { attack, action: attack.fault.action(unitFromKey(`${ctx.traceId}|${pointId}|${attempt}|${id}|draw`)) };
    }
    return undefined;
  }
}
