/**
 * subscriptions (node:http): `GET /subscriptions/:userId` reads the member's plan from billing
 * through a generic point (`subscriptions->billing-db get subscriptions`, timeout 60 ms); 503 when
 * billing fails. Called by the edge (plan badge on the home page) and by licensing (entitlement).
 */
import http from 'node:http';
import { wrapRequestListener } from '@labcoat/node';
import { timeout } from '@labcoat/node/policies';
import { SUBSCRIPTIONS } from './lib/data.js';
import { storeRead } from './lib/store.js';
import { listen, ready, startLabcoat } from './lib/service.js';

const labcoat = startLabcoat('subscriptions');
const billing = timeout({ timeoutMs: 60, name: 'billing-db' });

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const server = http.createServer(
  wrapRequestListener(async (req, res) => {
    const m = /^\/subscriptions\/(\d+)$/.exec((req.url ?? '').split('?')[0]!);
    if (req.method !== 'GET' || !m) return send(res, 404, { error: 'not found' });
    try {
      const sub = await billing.execute(({ signal }) => storeRead('billing-db:get', 'subscriptions', () => SUBSCRIPTIONS.get(m[1]!), signal));
      if (!sub) return send(res, 404, { error: `no subscription for user ${m[1]}` });
      send(res, 200, sub);
    } catch (e) {
      send(res, 503, { error: `billing unavailable: ${(e as Error).message}` });
    }
  }),
);

await listen(server);
ready('subscriptions', server, labcoat);
