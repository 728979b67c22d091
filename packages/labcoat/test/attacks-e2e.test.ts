/**
 * Production attacks end to end, all real processes on loopback: `labcoat server` on SQLite, an
 * attack created through its API, two SDK processes (an entry `edge` and a downstream `mid`)
 * subscribed to its signed feed with a service token, injections on exactly the requests the entry
 * marked, reports summed by the server, halt-all observed by both SDKs within 1 s, and the
 * dead-man switch when the server dies (resuming when it comes back).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { unitFromKey } from '@labcoat/core';
import { encodeMark, hmacMac } from '@labcoat/node';
import { freePorts, startService, stopServices, type RunningService } from '../src/launcher.js';

const CLI = fileURLToPath(new URL('../../bin/labcoat.js', import.meta.url));
const SERVICE = fileURLToPath(new URL('./attack-service.js', import.meta.url));
const KEY = `e2e-${randomBytes(18).toString('base64url')}`;
const LEASE_MS = 1500;

let dir: string;
let db: string;
let port: number;
let url: string;
let server: ChildProcess | undefined;
let adminToken: string;
let serviceToken: string;
let backend: http.Server;
let backendCalls = 0;
let edge: RunningService;
let mid: RunningService;

function cli(args: string[]): string {
  return execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
}

/** Starts `labcoat server` and waits for its listening line. */
async function startControlPlane(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'server', '--port', String(port), '--db', db, '--key', KEY, '--lease', `${LEASE_MS}ms`, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`labcoat server did not start within 20 s\n${err}`)), 20_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('"listening"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`labcoat server exited (${code}) before listening\n${err}`));
    });
  });
  return child;
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, json: await res.json() };
}

interface SdkState {
  state: string;
  ids: string[];
  attacks: { injections: Record<string, number>; deadman: number; marked: number; unmarked: number; invalidMark: number };
}

