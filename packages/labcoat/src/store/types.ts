/**
 * The control plane's store: one interface, two implementations (SQLite for one machine,
 * PostgreSQL shared by several server replicas). Every method that changes state commits before
 * it resolves, and writes its audit entry in the same transaction.
 */
import type { FaultSpec, SpanData } from '@labcoat/core';

export type Role = 'admin' | 'viewer' | 'service';
export const ROLES: readonly Role[] = ['admin', 'viewer', 'service'];

export interface TokenRecord {
  readonly id: string;
  readonly name: string | null;
  readonly role: Role;
  /** SHA-256 of the token, hex. The token itself is never stored. */
  readonly hash: string;
  readonly createdAt: number;
  readonly revokedAt: number | null;
}

/** Who did something: a token, the CLI working on the database, or the server itself. */
export interface Actor {
  readonly id: string;
  readonly role: Role | 'cli' | 'system';
  readonly name?: string | null;
}

export interface AuditInput {
  readonly actor: Actor;
  readonly action: string;
  readonly target?: string;
  readonly details?: unknown;
}

export interface AuditRecord {
  readonly id: number;
  readonly at: number;
  readonly actor: string;
  readonly role: string | null;
  readonly action: string;
  readonly target: string | null;
  readonly details: unknown;
}

/** What `POST /api/attacks` accepts, after validation (see server/attack-spec.ts). */
export interface AttackDefinition {
  readonly name?: string;
  readonly target: {
    readonly services?: readonly string[];
    readonly points?: readonly string[];
    readonly callers?: readonly string[];
    readonly routes?: readonly string[];
  };
  readonly labels?: Readonly<Record<string, string>>;
  readonly entry?: { readonly routes?: readonly string[] };
  readonly fault: FaultSpec;
  readonly percentage: number;
  readonly durationMs: number;
}

export type AttackState = 'active' | 'halted' | 'expired';

export interface AttackRecord extends AttackDefinition {
  readonly id: string;
  readonly state: AttackState;
  readonly createdAt: number;
  readonly createdBy: string | null;
  readonly expiresAt: number;
  readonly haltedAt: number | null;
  readonly haltedBy: string | null;
  /** Injections the SDKs reported. */
  readonly injections: number;
}

export type CampaignState = 'running' | 'finished' | 'failed' | 'stopped' | 'interrupted';
export const TERMINAL_CAMPAIGN_STATES: readonly CampaignState[] = ['finished', 'failed', 'stopped', 'interrupted'];

export interface CampaignRecord {
  readonly id: string;
  readonly name: string | null;
  readonly state: CampaignState;
  /** The explore options the campaign was created with (JSON). */
  readonly spec: unknown;
  readonly createdAt: number;
  readonly createdBy: string | null;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly heartbeatAt: number | null;
  /** The server replica running it. */
  readonly runner: string | null;
  readonly stopRequested: boolean;
  /** The last progress event's data. */
  readonly progress: unknown;
  /** `{experiments, bugs, certified}` once finished. */
  readonly summary: unknown;
  /** The exploration report, once finished (or stopped). */
  readonly result: unknown;
  readonly error: string | null;
  /** Events stored so far (the last event's seq). */
  readonly events: number;
}

export interface CampaignEvent {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly data: unknown;
}

/** Fields an event may change on its campaign, in the same transaction. */
export interface CampaignPatch {
  readonly state?: CampaignState;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  readonly progress?: unknown;
  readonly summary?: unknown;
  readonly result?: unknown;
  readonly error?: string;
}

export interface GraphQuery {
  readonly sinceMs: number;
  readonly untilMs: number;
  /** `service` (default): one edge per caller → callee; `point`: one per injection point. */
  readonly by?: 'service' | 'point';
  /** Only edges touching this service (as caller or callee), and the services they touch. */
  readonly service?: string;
}

