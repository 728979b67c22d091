/**
 * node:http requests carry labcoat's headers whatever shape the caller's headers have: an object
 * (labcoat's set on the request Node makes, replacing the caller's own trace headers), a flat
 * array and an `Expect: 100-continue` request (merged into a copy, since Node writes those heads
 * at once). Host is kept, the caller's options object is never modified.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { installHttpInterceptor, Labcoat } from '../src/index.js';

let server: http.Server;
let port = 0;
let sdk: Labcoat;
let undo: () => void;

before(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(JSON.stringify(req.headers)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  sdk = new Labcoat({ service: 'caller', exporter: 'memory', env: {}, services: { echo: `127.0.0.1:${port}` } });
  undo = installHttpInterceptor(sdk);
});

after(async () => {
  undo();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function send(options: http.RequestOptions, body?: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/echo', ...options }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve(JSON.parse(text) as Record<string, string>));
    });
    req.on('error', reject);
    if (body !== undefined) {
      req.on('continue', () => req.end(body));
    } else req.end();
  });
}

/** The traceparent of the client span the request just made. */
function lastClientTraceparent(): string {
  const span = sdk.memory!.spans.filter((s) => s.kind === 'client').at(-1)!;
  return `00-${span.traceId}-${span.spanId}-01`;
}

test('object headers: the caller\'s trace headers are replaced, others and Host kept, options untouched', async () => {
  const headers = { 'X-Keep': 'yes', TraceParent: '00-00000000000000000000000000000001-0000000000000001-01', tracestate: 'stale=1', Baggage: 'old=1' };
  const options: http.RequestOptions = { method: 'GET', headers };
  const snapshot = JSON.stringify(options);
  const seen = await send(options);
  assert.equal(seen['traceparent'], lastClientTraceparent());
  assert.equal(seen['x-keep'], 'yes');
  assert.equal(seen['host'], `127.0.0.1:${port}`);
  assert.equal(seen['tracestate'], undefined, 'a tracestate labcoat does not send is removed');
  assert.equal(seen['baggage'], undefined);
  assert.equal(JSON.stringify(options), snapshot);
});

test('flat array headers: merged into a copy', async () => {
  const headers = ['Host', `127.0.0.1:${port}`, 'x-keep', 'array', 'traceparent', 'stale'];
  const seen = await send({ headers });
  assert.equal(seen['traceparent'], lastClientTraceparent());
  assert.equal(seen['x-keep'], 'array');
  assert.deepEqual(headers.slice(4), ['traceparent', 'stale'], 'the caller\'s array is untouched');
});

test('Expect: 100-continue: the head goes out at once and still carries labcoat\'s headers', async () => {
  const seen = await send({ method: 'POST', headers: { Expect: '100-continue', 'content-type': 'text/plain' } }, 'hello');
  assert.equal(seen['traceparent'], lastClientTraceparent());
  assert.equal(seen['expect'], '100-continue');
});

test('no headers at all', async () => {
  const seen = await send({});
  assert.equal(seen['traceparent'], lastClientTraceparent());
  assert.equal(seen['host'], `127.0.0.1:${port}`);
});
