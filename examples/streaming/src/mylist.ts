/**
 * mylist (Fastify): `GET /mylist/:profileId`, the titles the member saved, read from its store
 * through a generic point (`mylist->mylist-db get mylist`, 60 ms); 503 when the store fails.
 */
import Fastify from 'fastify';
import { labcoatFastify } from '@labcoat/node/fastify';
import { timeout } from '@labcoat/node/policies';
import { MY_LIST, TITLES } from './lib/data.js';
import { storeRead } from './lib/store.js';
import { ready, startLabcoat, portFromEnv } from './lib/service.js';

const labcoat = startLabcoat('mylist');
const db = timeout({ timeoutMs: 60, name: 'mylist-db' });
const app = Fastify();
await app.register(labcoatFastify);

app.get<{ Params: { profileId: string } }>('/mylist/:profileId', async (request, reply) => {
  try {
    const ids = await db.execute(({ signal }) => storeRead('mylist-db:get', 'mylist', () => MY_LIST.get(request.params.profileId) ?? [], signal));
    return { items: (ids ?? []).map((id) => ({ id, title: TITLES.get(id)?.title ?? id })) };
  } catch (e) {
    return reply.code(503).send({ error: `mylist-db unavailable: ${(e as Error).message}` });
  }
});

await app.listen({ port: portFromEnv(), host: '127.0.0.1' });
ready('mylist', app.server, labcoat);
