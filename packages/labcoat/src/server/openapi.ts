/**
 * The OpenAPI 3.1 document served at `GET /openapi.json`. Every route the router has must be
 * described here (the server refuses to build the document otherwise, and a test checks it).
 */
import { FAULT_KINDS } from '@labcoat/core';
import type { Access, Route } from './http.js';
import { MAX_DURATION_MS, MIN_DURATION_MS } from './attack-spec.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
const err = (description: string) => json(ref('Error'), description);
const idParam = (name: string, description: string) => ({ name, in: 'path', required: true, schema: { type: 'string' }, description });
const query = (name: string, schema: object, description: string) => ({ name, in: 'query', required: false, schema, description });
const stringList = { type: 'array', items: { type: 'string', minLength: 1, maxLength: 512 }, maxItems: 64 };

const ACCESS_TEXT: Record<Access, string> = {
  public: 'No token needed.',
  token: 'Needs a token of any role.',
  viewer: 'Needs a viewer or admin token.',
  admin: 'Needs an admin token.',
  service: 'Needs a service or admin token.',
  ingest: 'Open by default (like an OpenTelemetry collector); with `--ingest-auth token`, needs a service or admin token.',
};

interface Op {
  summary: string;
  description?: string;
  parameters?: object[];
  requestBody?: object;
  responses: Record<string, object>;
}

