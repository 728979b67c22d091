import type { SpanData } from '@labcoat/core';
import { Collector, isTraceComplete } from './collector.js';
import { renderTable } from './render.js';
import { runClass, startStreaming, STREAMING_SERVICES, type ExperimentResult, type Streaming } from './streaming.js';

/** What `labcoat demo --smoke` found. */
export interface SmokeReport {
  ok: boolean;
  bugs: string[];
  /** From the first spawn until every service was ready. */
  startupMs: number;
  /** The budget startup is expected to meet (a warning, not a failure, when exceeded). */
  startupBudgetMs: number;
  classes: { name: string; method: string; path: string; status: number; durationMs: number; violations: string[]; services: string[] }[];
  services: { expected: string[]; seen: string[]; missing: string[] };
  /** Spans received from all requests. */
  spans: number;
  totalMs: number;
  error?: string;
}

const STARTUP_BUDGET_MS = 10_000;
const SPANS_WAIT_MS = 5_000;

/**
 * Starts examples/streaming with an in-process collector, sends each request class once (no
 * faults), checks every answer with its class's oracle and that spans from every service arrived
 * (telemetry is fire-and-forget: its spans are waited for too, at most 5 s), then stops everything.
 * `onStarted` gets the running system (the CLI uses it to stop it on Ctrl-C).
 */
export async function runSmoke(options: { bugs?: string; progress?: (line: string) => void; onStarted?: (system: Streaming) => void } = {}): Promise<SmokeReport> {
  const progress = options.progress ?? (() => {});
  const t0 = Date.now();
  const expected = STREAMING_SERVICES.map((s) => s.name).sort();
  const report: SmokeReport = {
    ok: false,
    bugs: [],
    startupMs: 0,
    startupBudgetMs: STARTUP_BUDGET_MS,
    classes: [],
    services: { expected, seen: [], missing: expected },
    spans: 0,
    totalMs: 0,
  };
  const collector = await Collector.start();
  let system: Streaming | undefined;
  try {
    progress(`starting ${expected.length} services of examples/streaming…`);
    system = await startStreaming({ otlpUrl: collector.url, ...(options.bugs !== undefined ? { bugs: options.bugs } : {}) });
    options.onStarted?.(system);
    report.bugs = [...system.bugs];
    report.startupMs = system.startupMs;
    progress(`all ${expected.length} services ready in ${system.startupMs} ms${system.bugs.length ? ` (bugs on: ${system.bugs.join(', ')})` : ''}`);
    const results: ExperimentResult[] = [];
    for (const cls of system.classes.classes) {
      const r = await runClass(system, cls);
      results.push(r);
      progress(`${cls.method} ${cls.path} → ${r.status} in ${Math.round(r.durationMs)} ms${r.violations.length ? `: ${r.violations.map((v) => v.message).join('; ')}` : ''}`);
    }
    progress('waiting for spans from every service…');
    const traces = new Map<string, SpanData[]>();
    const deadline = Date.now() + SPANS_WAIT_MS;
    for (;;) {
      for (const r of results) traces.set(r.traceId, collector.trace(r.traceId));
      const seen = new Set([...traces.values()].flat().map((s) => s.service));
      const complete = results.every((r) => isTraceComplete(traces.get(r.traceId)!, r.parentSpanId));
      if ((complete && expected.every((s) => seen.has(s))) || Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const seen = new Set([...traces.values()].flat().map((s) => s.service));
    report.spans = [...traces.values()].reduce((n, s) => n + s.length, 0);
    report.services = { expected, seen: [...seen].sort(), missing: expected.filter((s) => !seen.has(s)) };
    report.classes = results.map((r) => {
      const cls = system!.classes.classes.find((c) => c.name === r.class)!;
      return {
        name: r.class,
        method: cls.method,
        path: cls.path,
        status: r.status,
        durationMs: Math.round(r.durationMs),
        violations: r.violations.map((v) => v.message),
        services: [...new Set(traces.get(r.traceId)!.map((s) => s.service))].sort(),
      };
    });
    report.ok = report.classes.every((c) => c.violations.length === 0) && report.services.missing.length === 0;
  } catch (e) {
    report.error = (e as Error).message;
    report.ok = false;
  } finally {
    progress('stopping services…');
    await system?.stop();
    await collector.close();
    report.totalMs = Date.now() - t0;
  }
  return report;
}

export function printSmoke(report: SmokeReport): void {
  if (report.error) {
    console.log(`\nSmoke test FAILED: ${report.error}`);
    return;
  }
  console.log(`\nexamples/streaming: ${report.services.expected.length} services ready in ${report.startupMs} ms${report.startupMs > report.startupBudgetMs ? ` (over the ${report.startupBudgetMs} ms budget!)` : ''}; bugs on: ${report.bugs.join(', ') || 'none'}\n`);
  console.log(
    renderTable(
      ['request', 'status', 'ms', 'oracle', 'services in its trace'],
      report.classes.map((c) => [`${c.method} ${c.path}`, String(c.status), String(c.durationMs), c.violations.length ? `✗ ${c.violations.join('; ')}` : '✓', String(c.services.length)]),
    ),
  );
  console.log(
    `\nSpans: ${report.spans} from ${report.services.seen.length} of ${report.services.expected.length} services${report.services.missing.length ? `; MISSING: ${report.services.missing.join(', ')}` : ' (every service)'}.`,
  );
  console.log(report.ok ? `Smoke test passed in ${report.totalMs} ms; every process stopped.` : 'Smoke test FAILED (see ✗ above).');
}
