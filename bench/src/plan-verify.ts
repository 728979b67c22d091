/**
 * plan-verify: what a request pays to verify the plan it carries. labcoat caches verification per
 * token, so only the first request with a plan pays for HMAC-SHA256 + JSON parse + validation; the
 * baseline is that full check done on every request (`decodePlan` with the same HMAC). Also
 * measured: a request with no plan, and a forged token (rejections are cached too).
 *
 * Method: for each case, time batches of 20,000 calls with process.hrtime.bigint, 15 batches
 * alternating between cases, report the median ns per call and the ratio to the baseline.
 */
import { decodePlan, type FaultPlan } from '@labcoat/core';
import { hmacMac, Labcoat } from '@labcoat/node';
import { median, round } from './stats.js';

const KEY = 'bench-plan-verify-key-0123456789abcdef';
const BATCH = 20_000;
const ROUNDS = process.argv.includes('--quick') ? 5 : 15;

const plan: FaultPlan = {
  v: 1,
  id: 'bench',
  exp: Date.now() + 3_600_000,
  rules: [
    { match: { point: 'edge->profiles GET /profiles/:id' }, fault: { kind: 'status', status: 503, retryAfter: 2 } },
    { match: { target: 'evcache-*', method: 'get' }, fault: { kind: 'error' }, when: { first: 2 } },
    { match: { caller: 'edge', route: '/titles/**' }, fault: { kind: 'delay', ms: 200 }, when: { p: 0.5 } },
  ],
};
const mac = hmacMac(KEY);
const sdk = new Labcoat({ service: 'bench', key: KEY, exporter: 'none', env: {} });
const token = sdk.signPlan(plan);
const forged = `${token.slice(0, -4)}AAAA`;

let sink = 0;
const cases: Record<string, () => void> = {
  'uncached (HMAC + parse every request)': () => {
    sink += decodePlan(token, mac, Date.now()).ok ? 1 : 0;
  },
  'labcoat cached': () => {
    sink += sdk.verifyPlan(token) ? 1 : 0;
  },
  'labcoat forged (cached rejection)': () => {
    sink += sdk.verifyPlan(forged) ? 1 : 0;
  },
  'no plan': () => {
    sink += sdk.verifyPlan(undefined) ? 1 : 0;
  },
};

const samples: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (const fn of Object.values(cases)) for (let i = 0; i < 2000; i++) fn(); // warm up the JIT
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of Object.entries(cases)) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) fn();
    samples[name]!.push(Number(process.hrtime.bigint() - t0) / BATCH);
  }
}

const baselineNs = median(samples['uncached (HMAC + parse every request)']!);
console.log(`plan-verify — Node ${process.version}; token ${token.length} bytes, ${plan.rules.length} rules; median of ${ROUNDS} batches of ${BATCH}`);
const figures: Record<string, { nsPerCall: number | null; vsUncached: number | null }> = {};
for (const name of Object.keys(cases)) {
  const ns = median(samples[name]!);
  figures[name] = { nsPerCall: round(ns, 0), vsUncached: round(ns / baselineNs, 4) };
  console.log(`${name.padEnd(40)} ${String(round(ns, 0)).padStart(8)} ns/request   ${(ns / baselineNs).toFixed(4)}× uncached`);
}
if (sink < 0) console.log(sink);
console.log(
  JSON.stringify({
    bench: 'plan-verify',
    node: process.version,
    tokenBytes: token.length,
    rounds: ROUNDS,
    batch: BATCH,
    uncachedNs: figures['uncached (HMAC + parse every request)']!.nsPerCall,
    cachedNs: figures['labcoat cached']!.nsPerCall,
    forgedCachedNs: figures['labcoat forged (cached rejection)']!.nsPerCall,
    noPlanNs: figures['no plan']!.nsPerCall,
    cachedVsUncached: figures['labcoat cached']!.vsUncached,
  }),
);
