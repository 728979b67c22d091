import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { storage, type RequestContext } from '../context.js';
import { getLabcoat } from '../global.js';
import type { Labcoat, ServerRequest } from '../labcoat.js';
import { nodeHeadersGetter } from '../propagation.js';
import { ASK_HEADER, SERVICE_HEADER } from '../targets.js';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** Express and Connect put the matched route here; read at the end of the request. */
interface RoutedRequest extends IncomingMessage {
  route?: { path?: unknown };
  baseUrl?: string;
}

/**
 * Wraps a `node:http`/`node:https` request listener (a plain handler, an Express or Connect app)
 * so each request runs in its labcoat context and records a server span.
 *
 * @example
 * http.createServer(wrapRequestListener(app)).listen(3000);
 */
export function wrapRequestListener<L extends Listener>(listener: L, sdk?: Labcoat): L {
  const wrapped = function (this: unknown, req: IncomingMessage, res: ServerResponse): void {
    const lc = sdk ?? getLabcoat();
    let served: ServerRequest | undefined;
    try {
      if (lc) served = begin(lc, req, res);
    } catch {
      if (lc) lc.stats.internalErrors++;
    }
    if (!served) return listener.call(this, req, res);
    const ctx = served.context;
    bindEmitters(req, res, ctx);
    storage.run(ctx, () => listener.call(this, req, res));
  };
  return wrapped as L;
}

/**
 * Body and response events are emitted from the connection's async context, not the handler's;
 * re-enter the request's context around them. `storage.run` is a property swap, far cheaper per
 * event than an AsyncResource (whose static `bind` is slow on Node 20).
 */
function bindEmitters(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
  // storage.run passes its extra arguments on, so no closure is allocated per event; and
  // `arguments` goes on as it is, where rest parameters would make an array per event.
  const reqEmit = req.emit;
  req.emit = function (this: IncomingMessage): boolean {
    return storage.run(ctx, Reflect.apply, reqEmit, this, arguments) as boolean;
  } as IncomingMessage['emit'];
  const resEmit = res.emit;
  res.emit = function (this: ServerResponse): boolean {
    return storage.run(ctx, Reflect.apply, resEmit, this, arguments) as boolean;
  } as ServerResponse['emit'];
}

/**
 * Enters a request's context for the rest of the current execution, for frameworks that hand
 * requests to their handlers without going through a server (Fastify's `inject()`, light-my-request).
 * Prefer {@link wrapRequestListener}, which scopes the context exactly.
 */
export function enterRequest(lc: Labcoat, req: IncomingMessage, res: ServerResponse): RequestContext | undefined {
  try {
    const served = begin(lc, req, res);
    storage.enterWith(served.context);
    bindEmitters(req, res, served.context);
    return served.context;
  } catch {
    lc.stats.internalErrors++;
    return undefined;
  }
}

function begin(lc: Labcoat, req: IncomingMessage, res: ServerResponse): ServerRequest {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const served = lc.startServer(nodeHeadersGetter, req.headers, req.method ?? 'GET', path);
  if (lc.announce && req.headers[ASK_HEADER] !== undefined) res.setHeader(SERVICE_HEADER, lc.service);
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    const routed = req as RoutedRequest;
    const route =
      served.context.route ??
      (typeof routed.route?.path === 'string' ? `${routed.baseUrl ?? ''}${routed.route.path}` : lc.routeOf(lc.service, path));
    if (!res.writableFinished) served.span.setStatus({ code: 'error', message: 'client closed the connection before the response finished' });
    served.finish(res.statusCode, route);
  };
  // A response emits 'close' after 'finish' when it completes, or alone when the client goes away.
  res.once('close', finish);
  return served;
}

/**
 * Instruments a server that already exists (one made by a framework): wraps its current `request`
 * listeners. Returns a function that puts the originals back.
 */
export function instrumentServer(server: Server, sdk?: Labcoat): () => void {
  const originals = server.listeners('request') as Listener[];
  const wrapped = originals.map((l) => wrapRequestListener(l, sdk));
  server.removeAllListeners('request');
  for (const w of wrapped) server.on('request', w);
  return () => {
    for (const w of wrapped) server.off('request', w);
    for (const o of originals) server.on('request', o);
  };
}
