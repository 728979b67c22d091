/**
 * bookmarks (node:http): where the member stopped watching. `GET /bookmarks/:profileId` (the
 * "Continue watching" row), `GET /bookmarks/:profileId/titles/:titleId` (resume position) and
 * `POST /bookmarks/:profileId/titles/:titleId` (playback started), over a store reached through
 * generic points (`bookmarks->bookmarks-db get|put bookmarks`, 60 ms).
 */
import http from 'node:http';
import { point, wrapRequestListener } from '@labcoat/node';
import { timeout } from '@labcoat/node/policies';
import { BOOKMARKS, TITLES } from './lib/data.js';
import { storeRead } from './lib/store.js';
import { listen, ready, startLabcoat } from './lib/service.js';

const labcoat = startLabcoat('bookmarks');
const db = timeout({ timeoutMs: 60, name: 'bookmarks-db' });
const written = new Map<string, number>();

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const server = http.createServer(
  wrapRequestListener(async (req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    const list = /^\/bookmarks\/(\d+)$/.exec(path);
    const one = /^\/bookmarks\/(\d+)\/titles\/(\d+)$/.exec(path);
    try {
      if (req.method === 'GET' && list) {
        const marks = await db.execute(({ signal }) => storeRead('bookmarks-db:get', 'bookmarks', () => [...(BOOKMARKS.get(list[1]!) ?? new Map<string, number>())], signal));
        return send(res, 200, { items: (marks ?? []).map(([id, positionSec]) => ({ id, title: TITLES.get(id)?.title ?? id, positionSec })) });
      }
      if (req.method === 'GET' && one) {
        const pos = await db.execute(({ signal }) => storeRead('bookmarks-db:get', 'bookmarks', () => BOOKMARKS.get(one[1]!)?.get(one[2]!) ?? 0, signal));
        return send(res, 200, { id: one[2], positionSec: pos ?? 0 });
      }
      if (req.method === 'POST' && one) {
        req.resume();
        await db.execute(({ signal }) => point('bookmarks-db:put', () => written.set(`${one[1]}/${one[2]}`, Date.now()), { route: 'bookmarks', signal }));
        return send(res, 200, { id: one[2], recorded: true });
      }
      send(res, 404, { error: 'not found' });
    } catch (e) {
      send(res, 503, { error: `bookmarks-db unavailable: ${(e as Error).message}` });
    }
  }),
);

await listen(server);
ready('bookmarks', server, labcoat);
