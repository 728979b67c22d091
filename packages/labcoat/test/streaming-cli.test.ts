/**
 * `labcoat demo --smoke` through the compiled CLI, and the launcher's promise of no orphans: the
 * services stop when the launcher is interrupted (Ctrl-C) and when it is killed outright.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { SmokeReport } from '../src/smoke.js';
import { streamingTestLock } from './streaming-helpers.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../bin/labcoat.js', import.meta.url));
const STREAMING = new URL('../src/streaming.js', import.meta.url).href;
const spawned: ChildProcess[] = [];
let unlock: (() => void) | undefined;

before(async () => {
  unlock = await streamingTestLock();
});
after(() => {
  for (const c of spawned) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  unlock?.();
});

/** Pids of the live processes whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = pids.filter(alive);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = left.filter(alive);
  }
  return left;
}

/** Resolves with the first stderr/stdout line matching `re` (or rejects after `timeoutMs`). */
function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; got:\n${buf}`)), timeoutMs);
    const on = (d: Buffer): void => {
      buf += d.toString('utf8');
      const line = buf.split('\n').find((l) => re.test(l));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line);
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
  });
}

describe('labcoat demo --smoke', () => {
  test('starts all sixteen services, checks every class and every service’s spans, stops, exits 0', () => {
    const r = spawnSync(process.execPath, [CLI, 'demo', '--smoke', '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stderr}\n${r.stdout}`);
    const report = JSON.parse(r.stdout) as SmokeReport;
    assert.equal(report.ok, true);
    assert.deepEqual(report.classes.map((c) => [c.name, c.status, c.violations]), [
      ['home', 200, []],
      ['title', 200, []],
      ['play', 200, []],
    ]);
    assert.equal(report.services.expected.length, 16);
    assert.deepEqual(report.services.missing, []);
    assert.ok(report.startupMs > 0 && report.spans > 16);
    assert.match(r.stderr, /all 16 services ready in \d+ ms/);
  });

  test('with the bugs on, fault-free requests still pass: the bugs are latent', () => {
    const r = spawnSync(process.execPath, [CLI, 'demo', '--smoke', '--json', '--bugs', 'all'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stderr}`);
    assert.equal((JSON.parse(r.stdout) as SmokeReport).bugs.length >= 6, true);
  });

  test('an unknown bug id is refused with the valid ids, and nothing starts', () => {
    const r = spawnSync(process.execPath, [CLI, 'demo', '--smoke', '--bugs', 'retry-storm,typo'], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown bug id: typo\. Valid ids: .*retry-storm/);
    assert.doesNotMatch(r.stderr, /starting/);
  });
});

describe('no orphans', { skip: !existsSync('/proc/self/stat') && 'needs /proc' }, () => {
  test('Ctrl-C (SIGINT) during the smoke run stops every service and exits 130', async () => {
    const cli = spawn(process.execPath, [CLI, 'demo', '--smoke'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    spawned.push(cli);
    await waitForLine(cli, /all 16 services ready/, 30_000);
    const services = childrenOf(cli.pid!);
    assert.equal(services.length, 16);
    const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
    cli.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.deepEqual(await waitGone(services, 5000), []);
  });

  test('a launcher killed outright (SIGKILL) leaves no service running', async () => {
    const script = `const m = await import(${JSON.stringify(STREAMING)}); const s = await m.startStreaming({}); console.log('READY', JSON.stringify(Object.values(s.services).map((x) => x.child.pid))); setInterval(() => {}, 1000);`;
    const launcher = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    spawned.push(launcher);
    const line = await waitForLine(launcher, /^READY /, 30_000);
    const pids = JSON.parse(line.slice('READY '.length)) as number[];
    assert.equal(pids.length, 16);
    assert.ok(pids.every(alive));
    launcher.kill('SIGKILL');
    assert.deepEqual(await waitGone(pids, 5000), [], 'services still running after their launcher died');
  });
});
