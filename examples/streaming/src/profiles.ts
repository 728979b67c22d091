/**
 * profiles (Hono): `GET /profiles/:id` reads the profile from its database through a generic point
 * (`profiles->profiles-db get profiles`, timeout 60 ms). When the database fails it answers 503,
 * and the edge falls back to the profile in the session.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import { labcoatHono } from '@labcoat/node/hono';
import { timeout } from '@labcoat/node/policies';
import { bugOn } from './lib/bugs.js';
import { PROFILES } from './lib/data.js';
import { storeRead } from './lib/store.js';
import { ready, startLabcoat, portFromEnv } from './lib/service.js';

const labcoat = startLabcoat('profiles');
const db = timeout({ timeoutMs: 60, name: 'profiles-db' });

const app = new Hono();
app.use(labcoatHono());
app.get('/profiles/:id', async (c) => {
  const id = c.req.param('id');
  try {
    const profile = await db.execute(({ signal }) => storeRead('profiles-db:get', 'profiles', () => PROFILES.get(id), signal));
    if (!profile) return c.json({ error: `no profile ${id}` }, 404);
    return c.json(profile);
  } catch (e) {
    // BUG swallowed-error: the database error is swallowed and a default profile is served with
    // 200, so the edge has no reason to use its (correct) fallback.
    if (bugOn('swallowed-error')) return c.json({ id: 'guest', name: 'Guest', maturity: 'all', language: 'en', avatar: null, autoplay: false });
    return c.json({ error: `profiles-db unavailable: ${(e as Error).message}` }, 503);
  }
});

const server = serve({ fetch: app.fetch, port: portFromEnv(), hostname: '127.0.0.1' }, () => ready('profiles', server as Server, labcoat)) as Server;
