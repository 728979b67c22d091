/**
 * ratings (Hono): `GET /ratings/:titleId?profile=…` (the member's predicted stars for a title) and
 * `GET /predictions/:profileId?titles=…` (predictions for a list), both read from the ratings
 * database through a generic point (`ratings->ratings-db get ratings|predictions`, 60 ms per read).
 * A failed read answers 503 at once: retrying is the edge's job, at one layer only.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import { labcoatHono } from '@labcoat/node/hono';
import { exponentialBackoff, retry, timeout, wrap, type Policy } from '@labcoat/node/policies';
import { bugOn } from './lib/bugs.js';
import { predictedStars } from './lib/data.js';
import { storeRead } from './lib/store.js';
import { ready, startLabcoat, portFromEnv } from './lib/service.js';

const labcoat = startLabcoat('ratings');

// BUG retry-storm: the database read retries too (4 attempts, no budget), under the edge's own
// 4 unbudgeted attempts: one slow or failing database read becomes 16, and the member waits for all.
const dbRead: Policy = bugOn('retry-storm')
  ? wrap(retry({ maxAttempts: 4, backoff: exponentialBackoff({ initialDelayMs: 40, maxDelayMs: 200, jitter: 'none' }), maxRetryAfterMs: 100 }), timeout(60), { name: 'ratings-db' })
  : timeout({ timeoutMs: 60, name: 'ratings-db' });

const app = new Hono();
app.use(labcoatHono());

app.get('/ratings/:titleId', async (c) => {
  const titleId = c.req.param('titleId');
  const profile = c.req.query('profile') ?? '';
  try {
    const stars = await dbRead.execute(({ signal }) => storeRead('ratings-db:get', 'ratings', () => predictedStars(profile, titleId), signal));
    if (stars === undefined) return c.json({ error: `no prediction for profile ${profile}, title ${titleId}` }, 404);
    return c.json({ titleId, profile, stars, source: 'predicted' });
  } catch (e) {
    return c.json({ error: `ratings-db unavailable: ${(e as Error).message}` }, 503);
  }
});

app.get('/predictions/:profileId', async (c) => {
  const profile = c.req.param('profileId');
  const titles = (c.req.query('titles') ?? '').split(',').filter((t) => /^\d+$/.test(t)).slice(0, 50);
  try {
    const predictions = await dbRead.execute(({ signal }) =>
      storeRead('ratings-db:get', 'predictions', () => Object.fromEntries(titles.map((t) => [t, predictedStars(profile, t) ?? null])), signal),
    );
    if (!predictions) throw new Error('no predictions');
    return c.json({ profile, predictions });
  } catch (e) {
    return c.json({ error: `ratings-db unavailable: ${(e as Error).message}` }, 503);
  }
});

const server = serve({ fetch: app.fetch, port: portFromEnv(), hostname: '127.0.0.1' }, () => ready('ratings', server as Server, labcoat)) as Server;
