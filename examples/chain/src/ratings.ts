/**
 * Service C, "ratings": a Hono app on @hono/node-server. `GET /ratings/:id` reads a rating from
 * its store through a generic injection point (`ratings->ratings-db select ratings`) and echoes
 * the context it received, so tests can check propagation across every hop.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import { init, currentContext, point } from '@labcoat/node';
import { labcoatHono } from '@labcoat/node/hono';
import { announceReady, stopOn } from './ready.js';

const labcoat = init({ service: 'ratings' });
const store = new Map<string, number>([['1', 4.5], ['2', 3.9], ['42', 5]]);

const app = new Hono();
app.use(labcoatHono());
app.get('/ratings/:id', async (c) => {
  const id = c.req.param('id');
  try {
    const stars = await point('ratings-db:select', () => store.get(id) ?? 3, { route: 'ratings' });
    return c.json({
      service: 'ratings',
      id,
      stars,
      traceparent: c.req.header('traceparent') ?? null,
      baggage: c.req.header('baggage') ?? null,
      planId: currentContext()?.plan?.id ?? null,
    });
  } catch (e) {
    return c.json({ service: 'ratings', error: (e as Error).message }, 503);
  }
});

const server = serve({ fetch: app.fetch, port: Number(process.env['PORT'] ?? 0), hostname: '127.0.0.1' }, () =>
  announceReady('ratings', server as Server),
) as Server;
stopOn(server, () => labcoat.close());
