import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import tls from 'node:tls';
import type { BodyDamage, FaultAction } from '@labcoat/core';
import { getLabcoat } from '../global.js';
import type { ClientCall, Labcoat } from '../labcoat.js';
import type { OutboundHeaders } from '../propagation.js';
import { ASK_HEADER, SERVICE_HEADER } from '../targets.js';
import { askForName, httpPoint, httpSpanName, withTraceHeaders } from './call-info.js';
import { cannedResponse, FaultSocket } from './fault-socket.js';
import { garbage, networkError } from './fault-errors.js';
import { originalHttp } from './originals.js';

type RequestFn = typeof http.request;
type Callback = (res: IncomingMessage) => void;

const PATCHED = Symbol.for('labcoat.http.patched');

/**
 * Patches `http.request`/`http.get` and `https.request`/`https.get` (including ESM named imports)
 * so every client built on them — axios, got, node-fetch, SDKs — propagates context, records
 * client spans and applies faults. Returns a function that restores the originals.
 */
export function installHttpInterceptor(sdk?: Labcoat): () => void {
  if ((http as unknown as Record<symbol, boolean>)[PATCHED]) return () => {};
  const request = wrapRequest(originalHttp.httpRequest, false, sdk);
  const secureRequest = wrapRequest(originalHttp.httpsRequest as RequestFn, true, sdk);
  http.request = request;
  http.get = ((...args: unknown[]) => {
    const req = (request as (...a: unknown[]) => ClientRequest)(...args);
    req.end();
    return req;
  }) as typeof http.get;
  https.request = secureRequest as typeof https.request;
  https.get = ((...args: unknown[]) => {
    const req = (secureRequest as (...a: unknown[]) => ClientRequest)(...args);
    req.end();
    return req;
  }) as typeof https.get;
  (http as unknown as Record<symbol, boolean>)[PATCHED] = true;
  syncBuiltinESMExports();
  return () => {
    http.request = originalHttp.httpRequest;
    http.get = originalHttp.httpGet;
    https.request = originalHttp.httpsRequest;
    https.get = originalHttp.httpsGet;
    delete (http as unknown as Record<symbol, boolean>)[PATCHED];
    syncBuiltinESMExports();
  };
}

interface Parsed {
  url: URL | undefined;
  options: RequestOptions;
  callback: Callback | undefined;
}

/**
 * URLs by the string the caller passed: services call the same few URLs over and over, and parsing
 * one is ~1 µs. Only read (by us and by Node's request), never handed to the application. Bounded.
 */
const urls = new Map<string, URL>();

function parsedUrl(text: string): URL {
  let url = urls.get(text);
  if (url === undefined) {
    url = new URL(text);
    if (urls.size >= 1024) urls.clear();
    urls.set(text, url);
  }
  return url;
}

function parseArgs(args: unknown[]): Parsed | undefined {
  let url: URL | undefined;
  let options: RequestOptions;
  let callback: Callback | undefined;
  const [a, b, c] = args;
  if (typeof a === 'string' || a instanceof URL) {
    url = typeof a === 'string' ? parsedUrl(a) : a;
    if (typeof b === 'function') {
      options = {};
      callback = b as Callback;
    } else {
      options = (b ?? {}) as RequestOptions;
      callback = c as Callback | undefined;
    }
  } else if (a && typeof a === 'object') {
    options = a as RequestOptions;
    callback = b as Callback | undefined;
  } else {
    return undefined;
  }
  return { url, options, callback };
}