const OPERATIONS: Record<string, Op> = {
  'GET /api/health': {
    summary: 'Liveness and store reachability',
    responses: { '200': json(ref('Health'), 'the server and its store answer'), '503': err('the store does not answer') },
  },
  'GET /openapi.json': { summary: 'This document', responses: { '200': json({ type: 'object' }, 'the OpenAPI 3.1 document') } },
  'GET /api/whoami': {
    summary: 'The caller’s token: role, id, name',
    responses: { '200': json({ type: 'object', properties: { role: { enum: ['admin', 'viewer', 'service'] }, tokenId: { type: 'string' }, name: { type: ['string', 'null'] } } }, 'the token') },
  },
  'GET /api/campaigns/{id}/report.html': {
    summary: 'A finished (or stopped) campaign’s self-contained HTML report',
    parameters: [idParam('id', 'campaign id')],
    responses: { '200': { description: 'the report', content: { 'text/html': { schema: { type: 'string' } } } }, '404': err('no such campaign'), '409': err('no report yet') },
  },
  'POST /v1/traces': {
    summary: 'OTLP/HTTP JSON span ingestion',
    description:
      'An OTLP `ExportTraceServiceRequest` in the JSON encoding (trace and span ids as hex, as the OTLP specification says); `content-encoding: gzip` accepted. Answered 200 only after the spans are committed. Spans with a trace and span id already stored are skipped.',
    requestBody: { required: true, content: { 'application/json': { schema: ref('ExportTraceServiceRequest') } } },
    responses: {
      '200': json({ type: 'object', properties: { partialSuccess: { type: 'object' } } }, 'stored (committed)'),
      '400': err('malformed OTLP, with the path of the first bad field'),
      '413': err('body larger than the limit (8 MiB by default, after decompression)'),
      '415': err('not JSON (OTLP protobuf is not accepted)'),
      '503': err('the store failed or the queue is full; retry (Retry-After)'),
    },
  },
  'GET /api/traces/{traceId}': {
    summary: 'The stored spans of one trace',
    parameters: [idParam('traceId', '32 hex characters')],
    responses: { '200': json({ type: 'object', properties: { traceId: { type: 'string' }, spans: { type: 'array', items: ref('Span') } } }, 'the spans (empty when none)'), '400': err('not a trace id') },
  },
  'GET /api/stats': {
    summary: 'Stored spans, ingestion counters and the retention policy',
    responses: { '200': json({ type: 'object' }, 'totals') },
  },
  'GET /api/spans': {
    summary: 'Recent client spans of a graph edge, newest first',
    description: 'The client (and producer) spans of `caller` whose callee is `callee` — by their injection point (`labcoat.point`), else `peer.service` / `server.address` — the same rule the graph uses. Looks at the latest 20,000 spans of the caller at most.',
    parameters: [
      { name: 'caller', in: 'query', required: true, schema: { type: 'string' }, description: 'the calling service' },
      { name: 'callee', in: 'query', required: true, schema: { type: 'string' }, description: 'the called service' },
      query('point', { type: 'string' }, 'only spans of this injection point id'),
      query('limit', { type: 'integer', minimum: 1, maximum: 500, default: 50 }, 'at most this many'),
      query('since', { type: 'string' }, 'only spans started at or after this time: epoch ms or ISO 8601'),
    ],
    responses: { '200': json({ type: 'object', properties: { spans: { type: 'array', items: ref('Span') } } }, 'the spans'), '400': err('bad or missing query parameter') },
  },
  'GET /api/traces': {
    summary: 'The latest traces by request class, newest first',
    description:
      'Traces whose entry span (kind server, with no parent stored) has the request class asked for: `<http.request.method> <http.route>` (e.g. `GET /home`), else the span name. Without `class`, the latest traces of any class. Looks at the latest 20,000 entry spans at most.',
    parameters: [
      query('class', { type: 'string' }, 'request class, e.g. `GET /home`'),
      query('service', { type: 'string' }, 'the entry service'),
      query('limit', { type: 'integer', minimum: 1, maximum: 200, default: 20 }, 'at most this many'),
      query('since', { type: 'string' }, 'only traces started at or after this time: epoch ms or ISO 8601'),
    ],
    responses: { '200': json({ type: 'object', properties: { traces: { type: 'array', items: ref('TraceSummary') } } }, 'the traces'), '400': err('bad query parameter') },
  },
  'GET /api/traces/classes': {
    summary: 'Request classes of recent entry spans, most frequent first',
    parameters: [query('window', { type: 'string', default: '1h' }, 'how far back: 30s, 15m, 2h, 7d'), query('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 200 }, 'at most this many classes')],
    responses: {
      '200': json(
        { type: 'object', properties: { classes: { type: 'array', items: { type: 'object', properties: { service: { type: 'string' }, class: { type: 'string' }, count: { type: 'integer' }, lastMs: { type: 'number' } } } } } },
        'the classes',
      ),
      '400': err('bad query parameter'),
    },
  },
  'GET /api/critical': {
    summary: 'The critical services',
    description: 'Services whose failure may fail requests (marked `critical` in the graph). `source`: `setting` (set by `PUT /api/critical`), `option` (`labcoat server --critical`) or `none`.',
    responses: { '200': json(ref('Critical'), 'the critical services') },
  },
  'PUT /api/critical': {
    summary: 'Set the critical services (audited)',
    description: 'Replaces the list; stored, so it outlives restarts and overrides `--critical`. An empty list names none.',
    requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['services'], properties: { services: stringList } } } } },
    responses: { '200': json(ref('Critical'), 'the new list'), '400': err('body is not JSON'), '422': err('invalid list, with field errors') },
  },
  'GET /api/graph': {
    summary: 'The service graph over a window',
    description:
      'Services and edges (caller → callee, from client spans) with call count, error rate and p50/p99 latency over the window, from aggregates kept at ingestion (they outlive span retention). The window is snapped to the graph bucket width (60 s by default). Latencies come from log-linear histograms (±4.5%).',
    parameters: [
      query('window', { type: 'string', default: '15m' }, 'window length ending at `until`: 30s, 15m, 2h, 7d'),
      query('since', { type: 'string' }, 'window start: epoch ms or ISO 8601 (instead of `window`)'),
      query('until', { type: 'string' }, 'window end: epoch ms or ISO 8601 (default now)'),
      query('by', { type: 'string', enum: ['service', 'point'], default: 'service' }, 'one edge per service pair, or one per injection point'),
      query('service', { type: 'string' }, 'only edges touching this service'),
    ],
    responses: { '200': json(ref('Graph'), 'the graph'), '400': err('bad query parameter') },
  },
  'GET /api/attacks': {
    summary: 'List attacks, newest first',
    parameters: [query('state', { type: 'string', enum: ['active', 'halted', 'expired'] }, 'only attacks in this state'), query('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, 'at most this many')],
    responses: { '200': json({ type: 'object', properties: { attacks: { type: 'array', items: ref('Attack') } } }, 'the attacks'), '400': err('bad query parameter') },
  },
  'POST /api/attacks': {
    summary: 'Create an attack (production FIT)',
    description: 'The attack starts at once and ends after `durationMs`, at a halt, or at halt-all. Subscribed SDKs receive it on the feed immediately.',
    requestBody: { required: true, content: { 'application/json': { schema: ref('AttackDefinition') } } },
    responses: {
      '201': json(ref('Attack'), 'created'),
      '400': err('body is not JSON'),
      '413': err('body too large'),
      '415': err('not application/json'),
      '422': json(ref('ValidationError'), 'invalid definition, with every bad field'),
    },
  },
  'GET /api/attacks/feed': {
    summary: 'The signed attack feed for SDKs (SSE, or one snapshot with ?poll=1)',
    description:
      'Server-sent events: `event: snapshot`, `data: {"body":"<JSON snapshot>","sig":"<base64url HMAC-SHA256(key, body)>"}`, sent on connect, on every change (on every replica), at expiry, and every leaseMs/3 as a heartbeat. The snapshot is `{"v":1,"attacks":[…active…],"leaseMs":…,"serverTime":…,"seq":…}`. With `?poll=1`, one envelope as JSON. 503 when the server has no key.',
    parameters: [query('poll', { type: 'string' }, 'answer one snapshot envelope as JSON instead of a stream')],
    responses: {
      '200': { description: 'the stream (text/event-stream) or one envelope', content: { 'text/event-stream': { schema: { type: 'string' } }, 'application/json': { schema: ref('FeedEnvelope') } } },
      '503': err('no key: the feed is off'),
    },
  },
  'GET /api/attacks/{id}': {
    summary: 'One attack',
    parameters: [idParam('id', 'attack id (atk_…)')],
    responses: { '200': json(ref('Attack'), 'the attack'), '404': err('no such attack') },
  },
  'POST /api/attacks/{id}/halt': {
    summary: 'Halt one attack',
    description: 'Idempotent: halting an attack that is no longer active answers 200 with `halted: false`.',
    parameters: [idParam('id', 'attack id')],
    responses: { '200': json({ type: 'object', properties: { attack: ref('Attack'), halted: { type: 'boolean' } } }, 'the attack after the halt'), '404': err('no such attack') },
  },
  'POST /api/halt-all': {
    summary: 'Halt every active attack (kill switch)',
    responses: { '200': json({ type: 'object', properties: { halted: { type: 'array', items: { type: 'string' } } } }, 'the ids halted') },
  },
  'POST /api/attacks/{id}/report': {
    summary: 'SDK report of injections made for an attack',
    parameters: [idParam('id', 'attack id')],
    requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['injections'], properties: { injections: { type: 'integer', minimum: 0 } } } } } },
    responses: { '200': json({ type: 'object' }, 'added'), '404': err('no such attack'), '422': json(ref('ValidationError'), 'bad count') },
  },
  'GET /api/campaigns': {
    summary: 'List campaigns, newest first (without their reports)',
    parameters: [query('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 50 }, 'at most this many')],
    responses: { '200': json({ type: 'object', properties: { campaigns: { type: 'array', items: ref('Campaign') } } }, 'the campaigns') },
  },
  'POST /api/campaigns': {
    summary: 'Start a campaign: an explore run on the server',
    description:
      "The server runs `explore()` with these options, signing fault plans with its key and reading spans from its own ingestion (the services must export to this server's /v1/traces). Progress is stored as events; see /api/campaigns/{id}/events.",
    requestBody: { required: true, content: { 'application/json': { schema: ref('CampaignSpec') } } },
    responses: {
      '201': json(ref('Campaign'), 'started'),
      '422': json(ref('ValidationError'), 'invalid options'),
      '429': err('this replica already runs its maximum of campaigns'),
      '503': err('no key'),
    },
  },
  'GET /api/campaigns/{id}': {
    summary: 'One campaign, with its report once finished',
    parameters: [idParam('id', 'campaign id (cmp_…)')],
    responses: { '200': json(ref('Campaign'), 'the campaign'), '404': err('no such campaign') },
  },
  'POST /api/campaigns/{id}/stop': {
    summary: 'Stop a running campaign (it ends `stopped`, with the report so far)',
    parameters: [idParam('id', 'campaign id')],
    responses: { '200': json({ type: 'object', properties: { stopping: { type: 'boolean' }, state: { type: 'string' } } }, 'requested (or already over)'), '404': err('no such campaign') },
  },
  'GET /api/campaigns/{id}/events': {
    summary: 'A campaign’s stored events: live over SSE (Accept: text/event-stream), or as JSON',
    description:
      'Every event is stored before it is sent. SSE: `id: <seq>`, `event: <type>` (state, class-start, progress, class-end, log), `data: {"seq","at","type","data"}`; resumes after `Last-Event-ID` or `?after=`; ends with `event: end` once the campaign is over.',
    parameters: [idParam('id', 'campaign id'), query('after', { type: 'integer', minimum: 0 }, 'only events after this seq'), query('limit', { type: 'integer', minimum: 1, maximum: 10000 }, 'JSON: at most this many')],
    responses: {
      '200': {
        description: 'the events',
        content: { 'text/event-stream': { schema: { type: 'string' } }, 'application/json': { schema: { type: 'object', properties: { campaign: { type: 'string' }, state: { type: 'string' }, events: { type: 'array', items: ref('CampaignEvent') } } } } },
      },
      '404': err('no such campaign'),
    },
  },
  'GET /api/audit': {
    summary: 'The audit log, newest first: one entry per change',
    parameters: [
      query('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, 'at most this many'),
      query('before', { type: 'integer' }, 'only entries with a smaller id (paging)'),
      query('action', { type: 'string' }, 'only this action (attack.create, attack.halt, attack.halt-all, attack.expire, attack.report, campaign.create, campaign.stop, campaign.interrupt, token.create, token.revoke)'),
    ],
    responses: { '200': json({ type: 'object', properties: { entries: { type: 'array', items: ref('AuditEntry') } } }, 'entries') },
  },
};

const SCHEMAS: Record<string, object> = {
  Error: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } },
  ValidationError: {
    type: 'object',
    required: ['error', 'fields'],
    properties: { error: { type: 'string' }, fields: { type: 'array', items: { type: 'object', required: ['field', 'message'], properties: { field: { type: 'string' }, message: { type: 'string' } } } } },
  },
  Health: { type: 'object', properties: { ok: { type: 'boolean' }, version: { type: 'string' }, store: { enum: ['sqlite', 'postgres'] }, replica: { type: 'string' }, uptimeMs: { type: 'number' }, feed: { type: 'object' } } },
  ExportTraceServiceRequest: { type: 'object', required: ['resourceSpans'], properties: { resourceSpans: { type: 'array', items: { type: 'object' } } } },
  Span: {
    type: 'object',
    properties: {
      traceId: { type: 'string' },
      spanId: { type: 'string' },
      parentSpanId: { type: 'string' },
      name: { type: 'string' },
      kind: { enum: ['internal', 'server', 'client', 'producer', 'consumer'] },
      service: { type: 'string' },
      startMs: { type: 'number' },
      endMs: { type: 'number' },
      status: { type: 'object' },
      attributes: { type: 'object' },
    },
  },
  TraceSummary: {
    type: 'object',
    properties: {
      traceId: { type: 'string' },
      service: { type: 'string', description: 'the entry service' },
      class: { type: 'string', description: 'the request class, e.g. `GET /home`' },
      startMs: { type: 'number' },
      durationMs: { type: 'number' },
      spans: { type: 'integer' },
      errors: { type: 'integer' },
      faults: { type: 'integer', description: 'spans recording an injected fault' },
      status: { enum: ['ok', 'error'], description: 'the entry span’s' },
    },
  },
  Critical: {
    type: 'object',
    properties: { services: { type: 'array', items: { type: 'string' } }, source: { enum: ['setting', 'option', 'none'] } },
  },
  Graph: {
    type: 'object',
    properties: {
      sinceMs: { type: 'number' },
      untilMs: { type: 'number' },
      bucketMs: { type: 'number' },
      services: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            spans: { type: 'integer' },
            requests: { type: 'integer' },
            errors: { type: 'integer' },
            critical: { type: 'boolean', description: 'a critical service (`--critical` or `PUT /api/critical`); absent when the server names none' },
          },
        },
      },
      edges: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            caller: { type: 'string' },
            callee: { type: 'string' },
            points: { type: 'array', items: { type: 'string' } },
            calls: { type: 'integer' },
            errors: { type: 'integer' },
            errorRate: { type: 'number' },
            p50Ms: { type: ['number', 'null'] },
            p99Ms: { type: ['number', 'null'] },
          },
        },
      },
    },
  },
  AttackDefinition: {
    type: 'object',
    required: ['target', 'fault', 'percentage', 'durationMs'],
    additionalProperties: false,
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 128 },
      target: {
        type: 'object',
        additionalProperties: false,
        description: 'at least one selector; all given must match (any glob within one). Globs: * within a segment, ** across.',
        properties: { services: stringList, points: stringList, callers: stringList, routes: stringList },
      },
      labels: { type: 'object', additionalProperties: { type: 'string' }, description: 'baggage member globs the request must carry (all must match), e.g. {"user.id":"u-1*"}' },
      entry: { type: 'object', properties: { routes: { ...stringList, description: 'incoming requests at the entry service that may join: "GET /home", "* /titles/*", "/home"' } } },
      fault: { type: 'object', required: ['kind'], properties: { kind: { enum: [...FAULT_KINDS.keys()] } }, description: 'a data-plane fault, as in fault plans' },
      percentage: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
      durationMs: { type: 'integer', minimum: MIN_DURATION_MS, maximum: MAX_DURATION_MS },
    },
  },
  Attack: {
    allOf: [
      ref('AttackDefinition'),
      {
        type: 'object',
        properties: {
          id: { type: 'string' },
          state: { enum: ['active', 'halted', 'expired'] },
          createdAt: { type: 'integer' },
          createdBy: { type: ['string', 'null'] },
          expiresAt: { type: 'integer' },
          haltedAt: { type: ['integer', 'null'] },
          haltedBy: { type: ['string', 'null'] },
          injections: { type: 'integer' },
        },
      },
    ],
  },
  FeedEnvelope: { type: 'object', required: ['body', 'sig'], properties: { body: { type: 'string', description: 'JSON snapshot {v, attacks, leaseMs, serverTime, seq}' }, sig: { type: 'string' } } },
  CampaignSpec: {
    type: 'object',
    description: 'explore() options that travel as JSON (see packages/labcoat/src/explore/api.ts); command workloads and shell resets are refused',
    properties: {
      name: { type: 'string' },
      target: { type: 'string', format: 'uri' },
      method: { type: 'string' },
      headers: { type: 'object', additionalProperties: { type: 'string' } },
      body: {},
      classes: { type: 'array', items: { type: 'object' } },
      expect: { type: 'object' },
      maxFaults: { type: 'integer', minimum: 1, maximum: 8 },
      faults: {},
      critical: { type: 'object' },
      budget: { type: 'integer' },
      timeBudgetMs: { type: 'integer' },
      reset: { type: 'object', properties: { url: { type: 'string' } } },
    },
  },
  Campaign: {
    type: 'object',
    properties: {
      id: { type: 'string' },
      name: { type: ['string', 'null'] },
      state: { enum: ['running', 'finished', 'failed', 'stopped', 'interrupted'] },
      spec: ref('CampaignSpec'),
      createdAt: { type: 'integer' },
      startedAt: { type: ['integer', 'null'] },
      finishedAt: { type: ['integer', 'null'] },
      progress: {},
      summary: {},
      result: { description: 'the exploration report (GET /api/campaigns/{id} only)' },
      error: { type: ['string', 'null'] },
      events: { type: 'integer' },
    },
  },
  CampaignEvent: { type: 'object', properties: { seq: { type: 'integer' }, at: { type: 'integer' }, type: { type: 'string' }, data: {} } },
  AuditEntry: {
    type: 'object',
    properties: { id: { type: 'integer' }, at: { type: 'integer' }, actor: { type: 'string' }, role: { type: ['string', 'null'] }, action: { type: 'string' }, target: { type: ['string', 'null'] }, details: {} },
  },
};

