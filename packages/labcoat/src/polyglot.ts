/**
 * Starts examples/polyglot: four Python (Flask) services that only forward W3C trace context
 * headers, each calling its dependencies through its own egress listener of one labcoat proxy, and
 * an ingress listener in front of the entry service:
 *
 *   workload → [frontend-in] → frontend ─[frontend-catalog]──→ catalog ─[catalog-inventory]→ inventory
 *                                       └[frontend-recommend]→ recommend
 *
 * Point ids are exact (`frontend->catalog GET /items`), since every egress listener names its
 * caller. Run directly (`node packages/labcoat/dist/src/polyglot.js`) to start it and print the
 * `labcoat explore` command that finds its two planted bugs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SpanExporter } from '@labcoat/node';
import { freePorts, stopServices } from './launcher.js';
import { ProxyServer } from './proxy/server.js';

const ROOT = fileURLToPath(new URL('../../../../examples/polyglot/', import.meta.url));
/** Debian's python3: `python3` on PATH may be another interpreter without python3-flask. */
export const PYTHON = process.env['LABCOAT_PYTHON'] ?? '/usr/bin/python3';

/** The planted bugs (POLYGLOT_BUGS). */
export const POLYGLOT_BUGS = ['no-timeout', 'same-upstream-fallback'] as const;

/** The points the example's calls make. */
export const POLYGLOT_POINTS = {
  catalog: 'frontend->catalog GET /items',
  recommend: 'frontend->recommend GET /recs/:id',
  stock: 'catalog->inventory GET /stock',
  cached: 'catalog->inventory GET /stock/cached',
} as const;

export interface PolyglotOptions {
  /** Plan signing key shared with the proxy. */
  readonly key: string;
  readonly otlpUrl?: string;
  readonly exporter?: SpanExporter;
  /** `all` (default), `none`, or bug names separated by commas. */
  readonly bugs?: string;
  /** Admin API of the proxy (default: none). */
  readonly admin?: string | false;
}

export interface Polyglot {
  /** The ingress listener: `${url}/home`. */
  readonly url: string;
  readonly proxy: ProxyServer;
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

/** Throws a clear error when Debian's python3 with Flask and requests is not there. */
export function checkPython(): void {
  const r = spawnSync(PYTHON, ['-c', 'import flask, requests'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error || r.status !== 0) {
    throw new Error(
      `examples/polyglot needs ${PYTHON} with Flask and requests (Debian: apt-get install python3-flask python3-requests; or set LABCOAT_PYTHON): ${r.error?.message ?? r.stderr.trim().split('\n').pop()}`,
    );
  }
}

function startPython(name: string, env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn(PYTHON, [`${ROOT}${name}.py`], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1', LABCOAT_WATCH_STDIN: '1', PORT: String(port), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`polyglot ${name} did not get ready within 20 s\n${err}`));
    }, 20_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes(`LABCOAT_READY ${name} port=${port}`)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`polyglot ${name} exited (${signal ?? `code ${code}`}) before it was ready\n${err}`));
    });
  });
}

/** Starts the proxy and the four services; stops everything again if any part fails. */
export async function startPolyglot(options: PolyglotOptions): Promise<Polyglot> {
  checkPython();
  const [frontend, catalog, inventory, recommend, pIn, pCat, pRec, pInv] = (await freePorts(8)) as [number, number, number, number, number, number, number, number];
  const at = (p: number): string => `127.0.0.1:${p}`;
  const proxy = await ProxyServer.start({
    admin: options.admin ?? false,
    key: options.key,
    ...(options.exporter ? { exporter: options.exporter } : options.otlpUrl ? { otlpUrl: options.otlpUrl } : {}),
    proxies: [
      { name: 'frontend-in', listen: at(pIn), upstream: at(frontend), service: 'frontend', ingress: true },
      { name: 'frontend-catalog', listen: at(pCat), upstream: at(catalog), caller: 'frontend', service: 'catalog' },
      { name: 'frontend-recommend', listen: at(pRec), upstream: at(recommend), caller: 'frontend', service: 'recommend' },
      { name: 'catalog-inventory', listen: at(pInv), upstream: at(inventory), caller: 'catalog', service: 'inventory' },
    ],
  });
  const bugs = { POLYGLOT_BUGS: options.bugs ?? 'all' };
  const started = await Promise.allSettled([
    startPython('inventory', bugs, inventory),
    startPython('recommend', bugs, recommend),
    startPython('catalog', { ...bugs, INVENTORY_URL: `http://${at(pInv)}` }, catalog),
    startPython('frontend', { ...bugs, CATALOG_URL: `http://${at(pCat)}`, RECOMMEND_URL: `http://${at(pRec)}` }, frontend),
  ]);
  const children = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async (): Promise<void> => {
    await stopServices(children.map((child) => ({ child })), 2000);
    await proxy.close();
  };
  const failed = started.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
  if (failed.length > 0) {
    await stop();
    throw new Error(failed.join('\n'));
  }
  return { url: `http://${at(pIn)}`, proxy, pids: children.map((c) => c.pid!), stop };
}

// `node packages/labcoat/dist/src/polyglot.js`: start it and show how to explore it.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const key = process.env['LABCOAT_KEY'] ?? 'polyglot-example-key-0123456789';
  const otlpPort = Number(process.env['LABCOAT_OTLP_PORT'] ?? 4318);
  const system = await startPolyglot({ key, otlpUrl: `http://127.0.0.1:${otlpPort}/v1/traces`, admin: process.env['LABCOAT_ADMIN'] ?? '127.0.0.1:8474' });
  process.stdout.write(
    `examples/polyglot is up: ${system.url}/home (proxy admin API ${system.proxy.adminUrl ?? 'off'})\n` +
      `explore it (another terminal):\n` +
      `  LABCOAT_KEY=${key} npx labcoat explore --target ${system.url}/home --collector-port ${otlpPort} --deadline 2s --critical '${POLYGLOT_POINTS.catalog}'\n` +
      `Ctrl-C stops everything.\n`,
  );
  const stop = (): void => void system.stop().finally(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
