/**
 * Summarises the V8 CPU profiles written by `overhead.js --cpu-prof DIR`: CPU time per request
 * served, by category and by function (self time), for one mode against a baseline mode, per service.
 *
 *   node bench/dist/profile-summary.js DIR [--mode labcoat] [--base none] [--top 25] [--focus /packages/node/]
 *
 * DIR holds `<mode>-<role>.cpuprofile` and `served.json` (requests served per mode and service).
 * Times are whole-process (startup included, idle excluded) divided by the requests served, so
 * compare deltas rather than absolute figures. `--focus` (comma-separated URL substrings, default
 * @labcoat/node's code) selects the frames whose self and inclusive times are listed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    mode: { type: 'string', default: 'labcoat' },
    base: { type: 'string', default: 'none' },
    top: { type: 'string', default: '25' },
    focus: { type: 'string', default: '/packages/node/' },
  },
});
const dir = positionals[0];
if (!dir) {
  process.stderr.write('usage: profile-summary DIR [--mode labcoat] [--base none] [--top N] [--focus SUBSTRING]\n');
  process.exit(2);
}
const top = Number(values.top);
const focus = values.focus!.split(',').filter(Boolean);
const inFocus = (url: string): boolean => focus.some((f) => url.includes(f));
const served = JSON.parse(readFileSync(join(dir, 'served.json'), 'utf8')) as Record<string, Record<string, number>>;

function key(f: CallFrame): string {
  const file = f.url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, '~/')
    .replace(/^.*?\/(packages|bench)\//, '$1/');
  return `${f.functionName || '(anonymous)'} ${file}${file ? `:${f.lineNumber + 1}` : ''}`;
}

function category(f: CallFrame): string {
  const u = f.url;
  if (u.includes('/packages/node/')) return '@labcoat/node';
  if (u.includes('/packages/core/')) return '@labcoat/core';
  if (u.includes('@opentelemetry')) return 'opentelemetry';
  if (u.includes('/node_modules/undici/')) return 'undici (npm)';
  if (u.includes('/bench/')) return 'bench service';
  if (u.startsWith('node:')) return 'node internals (JS)';
  if (f.functionName.startsWith('(')) return f.functionName;
  if (u === '') return 'native/builtins';
  return 'other JS';
}

interface Summary {
  requests: number;
  busyUs: number;
  self: Map<string, number>;
  cats: Map<string, number>;
  inclusive: Map<string, number>;
}

function summarise(mode: string, role: string): Summary | undefined {
  let p: Profile;
  try {
    p = JSON.parse(readFileSync(join(dir!, `${mode}-${role}.cpuprofile`), 'utf8')) as Profile;
  } catch {
    return undefined;
  }
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const s: Summary = { requests: served[mode]?.[role] ?? 0, busyUs: 0, self: new Map(), cats: new Map(), inclusive: new Map() };
  const add = (m: Map<string, number>, k: string, v: number): void => void m.set(k, (m.get(k) ?? 0) + v);
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    const node = byId.get(p.samples[i]!);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    s.busyUs += dt;
    add(s.self, key(node.callFrame), dt);
    if (inFocus(node.callFrame.url)) focusKeys.add(key(node.callFrame));
    add(s.cats, category(node.callFrame), dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (!inFocus(f.url)) continue;
      const k = key(f);
      if (!seen.has(k)) add(s.inclusive, k, dt);
      seen.add(k);
    }
  }
  return s;
}

const focusKeys = new Set<string>();
const mode = values.mode!;
const base = values.base!;
const out: string[] = [];
const f1 = (x: number): string => x.toFixed(1).padStart(7);
for (const role of ['a', 'b', 'c']) {
  const m = summarise(mode, role);
  const b = summarise(base, role);
  if (!m || !b || m.requests === 0 || b.requests === 0) {
    out.push(`== service ${role}: profiles or request counts missing for ${mode}/${base}`);
    continue;
  }
  const per = (s: Summary, k: string, which: 'self' | 'cats'): number => (s[which].get(k) ?? 0) / s.requests;
  out.push(
    `== service ${role}: ${mode} ${f1(m.busyUs / m.requests)} µs/req busy (${m.requests} requests) vs ${base} ${f1(b.busyUs / b.requests)} µs/req (${b.requests} requests)`,
  );
  out.push(`  by category (self time, µs/req):     ${base.padStart(7)} ${mode.padStart(7)}   delta`);
  const cats = [...new Set([...m.cats.keys(), ...b.cats.keys()])].map((k) => [k, per(b, k, 'cats'), per(m, k, 'cats')] as const);
  for (const [k, x, y] of cats.sort((p, q) => q[2] - q[1] - (p[2] - p[1]))) out.push(`    ${k.padEnd(34)} ${f1(x)} ${f1(y)} ${f1(y - x)}`);
  out.push(`  functions with the largest increase (self time, µs/req):`);
  const fns = [...new Set([...m.self.keys(), ...b.self.keys()])].map((k) => [k, per(b, k, 'self'), per(m, k, 'self')] as const);
  for (const [k, x, y] of fns.sort((p, q) => q[2] - q[1] - (p[2] - p[1])).slice(0, top)) out.push(`    ${f1(x)} ${f1(y)} ${f1(y - x)}  ${k}`);
  out.push(`  self time in "${focus.join('", "')}" frames (µs/req, ${mode}):`);
  for (const [k, v] of [...m.self.entries()].filter(([k]) => focusKeys.has(k)).sort((p, q) => q[1] - p[1]).slice(0, top)) out.push(`    ${f1(v / m.requests)}  ${k}`);
  out.push(`  inclusive time under "${focus.join('", "')}" frames (µs/req, ${mode}; includes the application code they call):`);
  for (const [k, v] of [...m.inclusive.entries()].sort((p, q) => q[1] - p[1]).slice(0, top)) out.push(`    ${f1(v / m.requests)}  ${k}`);
  out.push('');
}
process.stdout.write(`${out.join('\n')}\n`);
