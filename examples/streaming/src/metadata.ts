/**
 * metadata (Fastify): the source of truth for the catalogue. `GET /titles/:id` and
 * `GET /titles?ids=…` (summaries, what the cache holds), `GET /titles/:id/details` (synopsis,
 * cast: not cached) and `GET /artwork/:id`. Every read goes to the store through a generic point
 * (`metadata->metadata-store get titles|details|artwork`, 80 ms); 503 when the store fails.
 */
import Fastify from 'fastify';
import { labcoatFastify } from '@labcoat/node/fastify';
import { timeout } from '@labcoat/node/policies';
import { artworkOf, detailsOf, TITLES } from './lib/data.js';
import { storeRead } from './lib/store.js';
import { ready, startLabcoat, portFromEnv } from './lib/service.js';

const labcoat = startLabcoat('metadata');
const store = timeout({ timeoutMs: 80, name: 'metadata-store' });
const read = <T>(route: string, fn: () => T | undefined): Promise<T | undefined> => store.execute(({ signal }) => storeRead('metadata-store:get', route, fn, signal));

const app = Fastify();
await app.register(labcoatFastify);
app.setErrorHandler((error, _request, reply) => {
  void reply.code(503).send({ error: `metadata-store unavailable: ${(error as Error).message}` });
});

app.get<{ Querystring: { ids?: string } }>('/titles', async (request) => {
  const ids = (request.query.ids ?? '').split(',').filter((id) => /^\d+$/.test(id)).slice(0, 100);
  const titles = await read('titles', () => ids.map((id) => TITLES.get(id)).filter((t) => t !== undefined));
  return { items: titles ?? [] };
});

app.get<{ Params: { id: string } }>('/titles/:id', async (request, reply) => {
  const title = await read('titles', () => TITLES.get(request.params.id));
  return title ?? reply.code(404).send({ error: `no title ${request.params.id}` });
});

app.get<{ Params: { id: string } }>('/titles/:id/details', async (request, reply) => {
  const details = await read('details', () => detailsOf(request.params.id));
  return details ? { id: request.params.id, ...details } : reply.code(404).send({ error: `no title ${request.params.id}` });
});

app.get<{ Params: { id: string } }>('/artwork/:id', async (request, reply) => {
  const url = await read('artwork', () => artworkOf(request.params.id));
  return url ? { id: request.params.id, url } : reply.code(404).send({ error: `no artwork for ${request.params.id}` });
});

await app.listen({ port: portFromEnv(), host: '127.0.0.1' });
ready('metadata', app.server, labcoat);