async function stateOf(s: RunningService): Promise<SdkState> {
  const res = await fetch(`${s.url}/labcoat/state`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as SdkState;
}

async function until(cond: () => Promise<boolean>, maxMs: number, stepMs = 10): Promise<boolean> {
  const end = Date.now() + maxMs;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return cond();
}

interface Outcome {
  traceId: string;
  direct: number;
  downstream: number | null;
}

async function send(s: RunningService, path: string, traceId = randomBytes(16).toString('hex'), baggage?: string): Promise<Outcome> {
  const headers: Record<string, string> = { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
  if (baggage) headers['baggage'] = baggage;
  const res = await fetch(`${s.url}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  return { traceId, ...((await res.json()) as { direct: number; downstream: number | null }) };
}

/** A trace id that joins `attackId` at `percentage`. */
function joiningTrace(attackId: string, percentage: number): string {
  for (let i = 0; i < 10_000; i++) {
    const t = randomBytes(16).toString('hex');
    if (unitFromKey(`${t}|${attackId}`) < percentage / 100) return t;
  }
  throw new Error('no joining trace found');
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'labcoat-attacks-e2e-'));
  db = join(dir, 'labcoat.db');
  adminToken = (JSON.parse(cli(['token', 'create', '--role', 'admin', '--db', db, '--json'])) as { token: string }).token;
  serviceToken = (JSON.parse(cli(['token', 'create', '--role', 'service', '--name', 'sdk', '--db', db, '--json'])) as { token: string }).token;
  [port] = (await freePorts(1)) as [number];
  url = `http://127.0.0.1:${port}`;
  server = await startControlPlane();
  backend = http.createServer((_req, res) => {
    backendCalls++;
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const backendHost = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
  const common = { LABCOAT_KEY: KEY, LABCOAT_CONTROL_URL: url, LABCOAT_CONTROL_TOKEN: serviceToken, BACKEND_URL: `http://${backendHost}` };
  mid = await startService({ name: 'mid', script: SERVICE, watchStdin: true, env: { ...common, LABCOAT_SERVICE: 'mid', LABCOAT_SERVICES: `backend=${backendHost}` } });
  edge = await startService({
    name: 'edge',
    script: SERVICE,
    watchStdin: true,
    env: {
      ...common,
      LABCOAT_SERVICE: 'edge',
      LABCOAT_ATTACK_ENTRY: '1',
      LABCOAT_SERVICES: `backend=${backendHost},mid=127.0.0.1:${mid.port}`,
      DOWNSTREAM_URL: mid.url,
    },
  });
});

after(async () => {
  await stopServices([edge, mid].filter(Boolean));
  if (server && server.exitCode === null && server.signalCode === null) {
    const exited = once(server, 'exit');
    server.kill('SIGTERM');
    const t = setTimeout(() => server?.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
  backend.closeAllConnections();
  await new Promise((r) => backend.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('production attacks end to end', () => {
  let attackId: string;

  test('an attack created through the API reaches both SDK processes; injections on exactly the marked requests', async () => {
    const created = await api('POST', '/api/attacks', {
      name: 'e2e backend 503',
      target: { services: ['backend'] },
      entry: { routes: ['GET /home'] },
      fault: { kind: 'status', status: 503 },
      percentage: 50,
      durationMs: 120_000,
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    attackId = created.json.id as string;
    assert.ok(
      await until(async () => (await stateOf(edge)).ids.includes(attackId) && (await stateOf(mid)).ids.includes(attackId), 5000),
      'both SDKs hold the attack',
    );
    assert.equal((await stateOf(edge)).state, 'connected');
    const health = await fetch(`${url}/api/health`).then((r) => r.json() as Promise<{ feed: { subscribers: number } }>);
    assert.ok(health.feed.subscribers >= 2, `subscribers ${health.feed.subscribers}`);

    const calls = backendCalls;
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 300; i += 10) outcomes.push(...(await Promise.all(Array.from({ length: 10 }, () => send(edge, '/home')))));
    let joined = 0;
    for (const o of outcomes) {
      const should = unitFromKey(`${o.traceId}|${attackId}`) < 0.5;
      if (should) joined++;
      assert.deepEqual([o.direct, o.downstream], should ? [503, 503] : [200, 200], `trace ${o.traceId} (joined: ${should})`);
    }
    // Binomial(300, 0.5): mean 150, sd 8.7; 5 sd either side.
    assert.ok(joined >= 107 && joined <= 193, `${joined}/300 joined`);
    assert.equal(backendCalls - calls, 2 * (300 - joined), 'the dependency was called only for requests not injected');
    const [e, m] = [await stateOf(edge), await stateOf(mid)];
    assert.equal(e.attacks.injections[attackId], joined);
    assert.equal(m.attacks.injections[attackId], joined);
    // Other routes do not join.
    for (let i = 0; i < 20; i++) assert.deepEqual(Object.values(await send(edge, '/other')).slice(1), [200, 200]);
    // The SDKs report their counts; the server sums them.
    assert.ok(
      await until(async () => (await api('GET', `/api/attacks/${attackId}`)).json.injections === 2 * joined, 15_000, 200),
      `server counted ${(await api('GET', `/api/attacks/${attackId}`)).json.injections}, SDKs ${2 * joined}`,
    );
    console.log(`# e2e: ${joined}/300 GET /home joined ${attackId} at 50%; edge and mid injected ${joined} each, 0 on unmarked; server summed ${2 * joined}`);
  });

  test('a forged mark sent straight to the downstream SDK injects nothing; a valid one does', async () => {
    const traceId = randomBytes(16).toString('hex');
    const forged = encodeMark({ ids: [attackId], exp: Date.now() + 60_000, t: traceId }, hmacMac('not-the-key-0123456789abcdef'));
    assert.equal((await send(mid, '/work', traceId, `labcoat.attack=${forged}`)).direct, 200);
    const valid = encodeMark({ ids: [attackId], exp: Date.now() + 60_000, t: traceId }, hmacMac(KEY));
    assert.equal((await send(mid, '/work', traceId, `labcoat.attack=${valid}`)).direct, 503);
  });

  test('halt-all: both SDKs stop injecting within 1 s', async () => {
    const trace = joiningTrace(attackId, 50);
    assert.deepEqual(Object.values(await send(edge, '/home', trace)).slice(1), [503, 503]);
    const t0 = performance.now();
    const halted = await api('POST', '/api/halt-all');
    assert.equal(halted.status, 200);
    assert.deepEqual(halted.json.halted, [attackId]);
    let edgeStopped = Infinity;
    let midStopped = Infinity;
    const valid = (t: string): string => `labcoat.attack=${encodeMark({ ids: [attackId], exp: Date.now() + 60_000, t }, hmacMac(KEY))}`;
    for (let i = 0; i < 500 && (edgeStopped === Infinity || midStopped === Infinity); i++) {
      const [e, m] = await Promise.all([send(edge, '/home', joiningTrace(attackId, 50)), send(mid, '/work', trace, valid(trace))]);
      const now = performance.now() - t0;
      if (edgeStopped === Infinity && e.direct === 200 && e.downstream === 200) edgeStopped = now;
      if (midStopped === Infinity && m.direct === 200) midStopped = now;
      if (now > 3000) break;
    }
    console.log(`# halt-all: edge stopped injecting ${edgeStopped.toFixed(0)} ms, mid (valid mark sent directly) ${midStopped.toFixed(0)} ms after the halt request was sent`);
    assert.ok(edgeStopped < 1000 && midStopped < 1000, `edge ${edgeStopped} ms, mid ${midStopped} ms`);
    assert.deepEqual((await stateOf(edge)).ids, []);
    assert.deepEqual((await stateOf(mid)).ids, []);
    // And it stays so.
    for (let i = 0; i < 20; i++) assert.deepEqual(Object.values(await send(edge, '/home', joiningTrace(attackId, 50))).slice(1), [200, 200]);
  });

  test('dead-man switch: the server dies, both SDKs suspend and stop injecting; they resume when it is back', async () => {
    const created = await api('POST', '/api/attacks', { target: { services: ['backend'] }, fault: { kind: 'error' }, percentage: 100, durationMs: 120_000 });
    assert.equal(created.status, 201);
    const id = created.json.id as string;
    assert.ok(await until(async () => (await stateOf(edge)).ids.includes(id) && (await stateOf(mid)).ids.includes(id), 5000));
    assert.deepEqual(Object.values(await send(edge, '/home')).slice(1), [0, 0], 'injected (connection refused) while connected');
    const killedAt = Date.now();
    server!.kill('SIGKILL');
    await once(server!, 'exit');
    assert.ok(
      await until(async () => (await stateOf(edge)).state === 'suspended' && (await stateOf(mid)).state === 'suspended', LEASE_MS + 3000, 50),
      'both SDKs suspended',
    );
    const suspendedAfter = Date.now() - killedAt;
    const [e, m] = [await stateOf(edge), await stateOf(mid)];
    assert.deepEqual([e.ids, m.ids], [[], []]);
    assert.ok(e.attacks.deadman >= 1 && m.attacks.deadman >= 1);
    for (let i = 0; i < 10; i++) assert.deepEqual(Object.values(await send(edge, '/home')).slice(1), [200, 200], 'nothing injected while suspended');
    console.log(`# dead-man: lease ${LEASE_MS} ms, both SDKs suspended ${suspendedAfter} ms after the server was killed`);
    // The server comes back on the same port and database: the attack is still active, the SDKs resume.
    server = await startControlPlane();
    assert.ok(
      await until(async () => (await stateOf(edge)).ids.includes(id) && (await stateOf(mid)).ids.includes(id), 15_000, 100),
      'both SDKs resumed',
    );
    assert.deepEqual(Object.values(await send(edge, '/home')).slice(1), [0, 0]);
    await api('POST', `/api/attacks/${id}/halt`);
  });
});
