/**
 * One service of the benchmark chain, run as its own child process (forked by chain.ts).
 *
 *   load generator → A (node:http server, calls B with global fetch, keep-alive)
 *                  → B (node:http server, calls C with node:http + keep-alive Agent)
 *                  → C (node:http server, answers a small JSON)
 *
 * Environment: BENCH_ROLE (a|b|c), BENCH_MODE (see MODES), BENCH_NEXT (URL of the next service, for
 * a and b). Listens on 127.0.0.1 with an ephemeral port and reports it over IPC. IPC commands:
 * `stats` (CPU time, requests served, spans exported) and `stop` (exit cleanly, which also writes a
 * --cpu-prof profile). The process exits when its parent goes away.
 *
 * Modes:
 * - none    no instrumentation.
 * - labcoat `init({ service, exporter })` from @labcoat/node (global fetch dispatcher + node:http
 *           patch) and `wrapRequestListener`; no key, no plan. The exporter counts spans and drops them.
 * - otel    NodeSDK from @opentelemetry/sdk-node with HttpInstrumentation + UndiciInstrumentation,
 *           W3C tracecontext + baggage propagators (the SDK's defaults), AlwaysOn sampling (default),
 *           a BatchSpanProcessor (the SDK's default processor) into an exporter that counts and drops.
 *
 * Diagnostic modes, to attribute labcoat's cost:
 * - agent       no labcoat, but the same undici Agent that labcoat installs as the global dispatcher
 *               (separates the cost of swapping Node's bundled dispatcher from labcoat's own work).
 * - labcoat-in  inbound only: `init({ fetch: false, http: false })` + `wrapRequestListener`.
 * - labcoat-out outbound only: `init()` (fetch + node:http interceptors), handlers not wrapped.
 * - als         the floor of any in-process tracer on Node 20: each request handler runs inside an
 *               AsyncLocalStorage context (which turns on async hooks for every promise and resource),
 *               nothing else.
 * - candidate   as `labcoat`, but @labcoat/node is imported from BENCH_LABCOAT_IMPORT (the path of
 *               another build's dist/src/index.js), to measure a proposed change side by side.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type * as HttpModule from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;
type Mode = 'none' | 'labcoat' | 'otel' | 'agent' | 'labcoat-in' | 'labcoat-out' | 'als' | 'candidate';
const MODES: readonly Mode[] = ['none', 'labcoat', 'otel', 'agent', 'labcoat-in', 'labcoat-out', 'als', 'candidate'];

const role = process.env['BENCH_ROLE'];
const mode = process.env['BENCH_MODE'] as Mode | undefined;
const next = process.env['BENCH_NEXT'];
if (role !== 'a' && role !== 'b' && role !== 'c') throw new Error(`BENCH_ROLE must be a, b or c; got ${String(role)}`);
if (!mode || !MODES.includes(mode)) throw new Error(`BENCH_MODE must be one of ${MODES.join(', ')}; got ${String(mode)}`);
if (role !== 'c' && !next) throw new Error('BENCH_NEXT is required for services a and b');

const require = createRequire(import.meta.url);
let spansExported = 0;
let served = 0;
let failures = 0;
/** Flushes buffered spans so the final count is complete (OpenTelemetry batches). */
let flushSpans: () => Promise<void> = async () => {};
let internalErrors: () => number = () => 0;

