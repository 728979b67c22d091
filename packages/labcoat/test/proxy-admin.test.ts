/**
 * The admin API through an unchanged Toxiproxy client (toxiproxy-node-client 4.1): proxies,
 * toxics, populate, reset, version, errors — and labcoat's HTTP toxics through the same client.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Toxiproxy, ToxiproxyError, type ICreateProxyBody, type ICreateToxicBody, type Latency } from 'toxiproxy-node-client';
import { ProxyServer } from '../src/proxy/index.js';
import { request, startUpstream, type Upstream } from './proxy-helpers.js';

function echoServer(): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

function roundTrip(address: string, text: string): Promise<{ text: string; ms: number; error?: string }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = net.connect(port, host, () => s.write(text));
    let got = '';
    const t = setTimeout(() => s.destroy(), 3000);
    s.on('data', (d) => {
      got += d;
      if (got.length >= text.length) s.end();
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve({ text: got, ms: performance.now() - t0, error: e.code ?? e.message });
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve({ text: got, ms: performance.now() - t0 });
    });
  });
}

describe('labcoat proxy: Toxiproxy-compatible admin API (toxiproxy-node-client)', () => {
  let server: ProxyServer;
  let echo: net.Server;
  let upstreamAddr: string;
  let http: Upstream;
  let toxiproxy: Toxiproxy;

  before(async () => {
    echo = await echoServer();
    upstreamAddr = `127.0.0.1:${(echo.address() as AddressInfo).port}`;
    http = await startUpstream();
    server = await ProxyServer.start({ admin: '127.0.0.1:0' });
    toxiproxy = new Toxiproxy(server.adminUrl!);
  });

  after(async () => {
    await server.close();
    await http.close();
    await new Promise((r) => echo.close(r));
  });

  test('version', async () => {
    assert.match(await toxiproxy.getVersion(), /"version":\s*"labcoat/);
  });

  test('create, list, get, proxy traffic, update, delete', async () => {
    const created = await toxiproxy.createProxy({ name: 'redis', listen: 'localhost:0', upstream: upstreamAddr });
    assert.equal(created.name, 'redis');
    assert.equal(created.enabled, true);
    assert.match(created.listen, /^127\.0\.0\.1:\d+$/, 'port 0 is replaced by the port picked');
    assert.equal((await roundTrip(created.listen, 'PING')).text, 'PING');
    const all = await toxiproxy.getAll();
    assert.deepEqual(Object.keys(all), ['redis']);
    assert.equal(all['redis']!.upstream, upstreamAddr);
    const got = await toxiproxy.get('redis');
    assert.equal(got.listen, created.listen);
    const disabled = await got.update({ enabled: false, listen: got.listen, upstream: got.upstream });
    assert.equal(disabled.enabled, false);
    assert.equal((await roundTrip(created.listen, 'x')).error, 'ECONNREFUSED');
    const enabled = await got.update({ enabled: true, listen: got.listen, upstream: got.upstream });
    assert.equal(enabled.enabled, true);
    assert.equal((await roundTrip(created.listen, 'back')).text, 'back');
    await got.remove();
    assert.deepEqual(Object.keys(await toxiproxy.getAll()), []);
    await assert.rejects(toxiproxy.get('redis'), (e: unknown) => e instanceof ToxiproxyError && /404/.test((e as Error).message));
  });

  test('toxics: add, get, update, remove; their JSON is Toxiproxy\'s', async () => {
    const proxy = await toxiproxy.createProxy({ name: 'db', listen: '127.0.0.1:0', upstream: upstreamAddr });
    const body: ICreateToxicBody<Latency> = { name: 'lag', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 150, jitter: 0 } };
    const toxic = await proxy.addToxic(body);
    assert.deepEqual(toxic.toJson(), { name: 'lag', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 150, jitter: 0 } });
    const slow = await roundTrip(proxy.listen, 'slow');
    assert.equal(slow.text, 'slow');
    assert.ok(slow.ms >= 140);
    const fetched = await proxy.getToxic('lag');
    assert.equal((fetched.attributes as Latency).latency, 150);
    const updated = await fetched.update({ ...body, attributes: { latency: 50, jitter: 10 } });
    assert.deepEqual(updated.attributes, { latency: 50, jitter: 10 });
    const listed = (await toxiproxy.get('db')) as unknown as { toxics?: unknown[] };
    assert.equal(listed.toxics, undefined, 'the client keeps only its fields');
    const raw = (await (await fetch(`${server.adminUrl}/proxies/db/toxics`)).json()) as { name: string }[];
    assert.deepEqual(raw.map((t) => t.name), ['lag']);
    await updated.remove();
    assert.deepEqual(await (await fetch(`${server.adminUrl}/proxies/db/toxics`)).json(), []);
    // Defaults: stream downstream, toxicity 1, name <type>_<stream>.
    const res = await fetch(`${server.adminUrl}/proxies/db/toxics`, { method: 'POST', body: JSON.stringify({ type: 'bandwidth', attributes: { rate: 1000 } }) });
    assert.deepEqual(await res.json(), { name: 'bandwidth_downstream', type: 'bandwidth', stream: 'downstream', toxicity: 1, attributes: { rate: 1000 } });
    await proxy.remove();
  });

  test('populate creates or replaces a list; reset enables all and removes every toxic', async () => {
    const list: ICreateProxyBody[] = [
      { name: 'a', listen: '127.0.0.1:0', upstream: upstreamAddr },
      { name: 'b', listen: '127.0.0.1:0', upstream: upstreamAddr, enabled: false },
    ];
    const proxies = await toxiproxy.populate(list);
    assert.deepEqual(Object.keys(proxies).sort(), ['a', 'b']);
    assert.equal(proxies['a']!.enabled, true);
    assert.equal(proxies['b']!.enabled, false);
    await proxies['a']!.addToxic({ name: 't', type: 'timeout', stream: 'upstream', toxicity: 1, attributes: { timeout: 10 } } as ICreateToxicBody<unknown>);
    await toxiproxy.reset();
    const after = await (await fetch(`${server.adminUrl}/proxies`)).json() as Record<string, { enabled: boolean; toxics: unknown[] }>;
    assert.equal(after['a']!.toxics.length, 0);
    assert.equal(after['b']!.enabled, true);
    const again = await toxiproxy.populate(list.slice(0, 1));
    assert.equal(again['a']!.listen, proxies['a']!.listen, 'an unchanged proxy is left as it is (same port)');
    for (const p of Object.values(await toxiproxy.getAll())) await p.remove();
  });

  test('errors: duplicate proxy 409, unknown toxic type 400, missing fields 400, browsers 403', async () => {
    await toxiproxy.createProxy({ name: 'dup', listen: '127.0.0.1:0', upstream: upstreamAddr });
    await assert.rejects(toxiproxy.createProxy({ name: 'dup', listen: '127.0.0.1:0', upstream: upstreamAddr }), /409/);
    const p = await toxiproxy.get('dup');
    await assert.rejects(p.addToxic({ name: 'x', type: 'nonsense' as never, stream: 'downstream', toxicity: 1, attributes: {} }), /400/);
    const missing = await fetch(`${server.adminUrl}/proxies`, { method: 'POST', body: JSON.stringify({ name: 'nope' }) });
    assert.equal(missing.status, 400);
    assert.deepEqual(await missing.json(), { error: 'missing required field: upstream', status: 400 });
    const bad = await fetch(`${server.adminUrl}/proxies`, { method: 'POST', body: '{not json' });
    assert.equal(bad.status, 400);
    const browser = await fetch(`${server.adminUrl}/proxies`, { headers: { 'user-agent': 'Mozilla/5.0' } });
    assert.equal(browser.status, 403);
    await p.remove();
  });

  test('HTTP-aware proxies and HTTP toxics through the same client', async () => {
    const body = { name: 'catalog', listen: '127.0.0.1:0', upstream: http.address, protocol: 'http', service: 'catalog', caller: 'web' } as ICreateProxyBody;
    const proxy = await toxiproxy.createProxy(body);
    const url = `http://${proxy.listen}/items/1`;
    assert.equal((await request(url)).status, 200);
    const toxic = await proxy.addToxic({ name: 'unavailable', type: 'http_status' as never, stream: 'downstream', toxicity: 1, attributes: { status: 503, body: 'down for the test', first: 1 } });
    const first = await request(url);
    assert.equal(first.status, 503);
    assert.equal(first.body.toString(), 'down for the test');
    assert.equal((await request(url)).status, 200, 'first: 1 — then it passes');
    await toxic.remove();
    await assert.rejects(proxy.addToxic({ name: 'tcp', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 1, jitter: 0 } }), /400/);
    await proxy.remove();
  });
});
