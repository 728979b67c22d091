/**
 * recommendations (Fastify): the personalised "Top picks" row and "More like this".
 *
 * `GET /recommendations/:profileId`: candidates from the model (`recommendations->recs-model get
 * personalized`, a generic point), ranked by the member's predicted ratings (ratings, fetch,
 * 100 ms), titled from the cache (EVCache, local zone c, then a and b, then metadata). When any
 * step fails it falls back to the trending list (trending, node:http, 100 ms), and says so in
 * `source`; only when trending fails too does it answer 503.
 *
 * `GET /similar/:titleId`: titles like this one (`recs-model get similar`), titled the same way.
 */
import Fastify from 'fastify';
import { labcoatFastify } from '@labcoat/node/fastify';
import { timeout } from '@labcoat/node/policies';
import { fetchJson, httpJson } from './lib/clients.js';
import { PERSONALIZED, similarTo } from './lib/data.js';
import { EVCache } from './lib/evcache.js';
import { storeRead } from './lib/store.js';
import { ready, startLabcoat, portFromEnv, urlOf } from './lib/service.js';

const labcoat = startLabcoat('recommendations');
const RATINGS = urlOf('ratings');
const TRENDING = urlOf('trending');
const METADATA = urlOf('metadata');
const titles = new EVCache({ app: 'titles', localZone: 'c' });
const model = timeout({ timeoutMs: 40, name: 'recs-model' });
const ratingsCall = timeout({ timeoutMs: 100, name: 'ratings' });
const trendingCall = timeout({ timeoutMs: 100, name: 'trending' });
const sourceCall = timeout({ timeoutMs: 100, name: 'metadata' });

interface Item {
  id: string;
  title: string;
}

/** Titles for ids, from the cache or, for what no zone has, from metadata. */
async function titled(ids: readonly string[], signal: AbortSignal): Promise<Item[]> {
  const found = await titles.getOrLoad(
    ids.map((id) => `titles:${id}`),
    async (missing, s) => {
      const q = missing.map((k) => k.slice('titles:'.length)).join(',');
      const r = await sourceCall.execute(({ signal: t }) => fetchJson<{ items: { id: string; title: string }[] }>('metadata', `${METADATA}/titles?ids=${q}`, { signal: t }), s);
      return new Map(r.items.map((t) => [`titles:${t.id}`, JSON.stringify(t)]));
    },
    signal,
  );
  return ids.flatMap((id) => {
    const v = found.get(`titles:${id}`);
    if (v === undefined) return [];
    return [{ id, title: (JSON.parse(v) as { title: string }).title }];
  });
}

const app = Fastify();
await app.register(labcoatFastify);

app.get<{ Params: { profileId: string } }>('/recommendations/:profileId', async (request, reply) => {
  const signal = AbortSignal.timeout(250);
  const profile = request.params.profileId;
  try {
    const candidates = await model.execute(({ signal: s }) => storeRead('recs-model:get', 'personalized', () => PERSONALIZED.get(profile) ?? [], s), signal);
    const { predictions } = await ratingsCall.execute(
      ({ signal: s }) => fetchJson<{ predictions: Record<string, number | null> }>('ratings', `${RATINGS}/predictions/${profile}?titles=${(candidates ?? []).join(',')}`, { signal: s }),
      signal,
    );
    const ranked = [...(candidates ?? [])].sort((x, y) => (predictions[y] ?? 0) - (predictions[x] ?? 0));
    const items = await titled(ranked, signal);
    if (items.length === 0) throw new Error('no titled candidates');
    return { source: 'personalized', items };
  } catch (e) {
    try {
      const trending = await trendingCall.execute(({ signal: s }) => httpJson<{ items: Item[] }>('trending', `${TRENDING}/trending`, { signal: s }));
      return { source: 'trending', reason: (e as Error).message, items: trending.items };
    } catch (e2) {
      return reply.code(503).send({ error: `no recommendations: ${(e as Error).message}; trending: ${(e2 as Error).message}` });
    }
  }
});

app.get<{ Params: { titleId: string } }>('/similar/:titleId', async (request, reply) => {
  const signal = AbortSignal.timeout(250);
  try {
    const ids = await model.execute(({ signal: s }) => storeRead('recs-model:get', 'similar', () => similarTo(request.params.titleId).slice(0, 4), s), signal);
    return { items: await titled(ids ?? [], signal) };
  } catch (e) {
    return reply.code(503).send({ error: `no similar titles: ${(e as Error).message}` });
  }
});

await app.listen({ port: portFromEnv(), host: '127.0.0.1' });
ready('recommendations', app.server, labcoat);