function wrapRequest(original: RequestFn, secure: boolean, sdk: Labcoat | undefined): RequestFn {
  return function labcoatRequest(this: unknown, ...args: unknown[]): ClientRequest {
    const lc = sdk ?? getLabcoat();
    let call: ClientCall | undefined;
    let parsed: Parsed | undefined;
    let host = '';
    let port = 0;
    try {
      parsed = lc ? parseArgs(args) : undefined;
      if (lc && parsed) {
        const { url, options } = parsed;
        host = options.hostname ?? options.host ?? url?.hostname ?? 'localhost';
        if (host.startsWith('[')) host = host.slice(1, -1);
        port = Number(options.port ?? (url?.port || undefined) ?? options.defaultPort ?? (secure ? 443 : 80));
        const path = options.path ?? (url ? url.pathname + url.search : '/');
        const p = httpPoint(lc, host, port, options.method ?? 'GET', path);
        call = lc.startCall(p, httpSpanName(p));
        call.span.setAttribute('url.full', `${secure ? 'https' : 'http'}://${host}:${port}${path}`);
      }
    } catch {
      if (lc) lc.stats.internalErrors++;
      call = undefined;
    }
    if (!lc || !call || !parsed) return (original as (...a: unknown[]) => ClientRequest).apply(this, args);

    const headers = askForName(lc, host, port, call.headers);
    // Without a fault, and when Node will not write the head in the constructor, the caller's options
    // go to Node as they are and labcoat's headers are set on the request it makes: merging them
    // into a copy of the caller's headers made Node set every header of the copy again.
    const late = !call.action && headersSetLater(parsed.options.headers);
    let options = parsed.options;
    if (!late) {
      options = { ...parsed.options, headers: withTraceHeaders(parsed.options.headers, headers) as RequestOptions['headers'] };
      if (call.action) {
        delete options.agent;
        options.createConnection = faultConnection(call.action, secure, host, port) as RequestOptions['createConnection'];
      }
    }
    const req = parsed.url ? original(parsed.url, options, parsed.callback) : original(options, parsed.callback);
    if (late) setTraceHeaders(req, headers, lc);
    observe(req, call, lc, host, port, call.action?.type === 'proceed' ? call.action.body : undefined);
    return req;
  } as RequestFn;
}

/**
 * Whether Node's ClientRequest leaves its headers unwritten until the first write: true for no
 * headers or a headers object without `Expect`; a flat array, or `Expect` (which sends the head at
 * once to wait for 100-continue), have the head written in the constructor.
 */
function headersSetLater(headers: RequestOptions['headers']): boolean {
  if (headers === undefined || headers === null) return true;
  if (Array.isArray(headers) || typeof headers !== 'object') return false;
  for (const name in headers) if (name.length === 6 && name.toLowerCase() === 'expect') return false;
  return true;
}

/** Sets labcoat's headers on a request whose head is not written yet, in place of any the caller set. */
function setTraceHeaders(req: ClientRequest, headers: OutboundHeaders, sdk: Labcoat): void {
  try {
    req.setHeader('traceparent', headers.traceparent);
    if (headers.tracestate !== undefined) req.setHeader('tracestate', headers.tracestate);
    else if (req.hasHeader('tracestate')) req.removeHeader('tracestate');
    if (headers.baggage !== undefined) req.setHeader('baggage', headers.baggage);
    else if (req.hasHeader('baggage')) req.removeHeader('baggage');
    const ask = headers[ASK_HEADER];
    if (ask !== undefined) req.setHeader(ASK_HEADER, ask);
    else if (req.hasHeader(ASK_HEADER)) req.removeHeader(ASK_HEADER);
  } catch {
    // The head went out already after all: the call proceeds without labcoat's headers.
    sdk.stats.internalErrors++;
  }
}

/**
 * The connection a faulted request gets. ClientRequest accepts an asynchronous createConnection
 * (`oncreate(err, socket)`), which is how a delay holds the request before connecting.
 */
