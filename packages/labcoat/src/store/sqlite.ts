/**
 * The embedded store: one SQLite file (better-sqlite3), WAL journal, `synchronous = FULL`, so a
 * transaction that has committed — and therefore every request the server acknowledged — is on
 * disk and survives `kill -9` and a power cut alike. One server process per file.
 */
import { EventEmitter } from 'node:events';
import Database from 'better-sqlite3';
import type { SpanData } from '@labcoat/core';
import {
  attackDefinitionJson,
  attackFromRow,
  auditDetails,
  buildGraph,
  campaignFromRow,
  KIND_NUM,
  num,
  spanFromRow,
  STATUS_NUM,
  THINNING,
  tokenFromRow,
  windowBuckets,
  type AttackRow,
  type CampaignRow,
  unpackCum,
  type EdgeWindowRow,
  type ServiceWindowRow,
  type SpanRow,
  type TokenRow,
} from './common.js';
import { aggregate, emptyAggregates, spanBytes } from './derive.js';
import { addTo, decodeHist, encodeHist } from './hist.js';
import { SQLITE_MIGRATIONS, type Migration } from './migrations.js';
import { findEdgeSpans, findTraceClasses, findTraces, type Cursor, type CursorRow } from './queries.js';
import type {
  AttackRecord,
  AttackState,
  AuditInput,
  AuditRecord,
  CampaignEvent,
  CampaignPatch,
  CampaignRecord,
  EdgeSpansQuery,
  Graph,
  GraphQuery,
  RetentionPolicy,
  RetentionResult,
  SpanTotals,
  Store,
  StoreChannel,
  TokenRecord,
  TraceClass,
  TraceClassesQuery,
  TracesQuery,
  TraceSummary,
} from './types.js';

type Db = Database.Database;
type Stmt = Database.Statement;

export interface SqliteStoreOptions {
  /** Width of the graph's time buckets, ms (default 60 s). */
  readonly bucketMs?: number;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly bucketMs: number;
  private readonly events = new EventEmitter();
  private readonly s: Record<string, Stmt> = {};
  private closed = false;

  private constructor(
    private readonly db: Db,
    readonly location: string,
    bucketMs: number,
  ) {
    this.bucketMs = bucketMs;
    this.events.setMaxListeners(0);
  }

  /** Opens (creating when needed) and migrates the database file. */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    const db = new Database(path);
    try {
      // auto_vacuum must be chosen before the first table exists; it lets retention give pages back.
      const fresh = (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n === 0;
      if (fresh) db.pragma('auto_vacuum = INCREMENTAL');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = OFF');
      migrateSqlite(db, SQLITE_MIGRATIONS);
    } catch (e) {
      db.close();
      throw e;
    }
    const store = new SqliteStore(db, path, options.bucketMs ?? 60_000);
    store.prepare();
    return store;
  }

