/**
 * The SDK's attack feed client against a real HTTP peer speaking the feed protocol
 * (attack-feed-server.ts): snapshots held under the lease, the dead-man switch (suspend, log,
 * metric, resume), halt within 1 s, bad signatures ignored, the polling fallback, reports, close.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { Baggage } from '@labcoat/core';
import { ATTACK_BAGGAGE_KEY, encodeMark, hmacMac, installFetchInterceptor, installHttpInterceptor, Labcoat, point, RequestContext, runWithContext, type LabcoatOptions } from '../src/index.js';
import { newSpanId, newTraceId } from '../src/ids.js';
import { attack, FeedServer, waitFor } from './attack-feed-server.js';

const KEY = 'attacks-test-key-0123456789abcdef';
const mac = hmacMac(KEY);
const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function feed(leaseMs = 600, heartbeatMs?: number): Promise<FeedServer> {
  const f = await new FeedServer({ key: KEY, leaseMs, ...(heartbeatMs ? { heartbeatMs } : {}) }).start();
  cleanup.push(() => f.stop());
  return f;
}

function sdk(f: FeedServer, extra: Partial<LabcoatOptions> & { logs?: string[] } = {}): Labcoat {
  const { logs, ...rest } = extra;
  const lc = new Labcoat({
    service: 'front',
    key: KEY,
    env: {},
    exporter: 'memory',
    attacks: { url: f.url, token: 'svc-token', reportIntervalMs: 50, log: (l) => logs?.push(l) },
    ...rest,
  });
  cleanup.push(() => lc.shutdown());
  return lc;
}

/** Runs a dependency call to `recs` inside a request carrying `mark` (or none); returns whether a fault was injected. */
async function call(lc: Labcoat, mark: 'valid' | 'none' | string = 'valid', ids: string[] = ['atk_1']): Promise<boolean> {
  const traceId = newTraceId();
  let baggage = Baggage.EMPTY;
  if (mark === 'valid') baggage = baggage.with(ATTACK_BAGGAGE_KEY, encodeMark({ ids, exp: Date.now() + 60_000, t: traceId }, mac));
  else if (mark !== 'none') baggage = baggage.with(ATTACK_BAGGAGE_KEY, mark);
  const ctx = new RequestContext(traceId, newSpanId(), 1, undefined, baggage, undefined);
  try {
    await runWithContext(ctx, () => point('recs:get', () => 'ok', { labcoat: lc }));
    return false;
  } catch (e) {
    if ((e as { labcoatInjected?: boolean }).labcoatInjected) return true;
    throw e;
  }
}

