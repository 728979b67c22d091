/**
 * trending (Hono): `GET /trending` is what is popular in the member's country right now. No
 * dependencies: it is the fallback other services lean on.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import { labcoatHono } from '@labcoat/node/hono';
import { TITLES, TRENDING } from './lib/data.js';
import { ready, startLabcoat, portFromEnv } from './lib/service.js';

const labcoat = startLabcoat('trending');
const app = new Hono();
app.use(labcoatHono());
app.get('/trending', (c) => c.json({ items: TRENDING.map((id) => ({ id, title: TITLES.get(id)!.title })) }));

const server = serve({ fetch: app.fetch, port: portFromEnv(), hostname: '127.0.0.1' }, () => ready('trending', server as Server, labcoat)) as Server;
