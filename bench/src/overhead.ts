/**
 * Overhead of @labcoat/node with no fault plan on a 2-hop loopback chain, side by side in one run
 * with the same chain uninstrumented (`none`) and instrumented by @opentelemetry/sdk-node
 * (http + undici instrumentations, `otel`). See docs/benchmarks.md for the method.
 *
 *   node bench/dist/overhead.js [--quick] [--rounds N] [--duration S] [--latency-duration S]
 *        [--warmup S] [--connections N] [--modes none,labcoat,otel[,agent,labcoat-in,labcoat-out,als,candidate]]
 *        [--cpu-prof DIR] [--candidate PATH]
 *
 * Diagnostic modes (see chain-service.ts): agent, labcoat-in, labcoat-out, als, and candidate, which
 * runs another build of @labcoat/node (`--candidate path/to/dist/src/index.js`) next to the current one.
 *
 * Human-readable figures go to stdout, progress to stderr, and the last stdout line is one JSON
 * object: {"bench":"sdk-overhead", ...}.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon, { type Result } from 'autocannon';
import { killAll, MODES, startChain, type Chain, type Mode, type Role, type ServiceStats } from './chain.js';
import { median, percentileSorted, round } from './stats.js';

const HOPS = 2; // A→B and B→C: the service-to-service calls of the chain.
const ROLES: readonly Role[] = ['a', 'b', 'c'];
const MAX_SAMPLES = 2_000_000;
const TARGETS = { throughputLossPct: 5, addedP50UsPerHop: 50, fractionOfOtel: 0.5 } as const;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    'latency-duration': { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    modes: { type: 'string' },
    'cpu-prof': { type: 'string' },
    candidate: { type: 'string' },
    items: { type: 'string' },
  },
});

function num(v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`expected a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return n;
}

const quick = args.quick === true;
const cfg = {
  rounds: num(args.rounds, quick ? 3 : 6, 1, 30),
  initialWarmupS: quick ? 1 : 3,
  warmupS: num(args.warmup, quick ? 0.3 : 1, 0, 60),
  durationS: num(args.duration, quick ? 1 : 4, 1, 120),
  latencyDurationS: num(args['latency-duration'], quick ? 1 : 2.5, 1, 120),
  connections: num(args.connections, 16, 1, 1024),
  /** Catalogue items C renders per request (B and A parse and re-wrap them); 0 = the no-op chain. */
  items: num(args.items, 0, 0, 10_000),
};
const modes = (args.modes ?? 'none,labcoat,otel').split(',').map((m) => m.trim()) as Mode[];
for (const m of modes) if (!MODES.includes(m)) throw new Error(`unknown mode ${m}; modes: ${MODES.join(', ')}`);
if (!modes.includes('none')) throw new Error('--modes must include none (the baseline)');
const cpuProfDir = args['cpu-prof'];
const candidate = args.candidate ? resolve(args.candidate) : undefined;
if (modes.includes('candidate') !== Boolean(candidate)) throw new Error('mode candidate and --candidate PATH (a build of @labcoat/node: its dist/src/index.js) go together');
if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });

// ---- cleanup: no child outlives the runner ----------------------------------------------------
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    process.stderr.write(`\n${sig}: stopping services\n`);
    killAll();
    process.exit(130);
  });
}
// A hard bound on the whole run, whatever happens.
const budgetS = modes.length * (cfg.initialWarmupS + 60) + cfg.rounds * modes.length * (cfg.warmupS + cfg.durationS + cfg.latencyDurationS + 30) + 60;
setTimeout(() => {
  process.stderr.write(`benchmark exceeded its ${budgetS} s bound; stopping\n`);
  killAll();
  process.exit(2);
}, budgetS * 1000).unref();

// ---- load ------------------------------------------------------------------------------------
interface Load {
  rps: number;
  requests: number;
  errors: number;
  /** Response times in ms (autocannon's hrtime durations, before its 1 ms-resolution histogram). */
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
    instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
      if (samples.length < MAX_SAMPLES) samples.push(ms);
    });
    guard = setTimeout(() => instance.stop(), (seconds + 15) * 1000);
  });
}

// ---- one measurement on a running chain ------------------------------------------------------
interface Sample {
  round: number;
  mode: Mode;
  rps: number;
  loadedP50Ms: number;
  loadedP99Ms: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time of A+B+C per request served, during the throughput phase. */
  cpuUsPerReq: number;
  /** The same, per service. */
  cpuUsPerReqByRole: Record<Role, number>;
  problems: string[];
}

