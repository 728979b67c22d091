/**
 * How fast the web console draws a big service graph: 1,000 services and 10,000 edges, in headless
 * Chromium (Debian's, through playwright-core). The built console (packages/console/dist) is served
 * by a tiny HTTP server here, with a generated graph behind `GET /api/graph` (the server's shape) —
 * a benchmark of rendering, not of the server. Each run opens a fresh browser context (cold cache),
 * signs in (token in sessionStorage), opens the graph view, and measures from navigation start to
 * the console's "graph rendered" marker (set on the first frame cytoscape draws after its layout).
 * Side by side, on the same page and data: the console as shipped (its own layered layout, nodes
 * drawn by cytoscape, edges on the console's canvas edge layer); the same positions with every edge
 * a cytoscape element (`edges=cytoscape`); cytoscape's built-in breadth-first and force-directed
 * (cose) layouts. Baselines that miss `--baseline-timeout` are reported as such and not repeated.
 *
 *   node bench/dist/console-graph.js [--runs 7] [--services 1000] [--edges 10000] [--baseline-timeout 60000]
 *
 * The last line is JSON: {"bench":"console-graph",…}.
 */
import http from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser } from 'playwright-core';

const args = process.argv.slice(2);
const arg = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  const v = i === -1 ? undefined : Number(args[i + 1]);
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : def;
};
const RUNS = Math.min(50, Math.floor(arg('runs', 7)));
const SERVICES = Math.floor(arg('services', 1000));
const EDGES = Math.floor(arg('edges', 10_000));
const BASELINE_TIMEOUT = arg('baseline-timeout', 60_000);
const CHROMIUM = process.env['LABCOAT_CHROMIUM'] ?? '/usr/bin/chromium';
const DIST = fileURLToPath(new URL('../../packages/console/dist/', import.meta.url));

/** A deterministic pseudo-random sequence (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A service graph shaped like a microservice estate: tiers (edge APIs, mid-tier, domain services,
 * platform, data stores), calls mostly to the next tiers down, a few back-edges (cycles), 2% of
 * edges failing. The shape `GET /api/graph` answers.
 */
