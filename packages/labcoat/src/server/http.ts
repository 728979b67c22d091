/**
 * The HTTP layer of the control plane, on node:http alone: a small router, JSON replies and
 * errors, bounded body reading (413 past the limit, gzip accepted), and the error type handlers throw.
 */
import type http from 'node:http';
import { createGunzip, createInflate } from 'node:zlib';
import type { TokenRecord } from '../store/types.js';

/** Field-level problem in a request body (422). */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** An error a handler throws to answer with a status and a JSON body `{error, fields?}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields?: readonly FieldError[],
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
  }
}

/** Who may call a route: anyone, a role, any valid token, or span ingestion (open or service). */
export type Access = 'public' | 'token' | 'viewer' | 'admin' | 'service' | 'ingest';

export interface RequestContext {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly url: URL;
  readonly params: Readonly<Record<string, string>>;
  /** The caller's token (absent on public routes and open ingestion). */
  readonly token: TokenRecord | undefined;
}

/** What a handler returns: a JSON reply, or nothing when it answered itself (SSE). */
export type Reply = { status?: number; body: unknown; headers?: Record<string, string> } | undefined;
export type Handler = (ctx: RequestContext) => Promise<Reply> | Reply;

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** OpenAPI-style path: `/api/attacks/{id}`. */
  readonly path: string;
  readonly access: Access;
  readonly handler: Handler;
}

interface CompiledRoute extends Route {
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

export class Router {
  private readonly routes: CompiledRoute[] = [];

  add(route: Route): void {
    const names: string[] = [];
    const source = route.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{(\w+)\\?\}/g, (_m, name: string) => {
      names.push(name);
      return '([^/]+)';
    });
    this.routes.push({ ...route, pattern: new RegExp(`^${source}$`), names });
  }

  list(): readonly Route[] {
    return this.routes;
  }

  /** The route for a request, `405` with the allowed methods, or `404`. */
  match(method: string, path: string): { route: Route; params: Record<string, string> } | { status: 404 } | { status: 405; allow: string[] } {
    const allow: string[] = [];
    // Literal segments win over parameters (`/api/attacks/feed` over `/api/attacks/{id}`).
    const candidates = this.routes.filter((r) => r.pattern.test(path)).sort((a, b) => a.names.length - b.names.length);
    for (const r of candidates) {
      if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) {
        if (!allow.includes(r.method)) allow.push(r.method);
        continue;
      }
      const m = r.pattern.exec(path)!;
      const params: Record<string, string> = {};
      let bad = false;
      r.names.forEach((n, i) => {
        try {
          params[n] = decodeURIComponent(m[i + 1]!);
        } catch {
          bad = true;
        }
      });
      if (bad) continue;
      return { route: r, params };
    }
    return allow.length > 0 ? { status: 405, allow } : { status: 404 };
  }
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

export function sendError(res: http.ServerResponse, e: HttpError): void {
  sendJson(res, e.status, { error: e.message, ...(e.fields ? { fields: e.fields } : {}) }, { ...e.headers });
}

/**
 * Reads a request body up to `limit` bytes (after gunzip/inflate when `content-encoding` says so).
 * Larger bodies get 413: the rest is read and dropped (bounded) so the client sees the answer.
 */
export async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate') throw new HttpError(415, `content-encoding ${encoding} is not supported; use gzip, deflate or none`);
  if (encoding === 'identity' && Number.isFinite(declared) && declared > limit) {
    drain(req, limit);
    throw new HttpError(413, `request body is ${declared} bytes; the limit is ${limit}`, undefined, { connection: 'close' });
  }
  const source: NodeJS.ReadableStream = encoding === 'gzip' ? req.pipe(createGunzip()) : encoding === 'deflate' ? req.pipe(createInflate()) : req;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (e: HttpError): void => {
      if (done) return;
      done = true;
      source.removeAllListeners('data');
      if (source !== req) (source as unknown as { destroy(): void }).destroy();
      drain(req, limit);
      reject(e);
    };
    source.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) fail(new HttpError(413, `request body is over the limit of ${limit} bytes${encoding !== 'identity' ? ' (decompressed)' : ''}`, undefined, { connection: 'close' }));
      else chunks.push(c);
    });
    source.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks));
    });
    source.on('error', (e: Error) => fail(new HttpError(400, `could not read the request body: ${e.message}`)));
    req.on('aborted', () => fail(new HttpError(400, 'the client aborted the request')));
  });
}

/** Reads and drops what is left of a body, up to a bound, then gives up on the connection. */
function drain(req: http.IncomingMessage, limit: number): void {
  let left = Math.max(limit * 4, 64 << 20);
  req.removeAllListeners('data');
  req.on('data', (c: Buffer) => {
    left -= c.length;
    if (left < 0) req.destroy();
  });
  req.resume();
}

/** Reads a JSON body: 415 for other content types, 400 for bad JSON, 413 when too large. An empty body is `undefined`. */
export async function readJson(req: http.IncomingMessage, limit: number): Promise<unknown> {
  const type = String(req.headers['content-type'] ?? '');
  const body = await readBody(req, limit);
  if (body.length === 0) return undefined;
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) throw new HttpError(415, `expected content-type: application/json, got ${type ? JSON.stringify(type) : 'none'}`);
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (e) {
    throw new HttpError(400, `body is not JSON: ${(e as Error).message}`);
  }
}

/** Starts a server-sent events response. Returns a writer that drops the connection when the client cannot keep up. */
export function startSse(res: http.ServerResponse, maxBuffered = 4 << 20): SseWriter {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.flushHeaders();
  res.socket?.setNoDelay(true);
  return {
    send(event: string, data: string, id?: number): boolean {
      if (res.writableEnded || res.destroyed) return false;
      if (res.writableLength > maxBuffered) {
        res.destroy();
        return false;
      }
      res.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${data}\n\n`);
      return true;
    },
    comment(text: string): void {
      if (!res.writableEnded && !res.destroyed) res.write(`: ${text}\n\n`);
    },
    end(): void {
      if (!res.writableEnded) res.end();
    },
    get closed(): boolean {
      return res.writableEnded || res.destroyed;
    },
  };
}

export interface SseWriter {
  send(event: string, data: string, id?: number): boolean;
  comment(text: string): void;
  end(): void;
  readonly closed: boolean;
}

/** A positive integer query parameter within bounds, or the default; 400 when malformed. */
export function intParam(url: URL, name: string, def: number, min: number, max: number): number {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, `query parameter ${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
}