async function measure(chain: Chain, roundNo: number): Promise<Sample> {
  // A short re-warm: the chain idled while the other modes ran (idle keep-alive sockets may be gone).
  if (cfg.warmupS > 0) await load(chain.url, cfg.connections, cfg.warmupS);
  const before = await chain.stats();
  const tp = await load(chain.url, cfg.connections, cfg.durationS);
  const after = await chain.stats();
  const lat = await load(chain.url, 1, cfg.latencyDurationS);
  const served = after.a.served - before.a.served;
  const byRole = Object.fromEntries(ROLES.map((r) => [r, served > 0 ? (after[r].cpuUs - before[r].cpuUs) / served : Number.NaN])) as Record<Role, number>;
  const problems: string[] = [];
  if (tp.errors + lat.errors > 0) problems.push(`${tp.errors + lat.errors} load errors/non-2xx`);
  return {
    round: roundNo,
    mode: chain.mode,
    rps: tp.rps,
    loadedP50Ms: percentileSorted(tp.sorted, 50),
    loadedP99Ms: percentileSorted(tp.sorted, 99),
    p50Ms: percentileSorted(lat.sorted, 50),
    p99Ms: percentileSorted(lat.sorted, 99),
    cpuUsPerReq: byRole.a + byRole.b + byRole.c,
    cpuUsPerReqByRole: byRole,
    problems,
  };
}

/** Spans exported per request served, per service, and failures, over a chain's whole life. */
function checkChain(end: Record<Role, ServiceStats>): { spansPerReq: Record<Role, number>; problems: string[] } {
  const spansPerReq = Object.fromEntries(ROLES.map((r) => [r, end[r].served > 0 ? end[r].spans / end[r].served : 0])) as Record<Role, number>;
  const bad = ROLES.reduce((n, r) => n + end[r].failures + end[r].internalErrors, 0);
  return { spansPerReq, problems: bad > 0 ? [`${bad} service failures/internal errors`] : [] };
}

/** Which @labcoat/node was measured: the commit, and whether packages/node or packages/core had uncommitted changes. */
function sdkVersion(): { commit: string; dirty: boolean | null } {
  try {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--', 'packages/node/src', 'packages/core/src'], { cwd: root, encoding: 'utf8' });
    return { commit, dirty: status.trim() !== '' };
  } catch {
    return { commit: 'unknown', dirty: null };
  }
}

