/** Shared pieces of the proxy tests: an upstream on loopback, a raw HTTP client, signed plans. */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { encodePlan, type FaultSpec, type PlanRule } from '@labcoat/core';
import { hmacMac } from '@labcoat/node';

export const KEY = 'proxy-test-key-0123456789abcdef';

export interface Upstream {
  readonly server: http.Server;
  readonly port: number;
  readonly address: string;
  /** Requests seen, with their headers. */
  readonly seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

export async function startUpstream(handler?: http.RequestListener): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (handler) return handler(req, res);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true, url: req.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    address: `127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request with node:http; rejects with the socket error (ECONNRESET…). */
export function request(url: string, options: http.RequestOptions & { body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      res.on('aborted', () => reject(Object.assign(new Error('response aborted'), { code: 'ECONNRESET', partial: Buffer.concat(chunks), status: res.statusCode })));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Sends raw bytes and collects everything until the server closes (bounded by `timeoutMs`). */
export function raw(port: number, bytes: string | Buffer, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    const t = setTimeout(() => s.destroy(), timeoutMs);
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
    s.write(bytes);
  });
}

export function signPlan(rules: PlanRule[], id = 'test-plan'): string {
  return encodePlan({ v: 1, id, exp: Date.now() + 60_000, rules }, hmacMac(KEY));
}

export function planHeaders(point: string, fault: FaultSpec, when?: { first?: number; p?: number }, traceId = randomHex(32)): Record<string, string> {
  return {
    traceparent: `00-${traceId}-${randomHex(16)}-01`,
    baggage: `labcoat.plan=${signPlan([{ match: { point }, fault, ...(when ? { when } : {}) }])}`,
  };
}

export function randomHex(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(Math.random() * 16)];
  return s;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it is true or `timeoutMs` passes. */
export async function eventually(check: () => boolean, timeoutMs = 3000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return true;
    await sleep(20);
  }
  return check();
}

/** A `labcoat proxy` process (the CLI), for measurements that must not include the test's own memory. */
export interface ProxyProcess {
  readonly pid: number;
  readonly admin: string | null;
  listen(name: string): string;
  /** Resident set size now, in bytes (from /proc). */
  rss(): number;
  stop(): Promise<void>;
}

export async function startProxyProcess(config: object, args: string[] = []): Promise<ProxyProcess> {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, writeFileSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'labcoat-proxy-'));
  const file = join(dir, 'proxies.json');
  writeFileSync(file, JSON.stringify(config));
  const bin = new URL('../../bin/labcoat.js', import.meta.url).pathname;
  const child = spawn(process.execPath, [bin, 'proxy', '--config', file, '--json', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, LABCOAT_WATCH_STDIN: '1', LABCOAT_KEY: '', LABCOAT_OTLP_URL: '' },
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const info = await new Promise<{ admin: string | null; proxies: { name: string; listen: string }[] }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`labcoat proxy did not start: ${err}`)), 10_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line && out.includes('LABCOAT_READY')) {
        clearTimeout(t);
        resolve(JSON.parse(line));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`labcoat proxy exited (${code}): ${err}`));
    });
  });
  return {
    pid: child.pid!,
    admin: info.admin,
    listen: (name) => info.proxies.find((p) => p.name === name)!.listen,
    rss: () => {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    },
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
