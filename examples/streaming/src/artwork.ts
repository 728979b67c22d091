/**
 * artwork (Fastify): box art URLs. `POST /artwork/batch` (`{ ids }`, for the home page's rows) and
 * `GET /artwork/:id`, read from the cache (EVCache, local zone b, then c and a) and, for what no zone
 * has, from metadata (node:http, 100 ms per title), written back to every zone.
 */
import Fastify from 'fastify';
import { labcoatFastify } from '@labcoat/node/fastify';
import { timeout } from '@labcoat/node/policies';
import { httpJson } from './lib/clients.js';
import { EVCache } from './lib/evcache.js';
import { ready, startLabcoat, portFromEnv, urlOf } from './lib/service.js';

const labcoat = startLabcoat('artwork');
const METADATA = urlOf('metadata');
const cache = new EVCache({ app: 'artwork', localZone: 'b' });
const sourceCall = timeout({ timeoutMs: 100, name: 'metadata' });

async function urls(ids: readonly string[], signal: AbortSignal): Promise<Record<string, string>> {
  const found = await cache.getOrLoad(
    ids.map((id) => `artwork:${id}`),
    async (missing, s) => {
      const loaded = new Map<string, string>();
      await Promise.all(
        missing.map(async (k) => {
          const id = k.slice('artwork:'.length);
          try {
            const r = await sourceCall.execute(({ signal: t }) => httpJson<{ id: string; url: string }>('metadata', `${METADATA}/artwork/${id}`, { signal: t }), s);
            loaded.set(k, JSON.stringify(r));
          } catch {
            // left out: the caller decides what a title without artwork gets
          }
        }),
      );
      return loaded;
    },
    signal,
  );
  const out: Record<string, string> = {};
  for (const id of ids) {
    const v = found.get(`artwork:${id}`);
    if (v !== undefined) out[id] = (JSON.parse(v) as { url: string }).url;
  }
  return out;
}

const app = Fastify();
await app.register(labcoatFastify);

app.post<{ Body: { ids?: unknown } }>('/artwork/batch', async (request, reply) => {
  const ids = Array.isArray(request.body?.ids) ? request.body.ids.filter((x): x is string => typeof x === 'string' && /^\d+$/.test(x)).slice(0, 100) : [];
  const found = await urls(ids, AbortSignal.timeout(250));
  if (ids.length > 0 && Object.keys(found).length === 0) return reply.code(503).send({ error: 'artwork unavailable' });
  return { artwork: found };
});

app.get<{ Params: { id: string } }>('/artwork/:id', async (request, reply) => {
  const found = await urls([request.params.id], AbortSignal.timeout(250));
  const url = found[request.params.id];
  return url ? { id: request.params.id, url } : reply.code(503).send({ error: 'artwork unavailable' });
});

await app.listen({ port: portFromEnv(), host: '127.0.0.1' });
ready('artwork', app.server, labcoat);
