import { randomBytes } from 'node:crypto';
import { buildTraceTree, encodePlan, type FaultSpec, type SpanData } from '@labcoat/core';
import { hmacMac } from '@labcoat/node';
import { startChain, type Chain } from './chain.js';
import { Collector, isTraceComplete } from './collector.js';
import { renderTable, renderTraceTree } from './render.js';

/** One row of the demo's result. */
export interface DemoStep {
  name: string;
  fault: FaultSpec | null;
  plan: 'none' | 'signed' | 'forged';
  edgeStatus: number;
  /** What catalog saw when it called ratings. */
  catalogSaw: string;
  faultedPoints: string[];
  ratingsCalled: boolean;
  ok: boolean;
}

export interface DemoReport {
  target: string;
  steps: DemoStep[];
  trace: SpanData[];
  ok: boolean;
}

const FAULTS: { name: string; fault: FaultSpec }[] = [
  { name: 'connection error', fault: { kind: 'error' } },
  { name: 'HTTP 503 + Retry-After', fault: { kind: 'status', status: 503, body: '{"error":"injected"}', retryAfter: 2 } },
  { name: 'delay 200 ms', fault: { kind: 'delay', ms: 200 } },
  { name: 'hang (until timeout)', fault: { kind: 'hang', maxMs: 30_000 } },
  { name: 'reset mid-body', fault: { kind: 'reset', afterBytes: 10 } },
  { name: 'truncated body', fault: { kind: 'malformed', mode: 'truncate', afterBytes: 5 } },
  { name: 'corrupt body', fault: { kind: 'malformed', mode: 'corrupt', afterBytes: 1 } },
];

/**
 * The stand-in for `labcoat demo` until the explore engine lands: starts the three-service example
 * as real processes, sends one clean request and one request per fault kind under a signed plan
 * aimed at catalog→ratings, plus a forged plan, and reports what each hop saw and which calls the
 * spans say were faulted.
 */
export async function runDemo(progress: (line: string) => void): Promise<DemoReport> {
  const key = randomBytes(24).toString('base64url');
  const mac = hmacMac(key);
  progress('starting the OTLP collector…');
  const collector = await Collector.start();
  let chain: Chain | undefined;
  try {
    progress('starting edge (node:http + fetch) → catalog (Fastify + node:http) → ratings (Hono + point)…');
    chain = await startChain({ key, otlpUrl: collector.url });
    const target = chain.points.catalogToRatings;
    const steps: DemoStep[] = [];
    let baselineTrace = '';
    const all: { name: string; fault: FaultSpec | null; plan: DemoStep['plan'] }[] = [
      { name: 'no plan', fault: null, plan: 'none' },
      ...FAULTS.map((f) => ({ ...f, plan: 'signed' as const })),
      { name: 'forged plan (connection error)', fault: { kind: 'error' }, plan: 'forged' },
    ];
    for (const [i, step] of all.entries()) {
      progress(`[${i + 1}/${all.length}] ${step.name}`);
      const traceId = randomBytes(16).toString('hex');
      const parentId = randomBytes(8).toString('hex');
      const headers: Record<string, string> = { traceparent: `00-${traceId}-${parentId}-01` };
      if (step.fault) {
        let token = encodePlan({ v: 1, id: `demo-${i}`, exp: Date.now() + 60_000, rules: [{ match: { point: target }, fault: step.fault }] }, mac);
        if (step.plan === 'forged') token = `${token.slice(0, -4)}${token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
        headers['baggage'] = `user=demo,labcoat.plan=${token}`;
      }
      const res = await fetch(`${chain.edge.url}/chain/42`, { headers, signal: AbortSignal.timeout(15_000) });
      const body = (await res.json()) as { downstream?: { body?: { ratings?: Record<string, unknown> } } };
      const ratings = body.downstream?.body?.ratings ?? {};
      const spans = await collector.waitForTrace(traceId, (s) => isTraceComplete(s, parentId), 10_000);
      if (step.plan === 'none') baselineTrace = traceId;
      const faultedPoints = spans.filter((s) => s.attributes['labcoat.fault'] !== undefined).map((s) => String(s.attributes['labcoat.point']));
      const expectFault = step.plan === 'signed';
      steps.push({
        name: step.name,
        fault: step.fault,
        plan: step.plan,
        edgeStatus: res.status,
        catalogSaw: 'error' in ratings ? `${String(ratings['error'])}${ratings['status'] ? ` (status ${String(ratings['status'])})` : ''}` : `status ${String(ratings['status'])}`,
        faultedPoints,
        ratingsCalled: spans.some((s) => s.service === 'ratings' && s.kind === 'server'),
        ok: expectFault ? faultedPoints.length === 1 && faultedPoints[0] === target : faultedPoints.length === 0 && res.status === 200,
      });
    }
    const trace = collector.trace(baselineTrace);
    return { target, steps, trace, ok: steps.every((s) => s.ok) };
  } finally {
    progress('stopping services…');
    await chain?.stop();
    await collector.close();
  }
}

export function printDemo(report: DemoReport): void {
  console.log('\nA clean request, as the spans from all three processes tell it:\n');
  console.log(renderTraceTree(buildTraceTree(report.trace)));
  console.log(`\nEach request below carries a plan aimed at one injection point: ${report.target}\n`);
  console.log(
    renderTable(
      ['request', 'edge answered', 'catalog saw from ratings', 'ratings called', 'faulted points (from spans)', 'as expected'],
      report.steps.map((s) => [s.name, String(s.edgeStatus), s.catalogSaw, s.ratingsCalled ? 'yes' : 'no', s.faultedPoints.join(', ') || '—', s.ok ? '✓' : '✗']),
    ),
  );
  console.log(
    report.ok
      ? '\nEvery signed plan failed exactly the call it named and nothing else; the forged plan injected nothing.'
      : '\nSOMETHING IS WRONG: a plan injected where it should not have, or missed its point (see ✗ above).',
  );
  console.log('\n(The explore engine that searches for failure sets by itself comes next; this demo shows the data plane it drives.)');
}
