/**
 * The control plane's CLI as a user runs it: `labcoat server` (a child process), `labcoat token
 * create|list|revoke` on the database, `labcoat attack create|list|show|halt`, `labcoat halt-all`,
 * `labcoat campaign run|show|list`, each with --json, with --server/--token and with
 * LABCOAT_SERVER/LABCOAT_TOKEN; bad input and an unreachable server exit 2 with a clear message.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { startChain, type Chain } from '../src/chain.js';
import { CLI, KEY, spawnServer, sqliteBackend, type ServerProcess } from './control-helpers.js';

function labcoat(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, LABCOAT_SERVER: '', LABCOAT_TOKEN: '', LABCOAT_KEY: '', LABCOAT_DB: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

describe('labcoat server, token, attack, halt-all, campaign', () => {
  const backend = sqliteBackend();
  let db: string;
  let server: ServerProcess;
  let admin: string;
  let viewer: string;
  before(async () => {
    db = await backend.newDb();
  });
  after(async () => {
    await server?.stop();
    await backend.close();
  });

  test('the first start says how to get a token; token create prints it once, list never shows it, revoke works', async () => {
    server = await spawnServer(db);
    for (let i = 0; i < 50 && !server.stderr().includes('no tokens yet'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(server.stderr(), /no tokens yet\. Create an admin token \(shown once\) with:\n {2}labcoat token create --role admin --db /);
    const created = await labcoat(['token', 'create', '--role', 'admin', '--name', 'ci', '--db', db, '--json']);
    assert.equal(created.code, 0, created.err);
    const t = JSON.parse(created.out) as { id: string; role: string; token: string };
    assert.equal(t.role, 'admin');
    assert.match(t.token, /^lc_a_[A-Za-z0-9_-]{43}$/);
    admin = t.token;
    const plain = await labcoat(['token', 'create', '--role', 'viewer', '--db', db]);
    assert.equal(plain.code, 0);
    viewer = plain.out.trim();
    assert.match(plain.err, /shown only now/);
    const extra = JSON.parse((await labcoat(['token', 'create', '--role', 'service', '--db', db, '--json'])).out) as { id: string; token: string };
    const list = await labcoat(['token', 'list', '--db', db, '--json']);
    assert.equal(list.code, 0);
    assert.doesNotMatch(list.out, /lc_[avs]_/, 'tokens are never shown again');
    assert.doesNotMatch(list.out, /hash/);
    assert.deepEqual((JSON.parse(list.out) as { tokens: { role: string }[] }).tokens.map((x) => x.role), ['admin', 'viewer', 'service']);
    const revoked = await labcoat(['token', 'revoke', extra.id, '--db', db, '--json']);
    assert.deepEqual(JSON.parse(revoked.out), { id: extra.id, revoked: true });
    const feed = await fetch(`${server.url}/api/attacks/feed?poll=1`, { headers: { authorization: `Bearer ${extra.token}` } });
    assert.equal(feed.status, 401, 'a revoked token is refused');
    const second = await labcoat(['server', '--port', '0', '--db', db]);
    assert.equal(second.code, 2);
    assert.match(second.err, new RegExp(`another labcoat server \\(pid ${server.child.pid}\\) is using .*; one server per SQLite file`));
    const badRole = await labcoat(['token', 'create', '--role', 'root', '--db', db]);
    assert.equal(badRole.code, 2);
    assert.match(badRole.err, /Allowed choices are admin, viewer, service/);
  });

  test('attack create|list|show|halt and halt-all, with --json', async () => {
    const opts = ['--server', server.url, '--token', admin, '--json'];
    const created = await labcoat(['attack', 'create', '--point', 'edge->ratings GET /ratings/:id', '--label', 'user.id=u-1*', '--entry', 'GET /home', '--fault', '503', '--percentage', '25', '--duration', '10m', '--name', 'cli', ...opts]);
    assert.equal(created.code, 0, created.err);
    const a = JSON.parse(created.out) as { id: string; fault: unknown; labels: unknown; entry: unknown; durationMs: number };
    assert.deepEqual(a.fault, { kind: 'status', status: 503 });
    assert.deepEqual(a.labels, { 'user.id': 'u-1*' });
    assert.deepEqual(a.entry, { routes: ['GET /home'] });
    assert.equal(a.durationMs, 600_000);
    const viaEnv = await labcoat(['attack', 'list', '--json'], { LABCOAT_SERVER: server.url, LABCOAT_TOKEN: viewer });
    assert.equal(viaEnv.code, 0, viaEnv.err);
    assert.deepEqual((JSON.parse(viaEnv.out) as { attacks: { id: string }[] }).attacks.map((x) => x.id), [a.id]);
    const human = await labcoat(['attack', 'list'], { LABCOAT_SERVER: server.url, LABCOAT_TOKEN: viewer });
    assert.match(human.out, new RegExp(`${a.id} +active +25%  status`));
    const show = await labcoat(['attack', 'show', a.id, ...opts]);
    assert.equal((JSON.parse(show.out) as { id: string }).id, a.id);

    const invalid = await labcoat(['attack', 'create', '--service', 'x', '--fault', '{"kind":"status","status":503}', '--percentage', '0', '--duration', '10m', ...opts]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.err, /invalid attack definition\n {2}percentage: expected a number greater than 0/);
    assert.deepEqual((JSON.parse(invalid.out) as { fields: { field: string }[] }).fields.map((f) => f.field), ['percentage']);
    const badFault = await labcoat(['attack', 'create', '--service', 'x', '--fault', 'explode', '--percentage', '5', '--duration', '1m', ...opts]);
    assert.equal(badFault.code, 2);
    assert.match(badFault.err, /--fault: fault\.kind: unknown fault kind "explode"/);
    const viewerCreates = await labcoat(['attack', 'create', '--service', 'x', '--fault', 'error', '--percentage', '5', '--duration', '1m', '--server', server.url, '--token', viewer]);
    assert.equal(viewerCreates.code, 2);
    assert.match(viewerCreates.err, /needs an admin token; this one is viewer/);
    const noToken = await labcoat(['attack', 'list', '--server', server.url]);
    assert.equal(noToken.code, 2);
    assert.match(noToken.err, /missing bearer token.*\(pass --token or set LABCOAT_TOKEN\)/);
    const unreachable = await labcoat(['attack', 'list', '--server', 'http://127.0.0.1:1', '--token', admin]);
    assert.equal(unreachable.code, 2);
    assert.match(unreachable.err, /cannot reach the labcoat server at http:\/\/127\.0\.0\.1:1/);

    const halted = await labcoat(['attack', 'halt', a.id, ...opts]);
    assert.equal(halted.code, 0);
    assert.equal((JSON.parse(halted.out) as { halted: boolean }).halted, true);
    const second = await labcoat(['attack', 'create', '--service', 'y', '--fault', 'hang', '--percentage', '1', '--duration', '1m', ...opts]);
    const secondId = (JSON.parse(second.out) as { id: string }).id;
    const all = await labcoat(['halt-all', ...opts]);
    assert.equal(all.code, 0);
    assert.deepEqual(JSON.parse(all.out), { halted: [secondId] });
    const none = await labcoat(['halt-all', '--server', server.url, '--token', admin]);
    assert.equal(none.out.trim(), 'no active attacks');
    assert.equal((await labcoat(['attack', 'halt', 'atk_nope', ...opts])).code, 2);
  });

  test('campaign run follows the run and prints the result; show and list read it back', async () => {
    let chain: Chain | undefined;
    try {
      chain = await startChain({ key: KEY, otlpUrl: `${server.url}/v1/traces` });
      const file = `${db}.campaign.json`;
      (await import('node:fs')).writeFileSync(file, JSON.stringify({ classes: [{ name: 'chain', path: '/chain/42', expect: { status: [200] } }], faults: 'error' }));
      const r = await labcoat(['campaign', 'run', '--file', file, '--target', chain.edge.url, '--max-faults', '1', '--name', 'cli run', '--server', server.url, '--token', admin, '--json']);
      assert.ok(r.code === 0 || r.code === 1, r.err);
      const c = JSON.parse(r.out) as { id: string; state: string; name: string; result: { tool: string; classes: { name: string }[] }; summary: { bugs: number } };
      assert.equal(c.state, 'finished');
      assert.equal(c.name, 'cli run');
      assert.equal(c.result.classes[0]!.name, 'chain');
      assert.equal(r.code, c.summary.bugs > 0 ? 1 : 0);
      const show = await labcoat(['campaign', 'show', c.id, '--server', server.url, '--token', viewer]);
      assert.equal(show.code, 0);
      assert.match(show.out, new RegExp(`campaign ${c.id} "cli run": finished`));
      const list = await labcoat(['campaign', 'list', '--json', '--server', server.url, '--token', viewer]);
      assert.equal((JSON.parse(list.out) as { campaigns: { id: string }[] }).campaigns[0]!.id, c.id);
      const bad = await labcoat(['campaign', 'run', '--max-faults', '1', '--server', server.url, '--token', admin]);
      assert.equal(bad.code, 2);
      assert.match(bad.err, /invalid campaign\n {2}target: say what to explore/);
      const detached = await labcoat(['campaign', 'run', '--target', `${chain.edge.url}/chain/42`, '--faults', 'error', '--max-faults', '1', '--detach', '--json', '--server', server.url, '--token', admin]);
      assert.equal(detached.code, 0, detached.err);
      const d = JSON.parse(detached.out) as { id: string; state: string };
      assert.equal(d.state, 'running');
      for (let i = 0; i < 300; i++) {
        const s = JSON.parse((await labcoat(['campaign', 'show', d.id, '--json', '--server', server.url, '--token', viewer])).out) as { state: string };
        if (s.state !== 'running') break;
        await new Promise((res) => setTimeout(res, 200));
      }
    } finally {
      await chain?.stop();
    }
  });
});
