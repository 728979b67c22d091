/**
 * The web console against real things: `labcoat server` as a process on a temporary SQLite
 * database (tokens made with `labcoat token create`), the streaming demo exporting spans to it and
 * subscribed to its attack feed, background traffic, and Debian's Chromium driven by playwright-core.
 * Shared by console-e2e.test.ts and scripts/console-screenshots.ts. Everything started here is
 * stopped by `close()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { sendClass, startStreaming, type Streaming } from '../src/streaming.js';

export const CHROMIUM = process.env['LABCOAT_CHROMIUM'] ?? '/usr/bin/chromium';
export const CONSOLE_DIST = fileURLToPath(new URL('../../../console/dist/', import.meta.url));
const LABCOAT_BIN = fileURLToPath(new URL('../../bin/labcoat.js', import.meta.url));
export const KEY = 'console-e2e-key-0123456789abcdef012345';

/** Why the browser tests cannot run here, or undefined. */
export function whyNoBrowser(): string | undefined {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y --no-install-recommends chromium), as .ci/run does`;
  if (!existsSync(join(CONSOLE_DIST, 'index.html'))) return `the console is not built (${CONSOLE_DIST}index.html is missing): run npm run build`;
  return undefined;
}

/** Runs the labcoat CLI (bounded); resolves with its exit code and output. */
export function labcoat(args: readonly string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LABCOAT_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** What it printed on stderr (bounded). */
  readonly stderr: () => string;
  stop(): Promise<void>;
}

/** Starts `labcoat server --port 0 --db DB --key KEY --json` and waits (bounded) for its listening line. */
export async function startServerProcess(db: string, key = KEY, timeoutMs = 30_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, [LABCOAT_BIN, 'server', '--port', '0', '--db', db, '--key', key, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-20_000);
  });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exit;
    clearTimeout(t);
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`labcoat server did not say it was listening within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        for (const line of out.split('\n')) {
          try {
            const j = JSON.parse(line) as { event?: string; url?: string };
            if (j.event === 'listening' && j.url) {
              clearTimeout(timer);
              resolve(j.url);
            }
          } catch {
            // not the JSON line (yet)
          }
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`labcoat server exited (${code}) before listening: ${err}`));
      });
    });
    return { url, child, stderr: () => err, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

export type Tokens = Record<'admin' | 'viewer' | 'service', string>;

/** One token per role, made by `labcoat token create --role R --db DB --json`. */
export async function createTokens(db: string): Promise<Tokens> {
  const out = {} as Tokens;
  for (const role of ['admin', 'viewer', 'service'] as const) {
    const r = await labcoat(['token', 'create', '--role', role, '--name', `console ${role}`, '--db', db, '--json']);
    if (r.code !== 0) throw new Error(`labcoat token create --role ${role} failed (${r.code}): ${r.stderr}`);
    out[role] = (JSON.parse(r.stdout) as { token: string }).token;
  }
  return out;
}

/** Requests of every class, one round at a time, until stopped; answers are not checked. */
export class Traffic {
  private running = false;
  private loop: Promise<void> | undefined;
  sent = 0;

  constructor(
    private readonly system: Streaming,
    private readonly everyMs = 250,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      for (let round = 0; this.running && round < 1_000_000; round++) {
        await Promise.all(this.system.classes.classes.map((c) => sendClass(this.system.edgeUrl, c.method, c.path, c.headers ?? {}, 3000).then(() => this.sent++).catch(() => undefined)));
        await new Promise((r) => setTimeout(r, this.everyMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

export interface ConsoleLab {
  readonly dir: string;
  readonly db: string;
  readonly server: ServerProcess;
  readonly tokens: Tokens;
  readonly system: Streaming;
  readonly traffic: Traffic;
  readonly browser: Browser;
  /** A page signed in with the token of `role` (viewport 1400×900 unless given). */
  page(role: 'admin' | 'viewer', viewport?: { width: number; height: number }): Promise<Page>;
  /** JSON API call as `role` (admin by default). */
  api(method: string, path: string, body?: unknown, role?: keyof Tokens | null): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/**
 * Starts everything. The demo's services inherit `LABCOAT_CONTROL_URL`/`LABCOAT_CONTROL_TOKEN`
 * (every SDK subscribes to the attack feed) and `LABCOAT_ATTACK_ENTRY=edge` (the edge decides which
 * requests join), and export their spans to the server.
 */
export async function startConsoleLab(o: { bugs?: string } = {}): Promise<ConsoleLab> {
  const dir = mkdtempSync(join(tmpdir(), 'labcoat-console-'));
  const db = join(dir, 'labcoat.db');
  const closers: (() => Promise<void>)[] = [async () => rmSync(dir, { recursive: true, force: true })];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    closers.length = 0;
  };
  try {
    const tokens = await createTokens(db);
    const server = await startServerProcess(db);
    closers.push(() => server.stop());
    const env = { LABCOAT_CONTROL_URL: server.url, LABCOAT_CONTROL_TOKEN: tokens.service, LABCOAT_ATTACK_ENTRY: 'edge' };
    const saved: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(env)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    let system: Streaming;
    try {
      system = await startStreaming({ key: KEY, bugs: o.bugs ?? 'none', otlpUrl: `${server.url}/v1/traces`, warmup: 1 });
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    closers.push(() => system.stop());
    const traffic = new Traffic(system);
    closers.push(() => traffic.stop());
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true, timeout: 60_000 });
    closers.push(() => browser.close());
    const api = async (method: string, path: string, body?: unknown, role: keyof Tokens | null = 'admin'): Promise<{ status: number; body: any }> => {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: { ...(role ? { authorization: `Bearer ${tokens[role]}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON
      }
      return { status: res.status, body: parsed };
    };
    return {
      dir,
      db,
      server,
      tokens,
      system,
      traffic,
      browser,
      api,
      async page(role, viewport = { width: 1400, height: 900 }) {
        const context = await browser.newContext({ viewport });
        const page = await context.newPage();
        await signIn(page, server.url, tokens[role]);
        return page;
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Opens the console at `/` and signs in with the token; resolves once the header shows the role. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('role').waitFor({ timeout: 15_000 });
}

/** Polls `fn` until it returns something truthy (bounded); resolves to that, or undefined at the deadline. */
export async function eventually<T>(fn: () => Promise<T | undefined | false | null>, timeoutMs: number, everyMs = 250): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return undefined;
}
