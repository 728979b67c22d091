/**
 * The shared store: PostgreSQL (node-postgres), for several server replicas on one database.
 * Every change that replicas must push (attacks, campaign events) sends `NOTIFY` inside its own
 * transaction, so it is delivered to every replica's `LISTEN` connection exactly when it commits.
 * Commits are durable (`synchronous_commit` as the server is configured; on by default).
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
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
  type EdgeWindowRow,
  type ServiceWindowRow,
  type SpanRow,
  type TokenRow,
} from './common.js';
import { aggregate, emptyAggregates, spanBytes } from './derive.js';
import { addTo, decodeHist, encodeHist } from './hist.js';
import { POSTGRES_MIGRATIONS, type Migration } from './migrations.js';
import { findEdgeSpans, findTraceClasses, findTraces, type Cursor, type CursorRow } from './queries.js';
import { campaignPatchSql, chunksToDelete } from './sqlite.js';
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

const CHANNELS: Record<StoreChannel, string> = { attacks: 'labcoat_attacks', campaigns: 'labcoat_campaigns' };
const BY_PG_CHANNEL = new Map(Object.entries(CHANNELS).map(([k, v]) => [v, k as StoreChannel]));
/** Advisory lock keys: migrations, retention. */
const LOCK_MIGRATE = 0x6c616201;
const LOCK_RETAIN = 0x6c616202;

