/**
 * An HTTP-aware listener: HTTP/1.1 in front of one upstream service, with keep-alive on both sides,
 * bodies streamed in both directions (never buffered whole), upgrades (WebSocket) passed through.
 * For each request it reads the W3C trace context and baggage, records the call's client span
 * (caller → this listener's service) and the callee's server span on its behalf, forwards a
 * `traceparent` naming the proxy's span, and applies the fault that a signed plan, one of the
 * proxy's HTTP toxics or an attack source decides, with the data plane's semantics.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ATTR, formatTraceparent, type FaultAction, type PointDescriptor } from '@labcoat/core';
import { extract, newSpanId, newTraceId, nodeHeadersGetter, RequestContext, runWithContext, type ClientCall, type Labcoat, type LiveSpan } from '@labcoat/node';
import type { DataPlane, ProxiedCall, ProxyFault } from './dataplane.js';
import { FastConn, UpstreamPool } from './fast-path.js';

/** What an HTTP listener needs to know about its proxy (read on every request, so updates apply at once). */
export interface HttpRoute {
  readonly name: string;
  /** The upstream service's name: the target of the points, and the service of the server spans. */
  readonly service: string;
  /** The calling service, when this listener is one caller's egress (exact point ids). */
  readonly caller: string | undefined;
  /** The entry listener: no client span, no point, no plan faults; the entry service's server span. */
  readonly ingress: boolean;
  /** Record the callee's server span (default true; false when the upstream is itself instrumented). */
  readonly serverSpan: boolean;
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  /** 0: wait for the upstream as long as the client does. */
  readonly timeoutMs: number;
  /** Faults from this proxy's HTTP toxics. */
  decideToxic(call: ProxiedCall): ProxyFault | undefined;
  /** Whether the proxy has HTTP toxics now (requests then take the full path). */
  faultsPossible(): boolean;
}

/** Request header a caller may send to name itself when the listener does not say (stripped before forwarding). */
export const CALLER_HEADER = 'labcoat-caller';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'traceparent',
  'tracestate',
  'baggage',
  CALLER_HEADER,
]);
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer']);

