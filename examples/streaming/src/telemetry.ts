/**
 * telemetry (node:http): `POST /events` accepts playback and UI events (202) and publishes them to
 * the event queue through a generic point (`telemetry->events-queue publish events`, 50 ms). Callers
 * fire and forget: nothing a member sees depends on it.
 */
import http from 'node:http';
import { point, wrapRequestListener } from '@labcoat/node';
import { timeout } from '@labcoat/node/policies';
import { listen, ready, startLabcoat } from './lib/service.js';

const labcoat = startLabcoat('telemetry');
const queue = timeout({ timeoutMs: 50, name: 'events-queue' });
let published = 0;

const server = http.createServer(
  wrapRequestListener((req, res) => {
    if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/events') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      if (body.length < 65_536) body += d;
    });
    req.on('end', () => {
      void queue
        .execute(({ signal }) => point('events-queue:publish', () => ++published, { route: 'events', signal }))
        .then(
          () => res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}'),
          () => res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true,"queued":false}'),
        );
    });
  }),
);

await listen(server);
ready('telemetry', server, labcoat);