export function generateGraph(services: number, edges: number, seed = 7): unknown {
  const r = rng(seed);
  const shares = [0.02, 0.1, 0.3, 0.38, 0.2];
  const tiers: string[][] = shares.map(() => []);
  const names: string[] = [];
  for (let i = 0; i < services; i++) {
    let t = 0;
    let acc = shares[0]!;
    const x = i / services;
    while (x >= acc && t < shares.length - 1) acc += shares[++t]!;
    const name = `${['api', 'bff', 'svc', 'platform', 'store'][t]}-${String(i).padStart(4, '0')}`;
    tiers[t]!.push(name);
    names.push(name);
  }
  const tierOf = new Map<string, number>();
  tiers.forEach((list, t) => list.forEach((n) => tierOf.set(n, t)));
  const seen = new Set<string>();
  const out: unknown[] = [];
  const now = Date.now();
  for (let guard = 0; out.length < edges && guard < edges * 50; guard++) {
    const from = names[Math.floor(r() * names.length)]!;
    const t = tierOf.get(from)!;
    if (t === tiers.length - 1 && r() > 0.02) continue; // stores rarely call anything
    const back = r() < 0.01;
    const targetTier = back ? Math.max(0, t - 1) : Math.min(tiers.length - 1, t + 1 + (r() < 0.25 ? 1 : 0));
    const list = tiers[targetTier]!;
    const to = list[Math.floor(r() * list.length)]!;
    if (to === from || seen.has(`${from}>${to}`)) continue;
    seen.add(`${from}>${to}`);
    const calls = Math.floor(10 + r() * 5000);
    const failing = r() < 0.02;
    const errors = failing ? Math.floor(calls * (0.05 + r() * 0.3)) : r() < 0.1 ? Math.floor(calls * r() * 0.01) : 0;
    const p50 = 1 + r() * 40;
    out.push({ caller: from, callee: to, points: [`${from}->${to} GET /v1/${to.split('-')[0]}/:id`], calls, errors, errorRate: errors / calls, p50Ms: p50, p99Ms: p50 * (3 + r() * 10) });
  }
  const requests = new Map<string, { req: number; err: number }>();
  for (const e of out as { callee: string; calls: number; errors: number }[]) {
    const s = requests.get(e.callee) ?? { req: 0, err: 0 };
    s.req += e.calls;
    s.err += e.errors;
    requests.set(e.callee, s);
  }
  return {
    sinceMs: now - 5 * 60_000,
    untilMs: now,
    bucketMs: 60_000,
    services: names.map((name) => ({ name, spans: (requests.get(name)?.req ?? 0) * 2, requests: requests.get(name)?.req ?? 0, errors: requests.get(name)?.err ?? 0 })),
    edges: out,
  };
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

export async function serve(graphJson: string): Promise<{ url: string; close(): Promise<void> }> {
  const json = (res: http.ServerResponse, status: number, body: string): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/api/whoami') return json(res, 200, '{"role":"viewer","name":"bench"}');
    if (path === '/api/graph') return json(res, 200, graphJson);
    if (path === '/api/campaigns') return json(res, 200, '{"campaigns":[]}');
    if (path === '/api/health') return json(res, 200, '{"ok":true,"version":"bench","store":"none","replica":"bench","uptimeMs":0}');
    if (path.startsWith('/api/')) return json(res, 404, `{"error":"no route for ${req.method} ${path} in the benchmark"}`);
    const file = normalize(join(DIST, path === '/' ? 'index.html' : path));
    if (!file.startsWith(DIST) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found');
    }
    const body = readFileSync(file);
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The console's hash query for each variant. */
const QUERY: Record<string, string> = {
  layered: 'layout=layered',
  'layered-cytoscape-edges': 'layout=layered&edges=cytoscape',
  breadthfirst: 'layout=breadthfirst',
  cose: 'layout=cose',
};

interface Run {
  readonly totalMs: number;
  readonly dataAtMs?: number;
  readonly layoutMs?: number;
  readonly nodes: number;
  readonly edges: number;
}

async function measure(browser: Browser, url: string, layout: string, timeoutMs: number): Promise<Run | undefined> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    await context.addInitScript(`try { sessionStorage.setItem('labcoat.token', 'lc_v_bench') } catch {}`);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}/#/graph?${QUERY[layout] ?? `layout=${layout}`}`, { waitUntil: 'commit' });
    try {
      await page.waitForFunction('window.__labcoatGraph !== undefined', undefined, { timeout: timeoutMs, polling: 50 });
    } catch {
      if (errors.length > 0) throw new Error(`page error: ${errors.join('; ')}`);
      return undefined;
    }
    const g = (await page.evaluate('window.__labcoatGraph')) as { nodes: string[]; edges: number; renderedAtMs: number; dataAtMs?: number; layoutMs?: number };
    return { totalMs: g.renderedAtMs, ...(g.dataAtMs !== undefined ? { dataAtMs: g.dataAtMs } : {}), ...(g.layoutMs !== undefined ? { layoutMs: g.layoutMs } : {}), nodes: g.nodes.length, edges: g.edges };
  } finally {
    await context.close();
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number): number => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  if (!existsSync(join(DIST, 'index.html'))) throw new Error(`the console is not built (${DIST}index.html): run npm run build`);
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set LABCOAT_CHROMIUM)`);
  const graph = generateGraph(SERVICES, EDGES);
  const graphJson = JSON.stringify(graph);
  const g = graph as { services: unknown[]; edges: unknown[] };
  const assets = readFileSync(join(DIST, 'index.html'), 'utf8').match(/\/assets\/[^"]+/g) ?? [];
  const bundle = assets.map((a) => {
    const b = readFileSync(join(DIST, a));
    return { file: a, bytes: b.length, gzip: gzipSync(b).length };
  });
  const server = await serve(graphJson);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
  const results: Record<string, { runs: Run[]; timedOut: number }> = {};
  const browserVersion = browser.version();
  try {
    console.log(`console-graph: ${g.services.length} services, ${g.edges.length} edges (${(graphJson.length / 1e6).toFixed(2)} MB of JSON); ${RUNS} runs per layout, fresh context each`);
    for (const a of bundle) console.log(`  bundle ${a.file}: ${(a.bytes / 1024).toFixed(1)} KiB (${(a.gzip / 1024).toFixed(1)} KiB gzip)`);
    await measure(browser, server.url, 'layered', 60_000); // warm the browser process and the OS file cache
    const plan: [string, number, number][] = [
      ['layered', RUNS, 60_000],
      ['layered-cytoscape-edges', Math.min(RUNS, 3), BASELINE_TIMEOUT],
      ['breadthfirst', Math.min(RUNS, 3), BASELINE_TIMEOUT],
      ['cose', Math.min(RUNS, 3), BASELINE_TIMEOUT],
    ];
    for (const [layout, runs, timeout] of plan) {
      const r = (results[layout] = { runs: [] as Run[], timedOut: 0 });
      for (let i = 0; i < runs; i++) {
        const run = await measure(browser, server.url, layout, timeout);
        if (!run) {
          r.timedOut++;
          console.log(`  ${layout.padEnd(24)} run ${i + 1}: not rendered within ${timeout} ms`);
          break; // a layout that misses the timeout once is not run again
        }
        r.runs.push(run);
        console.log(`  ${layout.padEnd(24)} run ${i + 1}: rendered at ${round(run.totalMs)} ms${run.layoutMs !== undefined && layout === 'layered' ? ` (graph data at ${round(run.dataAtMs ?? 0)} ms, layout ${round(run.layoutMs)} ms)` : ''}; ${run.nodes} nodes, ${run.edges} edges drawn`);
      }
    }
  } finally {
    await browser.close();
    await server.close();
  }
  const summary = Object.fromEntries(
    Object.entries(results).map(([k, v]) => [
      k,
      v.runs.length > 0
        ? { medianMs: round(median(v.runs.map((r) => r.totalMs))), minMs: round(Math.min(...v.runs.map((r) => r.totalMs))), maxMs: round(Math.max(...v.runs.map((r) => r.totalMs))), runs: v.runs.length, timedOut: v.timedOut, ...(k === 'layered' ? { layoutMedianMs: round(median(v.runs.map((r) => r.layoutMs ?? 0))), dataMedianMs: round(median(v.runs.map((r) => r.dataAtMs ?? 0))) } : {}) }
        : { medianMs: null, runs: 0, timedOut: v.timedOut, timeoutMs: BASELINE_TIMEOUT },
    ]),
  );
  const layered = summary['layered'] as { medianMs: number | null };
  console.log(`layered layout: median ${layered.medianMs} ms from navigation to the rendered graph (target < 2000 ms): ${layered.medianMs !== null && layered.medianMs < 2000 ? 'met' : 'NOT met'}`);
  console.log(
    JSON.stringify({
      bench: 'console-graph',
      services: g.services.length,
      edges: g.edges.length,
      graphJsonBytes: graphJson.length,
      bundle: bundle.map((b) => ({ file: b.file.replace(/^\/assets\//, ''), bytes: b.bytes, gzip: b.gzip })),
      ...summary,
      targetMs: 2000,
      chromium: browserVersion,
      node: process.version,
      cpus: cpus().length,
      load: loadavg().map((x) => Math.round(x * 100) / 100),
    }),
  );
}

const direct = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (!direct) {
  // imported (the generator and the server are reused): run nothing
} else if (args.includes('--serve')) {
  // Only serve the console and the generated graph (to look at it, or profile it), until killed.
  void serve(JSON.stringify(generateGraph(SERVICES, EDGES))).then((s) => console.log(`console-graph: serving ${s.url}/#/graph (sign in with any token)`));
} else
main().catch((e: unknown) => {
  console.error(`console-graph: ${(e as Error).message}`);
  process.exitCode = 1;
});