/** int8 and numeric as JavaScript numbers (ids, counters and epoch ms all fit in 2^53). */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return (pg.types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PostgresStoreOptions {
  readonly bucketMs?: number;
  /** Pool size (default 10). */
  readonly maxConnections?: number;
  /** Where to say that the LISTEN connection dropped and came back. */
  readonly log?: (line: string) => void;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly bucketMs: number;
  readonly location: string;
  private readonly events = new EventEmitter();
  private listener: pg.Client | undefined;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
    private readonly options: PostgresStoreOptions,
  ) {
    this.bucketMs = options.bucketMs ?? 60_000;
    this.location = redactUrl(url);
    this.events.setMaxListeners(0);
  }

  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    // JIT compilation only slows short queries like these (the graph query paid ~15 ms for it).
    const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10, types, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000, options: '-c jit=off' });
    // An idle client's error (the server restarted) must not crash the process; the pool drops it.
    pool.on('error', () => {});
    const store = new PostgresStore(pool, url, options);
    try {
      await store.migrate(POSTGRES_MIGRATIONS);
      await store.listen();
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  private async migrate(migrations: readonly Migration[]): Promise<void> {
    const c = await this.pool.connect();
    try {
      await c.query('SELECT pg_advisory_lock($1)', [LOCK_MIGRATE]);
      try {
        await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
        const applied = new Set((await c.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
        const known = Math.max(...migrations.map((m) => m.version));
        const newest = Math.max(0, ...applied);
        if (newest > known) throw new Error(`the database was written by a newer labcoat (schema version ${newest}; this build knows up to ${known}); upgrade labcoat`);
        for (const m of migrations) {
          if (applied.has(m.version)) continue;
          await c.query('BEGIN');
          try {
            await c.query(m.sql);
            await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
            await c.query('COMMIT');
          } catch (e) {
            await c.query('ROLLBACK').catch(() => {});
            throw e;
          }
        }
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [LOCK_MIGRATE]).catch(() => {});
      }
    } finally {
      c.release();
    }
  }

  /** A dedicated LISTEN connection; when it drops, it reconnects (backing off) and tells subscribers to reload. */
  private async listen(attempt = 0): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, types, connectionTimeoutMillis: 10_000 });
    client.on('notification', (msg) => {
      const channel = BY_PG_CHANNEL.get(msg.channel);
      if (channel) this.events.emit('change', channel, msg.payload ?? '');
    });
    const retry = (): void => {
      if (this.closed || this.listener !== client) return;
      this.listener = undefined;
      client.removeAllListeners('error');
      client.on('error', () => {});
      void client.end().catch(() => {});
      this.options.log?.('labcoat: PostgreSQL LISTEN connection lost; reconnecting');
      this.scheduleListen(attempt + 1);
    };
    client.on('error', retry);
    client.on('end', retry);
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNELS.attacks}`);
      await client.query(`LISTEN ${CHANNELS.campaigns}`);
    } catch (e) {
      if (attempt === 0) {
        this.listener = undefined;
        client.removeAllListeners('error');
        client.removeAllListeners('end');
        client.on('error', () => {});
        await client.end().catch(() => {});
        throw e;
      }
      retry();
      return;
    }
    if (attempt > 0) {
      this.options.log?.('labcoat: PostgreSQL LISTEN connection back');
      // Changes made while the connection was down were not heard: reload everything.
      this.events.emit('change', 'attacks', '*');
      this.events.emit('change', 'campaigns', '*');
    }
  }

  private scheduleListen(attempt: number): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = Math.min(5000, 250 * 2 ** Math.min(attempt, 5));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.listen(attempt).catch(() => this.scheduleListen(attempt + 1));
    }, delay);
  }

  subscribe(listener: (channel: StoreChannel, payload: string) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const l = this.listener;
    this.listener = undefined;
    if (l) {
      l.removeAllListeners('end');
      l.removeAllListeners('error');
      l.on('error', () => {});
      await l.end().catch(() => {});
    }
    await this.pool.end().catch(() => {});
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const r = await fn(c);
      await c.query('COMMIT');
      return r;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      c.release();
    }
  }

  private async audit(c: pg.PoolClient, a: AuditInput, nowMs: number): Promise<void> {
    await c.query('INSERT INTO audit (at, actor, role, action, target, details) VALUES ($1,$2,$3,$4,$5,$6)', [nowMs, a.actor.id, a.actor.role, a.action, a.target ?? null, auditDetails(a)]);
  }

  private async notify(c: pg.PoolClient, channel: StoreChannel, payload: string): Promise<void> {
    await c.query('SELECT pg_notify($1, $2)', [CHANNELS[channel], payload]);
  }

  // ---- spans and the graph

  async ingest(spans: readonly SpanData[], nowMs: number): Promise<{ inserted: number; duplicates: number }> {
    if (spans.length === 0) return { inserted: 0, duplicates: 0 };
    const cols: unknown[][] = Array.from({ length: 12 }, () => []);
    const encoded: { attributes: string; events: string | null }[] = [];
    for (const s of spans) {
      const attributes = JSON.stringify(s.attributes);
      const events = s.events && s.events.length > 0 ? JSON.stringify(s.events) : null;
      encoded.push({ attributes, events });
      const row = [s.traceId, s.spanId, s.parentSpanId ?? null, s.service, s.name, KIND_NUM[s.kind], s.startMs, s.endMs, STATUS_NUM[s.status.code], s.status.message ?? null, attributes, events];
      for (let i = 0; i < 12; i++) cols[i]!.push(row[i]);
    }
    return this.tx(async (c) => {
      const res = await c.query<{ id: number; trace_id: string; span_id: string }>(
        `INSERT INTO spans (trace_id, span_id, parent_span_id, service, name, kind, start_ms, end_ms, status, status_message, attributes, events)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::smallint[], $7::float8[], $8::float8[], $9::smallint[], $10::text[], $11::text[], $12::text[])
         ON CONFLICT (trace_id, span_id) DO NOTHING RETURNING id, trace_id, span_id`,
        cols,
      );
      const inserted = res.rows.length;
      if (inserted === 0) return { inserted, duplicates: spans.length };
      const fresh = new Set(res.rows.map((r) => `${r.trace_id}:${r.span_id}`));
      let firstId = Infinity;
      let lastId = 0;
      for (const r of res.rows) {
        if (r.id < firstId) firstId = r.id;
        if (r.id > lastId) lastId = r.id;
      }
      const agg = emptyAggregates();
      let bytes = 0;
      spans.forEach((s, i) => {
        const key = `${s.traceId}:${s.spanId}`;
        if (!fresh.delete(key)) return;
        bytes += spanBytes(s, encoded[i]!.attributes, encoded[i]!.events);
        aggregate(agg, s);
      });
      const bucket = Math.floor(nowMs / this.bucketMs);
      // Services, then edges, each locked in name order (the upsert takes the row lock and returns
      // the running totals so far), so concurrent ingestions on several replicas never deadlock and
      // never lose an addition. A cumulative row holds the totals up to its bucket.
      const services = [...agg.services.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
      if (services.length > 0) {
        const rows = await c.query<{ id: number; name: string; last_bucket: number; cum_spans: number; cum_requests: number; cum_errors: number }>(
          `INSERT INTO services (name, last_bucket) SELECT n, $2::bigint FROM unnest($1::text[]) WITH ORDINALITY AS t(n, o) ORDER BY o
           ON CONFLICT (name) DO UPDATE SET last_bucket = GREATEST(services.last_bucket, excluded.last_bucket) RETURNING id, name, last_bucket, cum_spans, cum_requests, cum_errors`,
          [services.map((s) => s.name), bucket],
        );
        const byName = new Map(rows.rows.map((r) => [r.name, r]));
        const w: unknown[][] = [[], [], [], [], []];
        for (const s of services) {
          const r = byName.get(s.name)!;
          w[0]!.push(r.id);
          w[1]!.push(r.last_bucket);
          w[2]!.push(num(r.cum_spans) + s.spans);
          w[3]!.push(num(r.cum_requests) + s.requests);
          w[4]!.push(num(r.cum_errors) + s.errors);
        }
        await c.query(
          `UPDATE services v SET cum_spans = t.s, cum_requests = t.r, cum_errors = t.e FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS t(id, s, r, e) WHERE v.id = t.id`,
          [w[0], w[2], w[3], w[4]],
        );
        await c.query(
          `INSERT INTO service_cum (service_id, bucket, spans, requests, errors) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
           ON CONFLICT (service_id, bucket) DO UPDATE SET spans = excluded.spans, requests = excluded.requests, errors = excluded.errors`,
          w,
        );
      }
      const edges = [...agg.edges.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map((e) => e[1]);
      if (edges.length > 0) {
        const rows = await c.query<{ id: number; caller: string; callee: string; point: string; last_bucket: number; cum_calls: number; cum_errors: number; cum_hist: string }>(
          `INSERT INTO edges (caller, callee, point, last_bucket) SELECT a, b, p, $4::bigint FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(a, b, p, o) ORDER BY o
           ON CONFLICT (caller, callee, point) DO UPDATE SET last_bucket = GREATEST(edges.last_bucket, excluded.last_bucket) RETURNING id, caller, callee, point, last_bucket, cum_calls, cum_errors, cum_hist`,
          [edges.map((e) => e.caller), edges.map((e) => e.callee), edges.map((e) => e.point), bucket],
        );
        const key = (e: { caller: string; callee: string; point: string }): string => `${e.caller}\u0000${e.callee}\u0000${e.point}`;
        const byKey = new Map(rows.rows.map((r) => [key(r), r]));
        const w: unknown[][] = [[], [], [], [], []];
        for (const e of edges) {
          const r = byKey.get(key(e))!;
          const hist = decodeHist(r.cum_hist);
          addTo(hist, e.hist);
          w[0]!.push(r.id);
          w[1]!.push(r.last_bucket);
          w[2]!.push(num(r.cum_calls) + e.calls);
          w[3]!.push(num(r.cum_errors) + e.errors);
          w[4]!.push(encodeHist(hist));
        }
        await c.query(
          `UPDATE edges e SET cum_calls = t.c, cum_errors = t.x, cum_hist = t.h FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[]) AS t(id, c, x, h) WHERE e.id = t.id`,
          [w[0], w[2], w[3], w[4]],
        );
        await c.query(
          `INSERT INTO edge_cum (edge_id, bucket, calls, errors, hist) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])
           ON CONFLICT (edge_id, bucket) DO UPDATE SET calls = excluded.calls, errors = excluded.errors, hist = excluded.hist`,
          w,
        );
      }
      // Last, so the hot per-minute row is locked for as short a time as possible.
      await c.query(
        `INSERT INTO span_chunks (minute, first_id, last_id, spans, bytes) VALUES ($1,$2,$3,$4,$5)
         ON CONFLICT (minute) DO UPDATE SET first_id = LEAST(span_chunks.first_id, excluded.first_id), last_id = GREATEST(span_chunks.last_id, excluded.last_id),
           spans = span_chunks.spans + excluded.spans, bytes = span_chunks.bytes + excluded.bytes`,
        [Math.floor(nowMs / 60_000), firstId, lastId, inserted, bytes],
      );
      return { inserted, duplicates: spans.length - inserted };
    });
  }

  async trace(traceId: string): Promise<SpanData[]> {
    const r = await this.pool.query<SpanRow>('SELECT * FROM spans WHERE trace_id = $1 ORDER BY start_ms, id', [traceId]);
    return r.rows.map(spanFromRow);
  }

  async spanTotals(): Promise<SpanTotals> {
    const r = await this.pool.query<{ spans: number; bytes: number; oldest: number | null }>('SELECT coalesce(sum(spans), 0) AS spans, coalesce(sum(bytes), 0) AS bytes, min(minute) AS oldest FROM span_chunks');
    const row = r.rows[0]!;
    return { spans: num(row.spans), bytes: num(row.bytes), oldestMs: row.oldest === null ? null : num(row.oldest) * 60_000 };
  }

  // ---- console queries (queries.ts)

  private static cursor(before: Cursor | undefined): [number, number] {
    return before ? [before.startMs, before.id] : [1e300, Number.MAX_SAFE_INTEGER];
  }

  private rootRows(sinceMs: number | undefined) {
    return async (before: Cursor | undefined, limit: number): Promise<CursorRow[]> => {
      const r = await this.pool.query<CursorRow>(
        `SELECT * FROM spans s WHERE kind = 2 AND start_ms >= $1 AND (start_ms < $2 OR (start_ms = $2 AND id < $3))
          AND (parent_span_id IS NULL OR NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id))
          ORDER BY start_ms DESC, id DESC LIMIT $4`,
        [sinceMs ?? -1e300, ...PostgresStore.cursor(before), limit],
      );
      return r.rows;
    };
  }

  async edgeSpans(q: EdgeSpansQuery): Promise<SpanData[]> {
    return findEdgeSpans(async (before, limit) => {
      const r = await this.pool.query<CursorRow>(
        'SELECT * FROM spans WHERE service = $1 AND kind IN (3, 4) AND start_ms >= $2 AND (start_ms < $3 OR (start_ms = $3 AND id < $4)) ORDER BY start_ms DESC, id DESC LIMIT $5',
        [q.caller, q.sinceMs ?? -1e300, ...PostgresStore.cursor(before), limit],
      );
      return r.rows;
    }, q);
  }

  async traces(q: TracesQuery): Promise<TraceSummary[]> {
    return findTraces(this.rootRows(q.sinceMs), async (ids) => {
      const r = await this.pool.query<SpanRow>('SELECT * FROM spans WHERE trace_id = ANY($1::text[])', [ids]);
      return r.rows.map(spanFromRow);
    }, q);
  }

  async traceClasses(q: TraceClassesQuery): Promise<TraceClass[]> {
    return findTraceClasses(this.rootRows(q.sinceMs), q);
  }

  async getSetting(key: string): Promise<unknown> {
    const r = await this.pool.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]);
    return r.rows[0] ? (JSON.parse(r.rows[0].value) as unknown) : undefined;
  }

  async setSetting(key: string, value: unknown, nowMs: number, audit: AuditInput): Promise<void> {
    await this.tx(async (c) => {
      await c.query(
        'INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1,$2,$3,$4) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by',
        [key, JSON.stringify(value), nowMs, audit.actor.id],
      );
      await this.audit(c, audit, nowMs);
    });
  }

  async graph(q: GraphQuery): Promise<Graph> {
    const w = windowBuckets(q, this.bucketMs);
    const [edges, services] = await Promise.all([
      // A window's end: the edge's own running total when nothing came after the window, else the
      // last cumulative row inside it. Its start: the last cumulative row before it.
      this.pool.query<EdgeWindowRow>(
        `SELECT e.caller, e.callee, e.point,
           CASE WHEN e.last_bucket <= $2 THEN e.cum_calls ELSE u.calls END AS u_calls,
           CASE WHEN e.last_bucket <= $2 THEN e.cum_errors ELSE u.errors END AS u_errors,
           CASE WHEN e.last_bucket <= $2 THEN e.cum_hist ELSE u.hist END AS u_hist,
           s.calls AS s_calls, s.errors AS s_errors, s.hist AS s_hist
         FROM edges e
         LEFT JOIN LATERAL (SELECT calls, errors, hist FROM edge_cum WHERE e.last_bucket > $2 AND edge_id = e.id AND bucket <= $2 ORDER BY bucket DESC LIMIT 1) u ON true
         LEFT JOIN LATERAL (SELECT calls, errors, hist FROM edge_cum WHERE edge_id = e.id AND bucket < $1 ORDER BY bucket DESC LIMIT 1) s ON true
         WHERE e.last_bucket >= $1 AND (e.last_bucket <= $2 OR u.calls IS NOT NULL)`,
        [w.from, w.to],
      ),
      this.pool.query<ServiceWindowRow>(
        `SELECT v.name,
           CASE WHEN v.last_bucket <= $2 THEN v.cum_spans ELSE u.spans END AS u_spans,
           CASE WHEN v.last_bucket <= $2 THEN v.cum_requests ELSE u.requests END AS u_requests,
           CASE WHEN v.last_bucket <= $2 THEN v.cum_errors ELSE u.errors END AS u_errors,
           s.spans AS s_spans, s.requests AS s_requests, s.errors AS s_errors
         FROM services v
         LEFT JOIN LATERAL (SELECT spans, requests, errors FROM service_cum WHERE v.last_bucket > $2 AND service_id = v.id AND bucket <= $2 ORDER BY bucket DESC LIMIT 1) u ON true
         LEFT JOIN LATERAL (SELECT spans, requests, errors FROM service_cum WHERE service_id = v.id AND bucket < $1 ORDER BY bucket DESC LIMIT 1) s ON true
         WHERE v.last_bucket >= $1 AND (v.last_bucket <= $2 OR u.spans IS NOT NULL)`,
        [w.from, w.to],
      ),
    ]);
    return buildGraph(q, this.bucketMs, edges.rows, services.rows);
  }

  async retain(policy: RetentionPolicy, nowMs: number): Promise<RetentionResult> {
    const c = await this.pool.connect();
    try {
      // One replica at a time; the others skip this round.
      const got = (await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCK_RETAIN])).rows[0]!.ok;
      if (!got) return { deletedSpans: 0, deletedChunks: 0, thinnedAggregates: 0 };
      try {
        const chunks = (await c.query('SELECT minute, last_id, spans, bytes FROM span_chunks ORDER BY minute')).rows as { minute: number; last_id: number; spans: number; bytes: number }[];
        const doomed = chunksToDelete(chunks, policy, nowMs);
        let deletedSpans = 0;
        if (doomed.lastId !== undefined) {
          for (let i = 0; i < 1_000_000; i++) {
            const n = (await c.query('DELETE FROM spans WHERE id IN (SELECT id FROM spans WHERE id <= $1 ORDER BY id LIMIT 5000)', [doomed.lastId])).rowCount ?? 0;
            deletedSpans += n;
            if (n === 0) break;
          }
          await c.query('DELETE FROM span_chunks WHERE minute <= $1', [doomed.minute]);
        }
        let thinned = 0;
        for (const t of THINNING) {
          const period = Math.max(1, Math.round(t.periodMs / this.bucketMs));
          const cutoff = Math.floor((nowMs - t.olderThanMs) / this.bucketMs);
          thinned +=
            (await c.query(`DELETE FROM edge_cum o WHERE o.bucket < $1 AND EXISTS (SELECT 1 FROM edge_cum n WHERE n.edge_id = o.edge_id AND n.bucket > o.bucket AND n.bucket < (o.bucket / $2 + 1) * $2)`, [cutoff, period])).rowCount ?? 0;
          thinned +=
            (await c.query(`DELETE FROM service_cum o WHERE o.bucket < $1 AND EXISTS (SELECT 1 FROM service_cum n WHERE n.service_id = o.service_id AND n.bucket > o.bucket AND n.bucket < (o.bucket / $2 + 1) * $2)`, [cutoff, period])).rowCount ?? 0;
        }
        return { deletedSpans, deletedChunks: doomed.count, thinnedAggregates: thinned };
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [LOCK_RETAIN]).catch(() => {});
      }
    } finally {
      c.release();
    }
  }

  // ---- tokens

  async insertToken(t: TokenRecord, audit: AuditInput): Promise<void> {
    await this.tx(async (c) => {
      await c.query('INSERT INTO tokens (id, name, role, hash, created_at, revoked_at) VALUES ($1,$2,$3,$4,$5,NULL)', [t.id, t.name, t.role, t.hash, t.createdAt]);
      await this.audit(c, audit, t.createdAt);
    });
  }

  async tokenByHash(hash: string): Promise<TokenRecord | undefined> {
    const r = await this.pool.query<TokenRow>('SELECT * FROM tokens WHERE hash = $1', [hash]);
    return r.rows[0] ? tokenFromRow(r.rows[0]) : undefined;
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (await this.pool.query<TokenRow>('SELECT * FROM tokens ORDER BY created_at, id')).rows.map(tokenFromRow);
  }

  async revokeToken(id: string, nowMs: number, audit: AuditInput): Promise<boolean> {
    return this.tx(async (c) => {
      const n = (await c.query('UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [nowMs, id])).rowCount ?? 0;
      if (n > 0) await this.audit(c, audit, nowMs);
      return n > 0;
    });
  }

  // ---- attacks

  async insertAttack(a: AttackRecord, audit: AuditInput): Promise<void> {
    await this.tx(async (c) => {
      await c.query('INSERT INTO attacks (id, name, definition, state, created_at, created_by, expires_at, injections) VALUES ($1,$2,$3,$4,$5,$6,$7,0)', [
        a.id,
        a.name ?? null,
        attackDefinitionJson(a),
        a.state,
        a.createdAt,
        a.createdBy,
        a.expiresAt,
      ]);
      await this.audit(c, audit, a.createdAt);
      await this.notify(c, 'attacks', a.id);
    });
  }

  async getAttack(id: string, nowMs: number): Promise<AttackRecord | undefined> {
    const r = await this.pool.query<AttackRow>('SELECT * FROM attacks WHERE id = $1', [id]);
    return r.rows[0] ? attackFromRow(r.rows[0], nowMs) : undefined;
  }

  async listAttacks(q: { state?: AttackState; limit: number }, nowMs: number): Promise<AttackRecord[]> {
    let r: pg.QueryResult<AttackRow>;
    if (q.state === 'active') r = await this.pool.query<AttackRow>("SELECT * FROM attacks WHERE state = 'active' AND expires_at > $1 ORDER BY created_at DESC, id DESC LIMIT $2", [nowMs, q.limit]);
    else if (q.state === 'expired') r = await this.pool.query<AttackRow>("SELECT * FROM attacks WHERE state = 'expired' OR (state = 'active' AND expires_at <= $1) ORDER BY created_at DESC, id DESC LIMIT $2", [nowMs, q.limit]);
    else if (q.state === 'halted') r = await this.pool.query<AttackRow>("SELECT * FROM attacks WHERE state = 'halted' ORDER BY created_at DESC, id DESC LIMIT $1", [q.limit]);
    else r = await this.pool.query<AttackRow>('SELECT * FROM attacks ORDER BY created_at DESC, id DESC LIMIT $1', [q.limit]);
    return r.rows.map((row) => attackFromRow(row, nowMs));
  }

  async activeAttacks(nowMs: number): Promise<AttackRecord[]> {
    const r = await this.pool.query<AttackRow>("SELECT * FROM attacks WHERE state = 'active' AND expires_at > $1 ORDER BY created_at, id", [nowMs]);
    return r.rows.map((row) => attackFromRow(row, nowMs));
  }

  async haltAttack(id: string, nowMs: number, audit: AuditInput): Promise<{ attack: AttackRecord | undefined; changed: boolean }> {
    return this.tx(async (c) => {
      const changed = ((await c.query("UPDATE attacks SET state = 'halted', halted_at = $1, halted_by = $2 WHERE id = $3 AND state = 'active' AND expires_at > $1", [nowMs, audit.actor.id, id])).rowCount ?? 0) > 0;
      const row = (await c.query<AttackRow>('SELECT * FROM attacks WHERE id = $1', [id])).rows[0];
      const attack = row ? attackFromRow(row, nowMs) : undefined;
      if (attack) await this.audit(c, { ...audit, details: { changed, state: attack.state } }, nowMs);
      if (changed) await this.notify(c, 'attacks', id);
      return { attack, changed };
    });
  }

  async haltAll(nowMs: number, audit: AuditInput): Promise<string[]> {
    return this.tx(async (c) => {
      const r = await c.query<{ id: string }>("UPDATE attacks SET state = 'halted', halted_at = $1, halted_by = $2 WHERE state = 'active' AND expires_at > $1 RETURNING id", [nowMs, audit.actor.id]);
      const ids = r.rows.map((x) => x.id).sort();
      await this.audit(c, { ...audit, details: { halted: ids } }, nowMs);
      await this.notify(c, 'attacks', '*');
      return ids;
    });
  }

  async expireAttacks(nowMs: number): Promise<string[]> {
    return this.tx(async (c) => {
      const r = await c.query<{ id: string }>("UPDATE attacks SET state = 'expired' WHERE state = 'active' AND expires_at <= $1 RETURNING id", [nowMs]);
      for (const { id } of r.rows) await this.audit(c, { actor: { id: 'system', role: 'system' }, action: 'attack.expire', target: id }, nowMs);
      if (r.rows.length > 0) await this.notify(c, 'attacks', '*');
      return r.rows.map((x) => x.id);
    });
  }

  async addInjections(id: string, n: number, audit: AuditInput): Promise<boolean> {
    return this.tx(async (c) => {
      const found = ((await c.query('UPDATE attacks SET injections = injections + $1 WHERE id = $2', [n, id])).rowCount ?? 0) > 0;
      if (found) await this.audit(c, audit, Date.now());
      return found;
    });
  }

  // ---- audit

  async listAudit(q: { limit: number; before?: number; action?: string }): Promise<AuditRecord[]> {
    const r = await this.pool.query<{ id: number; at: number; actor: string; role: string | null; action: string; target: string | null; details: string | null }>(
      'SELECT * FROM audit WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR action = $2) ORDER BY id DESC LIMIT $3',
      [q.before ?? null, q.action ?? null, q.limit],
    );
    return r.rows.map((x) => ({ id: x.id, at: x.at, actor: x.actor, role: x.role, action: x.action, target: x.target, details: x.details === null ? null : JSON.parse(x.details) }));
  }

  // ---- campaigns

  async insertCampaign(cmp: CampaignRecord, audit: AuditInput): Promise<void> {
    await this.tx(async (c) => {
      await c.query('INSERT INTO campaigns (id, name, state, spec, created_at, created_by, started_at, heartbeat_at, runner) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)', [
        cmp.id,
        cmp.name,
        cmp.state,
        JSON.stringify(cmp.spec),
        cmp.createdAt,
        cmp.createdBy,
        cmp.startedAt,
        cmp.heartbeatAt,
        cmp.runner,
      ]);
      await this.audit(c, audit, cmp.createdAt);
      await this.notify(c, 'campaigns', `${cmp.id}:0`);
    });
  }

  async getCampaign(id: string, withResult: boolean): Promise<CampaignRecord | undefined> {
    const r = await this.pool.query<CampaignRow>('SELECT * FROM campaigns WHERE id = $1', [id]);
    const row = r.rows[0];
    if (!row) return undefined;
    if (!withResult) delete row.result;
    return campaignFromRow(row);
  }

  async listCampaigns(q: { limit: number }): Promise<CampaignRecord[]> {
    const r = await this.pool.query<CampaignRow>(
      'SELECT id, name, state, spec, created_at, created_by, started_at, finished_at, heartbeat_at, runner, stop_requested, progress, summary, error, last_seq FROM campaigns ORDER BY created_at DESC, id DESC LIMIT $1',
      [q.limit],
    );
    return r.rows.map(campaignFromRow);
  }

  async appendCampaignEvent(id: string, type: string, data: unknown, nowMs: number, patch?: CampaignPatch): Promise<number> {
    return this.tx(async (c) => {
      const r = await c.query<{ last_seq: number }>('UPDATE campaigns SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq', [id]);
      const seq = r.rows[0]?.last_seq;
      if (seq === undefined) throw new Error(`campaign ${id} does not exist`);
      await c.query('INSERT INTO campaign_events (campaign_id, seq, at, type, data) VALUES ($1,$2,$3,$4,$5)', [id, seq, nowMs, type, JSON.stringify(data ?? null)]);
      if (patch) {
        const { sql, values } = campaignPatchSql(patch, (i) => `$${i}`);
        if (sql) await c.query(`UPDATE campaigns SET ${sql} WHERE id = $${values.length + 1}`, [...values, id]);
      }
      await this.notify(c, 'campaigns', `${id}:${seq}`);
      return seq;
    });
  }

  async campaignEvents(id: string, afterSeq: number, limit: number): Promise<CampaignEvent[]> {
    const r = await this.pool.query<{ seq: number; at: number; type: string; data: string }>('SELECT seq, at, type, data FROM campaign_events WHERE campaign_id = $1 AND seq > $2 ORDER BY seq LIMIT $3', [id, afterSeq, limit]);
    return r.rows.map((x) => ({ seq: x.seq, at: x.at, type: x.type, data: JSON.parse(x.data) as unknown }));
  }

  async requestCampaignStop(id: string, audit: AuditInput): Promise<boolean> {
    return this.tx(async (c) => {
      const n = (await c.query("UPDATE campaigns SET stop_requested = true WHERE id = $1 AND state = 'running'", [id])).rowCount ?? 0;
      if (n > 0) {
        await this.audit(c, audit, Date.now());
        await this.notify(c, 'campaigns', `${id}:stop`);
      }
      return n > 0;
    });
  }

  async heartbeatCampaigns(runner: string, ids: readonly string[], nowMs: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const r = await this.pool.query<{ id: string; stop_requested: boolean }>(
      "UPDATE campaigns SET heartbeat_at = $1 WHERE id = ANY($2::text[]) AND runner = $3 AND state = 'running' RETURNING id, stop_requested",
      [nowMs, ids, runner],
    );
    return r.rows.filter((x) => x.stop_requested).map((x) => x.id);
  }

  async interruptCampaigns(nowMs: number, staleMs: number | undefined): Promise<string[]> {
    return this.tx(async (c) => {
      const rows = (
        staleMs === undefined
          ? await c.query<{ id: string }>("SELECT id FROM campaigns WHERE state = 'running' FOR UPDATE")
          : await c.query<{ id: string }>("SELECT id FROM campaigns WHERE state = 'running' AND coalesce(heartbeat_at, 0) < $1 FOR UPDATE", [nowMs - staleMs])
      ).rows;
      const message = 'the server running this campaign stopped before it finished';
      for (const { id } of rows) {
        const seq = (await c.query<{ last_seq: number }>('UPDATE campaigns SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq', [id])).rows[0]!.last_seq;
        await c.query('INSERT INTO campaign_events (campaign_id, seq, at, type, data) VALUES ($1,$2,$3,$4,$5)', [id, seq, nowMs, 'state', JSON.stringify({ state: 'interrupted', error: message })]);
        await c.query("UPDATE campaigns SET state = 'interrupted', finished_at = $1, error = $2 WHERE id = $3", [nowMs, message, id]);
        await this.audit(c, { actor: { id: 'system', role: 'system' }, action: 'campaign.interrupt', target: id }, nowMs);
        await this.notify(c, 'campaigns', `${id}:end`);
      }
      return rows.map((r) => r.id);
    });
  }
}
