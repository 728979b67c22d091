/**
 * licensing (Hono): `POST /licenses/:titleId` (`{ userId, profileId, plan }`) issues a playback
 * licence. It checks the member's entitlement with subscriptions (node:http, 100 ms) and, when that
 * fails, trusts the plan the signed-in session carries (a fallback). The content key comes from the
 * key store through a generic point (`licensing->keystore get keys`, 50 ms): without a key there is
 * no licence, so that failure is a clean 503. licensing is critical for `POST /play`.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import { labcoatHono } from '@labcoat/node/hono';
import { fallback, timeout, wrap } from '@labcoat/node/policies';
import { bugOn } from './lib/bugs.js';
import { httpJson } from './lib/clients.js';
import { contentKeyOf } from './lib/data.js';
import { storeRead } from './lib/store.js';
import { ready, startLabcoat, portFromEnv, urlOf } from './lib/service.js';

const labcoat = startLabcoat('licensing');
const SUBSCRIPTIONS = urlOf('subscriptions');

interface Entitlement {
  plan: string;
  status: string;
  from: 'billing' | 'session';
}

// BUG nested-timeouts: the entitlement check waits up to 1.5 s (a library default nobody revisited),
// longer than the edge waits for licensing (400 ms) and longer than /play's whole deadline, so the
// session fallback below never gets a chance: the edge has given up first.
const entitlementTimeoutMs = bugOn('nested-timeouts') ? 1500 : 100;
const entitlementPolicies = (claimedPlan: string) =>
  wrap(fallback<Entitlement>({ plan: claimedPlan, status: 'active', from: 'session' }), timeout(entitlementTimeoutMs), { name: 'entitlement' });
const keystore = timeout({ timeoutMs: 50, name: 'keystore' });

const app = new Hono();
app.use(labcoatHono());
app.post('/licenses/:titleId', async (c) => {
  const titleId = c.req.param('titleId');
  let body: { userId?: unknown; plan?: unknown };
  try {
    body = (await c.req.json()) as typeof body;
  } catch {
    return c.json({ error: 'body must be JSON: { userId, profileId, plan }' }, 400);
  }
  const userId = typeof body.userId === 'string' && /^\d+$/.test(body.userId) ? body.userId : undefined;
  const claimedPlan = typeof body.plan === 'string' ? body.plan : 'basic';
  if (!userId) return c.json({ error: 'userId is required' }, 400);

  const entitlement = await entitlementPolicies(claimedPlan).execute(async ({ signal }) => {
    const sub = await httpJson<{ plan: string; status: string }>('subscriptions', `${SUBSCRIPTIONS}/subscriptions/${userId}`, { signal });
    return { plan: sub.plan, status: sub.status, from: 'billing' as const };
  });
  if (entitlement.status !== 'active') return c.json({ error: 'subscription is not active' }, 403);

  let key: { keyId: string; key: string } | undefined;
  try {
    key = await keystore.execute(({ signal }) => storeRead('keystore:get', 'keys', () => contentKeyOf(titleId), signal));
  } catch (e) {
    return c.json({ error: `key store unavailable: ${(e as Error).message}` }, 503);
  }
  if (!key) return c.json({ error: `no content key for title ${titleId}` }, 404);
  return c.json({
    titleId,
    keyId: key.keyId,
    license: Buffer.from(`${key.keyId}:${userId}:${entitlement.plan}`).toString('base64'),
    maxResolution: entitlement.plan === 'premium' ? '2160p' : '1080p',
    expiresAt: Date.now() + 6 * 3600_000,
    entitlementFrom: entitlement.from,
  });
});

const server = serve({ fetch: app.fetch, port: portFromEnv(), hostname: '127.0.0.1' }, () => ready('licensing', server as Server, labcoat)) as Server;
