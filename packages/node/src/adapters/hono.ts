import type { MiddlewareHandler } from 'hono';
import { routeFor } from '@labcoat/core';
import { runWithContext } from '../context.js';
import { getLabcoat } from '../global.js';
import type { Labcoat } from '../labcoat.js';
import type { CarrierGetter } from '../propagation.js';
import { ASK_HEADER, SERVICE_HEADER } from '../targets.js';

/** Getter for Fetch API `Headers`. */
export const fetchHeadersGetter: CarrierGetter<Headers> = { get: (h, key) => h.get(key) };

export interface LabcoatHonoOptions {
  labcoat?: Labcoat;
}

/**
 * Hono middleware: runs the rest of the chain in the request's labcoat context and records a
 * server span named by the matched route (`GET /ratings/:id`).
 *
 * @example
 * app.use(labcoatHono());
 */
export function labcoatHono(options: LabcoatHonoOptions = {}): MiddlewareHandler {
  return async function labcoatMiddleware(c, next) {
    const lc = options.labcoat ?? getLabcoat();
    if (!lc) return next();
    let served;
    try {
      served = lc.startServer(fetchHeadersGetter, c.req.raw.headers, c.req.method, c.req.path);
    } catch {
      lc.stats.internalErrors++;
      return next();
    }
    try {
      await runWithContext(served.context, next);
    } finally {
      // The last matched route that is a handler, not a catch-all middleware (`*`, `/*`, `/api/*`).
      const routes = c.req.matchedRoutes ?? [];
      const route =
        [...routes].reverse().find((r) => r.method !== 'ALL')?.path ??
        [...routes].reverse().find((r) => !r.path.endsWith('*'))?.path ??
        served.context.route ??
        routeFor(c.req.path, lc.routesFor(lc.service));
      if (lc.announce && c.req.header(ASK_HEADER) !== undefined) {
        try {
          c.res.headers.set(SERVICE_HEADER, lc.service);
        } catch {
          // A Response from fetch() has immutable headers: announce on a copy instead.
          try {
            c.res = new Response(c.res.body, c.res);
            c.res.headers.set(SERVICE_HEADER, lc.service);
          } catch {
            lc.stats.internalErrors++;
          }
        }
      }
      if (c.error) served.span.recordError(c.error);
      served.finish(c.res.status, route);
    }
  };
}

export default labcoatHono;
