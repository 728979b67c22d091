/** Shared by the control-plane tests: servers on SQLite or PostgreSQL, tokens, HTTP, a raw SSE client, spans. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toOtlpJson, type SpanData } from '@labcoat/core';
import { createToken } from '../src/server/auth.js';
import { startServer, type ControlPlane, type ServerOptions } from '../src/server/server.js';
import { openStore } from '../src/store/index.js';
import type { Role, Store } from '../src/store/types.js';
import { postgres } from './pg-helper.js';

export const KEY = 'control-plane-test-key-0123456789';

export interface Backend {
  readonly name: 'sqlite' | 'postgres';
  /** A new empty database (file path or URL); undefined with the reason when this backend is unavailable. */
  newDb(): Promise<string>;
  close(): Promise<void>;
}

export function sqliteBackend(): Backend {
  const dir = mkdtempSync(join(tmpdir(), 'labcoat-cp-'));
  let n = 0;
  return {
    name: 'sqlite',
    newDb: async () => join(dir, `db-${n++}.sqlite`),
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The PostgreSQL backend, or the reason there is none (for `{ skip: reason }`). */
export async function postgresBackend(): Promise<Backend | string> {
  const a = await postgres();
  if (!a.ok) return a.reason;
  return { name: 'postgres', newDb: () => a.pg.newDatabase(), close: () => a.pg.close() };
}

export interface Plane {
  readonly server: ControlPlane;
  readonly url: string;
  readonly db: string;
  readonly tokens: Record<Role, string>;
  api(method: string, path: string, o?: { token?: string | null; body?: unknown; headers?: Record<string, string>; raw?: string | Buffer }): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/** Makes one token of each role on a database. */
export async function makeTokens(db: string): Promise<Record<Role, string>> {
  const store = await openStore(db);
  try {
    const out = {} as Record<Role, string>;
    for (const role of ['admin', 'viewer', 'service'] as const) out[role] = (await createToken(store, role, `test ${role}`, { id: 'test', role: 'cli' })).token;
    return out;
  } finally {
    await store.close();
  }
}

export async function startPlane(db: string, options: Omit<ServerOptions, 'db' | 'store'> = {}, tokens?: Record<Role, string>): Promise<Plane> {
  const t = tokens ?? (await makeTokens(db));
  const server = await startServer({ db, port: 0, key: KEY, log: () => {}, ...options });
  return {
    server,
    url: server.url,
    db,
    tokens: t,
    api: (method, path, o = {}) => request(server.url, method, path, { ...o, token: o.token === undefined ? t.admin : o.token }),
    close: () => server.close(),
  };
}

export async function request(
  base: string,
  method: string,
  path: string,
  o: { token?: string | null; body?: unknown; headers?: Record<string, string>; raw?: string | Buffer } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...o.headers };
  let body: string | Buffer | undefined;
  if (o.raw !== undefined) body = o.raw;
  else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A raw SSE client: every event with the time it arrived. */
export class SseClient {
  readonly events: { event: string; data: string; at: number }[] = [];
  private readonly controller = new AbortController();
  private waiters = new Set<() => void>();
  status = 0;
  done: Promise<void>;

  constructor(url: string, token: string) {
    this.done = (async () => {
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: this.controller.signal });
      this.status = res.status;
      if (!res.ok || !res.body) return;
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length === 0) continue;
          this.events.push({ event, data: data.join('\n'), at: Date.now() });
          for (const w of [...this.waiters]) w();
        }
      }
    })().catch(() => {});
  }

  /** Waits (bounded) for an event after index `from` that satisfies `pred`; resolves to it or undefined. */
  async waitFor(pred: (e: { event: string; data: string; at: number }) => boolean, timeoutMs = 5000, from = 0): Promise<{ event: string; data: string; at: number } | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.slice(from).find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }

  close(): void {
    this.controller.abort();
  }
}

/** The snapshot inside a feed event (signature not checked here). */
export function snapshotOf(data: string): { v: number; attacks: { id: string }[]; leaseMs: number; serverTime: number; seq: number } {
  return JSON.parse((JSON.parse(data) as { body: string }).body);
}

export const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** A client span for an edge, `ms` long, ending now-ish. */
export function clientSpan(caller: string, callee: string, route: string, ms: number, o: { error?: boolean; traceId?: string; parent?: string } = {}): SpanData {
  const end = Date.now();
  return {
    traceId: o.traceId ?? hex(16),
    spanId: hex(8),
    ...(o.parent ? { parentSpanId: o.parent } : {}),
    name: `GET ${route}`,
    kind: 'client',
    service: caller,
    startMs: end - ms,
    endMs: end,
    status: { code: o.error ? 'error' : 'unset' },
    attributes: { 'labcoat.point': `${caller}->${callee} GET ${route}`, 'http.response.status_code': o.error ? 503 : 200 },
  };
}

export function serverSpan(service: string, route: string, ms: number, o: { error?: boolean; traceId?: string; parent?: string } = {}): SpanData {
  const end = Date.now();
  return {
    traceId: o.traceId ?? hex(16),
    spanId: hex(8),
    ...(o.parent ? { parentSpanId: o.parent } : {}),
    name: `GET ${route}`,
    kind: 'server',
    service,
    startMs: end - ms,
    endMs: end,
    status: { code: o.error ? 'error' : 'unset' },
    attributes: { 'http.route': route, 'http.response.status_code': o.error ? 500 : 200 },
  };
}

export function otlp(spans: readonly SpanData[]): string {
  return JSON.stringify(toOtlpJson(spans));
}

export type { Store };

export const CLI = fileURLToPath(new URL('../../bin/labcoat.js', import.meta.url));

export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stderr(): string;
  /** SIGTERM and wait (bounded); SIGKILL if it does not stop. */
  stop(): Promise<void>;
}

/** `labcoat server` as a child process on a free port; resolves once it listens. */
export async function spawnServer(db: string, args: string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI, 'server', '--port', '0', '--db', db, '--json', ...args], {
    env: { ...process.env, LABCOAT_KEY: KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-8000)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server did not start in 20 s: ${err}`));
    }, 20_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before listening: ${err}`));
    });
  });
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  return {
    url,
    child,
    stderr: () => err,
    async stop() {
      process.removeListener('exit', kill);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
