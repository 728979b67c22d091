/**
 * Added latency and throughput of `labcoat proxy` (HTTP-aware, no fault, spans recorded) against
 * Debian's nginx as a reverse proxy, both in front of the same tiny upstream on loopback, side by
 * side with no proxy (`direct`) in one run. See docs/benchmarks.md ("proxy") for the method.
 *
 *   node bench/dist/proxy.js [--quick] [--rounds N] [--duration S] [--latency-duration S]
 *        [--connections N] [--modes direct,labcoat,nginx]
 *
 * Human-readable figures go to stdout, progress to stderr, and the last stdout line is one JSON
 * object: {"bench":"proxy", ...}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon, { type Result } from 'autocannon';
import { median, percentileSorted, round } from './stats.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NGINX = '/usr/sbin/nginx';
const MAX_SAMPLES = 2_000_000;
const TARGETS = { addedP50Us: 100, throughputVsNginx: 0.5 } as const;
type Mode = 'direct' | 'labcoat' | 'nginx';
const ALL: readonly Mode[] = ['direct', 'labcoat', 'nginx'];

// ---- upstream role: a child process answering 61 bytes of JSON ----------------------------------
if (process.argv[2] === '--upstream') {
  const body = Buffer.from(JSON.stringify({ ok: true, service: 'upstream', items: [1, 2, 3], pad: 'xxxxxxx' }));
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`LABCOAT_READY upstream port=${(server.address() as AddressInfo).port}\n`));
  process.stdin.on('end', () => process.exit(0)).resume();
} else {
  await main();
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      'latency-duration': { type: 'string' },
      connections: { type: 'string' },
      modes: { type: 'string' },
    },
  });
  const num = (v: string | undefined, fallback: number, min: number, max: number): number => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`expected a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return n;
  };
  const quick = args.quick === true;
  const cfg = {
    rounds: num(args.rounds, quick ? 2 : 6, 1, 30),
    warmupS: quick ? 0.5 : 1,
    durationS: num(args.duration, quick ? 1 : 4, 1, 120),
    latencyDurationS: num(args['latency-duration'], quick ? 1 : 3, 1, 120),
    connections: num(args.connections, 16, 1, 1024),
  };
  let modes = (args.modes ?? ALL.join(',')).split(',').map((m) => m.trim()) as Mode[];
  for (const m of modes) if (!ALL.includes(m)) throw new Error(`unknown mode ${m}; modes: ${ALL.join(', ')}`);
  if (!modes.includes('direct')) throw new Error('--modes must include direct (the baseline)');
  const notes: string[] = [];
  if (modes.includes('nginx') && !existsSync(NGINX)) {
    notes.push(`nginx skipped: ${NGINX} is not installed (Debian: apt-get install nginx)`);
    process.stderr.write(`${notes.at(-1)}\n`);
    modes = modes.filter((m) => m !== 'nginx');
  }

  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  /** nginx's worker processes: killing its master with SIGKILL would leave them running. */
  const workers: number[] = [];
  const cleanup = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const pid of workers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    workers.length = 0;
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  /** Stops nginx the way it expects (SIGQUIT: master and workers exit), then the rest. */
  const stopAll = async (): Promise<void> => {
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill(c.spawnfile === NGINX ? 'SIGQUIT' : 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    }
    await new Promise((r) => setTimeout(r, 100));
    cleanup();
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  const budgetS = 60 + cfg.rounds * modes.length * (cfg.warmupS + cfg.durationS + cfg.latencyDurationS + 20);
  setTimeout(() => {
    process.stderr.write(`benchmark exceeded its ${budgetS} s bound; stopping\n`);
    process.exit(2);
  }, budgetS * 1000).unref();

  const ready = (child: ChildProcess, name: string, pattern: RegExp): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      const t = setTimeout(() => reject(new Error(`${name} did not start: ${err}`)), 15_000);
      child.stdout?.on('data', (d) => {
        out += d;
        const m = pattern.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m);
        }
      });
      child.stderr?.on('data', (d) => (err += d));
      child.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`${name} exited (${code}): ${err}`));
      });
    });

  // Upstream.
  const up = spawn(process.execPath, [fileURLToPath(import.meta.url), '--upstream'], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(up);
  const upPort = Number((await ready(up, 'upstream', /port=(\d+)/))[1]);
  const urls: Partial<Record<Mode, string>> = { direct: `http://127.0.0.1:${upPort}/` };
  const pids: Partial<Record<Mode, () => number[]>> = { direct: () => [up.pid!] };

  if (modes.includes('labcoat')) {
    const dir = mkdtempSync(join(os.tmpdir(), 'labcoat-bench-proxy-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'proxies.json'), JSON.stringify({ proxies: [{ name: 'bench', listen: '127.0.0.1:0', upstream: `127.0.0.1:${upPort}`, caller: 'client', service: 'upstream' }] }));
    const env: Record<string, string | undefined> = { ...process.env, LABCOAT_WATCH_STDIN: '1' };
    for (const k of Object.keys(env)) if (k.startsWith('LABCOAT_') && k !== 'LABCOAT_WATCH_STDIN') delete env[k];
    delete env['NODE_OPTIONS'];
    const child = spawn(process.execPath, [join(ROOT, 'packages/labcoat/bin/labcoat.js'), 'proxy', '--config', join(dir, 'proxies.json'), '--no-admin', '--json'], { stdio: ['pipe', 'pipe', 'pipe'], env });
    children.push(child);
    const m = await ready(child, 'labcoat proxy', /"listen":"([^"]+)"[\s\S]*LABCOAT_READY/);
    urls.labcoat = `http://${m[1]}/`;
    pids.labcoat = () => [child.pid!];
  }

  if (modes.includes('nginx')) {
    const dir = mkdtempSync(join(os.tmpdir(), 'labcoat-bench-nginx-'));
    dirs.push(dir);
    const port = await freePort();
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream up { server 127.0.0.1:${upPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
    );
    const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const started = await waitForHttp(`http://127.0.0.1:${port}/`, 10_000);
    if (!started) throw new Error(`nginx did not start: ${err}`);
    urls.nginx = `http://127.0.0.1:${port}/`;
    workers.push(...childPids(child.pid!));
    pids.nginx = () => [child.pid!, ...childPids(child.pid!)];
  }

  process.stderr.write(`modes: ${modes.join(', ')}; ${cfg.rounds} rounds; ${cfg.connections} connections × ${cfg.durationS} s, then 1 connection × ${cfg.latencyDurationS} s\n`);
  for (const m of modes) await load(urls[m]!, cfg.connections, cfg.warmupS * 2);

  interface Sample {
    rps: number;
    p50: number;
    p99: number;
    loadedP50: number;
    loadedP99: number;
    cpuUsPerReq: number;
    errors: number;
  }
  const samples: Record<Mode, Sample[]> = { direct: [], labcoat: [], nginx: [] };
  for (let round = 0; round < cfg.rounds; round++) {
    const order = modes.map((_, i) => modes[(i + round) % modes.length]!);
    for (const m of order) {
      await load(urls[m]!, cfg.connections, cfg.warmupS);
      const cpu0 = cpuUs(pids[m]!());
      const tp = await load(urls[m]!, cfg.connections, cfg.durationS);
      const cpu1 = cpuUs(pids[m]!());
      const lat = await load(urls[m]!, 1, cfg.latencyDurationS);
      const s: Sample = {
        rps: tp.rps,
        p50: percentileSorted(lat.sorted, 50),
        p99: percentileSorted(lat.sorted, 99),
        loadedP50: percentileSorted(tp.sorted, 50),
        loadedP99: percentileSorted(tp.sorted, 99),
        cpuUsPerReq: (cpu1 - cpu0) / Math.max(1, tp.requests),
        errors: tp.errors + lat.errors,
      };
      samples[m].push(s);
      process.stderr.write(`round ${round + 1} ${m.padEnd(7)} ${s.rps.toFixed(0)} req/s, p50 ${(s.p50 * 1000).toFixed(0)} µs, p99 ${(s.p99 * 1000).toFixed(0)} µs${s.errors ? `, ${s.errors} errors` : ''}\n`);
    }
  }

  // Per round: added latency against direct in the same round; then medians over rounds.
  const result: Record<string, unknown> = {};
  const med = (m: Mode, f: (s: Sample) => number): number => median(samples[m].map(f));
  console.log(`\nlabcoat proxy vs nginx on loopback (${os.cpus().length} cores, Node ${process.version}), medians over ${cfg.rounds} rounds\n`);
  console.log('mode      req/s (c=' + cfg.connections + ')  p50 µs  p99 µs  added p50 µs  added p99 µs  loaded p50/p99 ms  server CPU µs/req');
  for (const m of modes) {
    const addedP50 = m === 'direct' ? 0 : median(samples[m].map((s, i) => (s.p50 - samples.direct[i]!.p50) * 1000));
    const addedP99 = m === 'direct' ? 0 : median(samples[m].map((s, i) => (s.p99 - samples.direct[i]!.p99) * 1000));
    const row = {
      rps: round(med(m, (s) => s.rps), 0),
      p50Us: round(med(m, (s) => s.p50) * 1000, 0),
      p99Us: round(med(m, (s) => s.p99) * 1000, 0),
      addedP50Us: round(addedP50, 0),
      addedP99Us: round(addedP99, 0),
      loadedP50Ms: round(med(m, (s) => s.loadedP50), 3),
      loadedP99Ms: round(med(m, (s) => s.loadedP99), 3),
      cpuUsPerReq: round(med(m, (s) => s.cpuUsPerReq), 1),
      errors: samples[m].reduce((a, s) => a + s.errors, 0),
    };
    result[m] = row;
    console.log(
      `${m.padEnd(9)} ${String(row.rps).padStart(14)}  ${String(row.p50Us).padStart(6)}  ${String(row.p99Us).padStart(6)}  ${String(row.addedP50Us).padStart(12)}  ${String(row.addedP99Us).padStart(12)}  ${`${row.loadedP50Ms}/${row.loadedP99Ms}`.padStart(17)}  ${String(row.cpuUsPerReq).padStart(17)}`,
    );
  }
  const lab = result['labcoat'] as { rps: number; addedP50Us: number } | undefined;
  const ngx = result['nginx'] as { rps: number } | undefined;
  const ratio = lab && ngx ? lab.rps / ngx.rps : undefined;
  const verdict = {
    addedP50Us: lab ? { value: lab.addedP50Us, target: TARGETS.addedP50Us, met: lab.addedP50Us <= TARGETS.addedP50Us } : undefined,
    throughputVsNginx: ratio !== undefined ? { value: round(ratio, 2), target: TARGETS.throughputVsNginx, met: ratio >= TARGETS.throughputVsNginx } : undefined,
  };
  console.log(`\ntargets: added median latency ≤ ${TARGETS.addedP50Us} µs: ${verdict.addedP50Us ? `${verdict.addedP50Us.value} µs, ${verdict.addedP50Us.met ? 'met' : 'NOT met'}` : 'n/a'}; throughput ≥ ${TARGETS.throughputVsNginx * 100}% of nginx's: ${verdict.throughputVsNginx ? `${Math.round((ratio ?? 0) * 100)}%, ${verdict.throughputVsNginx.met ? 'met' : 'NOT met'}` : 'n/a'}`);
  for (const n of notes) console.log(`note: ${n}`);
  await stopAll();
  console.log(JSON.stringify({ bench: 'proxy', config: cfg, modes, machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, results: result, targets: verdict, notes }));
  process.exit(0);
}

interface Load {
  rps: number;
  requests: number;
  errors: number;
  sorted: number[];
}

function load(url: string, connections: number, seconds: number): Promise<Load> {
  return new Promise((resolve, reject) => {
    const samples: number[] = [];
    let guard: NodeJS.Timeout | undefined;
    const instance = autocannon({ url, connections, duration: seconds, pipelining: 1, timeout: 10 }, (err: Error | null, r: Result) => {
      clearTimeout(guard);
      if (err) return reject(err);
      samples.sort((x, y) => x - y);
      resolve({ rps: r.requests.total / r.duration, requests: r.requests.total, errors: r.errors + r.timeouts + r.non2xx, sorted: samples });
    });
    instance.on('response', (_c: unknown, _s: number, _b: number, ms: number) => {
      if (samples.length < MAX_SAMPLES) samples.push(ms);
    });
    guard = setTimeout(() => instance.stop(), (seconds + 15) * 1000);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url: string, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((r) => {
      const req = http.get(url, { agent: false }, (res) => {
        res.resume();
        r(res.statusCode === 200);
      });
      req.on('error', () => r(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** CPU time (user + system) of processes, µs, from /proc. */
function cpuUs(list: number[]): number {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  for (const pid of list) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += ((Number(fields[11]) + Number(fields[12])) * 1e6) / tick;
    } catch {
      // exited
    }
  }
  return total;
}
