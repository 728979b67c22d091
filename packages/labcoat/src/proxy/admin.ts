/**
 * The admin API, compatible with Toxiproxy v2's so its clients work unchanged:
 *
 *   GET    /proxies                          every proxy with its toxics, keyed by name
 *   POST   /proxies                          create {name, listen, upstream, enabled} → 201
 *   POST   /populate                         create or replace a list → 201 {proxies:[…]}
 *   GET    /proxies/{proxy}                  one proxy
 *   POST   /proxies/{proxy}   (PATCH too)    update listen, upstream, enabled
 *   DELETE /proxies/{proxy}                  → 204
 *   GET    /proxies/{proxy}/toxics           the toxics (array)
 *   POST   /proxies/{proxy}/toxics           add {name, type, stream, toxicity, attributes}
 *   GET    /proxies/{proxy}/toxics/{toxic}
 *   POST   /proxies/{proxy}/toxics/{toxic}   update attributes/toxicity (PATCH too)
 *   DELETE /proxies/{proxy}/toxics/{toxic}   → 204
 *   POST   /reset                            enable all proxies, remove all toxics → 204
 *   GET    /version                          {"version": …}
 *   GET    /labcoat/stats                    labcoat's: connections, sockets, plans, spans
 *
 * Errors are `{"error": "…", "status": N}` with that status. Like Toxiproxy, requests from browsers
 * (User-Agent `Mozilla/…`) are refused with 403, since the API has no authentication.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseHostPort } from './proxy.js';
import type { ProxyServer } from './server.js';
import { ApiError } from './toxics.js';

export const ADMIN_VERSION = 'labcoat 0.1.0 (Toxiproxy API v2)';
const MAX_BODY = 1 << 20;

export interface AdminApi {
  readonly url: string;
  close(): Promise<void>;
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ApiError(`bad request body: larger than ${MAX_BODY} bytes`, 413));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(new ApiError(`bad request body: ${(e as Error).message}`, 400));
      }
    });
  });
}

export async function startAdminApi(server: ProxyServer, address: string): Promise<AdminApi> {
  const { host, port } = parseHostPort(address, '--admin');
  const api = http.createServer((req, res) => {
    const send = (status: number, body?: unknown): void => {
      if (res.headersSent) return;
      if (body === undefined) {
        res.writeHead(status).end();
        return;
      }
      const text = `${JSON.stringify(body)}\n`;
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    };
    const fail = (e: unknown): void => {
      const err = e instanceof ApiError ? e : new ApiError((e as Error)?.message ?? String(e), 500);
      send(err.status, { error: err.message, status: err.status });
    };
    if ((req.headers['user-agent'] ?? '').startsWith('Mozilla/')) return send(403, { error: 'User agent not allowed', status: 403 });
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '') || '/';
    const parts = path.split('/').slice(1).map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
    const method = req.method ?? 'GET';
    const route = async (): Promise<void> => {
      const [a, name, sub, toxic, ...rest] = parts;
      if (rest.length > 0) throw new ApiError('not found', 404);
      if (a === 'version' && parts.length === 1 && method === 'GET') return send(200, { version: ADMIN_VERSION });
      if (a === 'reset' && parts.length === 1 && method === 'POST') {
        await server.serial(() => server.reset());
        return send(204);
      }
      if (a === 'populate' && parts.length === 1 && method === 'POST') {
        const body = await readJson(req);
        try {
          const proxies = await server.serial(() => server.populate(body));
          return send(201, { proxies: proxies.map((p) => p.toJSON()) });
        } catch (e) {
          const err = e instanceof ApiError ? e : new ApiError((e as Error).message, 500);
          return send(err.status, { error: err.message, status: err.status, proxies: [] });
        }
      }
      if (a === 'labcoat' && name === 'stats' && parts.length === 2 && method === 'GET') return send(200, server.stats());
      if (a !== 'proxies') throw new ApiError('not found', 404);
      if (name === undefined) {
        if (method === 'GET') return send(200, server.toJSON());
        if (method === 'POST') {
          const body = await readJson(req);
          const p = await server.serial(() => server.create(body));
          return send(201, p.toJSON());
        }
        throw new ApiError(`method ${method} not allowed on /proxies`, 405);
      }
      if (sub === undefined) {
        if (method === 'GET') return send(200, server.get(name).toJSON());
        if (method === 'POST' || method === 'PATCH') {
          const body = await readJson(req);
          const p = await server.serial(async () => {
            const proxy = server.get(name);
            await proxy.update(body);
            return proxy;
          });
          return send(200, p.toJSON());
        }
        if (method === 'DELETE') {
          await server.serial(() => server.remove(name));
          return send(204);
        }
        throw new ApiError(`method ${method} not allowed`, 405);
      }
      if (sub !== 'toxics') throw new ApiError('not found', 404);
      if (toxic === undefined) {
        if (method === 'GET') return send(200, server.get(name).toxics.map((t) => t.toJSON()));
        if (method === 'POST') {
          const body = await readJson(req);
          const t = await server.serial(() => server.get(name).addToxic(body));
          return send(200, t.toJSON());
        }
        throw new ApiError(`method ${method} not allowed`, 405);
      }
      if (method === 'GET') return send(200, server.get(name).getToxic(toxic).toJSON());
      if (method === 'POST' || method === 'PATCH') {
        const body = await readJson(req);
        const t = await server.serial(() => server.get(name).updateToxic(toxic, body));
        return send(200, t.toJSON());
      }
      if (method === 'DELETE') {
        await server.serial(() => server.get(name).removeToxic(toxic));
        return send(204);
      }
      throw new ApiError(`method ${method} not allowed`, 405);
    };
    route().catch(fail);
  });
  api.on('clientError', (_e, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    api.once('error', (e) => reject(new Error(`cannot start the admin API on ${address}: ${e.message}`)));
    api.listen(port, host === '' ? undefined : host, () => resolve());
  });
  api.on('error', () => {});
  const addr = api.address() as AddressInfo;
  const shown = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shown}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        api.closeAllConnections();
        api.close(() => resolve());
      }),
  };
}