  private prepare(): void {
    const p = (name: string, sql: string): void => {
      this.s[name] = this.db.prepare(sql);
    };
    p('insertSpan', 'INSERT OR IGNORE INTO spans (trace_id, span_id, parent_span_id, service, name, kind, start_ms, end_ms, status, status_message, attributes, events) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)');
    p('upsertChunk', 'INSERT INTO span_chunks (minute, first_id, last_id, spans, bytes) VALUES (?,?,?,?,?) ON CONFLICT (minute) DO UPDATE SET first_id = min(first_id, excluded.first_id), last_id = max(last_id, excluded.last_id), spans = spans + excluded.spans, bytes = bytes + excluded.bytes');
    // The upserts return the running totals so far (the edge's and service's latest cumulative row
    // is also kept on their own row, so the graph of a window ending now needs no lookup for it).
    p('upsertService', 'INSERT INTO services (name, last_bucket) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET last_bucket = max(last_bucket, excluded.last_bucket) RETURNING id, last_bucket, cum_spans, cum_requests, cum_errors');
    p('setService', 'UPDATE services SET cum_spans = ?, cum_requests = ?, cum_errors = ? WHERE id = ?');
    p('upsertServiceCum', 'INSERT INTO service_cum (service_id, bucket, spans, requests, errors) VALUES (?,?,?,?,?) ON CONFLICT (service_id, bucket) DO UPDATE SET spans = excluded.spans, requests = excluded.requests, errors = excluded.errors');
    p('upsertEdge', 'INSERT INTO edges (caller, callee, point, last_bucket) VALUES (?,?,?,?) ON CONFLICT (caller, callee, point) DO UPDATE SET last_bucket = max(last_bucket, excluded.last_bucket) RETURNING id, last_bucket, cum_calls, cum_errors, cum_hist');
    p('setEdge', 'UPDATE edges SET cum_calls = ?, cum_errors = ?, cum_hist = ? WHERE id = ?');
    p('upsertEdgeCum', 'INSERT INTO edge_cum (edge_id, bucket, calls, errors, hist) VALUES (?,?,?,?,?) ON CONFLICT (edge_id, bucket) DO UPDATE SET calls = excluded.calls, errors = excluded.errors, hist = excluded.hist');
    p('trace', 'SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ms, id');
    // A window's end: the edge's own running total when nothing came after the window, else the
    // last cumulative row inside it. Its start: the last cumulative row before it. Each lookup is
    // one correlated subquery returning the row packed as "calls,errors,hist".
    p('graphEdges', `SELECT e.caller, e.callee, e.point, e.last_bucket <= @to, e.cum_calls, e.cum_errors, e.cum_hist,
        CASE WHEN e.last_bucket > @to THEN (SELECT calls || ',' || errors || ',' || hist FROM edge_cum WHERE edge_id = e.id AND bucket <= @to ORDER BY bucket DESC LIMIT 1) END,
        (SELECT calls || ',' || errors || ',' || hist FROM edge_cum WHERE edge_id = e.id AND bucket < @from ORDER BY bucket DESC LIMIT 1)
      FROM edges e WHERE e.last_bucket >= @from`);
    p('graphServices', `SELECT v.name, v.last_bucket <= @to, v.cum_spans, v.cum_requests, v.cum_errors,
        CASE WHEN v.last_bucket > @to THEN (SELECT spans || ',' || requests || ',' || errors FROM service_cum WHERE service_id = v.id AND bucket <= @to ORDER BY bucket DESC LIMIT 1) END,
        (SELECT spans || ',' || requests || ',' || errors FROM service_cum WHERE service_id = v.id AND bucket < @from ORDER BY bucket DESC LIMIT 1)
      FROM services v WHERE v.last_bucket >= @from`);
    this.s['graphEdges']!.raw(true);
    this.s['graphServices']!.raw(true);
    p('audit', 'INSERT INTO audit (at, actor, role, action, target, details) VALUES (?,?,?,?,?,?)');
    p('insertToken', 'INSERT INTO tokens (id, name, role, hash, created_at, revoked_at) VALUES (?,?,?,?,?,NULL)');
    p('tokenByHash', 'SELECT * FROM tokens WHERE hash = ?');
    p('insertAttack', 'INSERT INTO attacks (id, name, definition, state, created_at, created_by, expires_at, halted_at, halted_by, injections) VALUES (?,?,?,?,?,?,?,NULL,NULL,0)');
    p('getAttack', 'SELECT * FROM attacks WHERE id = ?');
    p('activeAttacks', "SELECT * FROM attacks WHERE state = 'active' AND expires_at > ? ORDER BY created_at, id");
    p('haltAttack', "UPDATE attacks SET state = 'halted', halted_at = ?, halted_by = ? WHERE id = ? AND state = 'active' AND expires_at > ?");
    p('haltAll', "UPDATE attacks SET state = 'halted', halted_at = ?, halted_by = ? WHERE state = 'active' AND expires_at > ? RETURNING id");
    p('expire', "UPDATE attacks SET state = 'expired' WHERE state = 'active' AND expires_at <= ? RETURNING id");
    p('injections', 'UPDATE attacks SET injections = injections + ? WHERE id = ?');
    p('insertCampaign', 'INSERT INTO campaigns (id, name, state, spec, created_at, created_by, started_at, heartbeat_at, runner) VALUES (?,?,?,?,?,?,?,?,?)');
    p('getCampaign', 'SELECT * FROM campaigns WHERE id = ?');
    p('nextSeq', 'UPDATE campaigns SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq');
    p('insertEvent', 'INSERT INTO campaign_events (campaign_id, seq, at, type, data) VALUES (?,?,?,?,?)');
    p('events', 'SELECT seq, at, type, data FROM campaign_events WHERE campaign_id = ? AND seq > ? ORDER BY seq LIMIT ?');
    p('stopCampaign', "UPDATE campaigns SET stop_requested = 1 WHERE id = ? AND state = 'running'");
    const cursor = '(start_ms < @b OR (start_ms = @b AND id < @bid))';
    p('edgeSpans', `SELECT * FROM spans WHERE service = @service AND kind IN (3, 4) AND start_ms >= @since AND ${cursor} ORDER BY start_ms DESC, id DESC LIMIT @limit`);
    p('rootSpans', `SELECT * FROM spans s WHERE kind = 2 AND start_ms >= @since AND ${cursor}
      AND (parent_span_id IS NULL OR NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id))
      ORDER BY start_ms DESC, id DESC LIMIT @limit`);
    p('getSetting', 'SELECT value FROM settings WHERE key = ?');
    p('setSetting', 'INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?,?,?,?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by');
    p('chunks', 'SELECT minute, last_id, spans, bytes FROM span_chunks ORDER BY minute');
  }

