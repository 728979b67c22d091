/**
 * Service A, "edge": a plain node:http server. `GET /chain/:id` calls catalog (service B) with the
 * global fetch and wraps its answer. A failed call becomes a 502 that says what happened, so a
 * test can see which fault reached which hop.
 */
import http from 'node:http';
import { init, wrapRequestListener, currentContext } from '@labcoat/node';
import { announceReady, requiredEnv, stopOn } from './ready.js';

const labcoat = init({ service: 'edge' });
const catalogUrl = requiredEnv('CATALOG_URL');

const server = http.createServer(
  wrapRequestListener(async (req, res) => {
    const match = /^\/chain\/([^/?]+)/.exec(req.url ?? '');
    if (!match) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    const seen = { service: 'edge', traceparent: req.headers.traceparent ?? null, baggage: req.headers.baggage ?? null, planId: currentContext()?.plan?.id ?? null };
    try {
      const r = await fetch(`${catalogUrl}/items/${match[1]}`, { signal: AbortSignal.timeout(3000) });
      const body = (await r.json()) as unknown;
      res.writeHead(r.ok ? 200 : 502, { 'content-type': 'application/json' }).end(JSON.stringify({ ...seen, downstream: { status: r.status, body } }));
    } catch (e) {
      const err = e as { name?: string; message?: string; cause?: { code?: string } };
      res
        .writeHead(502, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ...seen, downstream: { error: err.cause?.code ?? err.name ?? 'Error', message: err.message } }));
    }
  }),
);

server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => announceReady('edge', server));
stopOn(server, () => labcoat.close());
