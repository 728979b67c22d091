/**
 * `labcoat server`: the control plane. JSON over HTTP on node:http (see `openapi.ts` for every
 * route), bearer tokens by role, OTLP/HTTP JSON span ingestion into the store with the service
 * graph kept as aggregates, attacks with a signed feed for the SDKs, halt and halt-all, campaigns
 * (explore runs) with progress over SSE, an audit entry for every change, and span retention.
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { fromOtlpJson, LabcoatInputError, type SpanData } from '@labcoat/core';
import { hmacMac } from '@labcoat/node';
import { renderHtml } from '../explore/html.js';
import type { ExplorationReport } from '../explore/types.js';
import { isPostgresUrl, openStore } from '../store/index.js';
import { TERMINAL_CAMPAIGN_STATES, type AttackRecord, type AttackState, type GraphQuery, type RetentionPolicy, type Store } from '../store/types.js';
import { validateAttack } from './attack-spec.js';
import { actorOf, allowed, Authenticator, newId } from './auth.js';
import { Campaigns, validateCampaign } from './campaigns.js';
import { parseLongDuration, parseTime } from './duration.js';
import { ConsoleFiles, isConsolePath } from './console-static.js';
import { AttackFeed } from './feed.js';
import { HttpError, intParam, readBody, readJson, Router, sendError, sendJson, startSse, type Access, type RequestContext, type Reply, type SseWriter } from './http.js';
import { IngestQueue } from './ingest.js';
import { openApiDocument } from './openapi.js';
import { CRITICAL_KEY } from '../store/queries.js';
import { SpanTap } from './span-tap.js';

export const VERSION = '0.1.0';

export interface ServerOptions {
  /** SQLite file path or `postgres://` URL (default `./labcoat.db`). Ignored when `store` is given. */
  readonly db?: string;
  /** An open store to use (the server does not close it). */
  readonly store?: Store;
  readonly port?: number;
  /** Interface to listen on (default 127.0.0.1). */
  readonly host?: string;
  /** The HMAC key the services share: signs the attack feed and campaigns' fault plans. */
  readonly key?: string;
  /** Attack lease given to SDKs (default 5 s); heartbeats every leaseMs / 3. */
  readonly leaseMs?: number;
  /** Span retention (default: 7 days, 1 GB). */
  readonly retention?: RetentionPolicy;
  /** How often retention runs (default 60 s). */
  readonly retentionIntervalMs?: number;
  /** Graph bucket width (default 60 s). */
  readonly bucketMs?: number;
  /** Largest OTLP request body (default 8 MiB, after decompression). */
  readonly maxOtlpBytes?: number;
  /** Largest JSON API request body (default 1 MiB). */
  readonly maxJsonBytes?: number;
  /** `open` (default): anyone who can reach the server may send spans, as with an OpenTelemetry collector; `token`: a service or admin token is required. */
  readonly ingestAuth?: 'open' | 'token';
  /** Campaigns one replica runs at once (default 2). */
  readonly maxCampaigns?: number;
  /** With PostgreSQL: how old a running campaign's heartbeat may get before a replica marks it interrupted (default 15 s). */
  readonly campaignStaleMs?: number;
  /** Where the server says what it does (default: stderr). */
  readonly log?: (line: string) => void;
  /** Critical services (their failure may fail requests), marked in the graph; `PUT /api/critical` overrides it. */
  readonly critical?: readonly string[];
  /** The web console's built files, served at `/` (default: packages/console/dist). */
  readonly consoleDir?: string;
}

export interface ControlPlane {
  readonly url: string;
  readonly port: number;
  readonly store: Store;
  /** This replica's id (in health answers and campaign records). */
  readonly replica: string;
  readonly routes: readonly { method: string; path: string; access: Access }[];
  /** Runs span retention now. */
  retain(): Promise<void>;
  close(): Promise<void>;
}

const DEFAULT_RETENTION: RetentionPolicy = { maxAgeMs: 7 * 86_400_000, maxBytes: 1e9 };