/** Installs the mode's instrumentation; returns how to wrap the request listener. */
async function setup(): Promise<(l: Listener) => Listener> {
  const service = `bench-${role}`;
  if (mode === 'labcoat' || mode === 'labcoat-in' || mode === 'labcoat-out' || mode === 'candidate') {
    const candidate = process.env['BENCH_LABCOAT_IMPORT'];
    if (mode === 'candidate' && !candidate) throw new Error('mode candidate needs BENCH_LABCOAT_IMPORT');
    const { init, wrapRequestListener } = (
      mode === 'candidate' ? await import(pathToFileURL(candidate!).href) : await import('@labcoat/node')
    ) as typeof import('@labcoat/node');
    const sdk = init({
      service,
      ...(mode === 'labcoat-in' ? { fetch: false, http: false } : {}),
      exporter: {
        export() {
          spansExported++;
        },
        async flush() {},
        async shutdown() {},
      },
    });
    internalErrors = () => sdk.stats.internalErrors;
    return mode === 'labcoat-out' ? (l) => l : (l) => wrapRequestListener(l);
  }
  if (mode === 'otel') {
    const { NodeSDK } = await import('@opentelemetry/sdk-node');
    const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
    const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
    const { UndiciInstrumentation } = await import('@opentelemetry/instrumentation-undici');
    const processor = new BatchSpanProcessor({
      export(spans, done) {
        spansExported += spans.length;
        done({ code: 0 });
      },
      async shutdown() {},
      async forceFlush() {},
    });
    const sdk = new NodeSDK({
      serviceName: service,
      autoDetectResources: false,
      spanProcessors: [processor],
      instrumentations: [new HttpInstrumentation(), new UndiciInstrumentation()],
    });
    sdk.start();
    flushSpans = () => processor.forceFlush();
    return (l) => l; // HttpInstrumentation instruments the server itself.
  }
  if (mode === 'als') {
    const { AsyncLocalStorage } = await import('node:async_hooks');
    const als = new AsyncLocalStorage<{ id: number }>();
    return (l) => (req, res) => als.run({ id: served }, () => l(req, res));
  }
  if (mode === 'agent') {
    // The undici copy @labcoat/node uses, resolved from its own location.
    const fromLabcoat = createRequire(import.meta.resolve('@labcoat/node'));
    const undici = fromLabcoat('undici') as { Agent: new () => object; setGlobalDispatcher(d: object): void };
    undici.setGlobalDispatcher(new undici.Agent());
  }
  return (l) => l;
}

const wrap = await setup();
// Required (CommonJS) after the instrumentation is installed, so OpenTelemetry's require hook patches it.
const http = require('node:http') as typeof HttpModule;

const PAYLOAD = JSON.stringify({ service: 'c', items: [1, 2, 3, 4, 5, 6, 7, 8], note: 'small json' });

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * With BENCH_ITEMS=N, C renders N catalogue items per request and B and A parse what they receive
 * and re-wrap it: the JSON work an API tier really does, so the SDK's cost can be seen against it.
 */
const ITEMS = Number(process.env['BENCH_ITEMS'] ?? 0);
const rewrap = (key: string, body: string): string => (ITEMS > 0 ? JSON.stringify({ [key]: JSON.parse(body) as unknown }) : `{"${key}":${body}}`);

let handler: Listener;
if (role === 'c') {
  handler = (_req, res) => {
    served++;
    if (ITEMS === 0) return reply(res, 200, PAYLOAD);
    const items = [];
    for (let i = 0; i < ITEMS; i++) items.push({ id: i, title: `Title ${i}`, rating: (i % 50) / 10, tags: ['drama', 'new'], available: i % 3 !== 0 });
    reply(res, 200, JSON.stringify({ service: 'c', items }));
  };
} else if (role === 'b') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  handler = (_req, res) => {
    served++;
    const out = http.get(next!, { agent }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => reply(res, r.statusCode === 200 ? 200 : 502, rewrap('b', Buffer.concat(chunks).toString())));
      r.on('error', () => {
        failures++;
        reply(res, 502, '{}');
      });
    });
    out.on('error', () => {
      failures++;
      if (!res.headersSent) reply(res, 502, '{}');
    });
  };
} else {
  handler = (_req, res) => {
    served++;
    fetch(next!)
      .then(async (r) => reply(res, r.status === 200 ? 200 : 502, rewrap('a', await r.text())))
      .catch(() => {
        failures++;
        if (!res.headersSent) reply(res, 502, '{}');
      });
  };
}

const server = http.createServer({ keepAliveTimeout: 30_000 }, wrap(handler));
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.send?.({ type: 'ready', port });
});

process.on('message', (msg: { type?: string }) => {
  if (msg?.type === 'stats') {
    void flushSpans()
      .catch(() => {})
      .then(() => {
        const cpu = process.cpuUsage();
        process.send?.({ type: 'stats', cpuUs: cpu.user + cpu.system, served, spans: spansExported, failures, internalErrors: internalErrors() });
      });
  } else if (msg?.type === 'stop') {
    server.close();
    server.closeAllConnections();
    // A normal exit writes the --cpu-prof profile, when asked for.
    setImmediate(() => process.exit(0));
  }
});
// Never outlive the benchmark runner.
process.on('disconnect', () => process.exit(0));