  private audit(a: AuditInput, nowMs: number): void {
    this.s['audit']!.run(nowMs, a.actor.id, a.actor.role, a.action, a.target ?? null, auditDetails(a));
  }

  private emit(channel: StoreChannel, payload: string): void {
    setImmediate(() => this.events.emit('change', channel, payload));
  }

  subscribe(listener: (channel: StoreChannel, payload: string) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  // ---- spans and the graph

  async ingest(spans: readonly SpanData[], nowMs: number): Promise<{ inserted: number; duplicates: number }> {
    return this.ingestSync(spans, nowMs);
  }

  /** Synchronous ingestion (the server's ingestion queue and the benchmark call it). */
  ingestSync(spans: readonly SpanData[], nowMs: number): { inserted: number; duplicates: number } {
    const run = this.db.transaction(() => {
      const agg = emptyAggregates();
      const insert = this.s['insertSpan']!;
      let inserted = 0;
      let bytes = 0;
      let firstId = 0;
      let lastId = 0;
      for (const s of spans) {
        const attributes = JSON.stringify(s.attributes);
        const events = s.events && s.events.length > 0 ? JSON.stringify(s.events) : null;
        const r = insert.run(s.traceId, s.spanId, s.parentSpanId ?? null, s.service, s.name, KIND_NUM[s.kind], s.startMs, s.endMs, STATUS_NUM[s.status.code], s.status.message ?? null, attributes, events);
        if (r.changes === 0) continue;
        const id = Number(r.lastInsertRowid);
        if (inserted === 0) firstId = id;
        lastId = id;
        inserted++;
        bytes += spanBytes(s, attributes, events);
        aggregate(agg, s);
      }
      if (inserted === 0) return { inserted, duplicates: spans.length };
      this.s['upsertChunk']!.run(Math.floor(nowMs / 60_000), firstId, lastId, inserted, bytes);
      const bucket = Math.floor(nowMs / this.bucketMs);
      // Cumulative rows: a row holds the totals up to its bucket; a window is the difference of two.
      for (const v of agg.services.values()) {
        const r = this.s['upsertService']!.get(v.name, bucket) as { id: number; last_bucket: number; cum_spans: number; cum_requests: number; cum_errors: number };
        const spansCum = r.cum_spans + v.spans;
        const requestsCum = r.cum_requests + v.requests;
        const errorsCum = r.cum_errors + v.errors;
        this.s['setService']!.run(spansCum, requestsCum, errorsCum, r.id);
        this.s['upsertServiceCum']!.run(r.id, r.last_bucket, spansCum, requestsCum, errorsCum);
      }
      for (const e of agg.edges.values()) {
        const r = this.s['upsertEdge']!.get(e.caller, e.callee, e.point, bucket) as { id: number; last_bucket: number; cum_calls: number; cum_errors: number; cum_hist: string };
        const hist = decodeHist(r.cum_hist);
        addTo(hist, e.hist);
        const text = encodeHist(hist);
        const calls = r.cum_calls + e.calls;
        const errors = r.cum_errors + e.errors;
        this.s['setEdge']!.run(calls, errors, text, r.id);
        this.s['upsertEdgeCum']!.run(r.id, r.last_bucket, calls, errors, text);
      }
      return { inserted, duplicates: spans.length - inserted };
    });
    return run();
  }

  async trace(traceId: string): Promise<SpanData[]> {
    return (this.s['trace']!.all(traceId) as SpanRow[]).map(spanFromRow);
  }

  async spanTotals(): Promise<SpanTotals> {
    const r = this.db.prepare('SELECT coalesce(sum(spans), 0) AS spans, coalesce(sum(bytes), 0) AS bytes, min(minute) AS oldest FROM span_chunks').get() as { spans: number; bytes: number; oldest: number | null };
    return { spans: r.spans, bytes: r.bytes, oldestMs: r.oldest === null ? null : r.oldest * 60_000 };
  }

  async graph(q: GraphQuery): Promise<Graph> {
    return this.graphSync(q);
  }

  // ---- console queries (queries.ts)

  private static cursor(before: Cursor | undefined): { b: number; bid: number } {
    return before ? { b: before.startMs, bid: before.id } : { b: 1e300, bid: Number.MAX_SAFE_INTEGER };
  }

  private rootRows(sinceMs: number | undefined) {
    return async (before: Cursor | undefined, limit: number): Promise<CursorRow[]> =>
      this.s['rootSpans']!.all({ since: sinceMs ?? -1e300, limit, ...SqliteStore.cursor(before) }) as CursorRow[];
  }

  async edgeSpans(q: EdgeSpansQuery): Promise<SpanData[]> {
    return findEdgeSpans(async (before, limit) => this.s['edgeSpans']!.all({ service: q.caller, since: q.sinceMs ?? -1e300, limit, ...SqliteStore.cursor(before) }) as CursorRow[], q);
  }

  async traces(q: TracesQuery): Promise<TraceSummary[]> {
    return findTraces(this.rootRows(q.sinceMs), async (ids) => {
      const rows = this.db.prepare(`SELECT * FROM spans WHERE trace_id IN (${ids.map(() => '?').join(',')})`).all(...ids) as SpanRow[];
      return rows.map(spanFromRow);
    }, q);
  }

  async traceClasses(q: TraceClassesQuery): Promise<TraceClass[]> {
    return findTraceClasses(this.rootRows(q.sinceMs), q);
  }

  async getSetting(key: string): Promise<unknown> {
    const r = this.s['getSetting']!.get(key) as { value: string } | undefined;
    return r ? (JSON.parse(r.value) as unknown) : undefined;
  }

  async setSetting(key: string, value: unknown, nowMs: number, audit: AuditInput): Promise<void> {
    this.db.transaction(() => {
      this.s['setSetting']!.run(key, JSON.stringify(value), nowMs, audit.actor.id);
      this.audit(audit, nowMs);
    })();
  }

  graphSync(q: GraphQuery): Graph {
    const w = windowBuckets(q, this.bucketMs);
    const edgeRows = this.s['graphEdges']!.iterate(w) as Iterable<[string, string, string, number, number, number, string, string | null, string | null]>;
    const serviceRows = this.s['graphServices']!.all(w) as [string, number, number, number, number, string | null, string | null][];
    function* edges(): Iterable<EdgeWindowRow> {
      for (const [caller, callee, point, current, calls, errors, hist, u, s] of edgeRows) {
        const end = current ? { calls, errors, hist } : unpackCum(u);
        if (!end) continue;
        const start = unpackCum(s);
        yield { caller, callee, point, u_calls: end.calls, u_errors: end.errors, u_hist: end.hist, s_calls: start?.calls ?? 0, s_errors: start?.errors ?? 0, s_hist: start?.hist ?? null };
      }
    }
    function* services(): Iterable<ServiceWindowRow> {
      for (const [name, current, spans, requests, errors, u, s] of serviceRows) {
        const end = current ? [spans, requests, errors] : u?.split(',').map(Number);
        if (!end || end.length !== 3) continue;
        const start = s?.split(',').map(Number) ?? [0, 0, 0];
        yield { name, u_spans: end[0], u_requests: end[1], u_errors: end[2], s_spans: start[0], s_requests: start[1], s_errors: start[2] };
      }
    }
    return buildGraph(q, this.bucketMs, edges(), services());
  }

  async retain(policy: RetentionPolicy, nowMs: number): Promise<RetentionResult> {
    const chunks = this.s['chunks']!.all() as { minute: number; last_id: number; spans: number; bytes: number }[];
    const doomed = chunksToDelete(chunks, policy, nowMs);
    let deletedSpans = 0;
    if (doomed.lastId !== undefined) {
      const del = this.db.prepare('DELETE FROM spans WHERE id IN (SELECT id FROM spans WHERE id <= ? ORDER BY id LIMIT 5000)');
      // Bounded steps, each its own transaction, so ingestion is never held up for long.
      for (let i = 0; i < 1_000_000; i++) {
        const n = del.run(doomed.lastId).changes;
        deletedSpans += n;
        if (n === 0) break;
      }
      this.db.prepare('DELETE FROM span_chunks WHERE minute <= ?').run(doomed.minute);
    }
    let thinned = 0;
    for (const t of THINNING) {
      const period = Math.max(1, Math.round(t.periodMs / this.bucketMs));
      const cutoff = Math.floor((nowMs - t.olderThanMs) / this.bucketMs);
      thinned += this.db
        .prepare(`DELETE FROM edge_cum WHERE bucket < @cutoff AND EXISTS (SELECT 1 FROM edge_cum n WHERE n.edge_id = edge_cum.edge_id AND n.bucket > edge_cum.bucket AND n.bucket < (edge_cum.bucket / @period + 1) * @period)`)
        .run({ cutoff, period }).changes;
      thinned += this.db
        .prepare(`DELETE FROM service_cum WHERE bucket < @cutoff AND EXISTS (SELECT 1 FROM service_cum n WHERE n.service_id = service_cum.service_id AND n.bucket > service_cum.bucket AND n.bucket < (service_cum.bucket / @period + 1) * @period)`)
        .run({ cutoff, period }).changes;
    }
    if (deletedSpans > 0) this.db.pragma('incremental_vacuum');
    return { deletedSpans, deletedChunks: doomed.count, thinnedAggregates: thinned };
  }

  // ---- tokens

  async insertToken(t: TokenRecord, audit: AuditInput): Promise<void> {
    this.db.transaction(() => {
      this.s['insertToken']!.run(t.id, t.name, t.role, t.hash, t.createdAt);
      this.audit(audit, t.createdAt);
    })();
  }

  async tokenByHash(hash: string): Promise<TokenRecord | undefined> {
    const r = this.s['tokenByHash']!.get(hash) as TokenRow | undefined;
    return r ? tokenFromRow(r) : undefined;
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (this.db.prepare('SELECT * FROM tokens ORDER BY created_at, id').all() as TokenRow[]).map(tokenFromRow);
  }

  async revokeToken(id: string, nowMs: number, audit: AuditInput): Promise<boolean> {
    return this.db.transaction(() => {
      const n = this.db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(nowMs, id).changes;
      if (n > 0) this.audit(audit, nowMs);
      return n > 0;
    })();
  }

  // ---- attacks

  async insertAttack(a: AttackRecord, audit: AuditInput): Promise<void> {
    this.db.transaction(() => {
      this.s['insertAttack']!.run(a.id, a.name ?? null, attackDefinitionJson(a), a.state, a.createdAt, a.createdBy, a.expiresAt);
      this.audit(audit, a.createdAt);
    })();
    this.emit('attacks', a.id);
  }

  async getAttack(id: string, nowMs: number): Promise<AttackRecord | undefined> {
    const r = this.s['getAttack']!.get(id) as AttackRow | undefined;
    return r ? attackFromRow(r, nowMs) : undefined;
  }

  async listAttacks(q: { state?: AttackState; limit: number }, nowMs: number): Promise<AttackRecord[]> {
    let rows: AttackRow[];
    if (q.state === 'active') rows = this.db.prepare("SELECT * FROM attacks WHERE state = 'active' AND expires_at > ? ORDER BY created_at DESC, id DESC LIMIT ?").all(nowMs, q.limit) as AttackRow[];
    else if (q.state === 'expired') rows = this.db.prepare("SELECT * FROM attacks WHERE state = 'expired' OR (state = 'active' AND expires_at <= ?) ORDER BY created_at DESC, id DESC LIMIT ?").all(nowMs, q.limit) as AttackRow[];
    else if (q.state === 'halted') rows = this.db.prepare("SELECT * FROM attacks WHERE state = 'halted' ORDER BY created_at DESC, id DESC LIMIT ?").all(q.limit) as AttackRow[];
    else rows = this.db.prepare('SELECT * FROM attacks ORDER BY created_at DESC, id DESC LIMIT ?').all(q.limit) as AttackRow[];
    return rows.map((r) => attackFromRow(r, nowMs));
  }

  async activeAttacks(nowMs: number): Promise<AttackRecord[]> {
    return (this.s['activeAttacks']!.all(nowMs) as AttackRow[]).map((r) => attackFromRow(r, nowMs));
  }

  async haltAttack(id: string, nowMs: number, audit: AuditInput): Promise<{ attack: AttackRecord | undefined; changed: boolean }> {
    const result = this.db.transaction(() => {
      const changed = this.s['haltAttack']!.run(nowMs, audit.actor.id, id, nowMs).changes > 0;
      const row = this.s['getAttack']!.get(id) as AttackRow | undefined;
      if (row) this.audit({ ...audit, details: { changed, state: attackFromRow(row, nowMs).state } }, nowMs);
      return { attack: row ? attackFromRow(row, nowMs) : undefined, changed };
    })();
    if (result.changed) this.emit('attacks', id);
    return result;
  }

  async haltAll(nowMs: number, audit: AuditInput): Promise<string[]> {
    const ids = this.db.transaction(() => {
      const rows = this.s['haltAll']!.all(nowMs, audit.actor.id, nowMs) as { id: string }[];
      const list = rows.map((r) => r.id).sort();
      this.audit({ ...audit, details: { halted: list } }, nowMs);
      return list;
    })();
    this.emit('attacks', '*');
    return ids;
  }

  async expireAttacks(nowMs: number): Promise<string[]> {
    const ids = this.db.transaction(() => {
      const list = (this.s['expire']!.all(nowMs) as { id: string }[]).map((r) => r.id);
      for (const id of list) this.audit({ actor: { id: 'system', role: 'system' }, action: 'attack.expire', target: id }, nowMs);
      return list;
    })();
    if (ids.length > 0) this.emit('attacks', '*');
    return ids;
  }

  async addInjections(id: string, n: number, audit: AuditInput): Promise<boolean> {
    const now = Date.now();
    return this.db.transaction(() => {
      const found = this.s['injections']!.run(n, id).changes > 0;
      if (found) this.audit(audit, now);
      return found;
    })();
  }

  // ---- audit

  async listAudit(q: { limit: number; before?: number; action?: string }): Promise<AuditRecord[]> {
    const rows = this.db
      .prepare(`SELECT * FROM audit WHERE (@before IS NULL OR id < @before) AND (@action IS NULL OR action = @action) ORDER BY id DESC LIMIT @limit`)
      .all({ before: q.before ?? null, action: q.action ?? null, limit: q.limit }) as { id: number; at: number; actor: string; role: string | null; action: string; target: string | null; details: string | null }[];
    return rows.map((r) => ({ id: r.id, at: r.at, actor: r.actor, role: r.role, action: r.action, target: r.target, details: r.details === null ? null : JSON.parse(r.details) }));
  }

  // ---- campaigns

  async insertCampaign(c: CampaignRecord, audit: AuditInput): Promise<void> {
    this.db.transaction(() => {
      this.s['insertCampaign']!.run(c.id, c.name, c.state, JSON.stringify(c.spec), c.createdAt, c.createdBy, c.startedAt, c.heartbeatAt, c.runner);
      this.audit(audit, c.createdAt);
    })();
    this.emit('campaigns', `${c.id}:0`);
  }

  async getCampaign(id: string, withResult: boolean): Promise<CampaignRecord | undefined> {
    const r = this.s['getCampaign']!.get(id) as CampaignRow | undefined;
    if (!r) return undefined;
    if (!withResult) delete r.result;
    return campaignFromRow(r);
  }

  async listCampaigns(q: { limit: number }): Promise<CampaignRecord[]> {
    const rows = this.db
      .prepare('SELECT id, name, state, spec, created_at, created_by, started_at, finished_at, heartbeat_at, runner, stop_requested, progress, summary, error, last_seq FROM campaigns ORDER BY created_at DESC, id DESC LIMIT ?')
      .all(q.limit) as CampaignRow[];
    return rows.map(campaignFromRow);
  }

  async appendCampaignEvent(id: string, type: string, data: unknown, nowMs: number, patch?: CampaignPatch): Promise<number> {
    const seq = this.db.transaction(() => {
      const r = this.s['nextSeq']!.get(id) as { last_seq: number } | undefined;
      if (!r) throw new Error(`campaign ${id} does not exist`);
      this.s['insertEvent']!.run(id, r.last_seq, nowMs, type, JSON.stringify(data ?? null));
      if (patch) {
        const { sql, values } = campaignPatchSql(patch, (i) => `?`);
        if (sql) this.db.prepare(`UPDATE campaigns SET ${sql} WHERE id = ?`).run(...values, id);
      }
      return r.last_seq;
    })();
    this.emit('campaigns', `${id}:${seq}`);
    return seq;
  }

  async campaignEvents(id: string, afterSeq: number, limit: number): Promise<CampaignEvent[]> {
    const rows = this.s['events']!.all(id, afterSeq, limit) as { seq: number; at: number; type: string; data: string }[];
    return rows.map((r) => ({ seq: r.seq, at: r.at, type: r.type, data: JSON.parse(r.data) as unknown }));
  }

  async requestCampaignStop(id: string, audit: AuditInput): Promise<boolean> {
    const ok = this.db.transaction(() => {
      const n = this.s['stopCampaign']!.run(id).changes;
      if (n > 0) this.audit(audit, Date.now());
      return n > 0;
    })();
    if (ok) this.emit('campaigns', `${id}:stop`);
    return ok;
  }

  async heartbeatCampaigns(runner: string, ids: readonly string[], nowMs: number): Promise<string[]> {
    const stop: string[] = [];
    this.db.transaction(() => {
      const hb = this.db.prepare("UPDATE campaigns SET heartbeat_at = ? WHERE id = ? AND runner = ? AND state = 'running' RETURNING stop_requested");
      for (const id of ids) {
        const r = hb.get(nowMs, id, runner) as { stop_requested: number } | undefined;
        if (r && num(r.stop_requested) === 1) stop.push(id);
      }
    })();
    return stop;
  }

  async interruptCampaigns(nowMs: number, staleMs: number | undefined): Promise<string[]> {
    const ids = this.db.transaction(() => {
      const rows = (
        staleMs === undefined
          ? this.db.prepare("SELECT id FROM campaigns WHERE state = 'running'").all()
          : this.db.prepare("SELECT id FROM campaigns WHERE state = 'running' AND coalesce(heartbeat_at, 0) < ?").all(nowMs - staleMs)
      ) as { id: string }[];
      for (const { id } of rows) {
        const r = this.s['nextSeq']!.get(id) as { last_seq: number };
        const message = 'the server running this campaign stopped before it finished';
        this.s['insertEvent']!.run(id, r.last_seq, nowMs, 'state', JSON.stringify({ state: 'interrupted', error: message }));
        this.db.prepare("UPDATE campaigns SET state = 'interrupted', finished_at = ?, error = ? WHERE id = ?").run(nowMs, message, id);
        this.audit({ actor: { id: 'system', role: 'system' }, action: 'campaign.interrupt', target: id }, nowMs);
      }
      return rows.map((r) => r.id);
    })();
    for (const id of ids) this.emit('campaigns', `${id}:end`);
    return ids;
  }
}

/** `SET a = ?, b = ?` for a campaign patch, with the values in order. */
export function campaignPatchSql(patch: CampaignPatch, placeholder: (i: number) => string): { sql: string; values: unknown[] } {
  const sets: string[] = [];
  const values: unknown[] = [];
  const add = (column: string, value: unknown): void => {
    values.push(value);
    sets.push(`${column} = ${placeholder(values.length)}`);
  };
  if (patch.state !== undefined) add('state', patch.state);
  if (patch.startedAt !== undefined) add('started_at', patch.startedAt);
  if (patch.finishedAt !== undefined) add('finished_at', patch.finishedAt);
  if (patch.progress !== undefined) add('progress', JSON.stringify(patch.progress));
  if (patch.summary !== undefined) add('summary', JSON.stringify(patch.summary));
  if (patch.result !== undefined) add('result', JSON.stringify(patch.result));
  if (patch.error !== undefined) add('error', patch.error);
  return { sql: sets.join(', '), values };
}

/**
 * Which minute chunks of spans retention removes: the oldest first, while a chunk is older than
 * `maxAgeMs` or the spans/bytes kept exceed their limits.
 */
export function chunksToDelete(
  chunks: readonly { minute: unknown; last_id: unknown; spans: unknown; bytes: unknown }[],
  policy: RetentionPolicy,
  nowMs: number,
): { count: number; minute: number; lastId: number | undefined } {
  let spans = 0;
  let bytes = 0;
  for (const c of chunks) {
    spans += num(c.spans);
    bytes += num(c.bytes);
  }
  let count = 0;
  let minute = -1;
  let lastId: number | undefined;
  for (const c of chunks) {
    const old = policy.maxAgeMs !== undefined && (num(c.minute) + 1) * 60_000 <= nowMs - policy.maxAgeMs;
    const tooMany = policy.maxSpans !== undefined && spans > policy.maxSpans;
    const tooBig = policy.maxBytes !== undefined && bytes > policy.maxBytes;
    if (!old && !tooMany && !tooBig) break;
    count++;
    minute = num(c.minute);
    lastId = Math.max(lastId ?? 0, num(c.last_id));
    spans -= num(c.spans);
    bytes -= num(c.bytes);
  }
  return { count, minute, lastId };
}

function migrateSqlite(db: Db, migrations: readonly Migration[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
  const known = Math.max(...migrations.map((m) => m.version));
  const newest = Math.max(0, ...applied);
  if (newest > known) throw new Error(`the database was written by a newer labcoat (schema version ${newest}; this build knows up to ${known}); upgrade labcoat`);
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?,?,?)').run(m.version, m.name, Date.now());
    }).immediate();
  }
}