export interface GraphEdge {
  readonly caller: string;
  readonly callee: string;
  /** The injection points merged into this edge (by=service), or its one point (by=point). */
  readonly points: readonly string[];
  readonly calls: number;
  readonly errors: number;
  readonly errorRate: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export interface GraphNode {
  readonly name: string;
  readonly spans: number;
  readonly requests: number;
  readonly errors: number;
}

export interface Graph {
  readonly sinceMs: number;
  readonly untilMs: number;
  readonly bucketMs: number;
  readonly services: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

export interface RetentionPolicy {
  /** Spans ingested longer ago than this are deleted. */
  readonly maxAgeMs?: number;
  /** Keep at most this many spans (oldest deleted first, a minute of ingestion at a time). */
  readonly maxSpans?: number;
  /** Keep at most this many bytes of spans (approximate stored size). */
  readonly maxBytes?: number;
}

export interface RetentionResult {
  readonly deletedSpans: number;
  readonly deletedChunks: number;
  readonly thinnedAggregates: number;
}

export interface SpanTotals {
  readonly spans: number;
  readonly bytes: number;
  /** Ingestion time of the oldest span kept (minute precision). */
  readonly oldestMs: number | null;
}

export interface EdgeSpansQuery {
  readonly caller: string;
  readonly callee: string;
  /** Only spans of this injection point. */
  readonly point?: string;
  readonly limit: number;
  /** Only spans started at or after this time (ms). */
  readonly sinceMs?: number;
}

export interface TracesQuery {
  /** The request class of the entry span (`GET /home`); any when undefined. */
  readonly class?: string;
  /** The entry service. */
  readonly service?: string;
  readonly limit: number;
  readonly sinceMs?: number;
}

export interface TraceSummary {
  readonly traceId: string;
  /** The entry service. */
  readonly service: string;
  readonly class: string;
  readonly startMs: number;
  readonly durationMs: number;
  readonly spans: number;
  readonly errors: number;
  /** Spans that record an injected fault (`labcoat.fault`). */
  readonly faults: number;
  readonly status: 'ok' | 'error';
}

export interface TraceClassesQuery {
  readonly sinceMs: number;
  readonly limit: number;
}

export interface TraceClass {
  readonly service: string;
  readonly class: string;
  readonly count: number;
  readonly lastMs: number;
}

export type StoreChannel = 'attacks' | 'campaigns';

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Where it is (a file path, or the URL without its password). */
  readonly location: string;
  /** Width of the graph's time buckets. */
  readonly bucketMs: number;
  close(): Promise<void>;
  /** Resolves when the database answers. */
  ping(): Promise<void>;

  /** Writes spans and their graph aggregates in one transaction; duplicates (same trace and span id) are skipped. */
  ingest(spans: readonly SpanData[], nowMs: number): Promise<{ inserted: number; duplicates: number }>;
  trace(traceId: string): Promise<SpanData[]>;
  spanTotals(): Promise<SpanTotals>;
  graph(q: GraphQuery): Promise<Graph>;
  retain(policy: RetentionPolicy, nowMs: number): Promise<RetentionResult>;
  /** The client spans of a graph edge, newest first (see `queries.ts`). */
  edgeSpans(q: EdgeSpansQuery): Promise<SpanData[]>;
  /** The latest traces by request class of their entry span, newest first. */
  traces(q: TracesQuery): Promise<TraceSummary[]>;
  /** The request classes of recent entry spans, with counts. */
  traceClasses(q: TraceClassesQuery): Promise<TraceClass[]>;

  /** A server setting (JSON), or undefined when never set. */
  getSetting(key: string): Promise<unknown>;
  /** Stores a server setting, audited in the same transaction. */
  setSetting(key: string, value: unknown, nowMs: number, audit: AuditInput): Promise<void>;

  insertToken(t: TokenRecord, audit: AuditInput): Promise<void>;
  tokenByHash(hash: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  revokeToken(id: string, nowMs: number, audit: AuditInput): Promise<boolean>;

  insertAttack(a: AttackRecord, audit: AuditInput): Promise<void>;
  getAttack(id: string, nowMs: number): Promise<AttackRecord | undefined>;
  listAttacks(q: { state?: AttackState; limit: number }, nowMs: number): Promise<AttackRecord[]>;
  /** Attacks active now (state active, not yet expired). */
  activeAttacks(nowMs: number): Promise<AttackRecord[]>;
  haltAttack(id: string, nowMs: number, audit: AuditInput): Promise<{ attack: AttackRecord | undefined; changed: boolean }>;
  haltAll(nowMs: number, audit: AuditInput): Promise<string[]>;
  /** Marks attacks past their expiry as expired (audited as the system); returns their ids. */
  expireAttacks(nowMs: number): Promise<string[]>;
  addInjections(id: string, n: number, audit: AuditInput): Promise<boolean>;

  listAudit(q: { limit: number; before?: number; action?: string }): Promise<AuditRecord[]>;

  insertCampaign(c: CampaignRecord, audit: AuditInput): Promise<void>;
  getCampaign(id: string, withResult: boolean): Promise<CampaignRecord | undefined>;
  listCampaigns(q: { limit: number }): Promise<CampaignRecord[]>;
  /** Appends an event (and applies `patch` to the campaign) in one transaction; resolves to its seq. */
  appendCampaignEvent(id: string, type: string, data: unknown, nowMs: number, patch?: CampaignPatch): Promise<number>;
  campaignEvents(id: string, afterSeq: number, limit: number): Promise<CampaignEvent[]>;
  requestCampaignStop(id: string, audit: AuditInput): Promise<boolean>;
  /** Updates the heartbeat of the campaigns this runner runs; resolves to the ids whose stop was requested. */
  heartbeatCampaigns(runner: string, ids: readonly string[], nowMs: number): Promise<string[]>;
  /**
   * Marks running campaigns as interrupted: all of them (`staleMs` undefined, SQLite at start: one
   * server per file), or those whose runner's heartbeat is older than `staleMs`.
   */
  interruptCampaigns(nowMs: number, staleMs: number | undefined): Promise<string[]>;

  /** Tells every replica (including this one) that something changed. */
  subscribe(listener: (channel: StoreChannel, payload: string) => void): () => void;
}