function faultConnection(action: FaultAction, secure: boolean, host: string, port: number) {
  return (opts: net.NetConnectOpts & tls.ConnectionOptions, oncreate: (err: Error | null, socket?: net.Socket) => void): undefined => {
    // Without an agent, net.Socket applies the request's `timeout` option itself; a fault socket must too.
    const timed = (socket: FaultSocket): net.Socket => {
      if (typeof opts.timeout === 'number' && opts.timeout > 0) socket.setTimeout(opts.timeout);
      return socket as unknown as net.Socket;
    };
    const act = (): void => {
      switch (action.type) {
        case 'refuse':
          return oncreate(networkError(action.code, `${action.message} ${host}:${port}`));
        case 'respond':
          return oncreate(null, timed(new FaultSocket(cannedResponse(action.status, action.headers, action.body), { host, port })));
        case 'hang': {
          const socket = new FaultSocket(undefined, { host, port });
          const limit = setTimeout(() => socket.destroy(networkError('ETIMEDOUT', `no answer within ${action.maxMs} ms (labcoat hang)`)), action.maxMs);
          socket.once('close', () => clearTimeout(limit));
          return oncreate(null, timed(socket));
        }
        case 'proceed':
          return oncreate(
            null,
            secure
              ? tls.connect({ ...opts, ...(net.isIP(host) ? {} : { servername: host }) } as tls.ConnectionOptions)
              : net.createConnection(opts as net.NetConnectOpts),
          );
      }
    };
    if (action.delayMs > 0) setTimeout(act, action.delayMs);
    else act();
    return undefined;
  };
}

/**
 * Follows a request through its events without adding listeners (which would change how the
 * application's own error handling behaves), and damages the body when a fault asks for it.
 */
function observe(req: ClientRequest, call: ClientCall, sdk: Labcoat, host: string, port: number, damage: BodyDamage | undefined): void {
  const emit = req.emit;
  // `emit.apply(this, arguments)`, not rest parameters: V8 passes `arguments` on without making an
  // array, and a request and its response emit a dozen events each.
  req.emit = function (this: ClientRequest, event: string | symbol): boolean {
    try {
      if (event === 'response') {
        const res = arguments[1] as IncomingMessage;
        const announced = res.headers[SERVICE_HEADER];
        if (typeof announced === 'string') sdk.targets.learn(host, port, announced);
        call.response(res.statusCode ?? 0);
        watchResponse(res, call);
        if (damage) damageBody(req, res, damage);
      } else if (event === 'error') {
        call.fail(arguments[1]);
      } else if (event === 'close') {
        call.end();
      }
    } catch {
      sdk.stats.internalErrors++;
    }
    return emit.apply(this, arguments as unknown as Parameters<ClientRequest['emit']>);
  } as typeof req.emit;
}

function watchResponse(res: IncomingMessage, call: ClientCall): void {
  const emit = res.emit;
  res.emit = function (this: IncomingMessage, event: string | symbol): boolean {
    if (event === 'end') call.end();
    else if (event === 'error' || event === 'aborted') call.fail(arguments[1] ?? networkError('ECONNRESET', 'aborted'));
    return emit.apply(this, arguments as unknown as Parameters<IncomingMessage['emit']>);
  } as typeof res.emit;
}

function damageBody(req: ClientRequest, res: IncomingMessage, d: BodyDamage): void {
  const push = res.push;
  let seen = 0;
  let cut = false;
  const reset = (): void => {
    cut = true;
    req.socket?.destroy(networkError('ECONNRESET', 'read ECONNRESET (injected by labcoat)'));
  };
  res.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) {
      if (d.then === 'reset' && !cut) {
        reset();
        return false;
      }
      return push.call(this, null);
    }
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : (chunk as Buffer);
    if (cut) return d.then === 'corrupt' ? push.call(this, garbage(buf.length)) : true;
    const before = seen;
    seen += buf.length;
    if (seen <= d.afterBytes) return push.call(this, buf);
    const keep = Math.max(0, d.afterBytes - before);
    if (keep > 0) push.call(this, buf.subarray(0, keep));
    if (d.then === 'reset') {
      reset();
      return false;
    }
    cut = true;
    return d.then === 'corrupt' ? push.call(this, garbage(buf.length - keep)) : true;
  } as typeof res.push;
}