// ---- run -------------------------------------------------------------------------------------
async function main(): Promise<void> {
  const started = Date.now();
  const cpus = os.cpus();
  const sdk = sdkVersion();
  const machine = { cpus: os.availableParallelism(), model: cpus[0]?.model ?? 'unknown', node: process.version, platform: `${os.platform()} ${os.release()}` };
  process.stderr.write(
    `sdk-overhead: modes ${modes.join(', ')}; ${cfg.rounds} rounds; each: ${cfg.warmupS} s re-warm, ${cfg.connections} connections × ${cfg.durationS} s, then 1 connection × ${cfg.latencyDurationS} s\n`,
  );
  if (cpuProfDir) process.stderr.write(`CPU profiles → ${cpuProfDir} (profiling slows the services: figures of this run are not the benchmark's)\n`);

  // Every chain runs for the whole benchmark (idle while another is measured), so the modes can
  // alternate many times, each measurement close in time to the others of its round.
  const chains = new Map<Mode, Chain>();
  for (const mode of modes) {
    const chain = await startChain(mode, {
      ...(cpuProfDir ? { cpuProfDir, tag: mode } : {}),
      env: { BENCH_ITEMS: String(cfg.items), ...(mode === 'candidate' ? { BENCH_LABCOAT_IMPORT: candidate! } : {}) },
    });
    chains.set(mode, chain);
    await load(chain.url, cfg.connections, cfg.initialWarmupS);
    process.stderr.write(`started and warmed ${mode}: ${chain.url}\n`);
  }

  const samples: Sample[] = [];
  const checks = new Map<Mode, ReturnType<typeof checkChain>>();
  try {
    for (let r = 0; r < cfg.rounds; r++) {
      // Rotate the order each round so no mode always runs first or last.
      const order = modes.map((_, i) => modes[(i + r) % modes.length]!);
      for (const mode of order) {
        const s = await measure(chains.get(mode)!, r + 1);
        samples.push(s);
        const c = s.cpuUsPerReqByRole;
        process.stderr.write(
          `round ${r + 1} ${mode.padEnd(11)} ${s.rps.toFixed(0).padStart(6)} req/s  p50 ${(s.p50Ms * 1000).toFixed(0).padStart(5)} µs  p99 ${(s.p99Ms * 1000).toFixed(0).padStart(5)} µs  ` +
            `loaded p50 ${s.loadedP50Ms.toFixed(2)} ms  cpu ${s.cpuUsPerReq.toFixed(0)} µs/req (a ${c.a.toFixed(0)} b ${c.b.toFixed(0)} c ${c.c.toFixed(0)})` +
            `${s.problems.length ? `  PROBLEMS: ${s.problems.join('; ')}` : ''}\n`,
        );
      }
    }
    const served: Record<string, Record<Role, number>> = {};
    for (const [mode, chain] of chains) {
      const end = await chain.stats();
      checks.set(mode, checkChain(end));
      served[mode] = { a: end.a.served, b: end.b.served, c: end.c.served };
    }
    // Lets profile-summary express profile time per request served.
    if (cpuProfDir) writeFileSync(join(cpuProfDir, 'served.json'), `${JSON.stringify(served)}\n`);
  } finally {
    await Promise.all([...chains.values()].map((c) => c.stop()));
  }

  const of = (mode: Mode): Sample[] => samples.filter((s) => s.mode === mode);
  const base = (roundNo: number): Sample => samples.find((s) => s.mode === 'none' && s.round === roundNo)!;

  const perMode = Object.fromEntries(
    modes.map((m) => {
      const ss = of(m);
      return [
        m,
        {
          rps: round(median(ss.map((s) => s.rps)), 0),
          p50Us: round(median(ss.map((s) => s.p50Ms * 1000)), 0),
          p99Us: round(median(ss.map((s) => s.p99Ms * 1000)), 0),
          loadedP50Us: round(median(ss.map((s) => s.loadedP50Ms * 1000)), 0),
          loadedP99Us: round(median(ss.map((s) => s.loadedP99Ms * 1000)), 0),
          cpuUsPerReq: round(median(ss.map((s) => s.cpuUsPerReq)), 0),
          cpuUsPerReqByService: Object.fromEntries(ROLES.map((r) => [r, round(median(ss.map((s) => s.cpuUsPerReqByRole[r])), 0)])),
          spansPerReq: Object.fromEntries(ROLES.map((r) => [r, round(checks.get(m)?.spansPerReq[r] ?? Number.NaN, 2)])),
        },
      ];
    }),
  );

  // Costs are paired within a round (a mode against the baseline measured minutes apart at most),
  // then the median over rounds is taken.
  const overhead = Object.fromEntries(
    modes
      .filter((m) => m !== 'none')
      .map((m) => {
        const ss = of(m);
        return [
          m,
          {
            throughputLossPct: round(median(ss.map((s) => 100 * (1 - s.rps / base(s.round).rps))), 1),
            addedP50UsPerHop: round(median(ss.map((s) => ((s.p50Ms - base(s.round).p50Ms) * 1000) / HOPS)), 1),
            addedP99UsPerHop: round(median(ss.map((s) => ((s.p99Ms - base(s.round).p99Ms) * 1000) / HOPS)), 1),
            addedLoadedP50UsPerHop: round(median(ss.map((s) => ((s.loadedP50Ms - base(s.round).loadedP50Ms) * 1000) / HOPS)), 1),
            addedCpuUsPerReq: round(median(ss.map((s) => s.cpuUsPerReq - base(s.round).cpuUsPerReq)), 1),
          },
        ];
      }),
  ) as Record<string, { throughputLossPct: number | null; addedP50UsPerHop: number | null; addedP99UsPerHop: number | null; addedLoadedP50UsPerHop: number | null; addedCpuUsPerReq: number | null }>;

  const lc = overhead['labcoat'];
  const ot = overhead['otel'];
  const fraction = (a: number | null | undefined, b: number | null | undefined): number | null => {
    if (a == null || b == null || b <= 0) return null;
    return round(Math.max(0, a) / b, 2);
  };
  const labcoatVsOtel = lc && ot
    ? {
        throughputLoss: fraction(lc.throughputLossPct, ot.throughputLossPct),
        addedP50Latency: fraction(lc.addedP50UsPerHop, ot.addedP50UsPerHop),
        addedCpu: fraction(lc.addedCpuUsPerReq, ot.addedCpuUsPerReq),
      }
    : undefined;
  const problems = [
    ...samples.flatMap((s) => s.problems.map((p) => `round ${s.round} ${s.mode}: ${p}`)),
    ...[...checks].flatMap(([m, c]) => c.problems.map((p) => `${m}: ${p}`)),
  ];
  const met = (v: number | null | undefined, limit: number): boolean | null => (v == null ? null : v <= limit);
  const targets = lc
    ? {
        throughputLoss: { limitPct: TARGETS.throughputLossPct, valuePct: lc.throughputLossPct, met: met(lc.throughputLossPct, TARGETS.throughputLossPct) },
        addedP50PerHop: { limitUs: TARGETS.addedP50UsPerHop, valueUs: lc.addedP50UsPerHop, met: met(lc.addedP50UsPerHop, TARGETS.addedP50UsPerHop) },
        halfOfOtelThroughput: { limit: TARGETS.fractionOfOtel, value: labcoatVsOtel?.throughputLoss ?? null, met: met(labcoatVsOtel?.throughputLoss, TARGETS.fractionOfOtel) },
        halfOfOtelLatency: { limit: TARGETS.fractionOfOtel, value: labcoatVsOtel?.addedP50Latency ?? null, met: met(labcoatVsOtel?.addedP50Latency, TARGETS.fractionOfOtel) },
      }
    : undefined;

  // ---- report ----
  const out: string[] = [];
  out.push('');
  out.push(`sdk-overhead — ${machine.cpus} CPUs (${machine.model}), Node ${machine.node}; medians of ${cfg.rounds} rounds; @labcoat/node at ${sdk.commit}${sdk.dirty ? ' + uncommitted changes' : ''}`);
  out.push(`chain: load → A (fetch) → B (node:http) → C${cfg.items > 0 ? ` rendering ${cfg.items} items (B and A parse and re-wrap them)` : ' (no-op handlers)'}; ${HOPS} hops; ${cfg.connections} connections × ${cfg.durationS} s for throughput, 1 connection × ${cfg.latencyDurationS} s for latency`);
  out.push('');
  out.push('mode          req/s   p50 µs   p99 µs   loaded p50 µs   loaded p99 µs   CPU µs/req A+B+C (A / B / C)   spans/req (A/B/C)');
  for (const m of modes) {
    const f = perMode[m]!;
    const c = f.cpuUsPerReqByService as Record<Role, number | null>;
    const sp = f.spansPerReq as Record<Role, number | null>;
    out.push(
      `${m.padEnd(11)} ${String(f.rps).padStart(7)}   ${String(f.p50Us).padStart(6)}   ${String(f.p99Us).padStart(6)}   ${String(f.loadedP50Us).padStart(13)}   ${String(f.loadedP99Us).padStart(13)}   ` +
        `${`${f.cpuUsPerReq} (${c.a} / ${c.b} / ${c.c})`.padStart(28)}   ${sp.a}/${sp.b}/${sp.c}`,
    );
  }
  out.push('');
  out.push('cost vs none   throughput loss   added p50 µs/hop   added p99 µs/hop   added CPU µs/req');
  for (const [m, o] of Object.entries(overhead)) {
    out.push(
      `${m.padEnd(13)} ${`${o.throughputLossPct}%`.padStart(16)}   ${String(o.addedP50UsPerHop).padStart(16)}   ${String(o.addedP99UsPerHop).padStart(16)}   ${String(o.addedCpuUsPerReq).padStart(16)}`,
    );
  }
  out.push('(paired with the none measurement of the same round, median over rounds; per hop = chain difference / 2)');
  if (labcoatVsOtel) {
    out.push('');
    out.push(`labcoat's cost as a fraction of OpenTelemetry's: throughput ${labcoatVsOtel.throughputLoss}, p50 latency ${labcoatVsOtel.addedP50Latency}, CPU ${labcoatVsOtel.addedCpu}`);
  }
  if (targets) {
    const yn = (b: boolean | null): string => (b === null ? 'n/a' : b ? 'MET' : 'NOT MET');
    out.push(
      `targets: throughput loss ≤ ${TARGETS.throughputLossPct}%: ${yn(targets.throughputLoss.met)}; added p50 ≤ ${TARGETS.addedP50UsPerHop} µs/hop: ${yn(targets.addedP50PerHop.met)}; ` +
        `≤ half of OTel (throughput): ${yn(targets.halfOfOtelThroughput.met)}; ≤ half of OTel (latency): ${yn(targets.halfOfOtelLatency.met)}`,
    );
  }
  if (problems.length) out.push(`PROBLEMS (figures may be invalid): ${problems.join('; ')}`);
  out.push(`run took ${((Date.now() - started) / 1000).toFixed(0)} s${cpuProfDir ? ' (with --cpu-prof: not representative)' : ''}`);
  process.stdout.write(`${out.join('\n')}\n`);

  const json = {
    bench: cfg.items > 0 ? 'sdk-overhead-items' : 'sdk-overhead',
    machine,
    sdk,
    config: { ...cfg, modes, hops: HOPS, profiled: Boolean(cpuProfDir) },
    modes: perMode,
    overhead,
    labcoatVsOtel: labcoatVsOtel ?? null,
    targets: targets ?? null,
    valid: problems.length === 0,
    problems,
    rounds: samples.map((s) => ({
      round: s.round,
      mode: s.mode,
      rps: round(s.rps, 0),
      p50Us: round(s.p50Ms * 1000, 0),
      p99Us: round(s.p99Ms * 1000, 0),
      loadedP50Us: round(s.loadedP50Ms * 1000, 0),
      cpuUsPerReq: round(s.cpuUsPerReq, 0),
    })),
    durationS: round((Date.now() - started) / 1000, 0),
  };
  process.stdout.write(`${JSON.stringify(json)}\n`);
}

main().then(
  () => {
    killAll();
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`sdk-overhead failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    killAll();
    process.exit(1);
  },
);