export async function startServer(options: ServerOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const leaseMs = options.leaseMs ?? 5000;
  if (!Number.isInteger(leaseMs) || leaseMs < 300 || leaseMs > 3_600_000) throw new Error(`--lease: expected 300 ms to 1 h, got ${leaseMs} ms`);
  let mac;
  if (options.key !== undefined && options.key !== '') {
    try {
      mac = hmacMac(options.key);
    } catch (e) {
      throw new Error((e as Error).message.replace(/^labcoat: /, '').replace('plan signing key', 'key (--key / LABCOAT_KEY)'));
    }
  }
  const ownStore = options.store === undefined;
  const db = options.db ?? './labcoat.db';
  // One server per SQLite file: a second one would not hear the first one's changes.
  const lock = ownStore && !isPostgresUrl(db) && db !== ':memory:' ? takeServerLock(db) : undefined;
  let store: Store;
  try {
    store = options.store ?? (await openStore(db, { ...(options.bucketMs !== undefined ? { bucketMs: options.bucketMs } : {}), log }));
  } catch (e) {
    lock?.release();
    throw e;
  }
  const replica = `r_${randomBytes(6).toString('hex')}`;
  const maxOtlp = options.maxOtlpBytes ?? 8 << 20;
  const maxJson = options.maxJsonBytes ?? 1 << 20;
  const ingestAuth = options.ingestAuth ?? 'open';
  const retention = options.retention ?? DEFAULT_RETENTION;
  const auth = new Authenticator(store);
  const consoleFiles = new ConsoleFiles(options.consoleDir);
  const feed = new AttackFeed(store, mac, leaseMs, log);
  const sse = new Set<SseWriter>();
  const started = Date.now();
  let baseUrl = '';
  const tap = new SpanTap(store, '');
  const ingest = new IngestQueue(store, (spans) => tap.add(spans));
  const campaigns = new Campaigns(store, options.key || undefined, tap, replica, options.maxCampaigns ?? 2, log, options.campaignStaleMs);
  /** Wakes the SSE streams of a campaign when its events change. */
  const campaignWakers = new Map<string, Set<() => void>>();

  const unsubscribe = store.subscribe((channel, payload) => {
    if (channel === 'attacks') {
      void feed.refresh();
      return;
    }
    const [id, what] = payload.split(':');
    if (what === 'stop' && id) campaigns.noticeStop(id);
    const wake = (set: Set<() => void> | undefined): void => set?.forEach((w) => w());
    if (id === '*') for (const set of campaignWakers.values()) wake(set);
    else wake(campaignWakers.get(id ?? ''));
  });

  const router = new Router();
  const route = (method: 'GET' | 'POST' | 'PUT', path: string, access: Access, handler: (ctx: RequestContext) => Promise<Reply> | Reply): void => router.add({ method, path, access, handler });

  // ---- public

  route('GET', '/api/health', 'public', async () => {
    try {
      await store.ping();
    } catch (e) {
      throw new HttpError(503, `the store does not answer: ${(e as Error).message}`);
    }
    return { body: { ok: true, version: VERSION, store: store.kind, replica, uptimeMs: Date.now() - started, feed: { enabled: feed.enabled, leaseMs, subscribers: feed.subscribers }, campaignsRunning: campaigns.runningCount } };
  });
  route('GET', '/openapi.json', 'public', () => ({ body: openApiDocument(router.list(), baseUrl) }));
  route('GET', '/api/whoami', 'token', ({ token }) => ({ body: { role: token!.role, tokenId: token!.id, name: token!.name } }));

  // ---- spans and the graph

  route('POST', '/v1/traces', 'ingest', async ({ req }) => {
    const type = String(req.headers['content-type'] ?? '');
    if (/protobuf/i.test(type)) throw new HttpError(415, 'only OTLP/HTTP JSON is accepted (content-type: application/json): set the exporter protocol to http/json');
    if (!/json/i.test(type)) throw new HttpError(415, `expected content-type: application/json (OTLP/HTTP JSON), got ${type ? JSON.stringify(type) : 'none'}`);
    if (ingest.full) throw new HttpError(503, 'the ingestion queue is full; retry shortly', undefined, { 'retry-after': '1' });
    const body = await readBody(req, maxOtlp);
    let spans: SpanData[];
    try {
      spans = fromOtlpJson(JSON.parse(body.toString('utf8')));
    } catch (e) {
      if (e instanceof SyntaxError) throw new HttpError(400, `body is not JSON: ${e.message}`);
      if (e instanceof LabcoatInputError) throw new HttpError(400, `malformed OTLP: ${e.message}`);
      throw new HttpError(400, `malformed OTLP: ${(e as Error).message}`);
    }
    if (spans.length > 0) {
      try {
        await ingest.submit(spans);
      } catch (e) {
        throw new HttpError(503, `could not store the spans: ${(e as Error).message}`, undefined, { 'retry-after': '1' });
      }
    }
    return { body: { partialSuccess: {} } };
  });

  route('GET', '/api/traces/{traceId}', 'viewer', async ({ params }) => {
    const id = params['traceId']!.toLowerCase();
    if (!/^[0-9a-f]{32}$/.test(id)) throw new HttpError(400, 'trace id: expected 32 hex characters');
    return { body: { traceId: id, spans: await store.trace(id) } };
  });

  route('GET', '/api/stats', 'viewer', async () => ({
    body: { spans: await store.spanTotals(), ingested: { spans: ingest.spans, transactions: ingest.transactions }, retention },
  }));

  route('GET', '/api/graph', 'viewer', async ({ url }) => {
    const q = graphQuery(url);
    const [graph, critical] = await Promise.all([store.graph(q), criticalServices()]);
    if (critical.source === 'none') return { body: graph };
    const names = new Set(critical.services);
    return { body: { ...graph, services: graph.services.map((s) => ({ ...s, critical: names.has(s.name) })) } };
  });

  route('GET', '/api/spans', 'viewer', async ({ url }) => {
    const p = url.searchParams;
    const caller = p.get('caller');
    const callee = p.get('callee');
    if (!caller) throw new HttpError(400, 'query parameter caller: required (the calling service)');
    if (!callee) throw new HttpError(400, 'query parameter callee: required (the called service)');
    const point = p.get('point') || undefined;
    const limit = intParam(url, 'limit', 50, 1, 500);
    const sinceMs = timeParam(url, 'since');
    return { body: { spans: await store.edgeSpans({ caller, callee, limit, ...(point ? { point } : {}), ...(sinceMs !== undefined ? { sinceMs } : {}) }) } };
  });

  route('GET', '/api/traces', 'viewer', async ({ url }) => {
    const p = url.searchParams;
    const cls = p.get('class') || undefined;
    const service = p.get('service') || undefined;
    const limit = intParam(url, 'limit', 20, 1, 200);
    const sinceMs = timeParam(url, 'since');
    return { body: { traces: await store.traces({ limit, ...(cls ? { class: cls } : {}), ...(service ? { service } : {}), ...(sinceMs !== undefined ? { sinceMs } : {}) }) } };
  });

  route('GET', '/api/traces/classes', 'viewer', async ({ url }) => {
    let window = 3_600_000;
    if (url.searchParams.has('window')) {
      try {
        window = parseLongDuration(url.searchParams.get('window')!, 'window');
      } catch (e) {
        throw new HttpError(400, `query parameter ${(e as Error).message}`);
      }
    }
    const limit = intParam(url, 'limit', 200, 1, 1000);
    return { body: { classes: await store.traceClasses({ sinceMs: Date.now() - window, limit }) } };
  });

  // ---- critical services

  const optionCritical = normalizeServices(options.critical ?? []);
  async function criticalServices(): Promise<{ services: string[]; source: 'setting' | 'option' | 'none' }> {
    const stored = await store.getSetting(CRITICAL_KEY);
    if (Array.isArray(stored)) return { services: stored.filter((s): s is string => typeof s === 'string'), source: 'setting' };
    return optionCritical.length > 0 ? { services: optionCritical, source: 'option' } : { services: [], source: 'none' };
  }

  route('GET', '/api/critical', 'viewer', async () => ({ body: await criticalServices() }));

  route('PUT', '/api/critical', 'admin', async ({ req, token }) => {
    const body = await readJson(req, maxJson);
    const list = (body as { services?: unknown } | null)?.services;
    if (typeof body !== 'object' || body === null || Array.isArray(body) || !Array.isArray(list)) {
      throw new HttpError(422, 'invalid critical services', [{ field: 'services', message: 'expected an array of service names' }]);
    }
    const errors = list.flatMap((s, i) => (typeof s === 'string' && s.trim().length > 0 && s.length <= 512 ? [] : [{ field: `services[${i}]`, message: 'expected a service name (1 to 512 characters)' }]));
    if (list.length > 1000) errors.push({ field: 'services', message: 'at most 1000 services' });
    if (errors.length > 0) throw new HttpError(422, 'invalid critical services', errors);
    const services = normalizeServices(list as string[]);
    await store.setSetting(CRITICAL_KEY, services, Date.now(), { actor: actorOf(token), action: 'critical.set', details: { services } });
    return { body: { services, source: 'setting' } };
  });

  // ---- attacks

  route('GET', '/api/attacks', 'viewer', async ({ url }) => {
    const state = url.searchParams.get('state');
    if (state !== null && state !== 'active' && state !== 'halted' && state !== 'expired') throw new HttpError(400, 'query parameter state: expected active, halted or expired');
    const limit = intParam(url, 'limit', 100, 1, 1000);
    return { body: { attacks: await store.listAttacks({ ...(state ? { state: state as AttackState } : {}), limit }, Date.now()) } };
  });

  route('POST', '/api/attacks', 'admin', async ({ req, token }) => {
    const v = validateAttack(await readJson(req, maxJson));
    if (!v.ok) throw new HttpError(422, 'invalid attack definition', v.errors);
    const now = Date.now();
    const attack: AttackRecord = { ...v.attack, id: newId('atk'), state: 'active', createdAt: now, createdBy: token?.id ?? null, expiresAt: now + v.attack.durationMs, haltedAt: null, haltedBy: null, injections: 0 };
    await store.insertAttack(attack, { actor: actorOf(token), action: 'attack.create', target: attack.id, details: v.attack });
    void feed.refresh();
    return { status: 201, body: attack, headers: { location: `/api/attacks/${attack.id}` } };
  });

  route('GET', '/api/attacks/feed', 'service', async ({ res, url }) => {
    if (!feed.enabled) throw new HttpError(503, 'the attack feed is off: this server has no key (--key or LABCOAT_KEY). SDKs accept only snapshots signed with the key they share, so start the server with that key');
    if (url.searchParams.has('poll')) {
      let message: string;
      try {
        message = await feed.poll();
      } catch (e) {
        throw new HttpError(503, `cannot read attacks from the store: ${(e as Error).message}`);
      }
      return { body: JSON.parse(message) as unknown };
    }
    const writer = startSse(res);
    sse.add(writer);
    res.on('close', () => sse.delete(writer));
    try {
      await feed.subscribe(writer, (fn) => res.on('close', fn));
    } catch (e) {
      log(`labcoat: feed subscriber dropped: ${(e as Error).message}`);
      writer.end();
    }
    return undefined;
  });

  route('GET', '/api/attacks/{id}', 'viewer', async ({ params }) => {
    const attack = await store.getAttack(params['id']!, Date.now());
    if (!attack) throw new HttpError(404, `no attack ${params['id']}`);
    return { body: attack };
  });

  route('POST', '/api/attacks/{id}/halt', 'admin', async ({ params, token }) => {
    const { attack, changed } = await store.haltAttack(params['id']!, Date.now(), { actor: actorOf(token), action: 'attack.halt', target: params['id']! });
    if (!attack) throw new HttpError(404, `no attack ${params['id']}`);
    if (changed) void feed.refresh();
    return { body: { attack, halted: changed } };
  });

  route('POST', '/api/halt-all', 'admin', async ({ token }) => {
    const ids = await store.haltAll(Date.now(), { actor: actorOf(token), action: 'attack.halt-all' });
    void feed.refresh();
    return { body: { halted: ids } };
  });

  route('POST', '/api/attacks/{id}/report', 'service', async ({ req, params, token }) => {
    const body = await readJson(req, maxJson);
    const n = (body as { injections?: unknown } | undefined)?.injections;
    if (typeof body !== 'object' || body === null || typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 1e9) {
      throw new HttpError(422, 'invalid report', [{ field: 'injections', message: 'expected an integer from 0 to 1000000000' }]);
    }
    const found = await store.addInjections(params['id']!, n, { actor: actorOf(token), action: 'attack.report', target: params['id']!, details: { injections: n } });
    if (!found) throw new HttpError(404, `no attack ${params['id']}`);
    return { body: { ok: true } };
  });

  // ---- campaigns

  route('GET', '/api/campaigns', 'viewer', async ({ url }) => ({ body: { campaigns: await store.listCampaigns({ limit: intParam(url, 'limit', 50, 1, 1000) }) } }));

  route('POST', '/api/campaigns', 'admin', async ({ req, token }) => {
    const v = validateCampaign(await readJson(req, maxJson));
    if (!v.ok) throw new HttpError(422, 'invalid campaign', v.errors);
    const record = await campaigns.create(v.spec, actorOf(token));
    return { status: 201, body: record, headers: { location: `/api/campaigns/${record.id}` } };
  });

  route('GET', '/api/campaigns/{id}', 'viewer', async ({ params }) => {
    const c = await store.getCampaign(params['id']!, true);
    if (!c) throw new HttpError(404, `no campaign ${params['id']}`);
    return { body: c };
  });

  route('GET', '/api/campaigns/{id}/report.html', 'viewer', async ({ params, res }) => {
    const c = await store.getCampaign(params['id']!, true);
    if (!c) throw new HttpError(404, `no campaign ${params['id']}`);
    if (!c.result) throw new HttpError(409, `campaign ${c.id} has no report yet (it is ${c.state})`);
    const html = renderHtml(c.result as ExplorationReport);
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(html),
      'content-disposition': `inline; filename="labcoat-${c.id}.html"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    res.end(html);
    return undefined;
  });

  route('POST', '/api/campaigns/{id}/stop', 'admin', async ({ params, token }) => {
    const c = await store.getCampaign(params['id']!, false);
    if (!c) throw new HttpError(404, `no campaign ${params['id']}`);
    const requested = await store.requestCampaignStop(c.id, { actor: actorOf(token), action: 'campaign.stop', target: c.id });
    if (requested) campaigns.noticeStop(c.id);
    return { body: { stopping: requested, state: c.state } };
  });

  route('GET', '/api/campaigns/{id}/events', 'viewer', async ({ req, res, url, params }) => {
    const id = params['id']!;
    const c = await store.getCampaign(id, false);
    if (!c) throw new HttpError(404, `no campaign ${id}`);
    const lastEventId = req.headers['last-event-id'];
    let after = intParam(url, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
    if (typeof lastEventId === 'string' && /^\d{1,15}$/.test(lastEventId)) after = Number(lastEventId);
    if (!String(req.headers['accept'] ?? '').includes('text/event-stream')) {
      const limit = intParam(url, 'limit', 1000, 1, 10_000);
      return { body: { campaign: id, state: c.state, events: await store.campaignEvents(id, after, limit) } };
    }
    const writer = startSse(res);
    sse.add(writer);
    let pumping: Promise<void> | undefined;
    let again = false;
    let ended = false;
    const finish = (): void => {
      if (ended) return;
      ended = true;
      writer.send('end', JSON.stringify({ campaign: id }));
      writer.end();
    };
    const pump = (): Promise<void> => {
      if (pumping) {
        again = true;
        return pumping;
      }
      pumping = (async () => {
        for (let round = 0; round < 1000 && !ended && !writer.closed; round++) {
          again = false;
          const events = await store.campaignEvents(id, after, 500);
          for (const e of events) {
            writer.send(e.type, JSON.stringify(e), e.seq);
            after = e.seq;
            const state = (e.data as { state?: string } | null)?.state;
            if (e.type === 'state' && state && (TERMINAL_CAMPAIGN_STATES as readonly string[]).includes(state)) return finish();
          }
          if (events.length === 500 || again) continue;
          const now = await store.getCampaign(id, false);
          if (now && (TERMINAL_CAMPAIGN_STATES as readonly string[]).includes(now.state) && now.events <= after) return finish();
          break;
        }
      })()
        .catch(() => {})
        .finally(() => {
          pumping = undefined;
        });
      return pumping;
    };
    let wakers = campaignWakers.get(id);
    if (!wakers) campaignWakers.set(id, (wakers = new Set()));
    const wake = (): void => void pump();
    wakers.add(wake);
    // Also look every few seconds, in case a notification was missed, and keep proxies from timing out.
    const timer = setInterval(() => {
      writer.comment('keep-alive');
      void pump();
    }, 5000);
    res.on('close', () => {
      clearInterval(timer);
      sse.delete(writer);
      wakers!.delete(wake);
      if (wakers!.size === 0) campaignWakers.delete(id);
    });
    await pump();
    return undefined;
  });

  // ---- audit

  route('GET', '/api/audit', 'viewer', async ({ url }) => {
    const limit = intParam(url, 'limit', 100, 1, 1000);
    const before = url.searchParams.has('before') ? intParam(url, 'before', 0, 1, Number.MAX_SAFE_INTEGER) : undefined;
    const action = url.searchParams.get('action') ?? undefined;
    return { body: { entries: await store.listAudit({ limit, ...(before !== undefined ? { before } : {}), ...(action ? { action } : {}) }) } };
  });

  // ---- the server

  const server = http.createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0; // SSE responses stay open

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    req.on('error', () => {});
    res.on('error', () => {});
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://labcoat.invalid');
      } catch {
        throw new HttpError(400, 'malformed request URL');
      }
      const m = router.match(req.method ?? 'GET', url.pathname);
      if ('status' in m) {
        req.resume();
        if (m.status === 405) throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}; use ${m.allow.join(' or ')}`, undefined, { allow: m.allow.join(', ') });
        // The web console (console-static.ts): any GET outside /api, /v1 and /openapi.json.
        if ((req.method === 'GET' || req.method === 'HEAD') && isConsolePath(url.pathname)) return await consoleFiles.serve(req, res, url.pathname);
        throw new HttpError(404, `no route for ${req.method} ${url.pathname}; see GET /openapi.json`);
      }
      const { route: r, params } = m;
      let token;
      if (r.access !== 'public' && !(r.access === 'ingest' && ingestAuth === 'open')) {
        token = await auth.authenticate(req.headers['authorization']);
        if (!allowed(r.access, token.role)) {
          req.resume();
          const need = r.access === 'viewer' ? 'a viewer or admin' : r.access === 'admin' ? 'an admin' : 'a service or admin';
          throw new HttpError(403, `${req.method} ${r.path} needs ${need} token; this one is ${token.role}`);
        }
      }
      const reply = await r.handler({ req, res, url, params, token });
      if (reply) sendJson(res, reply.status ?? 200, reply.body, reply.headers);
    } catch (e) {
      if (e instanceof HttpError) {
        if (e.status === 401 || e.status === 403 || e.status === 404) req.resume();
        sendError(res, e);
      } else {
        log(`labcoat: ${req.method} ${req.url}: ${(e as Error).stack ?? String(e)}`);
        sendError(res, new HttpError(500, `internal error: ${(e as Error).message}`));
      }
    }
  }

  server.listen(options.port ?? 7070, options.host ?? '127.0.0.1');
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (e) {
    unsubscribe();
    if (ownStore) await store.close();
    lock?.release();
    throw e;
  }
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  tap.ingestUrl = `${baseUrl}/v1/traces`;

  feed.start();
  await campaigns.start();
  let retaining = false;
  const retain = async (): Promise<void> => {
    if (retaining) return;
    retaining = true;
    try {
      const r = await store.retain(retention, Date.now());
      if (r.deletedSpans > 0) log(`labcoat: retention deleted ${r.deletedSpans} spans (${r.deletedChunks} minute${r.deletedChunks === 1 ? '' : 's'} of ingestion)`);
    } catch (e) {
      log(`labcoat: retention failed: ${(e as Error).message}`);
    } finally {
      retaining = false;
    }
  };
  const retentionTimer = setInterval(() => void retain(), options.retentionIntervalMs ?? 60_000);
  retentionTimer.unref();

  let closing: Promise<void> | undefined;
  return {
    url: baseUrl,
    port,
    store,
    replica,
    routes: router.list().map((r) => ({ method: r.method, path: r.path, access: r.access })),
    retain,
    close() {
      closing ??= (async () => {
        clearInterval(retentionTimer);
        unsubscribe();
        feed.stop();
        for (const w of sse) w.end();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await campaigns.close();
        await ingest.flush();
        server.closeAllConnections();
        await closed;
        if (ownStore) await store.close();
        lock?.release();
      })();
      return closing;
    },
  };
}

