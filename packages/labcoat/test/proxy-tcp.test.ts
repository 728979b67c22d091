/**
 * TCP proxies with Toxiproxy's toxics, each in both directions, with toxicity 0 and 1, added to
 * and removed from live connections.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ProxyServer } from '../src/proxy/index.js';
import { eventually, sleep } from './proxy-helpers.js';

interface Peer {
  readonly port: number;
  /** Bytes each accepted connection received. */
  readonly received: number[];
  close(): Promise<void>;
}

/** An echo server, or (with `send`) one that sends `send` bytes on connect and then closes. */
async function startPeer(send?: number): Promise<Peer> {
  const received: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    const i = received.push(0) - 1;
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    if (send !== undefined) {
      s.end(Buffer.alloc(send, 0x41));
      s.resume();
      return;
    }
    s.on('data', (d) => {
      received[i]! += d.length;
      s.write(d);
    });
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

interface Outcome {
  data: Buffer;
  chunks: number;
  error?: string;
  /** ms from connect to close. */
  closedAfter: number;
  /** ms from connect to the first byte / the last byte. */
  firstByte: number;
  lastByte: number;
}

/** Connects, optionally sends bytes (and ends), and records what comes back until close or `waitMs`. */
function exchange(port: number, send: Buffer | undefined, opts: { end?: boolean; waitMs?: number } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const chunks: Buffer[] = [];
    let firstByte = -1;
    let lastByte = -1;
    let error: string | undefined;
    const s = net.connect(port, '127.0.0.1', () => {
      if (send) {
        if (opts.end) s.end(send);
        else s.write(send);
      }
    });
    const limit = setTimeout(() => s.destroy(), opts.waitMs ?? 3000);
    s.on('data', (d) => {
      const now = performance.now() - t0;
      if (firstByte < 0) firstByte = now;
      lastByte = now;
      chunks.push(d);
    });
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => {
      clearTimeout(limit);
      resolve({ data: Buffer.concat(chunks), chunks: chunks.length, ...(error ? { error } : {}), closedAfter: performance.now() - t0, firstByte, lastByte });
    });
  });
}

