/**
 * A small service process for the attacks end-to-end test: @labcoat/node configured from the
 * environment only (LABCOAT_SERVICE, LABCOAT_KEY, LABCOAT_SERVICES, LABCOAT_CONTROL_URL,
 * LABCOAT_CONTROL_TOKEN, LABCOAT_ATTACK_ENTRY), as a real deployment would be.
 *
 *   GET /home, /other   calls backend /data and, when DOWNSTREAM_URL is set, DOWNSTREAM_URL/work:
 *                       {"direct": <status>, "downstream": <status>}
 *   GET /work           calls backend /data: {"direct": <status>}
 *   GET /labcoat/state  {"state", "ids", "attacks": stats.attacks}
 */
import http from 'node:http';
import { init, wrapRequestListener } from '@labcoat/node';

const labcoat = init({ exporter: 'none' });
const backend = process.env['BACKEND_URL']!;
const downstream = process.env['DOWNSTREAM_URL'];

async function status(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

const server = http.createServer(
  wrapRequestListener((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      let body: unknown;
      if (path === '/labcoat/state') body = { state: labcoat.attacks.state, ids: labcoat.attacks.ids, attacks: labcoat.stats.attacks };
      else if (path === '/work') body = { direct: await status(`${backend}/data`) };
      else {
        const [direct, down] = await Promise.all([status(`${backend}/data`), downstream ? fetch(`${downstream}/work`).then((r) => r.json() as Promise<{ direct: number }>) : undefined]);
        body = { direct, downstream: down?.direct ?? null };
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    })().catch((e: unknown) => res.writeHead(500).end(String(e)));
  }),
);

server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  const port = (server.address() as { port: number }).port;
  process.stdout.write(`LABCOAT_READY ${labcoat.service} port=${port}\n`);
});

const stop = (): void => {
  server.close();
  server.closeAllConnections();
  void labcoat.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
if (process.env['LABCOAT_WATCH_STDIN'] === '1') {
  process.stdin.resume();
  process.stdin.once('end', stop);
  process.stdin.once('close', stop);
}