export function openApiDocument(routes: readonly Route[], serverUrl: string): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const r of routes) {
    const key = `${r.method} ${r.path}`;
    const op = OPERATIONS[key];
    if (!op) throw new Error(`openapi.ts does not describe ${key}`);
    const responses: Record<string, object> = { ...op.responses };
    if (r.access !== 'public') {
      responses['401'] ??= err('missing, unknown or revoked token');
      if (r.access !== 'ingest' && r.access !== 'token') responses['403'] ??= err('the token’s role may not do this');
    }
    (paths[r.path] ??= {})[r.method.toLowerCase()] = {
      operationId: `${r.method.toLowerCase()}${r.path.replace(/[^A-Za-z0-9]+(\w)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: op.summary,
      description: `${op.description ? `${op.description}\n\n` : ''}${ACCESS_TEXT[r.access]}`,
      ...(op.parameters ? { parameters: op.parameters } : {}),
      ...(op.requestBody ? { requestBody: op.requestBody } : {}),
      responses,
      ...(r.access === 'public' ? { security: [] } : r.access === 'ingest' ? { security: [{}, { bearer: [] }] } : {}),
      'x-labcoat-access': r.access,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'labcoat control plane',
      version: '0.1.0',
      description: 'Span ingestion, the service graph, attacks with halt and a signed feed for SDKs, campaigns, audit. Errors are JSON `{error, fields?}`.',
    },
    servers: serverUrl ? [{ url: serverUrl }] : [],
    security: [{ bearer: [] }],
    paths,
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: '`labcoat token create --role admin|viewer|service`' } }, schemas: SCHEMAS },
  };
}
