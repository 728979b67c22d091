/**
 * Service B, "catalog": a Fastify server. `GET /items/:id` calls ratings (service C) with
 * node:http (timeout 1 s) and reports exactly how that call went: status and parsed body, or the
 * error code (ECONNREFUSED, ECONNRESET, timeout, bad JSON).
 */
import http from 'node:http';
import Fastify from 'fastify';
import { init, currentContext } from '@labcoat/node';
import { labcoatFastify } from '@labcoat/node/fastify';
import { announceReady, requiredEnv, stopOn } from './ready.js';

const labcoat = init({ service: 'catalog' });
const ratingsUrl = new URL(requiredEnv('RATINGS_URL'));

type Outcome = { status: number; body: unknown } | { error: string; message: string; status?: number };

function callRatings(id: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.request(
      { hostname: ratingsUrl.hostname, port: ratingsUrl.port, path: `/ratings/${encodeURIComponent(id)}`, method: 'GET', timeout: 1000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? 'Error', message: e.message, status: res.statusCode ?? 0 }));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
          } catch {
            resolve({ error: 'BAD_JSON', message: `unparseable body of ${text.length} chars`, status: res.statusCode ?? 0 });
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('ratings timed out after 1000 ms'), { code: 'TIMEOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? 'Error', message: e.message }));
    req.end();
  });
}

const app = Fastify();
await app.register(labcoatFastify);
app.get<{ Params: { id: string } }>('/items/:id', async (request, reply) => {
  const outcome = await callRatings(request.params.id);
  const ok = 'status' in outcome && !('error' in outcome) && outcome.status === 200;
  return reply.code(ok ? 200 : 502).send({
    service: 'catalog',
    baggage: request.headers.baggage ?? null,
    planId: currentContext()?.plan?.id ?? null,
    ratings: outcome,
  });
});

await app.listen({ port: Number(process.env['PORT'] ?? 0), host: '127.0.0.1' });
announceReady('catalog', app.server);
stopOn(app.server, () => labcoat.close());