describe('labcoat proxy: TCP toxics (Toxiproxy parity)', () => {
  let echo: Peer;
  let talker: Peer;
  let server: ProxyServer;
  let echoPort: number;
  let talkPort: number;

  before(async () => {
    echo = await startPeer();
    talker = await startPeer(20_000);
    server = await ProxyServer.start({
      admin: false,
      proxies: [
        { name: 'echo', upstream: `127.0.0.1:${echo.port}` },
        { name: 'talk', upstream: `127.0.0.1:${talker.port}` },
      ],
    });
    echoPort = Number(server.get('echo').listen.split(':')[1]);
    talkPort = Number(server.get('talk').listen.split(':')[1]);
  });

  after(async () => {
    await server.close();
    await echo.close();
    await talker.close();
  });

  const withToxic = async (proxy: string, toxic: object, fn: () => Promise<void>): Promise<void> => {
    const t = server.get(proxy).addToxic(toxic);
    try {
      await fn();
    } finally {
      server.get(proxy).removeToxic(t.name);
    }
  };

  test('no toxic: bytes pass both ways', async () => {
    const o = await exchange(echoPort, Buffer.from('hello'), { end: true });
    assert.equal(o.data.toString(), 'hello');
    const t = await exchange(talkPort, undefined);
    assert.equal(t.data.length, 20_000);
  });

  for (const stream of ['downstream', 'upstream'] as const) {
    test(`latency ${stream}: every chunk waits latency ± jitter`, async () => {
      await withToxic('echo', { type: 'latency', stream, attributes: { latency: 150, jitter: 20 } }, async () => {
        const o = await exchange(echoPort, Buffer.from('ping'), { end: true });
        assert.equal(o.data.toString(), 'ping');
        assert.ok(o.firstByte >= 125, `first byte after ${o.firstByte.toFixed(0)} ms`);
      });
    });

    test(`bandwidth ${stream}: rate KB/s`, async () => {
      await withToxic('echo', { type: 'bandwidth', stream, attributes: { rate: 50 } }, async () => {
        const o = await exchange(echoPort, Buffer.alloc(20_000, 1), { end: true });
        assert.equal(o.data.length, 20_000);
        assert.ok(o.lastByte >= 350, `20 KB at 50 KB/s took ${o.lastByte.toFixed(0)} ms`);
      });
    });

    test(`slicer ${stream}: data arrives intact in small packets`, async () => {
      await withToxic('talk', { type: 'slicer', stream, attributes: { average_size: 500, size_variation: 100, delay: 2000 } }, async () => {
        const o = await exchange(talkPort, stream === 'upstream' ? Buffer.alloc(5000, 2) : undefined);
        assert.equal(o.data.length, 20_000);
        if (stream === 'downstream') assert.ok(o.chunks >= 10, `${o.chunks} packets`);
      });
    });

    test(`limit_data ${stream}: the connection closes after bytes, toxicity 0 never`, async () => {
      const first = echo.received.length;
      await withToxic('echo', { type: 'limit_data', stream, attributes: { bytes: 100 } }, async () => {
        const o = await exchange(echoPort, Buffer.alloc(1000, 3));
        // Downstream, the client gets 100 bytes; upstream, the server does (and the echo of them may be cut by the close).
        if (stream === 'downstream') assert.equal(o.data.length, 100);
        else assert.equal(echo.received[first], 100);
        assert.equal(o.error, undefined, 'a clean close, not a reset');
      });
      await withToxic('echo', { type: 'limit_data', stream, toxicity: 0, attributes: { bytes: 100 } }, async () => {
        const o = await exchange(echoPort, Buffer.alloc(1000, 3), { end: true });
        assert.equal(o.data.length, 1000);
      });
    });

    test(`timeout ${stream}: data stops; the connection closes after timeout ms`, async () => {
      const before = echo.received.length;
      await withToxic('echo', { type: 'timeout', stream, attributes: { timeout: 100 } }, async () => {
        const o = await exchange(echoPort, Buffer.from('lost'));
        assert.equal(o.data.length, 0);
        assert.ok(o.closedAfter >= 90);
      });
      if (stream === 'upstream') assert.equal(echo.received.slice(before).reduce((a, b) => a + b, 0), 0, 'nothing reached the upstream');
      await withToxic('echo', { type: 'timeout', stream, toxicity: 0, attributes: { timeout: 100 } }, async () => {
        const o = await exchange(echoPort, Buffer.from('kept'), { end: true });
        assert.equal(o.data.toString(), 'kept');
      });
    });

    test(`reset_peer ${stream}: TCP RST after the first data`, async () => {
      await withToxic('echo', { type: 'reset_peer', stream, attributes: { timeout: 50 } }, async () => {
        const o = await exchange(echoPort, Buffer.from('x'));
        assert.equal(o.error, 'ECONNRESET');
      });
      await withToxic('echo', { type: 'reset_peer', stream, toxicity: 0, attributes: { timeout: 50 } }, async () => {
        const o = await exchange(echoPort, Buffer.from('y'), { end: true });
        assert.equal(o.error, undefined);
        assert.equal(o.data.toString(), 'y');
      });
    });

    test(`slow_close ${stream}: the close is held for delay ms`, async () => {
      await withToxic('talk', { type: 'slow_close', stream, attributes: { delay: 200 } }, async () => {
        const o = await exchange(talkPort, undefined);
        assert.equal(o.data.length, 20_000);
        if (stream === 'downstream') assert.ok(o.closedAfter - o.lastByte >= 180, `closed ${(o.closedAfter - o.lastByte).toFixed(0)} ms after the data`);
      });
    });
  }

  test('a timeout of 0 holds the connection until the toxic is removed, which closes it (Toxiproxy cleanup)', async () => {
    const p = server.get('echo');
    p.addToxic({ name: 'hold', type: 'timeout', attributes: { timeout: 0 } });
    const pending = exchange(echoPort, Buffer.from('held'), { waitMs: 5000 });
    await sleep(150);
    p.removeToxic('hold');
    const o = await pending;
    assert.equal(o.data.length, 0);
    assert.ok(o.closedAfter < 5000, 'closed by the removal, not by the test');
  });

  test('toxics apply to open connections, and removing one hands its data on', async () => {
    const s = net.connect(echoPort, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const got: Buffer[] = [];
    s.on('data', (d) => got.push(d));
    s.write('a');
    assert.ok(await eventually(() => Buffer.concat(got).toString() === 'a'));
    const p = server.get('echo');
    p.addToxic({ name: 'slow', type: 'latency', attributes: { latency: 10_000 } });
    s.write('b');
    await sleep(100);
    assert.equal(Buffer.concat(got).toString(), 'a', 'held by the new toxic');
    p.removeToxic('slow');
    assert.ok(await eventually(() => Buffer.concat(got).toString() === 'ab'), 'released when it is removed');
    s.destroy();
  });

  test('an updated toxic applies its new attributes; disabled proxies refuse connections', async () => {
    const p = server.get('echo');
    p.addToxic({ name: 'lim', type: 'limit_data', attributes: { bytes: 10 } });
    p.updateToxic('lim', { attributes: { bytes: 20 } });
    assert.equal((await exchange(echoPort, Buffer.alloc(100, 1))).data.length, 20);
    p.removeToxic('lim');
    await p.update({ enabled: false });
    const refused = await exchange(echoPort, Buffer.from('x'));
    assert.equal(refused.error, 'ECONNREFUSED');
    await p.update({ enabled: true });
    assert.equal((await exchange(echoPort, Buffer.from('back'), { end: true })).data.toString(), 'back');
  });

  test('no connection is left open', async () => {
    assert.ok(await eventually(() => server.stats().proxies.every((s) => s.clientConnections === 0)), JSON.stringify(server.stats().proxies));
  });
});
