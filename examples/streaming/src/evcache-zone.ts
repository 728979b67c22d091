/**
 * One zone of the replicated cache (`evcache-a`, `evcache-b` or `evcache-c`, from
 * `LABCOAT_SERVICE`): a key-value server over TCP speaking the line protocol of lib/evcache.ts.
 * It starts warm, from the catalogue snapshot, as if a cache warmer had filled it. Each request
 * line that carries trace context is recorded as a server span of the request's trace.
 */
import net from 'node:net';
import { runWithContext, type CarrierGetter } from '@labcoat/node';
import { cacheSnapshot } from './lib/data.js';
import type { KvRequest, KvResponse } from './lib/evcache.js';
import { fail, listen, ready, startLabcoat } from './lib/service.js';

const name = process.env['LABCOAT_SERVICE'] ?? '';
if (!/^evcache-[abc]$/.test(name)) fail(`LABCOAT_SERVICE must be evcache-a, evcache-b or evcache-c; got ${JSON.stringify(name)}`);
const labcoat = startLabcoat(name);
const store = cacheSnapshot();
const MAX_LINE = 1_000_000;

const getter: CarrierGetter<KvRequest> = {
  get: (carrier, key) => {
    const v = (carrier as unknown as Record<string, unknown>)[key];
    return typeof v === 'string' ? v : undefined;
  },
};

function handle(request: KvRequest): KvResponse {
  if (request.op === 'get' && Array.isArray(request.keys)) {
    const values: Record<string, string | null> = {};
    for (const k of request.keys) values[k] = typeof k === 'string' ? (store.get(k) ?? null) : null;
    return { ok: true, values };
  }
  if (request.op === 'set' && request.items && typeof request.items === 'object') {
    for (const [k, v] of Object.entries(request.items)) if (typeof v === 'string') store.set(k, v);
    return { ok: true };
  }
  return { ok: false, error: 'unknown or malformed command' };
}

function serveLine(socket: net.Socket, line: string): void {
  let request: KvRequest;
  try {
    request = JSON.parse(line) as KvRequest;
    if (request === null || typeof request !== 'object') throw new Error('not an object');
  } catch {
    socket.end(`${JSON.stringify({ ok: false, error: 'request is not JSON' })}\n`);
    return;
  }
  const op = typeof request.op === 'string' ? request.op : 'unknown';
  const app = typeof request.app === 'string' && /^[\w-]{1,32}$/.test(request.app) ? request.app : 'unknown';
  if (typeof request.traceparent !== 'string') {
    socket.end(`${JSON.stringify(handle(request))}\n`);
    return;
  }
  const served = labcoat.startServer(getter, request, op, `/${app}`);
  runWithContext(served.context, () => {
    const answer = handle(request);
    socket.end(`${JSON.stringify(answer)}\n`);
    served.finish(answer.ok ? 200 : 400, app);
  });
}

const server = net.createServer((socket) => {
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('error', () => socket.destroy());
  socket.on('data', (d: string) => {
    buf += d;
    const nl = buf.indexOf('\n');
    if (nl !== -1) {
      socket.removeAllListeners('data');
      serveLine(socket, buf.slice(0, nl));
    } else if (buf.length > MAX_LINE) socket.destroy();
  });
});

await listen(server);
ready(name, server, labcoat);