/** Copies raw headers without hop-by-hop ones (and those named in `Connection`). */
function filterHeaders(raw: readonly string[], drop: ReadonlySet<string>, connection: string | undefined, keep?: ReadonlySet<string>): string[] {
  const extra = connection ? new Set(connection.toLowerCase().split(',').map((s) => s.trim())) : undefined;
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.length <= 17 || extra ? name.toLowerCase() : name;
    if ((drop.has(lower) || extra?.has(lower)) && !keep?.has(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}

const UPGRADE_KEEP = new Set(['connection', 'upgrade']);

export interface ListenerStats {
  /** Client connections open now. */
  clientConnections: number;
  /** Upstream sockets open now (in use and idle in the keep-alive pool). */
  upstreamSockets: number;
  /** Requests being proxied now. */
  inflight: number;
  /** Requests handled since start. */
  requests: number;
}

function reasonOf(status: number): string {
  return http.STATUS_CODES[status] ?? 'Status';
}

function plainResponse(status: number, body: string): string {
  return `HTTP/1.1 ${status} ${reasonOf(status)}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/** Resets a socket (TCP RST); falls back to a plain destroy. */
function reset(socket: net.Socket | Duplex | null | undefined): void {
  if (!socket || socket.destroyed) return;
  try {
    (socket as net.Socket).resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** What `begin` decided for one request. */
export interface Begun {
  readonly ex: Exchange;
  readonly fault: ProxyFault | undefined;
  readonly traceId: string;
  readonly flags: number;
  readonly tracestate: string | undefined;
  readonly baggage: string;
  readonly plan: RequestContext['plan'];
}

/** One proxied request: its spans, its fault, and how it ends. */
export class Exchange {
  done = false;
  upReq: http.ClientRequest | undefined;
  serverSpan: LiveSpan | undefined;
  serverCtx: RequestContext | undefined;
  status = 0;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly call: ClientCall | undefined,
    readonly route: string,
    readonly method: string,
  ) {}

  /** Ends the spans once (status 0 with an error: the exchange failed). */
  finish(status: number, error?: unknown): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    const s = this.serverSpan;
    if (s) {
      s.name = `${this.method} ${this.route}`;
      s.setAttribute(ATTR.route, this.route);
      if (status > 0) s.setAttribute('http.response.status_code', status);
      s.setAttribute(ATTR.calls, this.serverCtx?.calls ?? 0);
      if (error !== undefined) s.recordError(error);
      else if (status >= 500) s.setStatus({ code: 'error', message: `HTTP ${status}` });
      s.end();
    }
    const c = this.call;
    if (c) {
      if (status > 0) c.response(status);
      if (error !== undefined) c.fail(error);
      else c.end();
    }
  }
}

export const CLIENT_GONE = Object.assign(new Error('the client closed the connection before the response ended'), { code: 'ECONNRESET' });

export class HttpListener {
  /** The listening server: connections start on the fast path. */
  readonly server: net.Server;
  /** The full path (node:http), fed the connections the fast path hands over; it never listens itself. */
  private readonly httpServer: http.Server;
  private readonly agent: http.Agent;
  private readonly pool: UpstreamPool;
  private readonly sockets = new Set<net.Socket>();
  private inflight = 0;
  private requests = 0;

  constructor(
    private readonly route: () => HttpRoute,
    readonly plane: DataPlane,
    options: { maxHeaderBytes?: number } = {},
  ) {
    const first = route();
    this.agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo', keepAliveMsecs: 1000 });
    this.pool = new UpstreamPool(first.upstreamHost, first.upstreamPort);
    this.httpServer = http.createServer({ maxHeaderSize: options.maxHeaderBytes ?? 16 * 1024, keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) =>
      this.onRequest(req, res),
    );
    this.httpServer.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket));
    this.httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    const handoff = (socket: net.Socket, pending: Buffer | undefined): void => {
      this.httpServer.emit('connection', socket);
      if (pending) socket.emit('data', pending);
    };
    this.server = net.createServer({ noDelay: true }, (s: net.Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
      new FastConn(this, s, this.pool, handoff);
    });
  }

  /** The proxy's configuration now. */
  routeNow(): HttpRoute {
    return this.route();
  }

  /** Whether anything besides a plan could fault a request now (HTTP toxics, attack sources). */
  faultsPossible(r: HttpRoute): boolean {
    // An entry of the control plane's attacks must see every request (it decides which join).
    return r.faultsPossible() || this.plane.attacks.length > 0 || (this.plane.controlled && r.ingress === true);
  }

  fastStarted(): void {
    this.requests++;
    this.inflight++;
  }

  fastEnded(): void {
    this.inflight--;
  }

  stats(): ListenerStats {
    let up = 0;
    for (const list of Object.values(this.agent.sockets)) up += list?.length ?? 0;
    for (const list of Object.values(this.agent.freeSockets)) up += list?.length ?? 0;
    return { clientConnections: this.sockets.size, upstreamSockets: up + this.pool.size, inflight: this.inflight, requests: this.requests };
  }

  /** Malformed request line or headers, oversized headers: a clear answer, then close. */
  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    if (err.code === 'ECONNRESET' || !socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    const [status, body] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'labcoat proxy: request header fields too large\n']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT'
          ? [408, 'labcoat proxy: the request headers did not arrive in time\n']
          : [400, `labcoat proxy: malformed HTTP request (${err.code ?? 'parse error'})\n`];
    socket.end(plainResponse(status, body));
    const t = setTimeout(() => socket.destroy(), 1000);
    t.unref();
    socket.once('close', () => clearTimeout(t));
  }

  /** Decides the spans and the fault of one request. Never throws. */
  begin(rawMethod: string, url: string, reqHeaders: Readonly<Record<string, string | string[] | undefined>>, r: HttpRoute): Begun {
    const method = rawMethod.toUpperCase();
    const extracted = extract(nodeHeadersGetter, reqHeaders as Record<string, string | string[] | undefined>);
    const callee = this.plane.sdk(r.service);
    const route = callee.routeOf(r.service, url);
    const parent = extracted.parent;
    if (r.ingress) {
      const plan = extracted.planToken === undefined ? undefined : callee.verifyPlan(extracted.planToken);
      const ex = new Exchange(undefined, route, method);
      const traceId = parent?.traceId ?? newTraceId();
      const fault = r.decideToxic({ proxy: r.name, point: undefined, pointId: undefined, method, route, attempt: 1, traceId }) ?? this.plane.attack({ proxy: r.name, point: undefined, pointId: undefined, method, route, attempt: 1, traceId });
      // An entry of the control plane's attacks decides here which ones this request joins, and the
      // signed mark travels on in the baggage forwarded to the service.
      let baggage = extracted.baggage;
      if (callee.attacks.entry && callee.attacks.active.length !== 0) {
        try {
          const path = url.split('?')[0] ?? url;
          baggage = callee.attacks.enter(traceId, baggage, method, path, () => route)?.baggage ?? baggage;
        } catch {
          this.plane.stats.internalErrors++;
        }
      }
      this.openServerSpan(ex, callee, traceId, parent?.spanId, parent?.flags ?? 1, extracted.tracestate, baggage.toString(), plan, r);
      return { ex, fault, traceId, flags: parent?.flags ?? 1, tracestate: extracted.tracestate, baggage: baggage.toString(), plan };
    }
    // The caller: the listener's, else the caller's own word, else the service whose request this is
    // (the parent span is a server span this proxy recorded), else unknown.
    const known = parent ? this.plane.lookup(parent.traceId, parent.spanId) : undefined;
    let caller = r.caller;
    if (caller === undefined) {
      const said = reqHeaders[CALLER_HEADER];
      if (typeof said === 'string' && /^[\w.-]{1,128}$/.test(said)) caller = said;
    }
    caller ??= known?.service ?? 'unknown';
    const sdk = this.plane.sdk(caller);
    const { ctx } = this.plane.contextFor(sdk, parent, extracted.tracestate, extracted.baggage, extracted.planToken);
    const point: PointDescriptor = { caller, target: r.service, method, route };
    const call = runWithContext(ctx, () => sdk.startCall(point, `${method} ${r.service} ${route}`));
    call.span.setAttribute('url.full', `http://${r.upstreamHost}:${r.upstreamPort}${url}`);
    call.span.setAttribute('http.request.method', method);
    call.span.setAttribute('labcoat.proxy', r.name);
    const ex = new Exchange(call, route, method);
    let fault: ProxyFault | undefined;
    if (call.action) fault = { label: String(call.span.attributes[ATTR.fault] ?? call.action.type), action: call.action, source: `plan:${ctx.plan?.id ?? '?'}` };
    else {
      const info: ProxiedCall = { proxy: r.name, point, pointId: call.pointId, method, route, attempt: call.attempt, traceId: ctx.traceId };
      fault = r.decideToxic(info) ?? this.plane.attack(info);
      if (fault) {
        call.span.setAttribute(ATTR.fault, fault.label);
        call.span.setAttribute('labcoat.fault.source', fault.source);
      }
    }
    const tp = call.headers;
    return { ex, fault, traceId: ctx.traceId, flags: ctx.flags, tracestate: tp.tracestate, baggage: tp.baggage ?? '', plan: ctx.plan };
  }

  openServerSpan(ex: Exchange, callee: Labcoat, traceId: string, parentSpanId: string | undefined, flags: number, tracestate: string | undefined, baggage: string, plan: RequestContext['plan'], r: HttpRoute): void {
    if (!r.serverSpan) return;
    const span = callee.startSpan(ex.method, 'server', traceId, parentSpanId);
    span.setAttribute('http.request.method', ex.method);
    span.setAttribute('labcoat.proxy', r.name);
    if (plan) span.setAttribute(ATTR.planId, plan.id);
    ex.serverSpan = span;
    // The callee's own calls (through this proxy) will name this span as their parent.
    const ctx = new RequestContext(traceId, span.spanId, flags, tracestate, this.baggageOf(baggage), plan);
    ex.serverCtx = ctx;
    this.plane.remember(ctx, r.service);
  }

  private baggageOf(text: string): RequestContext['baggage'] {
    return extract(nodeHeadersGetter, text ? { baggage: text } : {}).baggage;
  }

  /** The trace headers to forward: the server span (or the client span) as the parent. */
  traceHeaders(ex: Exchange, traceId: string, flags: number, tracestate: string | undefined, baggage: string): string[] {
    const spanId = ex.serverSpan?.spanId ?? ex.call?.span.spanId ?? newSpanId();
    const out = ['traceparent', formatTraceparent({ traceId, spanId, flags })];
    if (tracestate) out.push('tracestate', tracestate);
    if (baggage) out.push('baggage', baggage);
    return out;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    this.inflight++;
    let counted = true;
    const settle = (): void => {
      if (counted) {
        counted = false;
        this.inflight--;
      }
    };
    const r = this.route();
    let begun: Begun;
    try {
      begun = this.begin(req.method ?? 'GET', req.url ?? '/', req.headers, r);
    } catch (e) {
      this.plane.stats.internalErrors++;
      settle();
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end(`labcoat proxy: internal error: ${(e as Error).message}\n`);
      return;
    }
    const { ex, fault } = begun;
    req.on('error', () => {});
    res.on('close', () => {
      settle();
      clearTimeout(ex.timer);
      if (!res.writableFinished) {
        ex.upReq?.destroy();
        ex.finish(ex.status, CLIENT_GONE);
      }
    });
    const go = (): void => {
      if (res.destroyed) return;
      if (!fault) return this.forward(req, res, r, begun, undefined);
      const a = fault.action;
      switch (a.type) {
        case 'refuse':
          ex.finish(0, Object.assign(new Error(`${a.message} (connection reset by the proxy)`), { code: a.code }));
          reset(req.socket);
          return;
        case 'respond': {
          const body = Buffer.from(a.body);
          ex.status = a.status;
          res.writeHead(a.status, { ...a.headers, 'content-length': body.length });
          res.end(body, () => ex.finish(a.status));
          return;
        }
        case 'hang':
          ex.timer = setTimeout(() => {
            ex.finish(0, Object.assign(new Error(`no answer within ${a.maxMs} ms (labcoat hang)`), { code: 'ETIMEDOUT' }));
            reset(req.socket);
          }, a.maxMs);
          return;
        case 'proceed':
          return this.forward(req, res, r, begun, fault);
      }
    };
    const delay = fault?.action.delayMs ?? 0;
    if (delay > 0) ex.timer = setTimeout(go, delay);
    else go();
  }

  private forward(req: IncomingMessage, res: ServerResponse, r: HttpRoute, b: Begun, fault: ProxyFault | undefined): void {
    const { ex } = b;
    if (ex.call && !ex.serverSpan) this.openServerSpan(ex, this.plane.sdk(r.service), b.traceId, ex.call.span.spanId, b.flags, b.tracestate, b.baggage, b.plan, r);
    const headers = filterHeaders(req.rawHeaders, HOP_BY_HOP, req.headers.connection);
    headers.push(...this.traceHeaders(ex, b.traceId, b.flags, b.tracestate, b.baggage));
    const damage = fault?.action.type === 'proceed' ? fault.action.body : undefined;
    const slow = fault?.slowBody;
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    let retried = false;
    const send = (): void => {
      const upReq = http.request({ host: r.upstreamHost, port: r.upstreamPort, method: req.method, path: req.url, headers, agent: this.agent, setHost: false });
      ex.upReq = upReq;
      if (r.timeoutMs > 0) {
        upReq.setTimeout(r.timeoutMs, () => upReq.destroy(Object.assign(new Error(`no response within ${r.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      }
      upReq.on('response', (upRes) => this.respond(res, upRes, ex, damage, slow?.stream === 'downstream' ? slow.rateKBps : 0));
      upReq.on('error', (err: NodeJS.ErrnoException) => {
        if (res.destroyed || ex.done) return;
        // A pooled connection the upstream closed while idle: try once more on a fresh one.
        if (!retried && upReq.reusedSocket && !hasBody && !res.headersSent && err.code === 'ECONNRESET') {
          retried = true;
          return send();
        }
        if (res.headersSent) {
          ex.finish(ex.status, err);
          res.destroy();
          return;
        }
        const timedOut = err.code === 'ETIMEDOUT';
        const status = timedOut ? 504 : 502;
        const what = timedOut ? `did not answer within ${r.timeoutMs} ms` : `cannot be reached: ${err.code ?? ''} ${err.message}`.trim();
        const body = `labcoat proxy ${r.name}: upstream ${r.service} (${r.upstreamHost}:${r.upstreamPort}) ${what}\n`;
        ex.status = status;
        ex.serverSpan?.recordError(err);
        res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'labcoat-proxy-error': timedOut ? 'upstream-timeout' : 'upstream-unreachable' });
        res.end(body, () => ex.finish(status, err));
      });
      if (!hasBody) {
        upReq.end();
        return;
      }
      if (slow?.stream === 'upstream' && slow.rateKBps > 0) pace(req, upReq, slow.rateKBps, ex);
      else req.pipe(upReq);
    };
    send();
  }

  private respond(res: ServerResponse, upRes: IncomingMessage, ex: Exchange, damage: Extract<FaultAction, { type: 'proceed' }>['body'], rateKBps: number): void {
    const status = upRes.statusCode ?? 502;
    ex.status = status;
    let headers = filterHeaders(upRes.rawHeaders, RESPONSE_HOP_BY_HOP, upRes.headers.connection);
    if (damage?.then === 'truncate') headers = dropHeader(headers, 'content-length');
    res.sendDate = false;
    upRes.on('error', () => {});
    res.on('finish', () => ex.finish(status));
    try {
      res.writeHead(status, upRes.statusMessage, headers);
    } catch (e) {
      upRes.destroy();
      ex.finish(status, e);
      res.destroy();
      return;
    }
    if (!damage && rateKBps <= 0) {
      upRes.pipe(res);
      return;
    }
    let delivered = 0;
    let stopped = false;
    let corrupting = false;
    const write = (chunk: Buffer): void => {
      if (rateKBps > 0) paceWrite(res, upRes, chunk, rateKBps, ex);
      else if (!res.write(chunk)) {
        upRes.pause();
        res.once('drain', () => upRes.resume());
      }
    };
    const cut = (then: 'truncate' | 'reset', head: Buffer): void => {
      stopped = true;
      upRes.destroy();
      ex.upReq?.destroy();
      if (then === 'truncate') {
        if (head.length > 0) res.write(head);
        res.end();
        return;
      }
      // reset: what was allowed through reaches the client, then the connection is reset.
      const kill = (): void => {
        const t = setTimeout(() => {
          ex.finish(status, Object.assign(new Error(`connection reset after ${delivered} body bytes (labcoat reset)`), { code: 'ECONNRESET' }));
          reset(res.socket);
        }, 20);
        t.unref();
      };
      if (head.length > 0) res.write(head, kill);
      else {
        res.flushHeaders();
        kill();
      }
    };
    upRes.on('data', (chunk: Buffer) => {
      if (stopped) return;
      if (!damage) return write(chunk);
      if (corrupting) return write(Buffer.alloc(chunk.length, 0xff));
      const room = damage.afterBytes - delivered;
      if (room >= chunk.length) {
        delivered += chunk.length;
        return write(chunk);
      }
      const head = chunk.subarray(0, Math.max(0, room));
      delivered += head.length;
      if (damage.then === 'corrupt') {
        corrupting = true;
        if (head.length > 0) write(head);
        write(Buffer.alloc(chunk.length - head.length, 0xff));
        return;
      }
      cut(damage.then, head);
    });
    upRes.on('end', () => {
      if (stopped) return;
      if (rateKBps > 0) paceEnd(res, ex);
      else res.end();
    });
    // Nothing of the body may pass: cut as soon as the headers are out.
    if (damage && damage.afterBytes === 0 && damage.then !== 'corrupt') cut(damage.then, Buffer.alloc(0));
  }

  // ---- upgrades (WebSocket) ------------------------------------------------------------------

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.requests++;
    socket.on('error', () => {});
    const r = this.route();
    let b: Begun;
    try {
      b = this.begin(req.method ?? 'GET', req.url ?? '/', req.headers, r);
    } catch {
      this.plane.stats.internalErrors++;
      socket.end(plainResponse(500, 'labcoat proxy: internal error\n'));
      return;
    }
    const { ex, fault } = b;
    socket.once('close', () => {
      clearTimeout(ex.timer);
      if (!ex.done) {
        ex.upReq?.destroy();
        ex.finish(ex.status, CLIENT_GONE);
      }
    });
    const go = (): void => {
      if (socket.destroyed) return;
      const a = fault?.action;
      if (a?.type === 'refuse') {
        ex.finish(0, Object.assign(new Error(a.message), { code: a.code }));
        return reset(socket);
      }
      if (a?.type === 'respond') {
        ex.status = a.status;
        let text = `HTTP/1.1 ${a.status} ${reasonOf(a.status)}\r\n`;
        for (const [k, v] of Object.entries(a.headers)) text += `${k}: ${v}\r\n`;
        socket.end(`${text}content-length: ${Buffer.byteLength(a.body)}\r\nconnection: close\r\n\r\n${a.body}`);
        ex.finish(a.status);
        return;
      }
      if (a?.type === 'hang') {
        ex.timer = setTimeout(() => {
          ex.finish(0, Object.assign(new Error(`no answer within ${a.maxMs} ms (labcoat hang)`), { code: 'ETIMEDOUT' }));
          reset(socket);
        }, a.maxMs);
        return;
      }
      if (ex.call && !ex.serverSpan) this.openServerSpan(ex, this.plane.sdk(r.service), b.traceId, ex.call.span.spanId, b.flags, b.tracestate, b.baggage, b.plan, r);
      const headers = filterHeaders(req.rawHeaders, HOP_BY_HOP, req.headers.connection, UPGRADE_KEEP);
      headers.push(...this.traceHeaders(ex, b.traceId, b.flags, b.tracestate, b.baggage));
      const upReq = http.request({ host: r.upstreamHost, port: r.upstreamPort, method: req.method, path: req.url, headers, agent: false, setHost: false });
      ex.upReq = upReq;
      upReq.on('upgrade', (upRes: IncomingMessage, upSocket: net.Socket, upHead: Buffer) => {
        ex.status = upRes.statusCode ?? 101;
        let text = `HTTP/1.1 ${upRes.statusCode ?? 101} ${upRes.statusMessage ?? 'Switching Protocols'}\r\n`;
        for (let i = 0; i + 1 < upRes.rawHeaders.length; i += 2) text += `${upRes.rawHeaders[i]}: ${upRes.rawHeaders[i + 1]}\r\n`;
        socket.write(`${text}\r\n`);
        if (upHead.length > 0) socket.write(upHead);
        if (head.length > 0) upSocket.write(head);
        upSocket.on('error', () => socket.destroy());
        socket.on('error', () => upSocket.destroy());
        upSocket.pipe(socket);
        socket.pipe(upSocket);
        upSocket.once('close', () => socket.destroy());
        socket.once('close', () => upSocket.destroy());
        ex.finish(ex.status);
      });
      upReq.on('response', (upRes: IncomingMessage) => {
        // The upstream declined the upgrade: pass its answer on and close.
        ex.status = upRes.statusCode ?? 502;
        let text = `HTTP/1.1 ${ex.status} ${upRes.statusMessage ?? ''}\r\n`;
        const headers2 = filterHeaders(upRes.rawHeaders, RESPONSE_HOP_BY_HOP, upRes.headers.connection);
        for (let i = 0; i + 1 < headers2.length; i += 2) text += `${headers2[i]}: ${headers2[i + 1]}\r\n`;
        socket.write(`${text}connection: close\r\n${upRes.headers['content-length'] === undefined ? '' : ''}\r\n`);
        upRes.pipe(socket);
        upRes.on('end', () => ex.finish(ex.status));
      });
      upReq.on('error', (err: NodeJS.ErrnoException) => {
        if (ex.done) return;
        ex.status = 502;
        socket.end(plainResponse(502, `labcoat proxy ${r.name}: upstream ${r.service} (${r.upstreamHost}:${r.upstreamPort}) cannot be reached: ${err.code ?? err.message}\n`));
        ex.finish(502, err);
      });
      upReq.end();
    };
    const delay = fault?.action.delayMs ?? 0;
    if (delay > 0) ex.timer = setTimeout(go, delay);
    else go();
  }

  /** Stops accepting, closes every connection and the upstream pool. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.httpServer.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    this.pool.destroy();
    await closed;
  }
}

function dropHeader(raw: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() !== name) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

// ---- slow bodies -----------------------------------------------------------------------------

/** Per-response pacing state: when the next byte may leave. */
const paceState = new WeakMap<object, { next: number; pending: number; ended: boolean }>();

/** Writes `chunk` to `dst` at `rateKBps`, in slices of at most 100 ms worth, holding `src` meanwhile. */
function paceWrite(dst: NodeJS.WritableStream & { destroyed?: boolean; end(): unknown }, src: NodeJS.ReadableStream & { destroyed?: boolean }, chunk: Buffer, rateKBps: number, ex: Exchange): void {
  let st = paceState.get(dst);
  if (!st) paceState.set(dst, (st = { next: performance.now(), pending: 0, ended: false }));
  const state = st;
  const slice = Math.max(1, rateKBps * 100);
  src.pause();
  for (let off = 0; off < chunk.length; off += slice) {
    const part = chunk.subarray(off, Math.min(chunk.length, off + slice));
    state.next = Math.max(state.next, performance.now()) + part.length / rateKBps;
    state.pending++;
    const t = setTimeout(() => {
      state.pending--;
      if (dst.destroyed) return;
      dst.write(part);
      if (state.pending === 0) {
        if (state.ended) dst.end();
        else if (!src.destroyed) src.resume();
      }
    }, Math.max(0, state.next - performance.now()));
    ex.timer = t;
  }
}

function paceEnd(dst: NodeJS.WritableStream & { end(): unknown }, _ex: Exchange): void {
  const st = paceState.get(dst);
  if (!st || st.pending === 0) dst.end();
  else st.ended = true;
}

/** Streams a request body to the upstream at `rateKBps`. */
function pace(src: IncomingMessage, dst: http.ClientRequest, rateKBps: number, ex: Exchange): void {
  src.on('data', (chunk: Buffer) => paceWrite(dst, src, chunk, rateKBps, ex));
  src.on('end', () => paceEnd(dst, ex));
}
