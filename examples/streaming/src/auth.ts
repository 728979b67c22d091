/**
 * auth (Fastify): `GET /session` turns the `authorization: Bearer <token>` header into a session
 * (user, profile, plan as of login), read from the session store through a generic point
 * (`auth->session-store get sessions`). A critical service: without it no request can be served.
 */
import Fastify from 'fastify';
import { labcoatFastify } from '@labcoat/node/fastify';
import { SESSIONS } from './lib/data.js';
import { storeRead } from './lib/store.js';
import { ready, startLabcoat, portFromEnv } from './lib/service.js';

const labcoat = startLabcoat('auth');
const app = Fastify();
await app.register(labcoatFastify);

app.get('/session', async (request, reply) => {
  const header = request.headers.authorization ?? '';
  const token = /^Bearer (\S+)$/.exec(header)?.[1];
  if (!token) return reply.code(401).send({ error: 'missing bearer token' });
  try {
    const session = await storeRead('session-store:get', 'sessions', () => SESSIONS.get(token), AbortSignal.timeout(50));
    if (!session) return reply.code(401).send({ error: 'unknown or expired session' });
    return session;
  } catch (e) {
    return reply.code(503).send({ error: `session store unavailable: ${(e as Error).message}` });
  }
});

await app.listen({ port: portFromEnv(), host: '127.0.0.1' });
ready('auth', app.server, labcoat);