/**
 * `<db>.server.pid`, created exclusively: refuses a second server on the same SQLite file while the
 * process that holds it is alive (a lock left by a killed server is taken over).
 */
function takeServerLock(db: string): { release(): void } {
  const file = `${db}.server.pid`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          try {
            if (readFileSync(file, 'utf8') === String(process.pid)) unlinkSync(file);
          } catch {
            // already gone
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(file, 'utf8').trim());
      let alive = false;
      if (Number.isInteger(pid) && pid > 0) {
        try {
          process.kill(pid, 0);
          alive = true;
        } catch (err) {
          alive = (err as NodeJS.ErrnoException).code === 'EPERM';
        }
      }
      if (alive) throw new Error(`another labcoat server (pid ${pid}) is using ${db}; one server per SQLite file (several replicas need PostgreSQL: --db postgres://…)`);
      try {
        unlinkSync(file);
      } catch {
        // someone else took it over first
      }
    }
  }
  throw new Error(`cannot take the server lock ${file}`);
}

/** Trimmed, without duplicates, in the order given. */
function normalizeServices(list: readonly string[]): string[] {
  return [...new Set(list.map((s) => s.trim()).filter((s) => s.length > 0))];
}

function timeParam(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  const t = parseTime(v);
  if (t === undefined) throw new HttpError(400, `query parameter ${name}: expected epoch milliseconds or an ISO 8601 time`);
  return t;
}

function graphQuery(url: URL): GraphQuery {
  const p = url.searchParams;
  const now = Date.now();
  let until = now;
  if (p.has('until')) {
    const t = parseTime(p.get('until')!);
    if (t === undefined) throw new HttpError(400, 'query parameter until: expected epoch milliseconds or an ISO 8601 time');
    until = t;
  }
  let since: number;
  if (p.has('since')) {
    const t = parseTime(p.get('since')!);
    if (t === undefined) throw new HttpError(400, 'query parameter since: expected epoch milliseconds or an ISO 8601 time');
    since = t;
  } else {
    let window = 15 * 60_000;
    if (p.has('window')) {
      try {
        window = parseLongDuration(p.get('window')!, 'window');
      } catch (e) {
        throw new HttpError(400, `query parameter ${(e as Error).message}`);
      }
    }
    since = until - window;
  }
  if (!(since < until)) throw new HttpError(400, 'the window is empty: since must be before until');
  const by = p.get('by') ?? 'service';
  if (by !== 'service' && by !== 'point') throw new HttpError(400, 'query parameter by: expected service or point');
  const service = p.get('service');
  return { sinceMs: since, untilMs: until, by, ...(service ? { service } : {}) };
}