describe('attack feed', () => {
  test('holds the attacks of a valid snapshot and injects for marked requests only; reports counts', async () => {
    const f = await feed();
    f.attacks = [attack('atk_1')];
    const lc = sdk(f);
    assert.equal(lc.attacks.state, 'suspended');
    assert.ok(await waitFor(() => lc.attacks.state === 'connected'), `state ${lc.attacks.state}`);
    assert.deepEqual(lc.attacks.ids, ['atk_1']);
    assert.equal(f.feedRequests[0]?.auth, 'Bearer svc-token');
    assert.equal(await call(lc, 'valid'), true);
    assert.equal(await call(lc, 'none'), false);
    assert.equal(await call(lc, 'valid', []), false, 'a mark that joined nothing');
    assert.equal(await call(lc, 'valid', ['atk_other']), false, 'a mark naming an attack not held');
    assert.equal(lc.stats.attacks.injections['atk_1'], 1);
    assert.equal(lc.stats.injections['status:503'], 1);
    assert.equal(lc.stats.attacks.unmarked, 1);
    const span = lc.memory!.spans.find((s) => s.attributes['labcoat.attack.id'] === 'atk_1');
    assert.equal(span?.attributes['labcoat.fault'], 'status:503');
    assert.ok(await waitFor(() => f.reports.length > 0, 3000), 'a report arrives');
    assert.deepEqual(f.reports[0], { id: 'atk_1', injections: 1, auth: 'Bearer svc-token' });
  });

  test('lease expiry: suspended, one log line, stats.attacks.deadman; resumes on the next valid snapshot', async () => {
    const f = await feed(300, 60);
    f.attacks = [attack('atk_1')];
    const logs: string[] = [];
    const lc = sdk(f, { logs });
    assert.ok(await waitFor(() => lc.attacks.state === 'connected'));
    assert.equal(await call(lc), true);
    const downAt = Date.now();
    f.mode = 'down';
    f.cut();
    assert.ok(await waitFor(() => lc.attacks.state === 'suspended', 3000), `state ${lc.attacks.state}`);
    const suspendedAfter = Date.now() - downAt;
    assert.equal(lc.stats.attacks.deadman, 1);
    assert.deepEqual(lc.attacks.ids, []);
    assert.equal(await call(lc), false, 'nothing injected while suspended');
    const deadmanLogs = logs.filter((l) => l.includes('dead-man'));
    assert.equal(deadmanLogs.length, 1, logs.join('\n'));
    assert.match(deadmanLogs[0]!, /^labcoat: control plane unreachable for \d+ ms; attacks suspended \(dead-man switch\)$/);
    // Stays suspended, logs nothing more, while down.
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(lc.stats.attacks.deadman, 1);
    assert.equal(logs.filter((l) => l.includes('dead-man')).length, 1);
    f.mode = 'ok';
    assert.ok(await waitFor(() => lc.attacks.state === 'connected' || lc.attacks.state === 'polling', 10_000), `state ${lc.attacks.state}`);
    assert.equal(await call(lc), true, 'injects again after resuming');
    assert.ok(logs.some((l) => l.includes('resumed')));
    console.log(`# lease 300 ms: suspended ${suspendedAfter} ms after the control plane went down`);
  });

  test('a stalled stream (connected, silent) trips the switch too', async () => {
    const f = await feed(300, 60);
    f.attacks = [attack('atk_1')];
    const lc = sdk(f);
    assert.ok(await waitFor(() => lc.attacks.state === 'connected'));
    f.mode = 'stall';
    assert.ok(await waitFor(() => lc.attacks.state === 'suspended', 3000));
    assert.equal(await call(lc), false);
    f.mode = 'ok';
    f.cut();
    assert.ok(await waitFor(() => lc.attacks.state !== 'suspended', 10_000));
  });

  test('halt: a snapshot without the attack stops injection within 1 s', async () => {
    const f = await feed(5000);
    f.attacks = [attack('atk_1'), attack('atk_2', { target: { services: ['other'] } })];
    const lc = sdk(f);
    assert.ok(await waitFor(() => lc.attacks.ids.length === 2));
    assert.equal(await call(lc), true);
    const haltedAt = performance.now();
    f.publish([attack('atk_2', { target: { services: ['other'] } })]);
    let stoppedAfter = Infinity;
    for (let i = 0; i < 200; i++) {
      if (!(await call(lc))) {
        stoppedAfter = performance.now() - haltedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    console.log(`# halt observed ${stoppedAfter.toFixed(1)} ms after the snapshot was pushed`);
    assert.ok(stoppedAfter < 1000, `stopped after ${stoppedAfter} ms`);
    assert.deepEqual(lc.attacks.ids, ['atk_2']);
    // Halt-all: an empty snapshot.
    f.publish([]);
    assert.ok(await waitFor(() => lc.attacks.ids.length === 0, 1000));
    assert.equal(lc.attacks.state, 'connected');
  });

  test('a snapshot with a bad signature is ignored (counted, logged once)', async () => {
    const f = await feed(5000, 50);
    f.attacks = [attack('atk_1')];
    f.signKey = 'some-other-key-that-is-not-shared';
    const logs: string[] = [];
    const lc = sdk(f, { logs });
    assert.ok(await waitFor(() => lc.stats.attacks.badSignature >= 3, 3000));
    assert.equal(lc.attacks.state, 'suspended');
    assert.deepEqual(lc.attacks.ids, []);
    assert.equal(await call(lc), false);
    assert.equal(logs.filter((l) => l.includes('bad signature')).length, 1);
    // A tampered body under a genuine signature.
    f.signKey = KEY;
    const good = JSON.parse(f.envelope()) as { body: string; sig: string };
    const bad = lc.stats.attacks.badSignature;
    f.broadcast(JSON.stringify({ body: good.body.replace('"percentage":100', '"percentage":99'), sig: good.sig }));
    assert.ok(await waitFor(() => lc.stats.attacks.badSignature === bad + 1, 3000), 'the tampered body is refused');
    assert.ok(await waitFor(() => lc.attacks.state === 'connected', 3000), 'the genuine heartbeat is taken');
  });

  test('an older snapshot than the one held is ignored (no resurrection by replay)', async () => {
    const f = await feed(5000, 100_000);
    f.attacks = [attack('atk_1')];
    const lc = sdk(f);
    assert.ok(await waitFor(() => lc.attacks.ids.length === 1));
    const old = f.envelope();
    await new Promise((r) => setTimeout(r, 5));
    f.publish([]);
    assert.ok(await waitFor(() => lc.attacks.ids.length === 0, 1000));
    f.broadcast(old);
    assert.ok(await waitFor(() => lc.stats.attacks.staleSnapshots === 1, 1000));
    assert.deepEqual(lc.attacks.ids, []);
  });

  test('falls back to polling when the stream fails repeatedly', async () => {
    const f = await feed(600);
    f.attacks = [attack('atk_1')];
    f.mode = 'no-sse';
    const logs: string[] = [];
    const lc = sdk(f, { logs });
    assert.ok(await waitFor(() => lc.attacks.state === 'polling', 10_000), `state ${lc.attacks.state}`);
    assert.deepEqual(lc.attacks.ids, ['atk_1']);
    assert.equal(await call(lc), true);
    assert.ok(logs.some((l) => l.includes('polling')));
    assert.ok(f.feedRequests.filter((r) => r.poll).every((r) => r.auth === 'Bearer svc-token'));
    // Polls keep the lease alive.
    await new Promise((r) => setTimeout(r, 900));
    assert.equal(lc.attacks.state, 'polling');
    assert.equal(lc.stats.attacks.deadman, 0);
  });

  test('no key: the feed is disabled with one clear log line; no url: disabled silently', async () => {
    const f = await feed();
    const logs: string[] = [];
    const lc = sdk(f, { key: undefined, logs });
    assert.equal(lc.attacks.state, 'disabled');
    assert.equal(logs.length, 1);
    assert.match(logs[0]!, /disabled: no signing key/);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(f.feedRequests.length, 0);
    const quiet = new Labcoat({ service: 'x', key: KEY, env: {} });
    assert.equal(quiet.attacks.state, 'disabled');
    const fromEnv = new Labcoat({ service: 'x', key: KEY, env: { LABCOAT_CONTROL_URL: f.url, LABCOAT_CONTROL_TOKEN: 't', LABCOAT_ATTACK_ENTRY: '1' } });
    assert.equal(fromEnv.attacks.entry, true);
    assert.equal(fromEnv.attacks.state, 'suspended');
    await fromEnv.shutdown();
    assert.equal(fromEnv.attacks.state, 'disabled');
    const named = new Labcoat({ service: 'edge', key: KEY, env: { LABCOAT_CONTROL_URL: f.url, LABCOAT_ATTACK_ENTRY: 'gateway, edge' } });
    const notNamed = new Labcoat({ service: 'mid', key: KEY, env: { LABCOAT_CONTROL_URL: f.url, LABCOAT_ATTACK_ENTRY: 'gateway,edge' } });
    assert.deepEqual([named.attacks.entry, notNamed.attacks.entry], [true, false]);
    await Promise.all([named.shutdown(), notNamed.shutdown()]);
    const off = new Labcoat({ service: 'x', key: KEY, env: { LABCOAT_CONTROL_URL: f.url }, attacks: false });
    assert.equal(off.attacks.state, 'disabled');
    assert.throws(() => new Labcoat({ service: 'x', key: KEY, env: {}, attacks: { url: 'ftp://x' } }), /http\(s\) URL/);
    assert.throws(() => new Labcoat({ service: 'x', key: KEY, env: {}, attacks: { url: f.url, leaseMs: -1 } }), /leaseMs/);
  });

  test('close() stops the stream, the timers and drops the attacks', async () => {
    const f = await feed();
    f.attacks = [attack('atk_1')];
    const lc = sdk(f);
    assert.ok(await waitFor(() => lc.attacks.state === 'connected'));
    assert.equal(f.streams.size, 1);
    await lc.shutdown();
    assert.equal(lc.attacks.state, 'disabled');
    assert.deepEqual(lc.attacks.ids, []);
    assert.ok(await waitFor(() => f.streams.size === 0, 2000));
    const requests = f.feedRequests.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(f.feedRequests.length, requests, 'no reconnect after close');
    assert.equal(await call(lc), false);
  });

  test('the feed and the reports bypass labcoat\'s own interceptors (never traced, never faulted)', async () => {
    const f = await feed(300, 60);
    f.attacks = [attack('atk_1', { target: { services: ['**'] } })];
    const lc = sdk(f);
    const undo = [installHttpInterceptor(lc), installFetchInterceptor(lc)];
    try {
      assert.ok(await waitFor(() => lc.attacks.state === 'connected'));
      assert.equal(await call(lc), true);
      f.mode = 'no-sse';
      f.cut();
      assert.ok(await waitFor(() => f.reports.length > 0 && lc.attacks.state === 'polling', 10_000));
      // The report timer was armed inside the marked request's context: still no span, no fault.
      assert.equal(lc.stats.spansStarted, 1, 'only the one point call made a span');
    } finally {
      for (const u of undo) u();
    }
  });

  test('an open feed never keeps a process alive', async () => {
    const f = await feed(600);
    f.attacks = [attack('atk_1')];
    const index = new URL('../src/index.js', import.meta.url).href;
    const script = `const m = await import(${JSON.stringify(index)});
      const lc = m.init({ service: 'short', key: ${JSON.stringify(KEY)}, env: {}, attacks: { url: ${JSON.stringify(f.url)}, log: () => {} } });
      const until = Date.now() + 5000;
      while (lc.attacks.state !== 'connected' && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      console.log(lc.attacks.state);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearTimeout(killer);
    assert.equal(out.trim(), 'connected');
    assert.deepEqual([code, signal], [0, null], 'the process ended by itself with the stream open');
  });

  test('the leaseMs option caps the server lease', async () => {
    const f = await feed(60_000, 100_000);
    f.attacks = [attack('atk_1')];
    const lc = sdk(f, { attacks: { url: f.url, leaseMs: 300, log: () => {} } });
    assert.ok(await waitFor(() => lc.attacks.state === 'connected'));
    // The server sends no heartbeat within 300 ms: the capped lease runs out.
    assert.ok(await waitFor(() => lc.attacks.state === 'suspended', 3000));
    assert.equal(lc.stats.attacks.deadman, 1);
  });

  test('attack targets: services, callers, points, routes (all given must match); expired attacks never inject', async () => {
    const f = await feed(5000);
    f.attacks = [
      attack('atk_svc', { target: { services: ['recs'], callers: ['front'] } }),
      attack('atk_pt', { target: { points: ['front->cache get'] } }),
      attack('atk_route', { target: { routes: ['users'] } }),
      attack('atk_wrong_caller', { target: { services: ['recs'], callers: ['edge'] } }),
      attack('atk_expired', { expiresAt: Date.now() + 150, target: { services: ['db'] } }),
      attack('atk_bad', { target: {} }),
      attack('atk_badfault', { fault: { kind: 'nope' } }),
    ];
    const lc = sdk(f);
    assert.ok(await waitFor(() => lc.attacks.state === 'connected'));
    assert.deepEqual(lc.attacks.ids.sort(), ['atk_expired', 'atk_pt', 'atk_route', 'atk_svc', 'atk_wrong_caller']);
    assert.equal(lc.stats.attacks.skippedAttacks >= 2, true);
    const all = lc.attacks.ids;
    const injectedBy = async (name: string, route?: string): Promise<string | undefined> => {
      const traceId = newTraceId();
      const baggage = Baggage.EMPTY.with(ATTACK_BAGGAGE_KEY, encodeMark({ ids: all, exp: Date.now() + 60_000, t: traceId }, mac));
      const before = { ...lc.stats.attacks.injections };
      await runWithContext(new RequestContext(traceId, newSpanId(), 1, undefined, baggage, undefined), () =>
        point(name, () => 'ok', { labcoat: lc, ...(route ? { route } : {}) }).catch(() => 'failed'),
      );
      return Object.keys(lc.stats.attacks.injections).find((k) => lc.stats.attacks.injections[k] !== before[k]);
    };
    assert.equal(await injectedBy('recs:get'), 'atk_svc');
    assert.equal(await injectedBy('cache:get'), 'atk_pt');
    assert.equal(await injectedBy('users-db:select', 'users'), 'atk_route');
    assert.equal(await injectedBy('users-db:select', 'orders'), undefined);
    assert.equal(await injectedBy('db:get'), 'atk_expired');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await injectedBy('db:get'), undefined, 'expired while held');
  });
});
