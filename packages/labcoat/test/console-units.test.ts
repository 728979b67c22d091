/**
 * The web console's pure modules, checked against the server's own code: an attack the console's
 * form accepts is accepted by the server's validation (attack-spec.ts), the server's 422 field
 * errors land on the form's inputs, and the graph layout places every service sensibly. The
 * console's TypeScript (packages/console/src, built by Vite, not by tsc -b) is transpiled here with
 * the repository's TypeScript into a temporary directory and imported.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { validateAttack } from '../src/server/attack-spec.js';
import { seeded } from './streaming-helpers.js';

const SRC = fileURLToPath(new URL('../../../console/src/', import.meta.url));

type Form = Record<string, string>;
interface FormModule {
  EMPTY_FORM: Form;
  validateAttackForm(f: Form): { errors: Record<string, string>; definition?: unknown };
  formErrorsFromServer(fields: readonly { field: string; message: string }[]): Record<string, string>;
}
interface LayoutModule {
  layeredLayout(nodes: readonly string[], edges: readonly (readonly [string, string])[]): Map<string, { x: number; y: number }>;
}

let dir = '';
let form: FormModule;
let layout: LayoutModule;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'labcoat-console-units-'));
  for (const name of ['format', 'attack-form', 'layout']) {
    const out = ts.transpileModule(readFileSync(join(SRC, `${name}.ts`), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: `${name}.ts`,
    }).outputText;
    writeFileSync(join(dir, `${name}.mjs`), out.replace(/from '\.\/([\w-]+)\.js'/g, "from './$1.mjs'"));
  }
  form = (await import(pathToFileURL(join(dir, 'attack-form.mjs')).href)) as FormModule;
  layout = (await import(pathToFileURL(join(dir, 'layout.mjs')).href)) as LayoutModule;
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the console’s attack form against the server’s validation', () => {
  test('every form the console accepts, the server accepts too (2,000 random forms)', () => {
    const r = seeded(42);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const values: Record<string, readonly string[]> = {
      name: ['', 'home recs 503', 'x'.repeat(128), 'x'.repeat(129)],
      services: ['', 'recommendations', 'evcache-*, ratings', ' , ', 'a'.repeat(513)],
      points: ['', 'edge->trending GET /trending', 'edge->* GET /**'],
      callers: ['', 'edge', 'edge,\nprofiles'],
      routes: ['', '/recs/*'],
      labels: ['', 'user.id=u-1*', 'device=tv\nuser.id=u-*', 'labcoat.plan=x', 'bad key=1', 'novalue', 'k='],
      entryRoutes: ['', 'GET /home', '* /title/*', '/home', 'GET /home extra', '1GET /x'],
      kind: ['status', 'error', 'delay', 'hang', 'reset', 'malformed', 'bogus'],
      status: ['503', '200', '99', '600', 'abc', '', '503.5'],
      body: ['', 'down'],
      code: ['ECONNREFUSED', 'ETIMEDOUT', 'EBOGUS'],
      ms: ['500', '0', '600000', '600001', '-1', ''],
      jitterMs: ['', '10', 'x'],
      maxMs: ['', '1', '0', '1000'],
      afterBytes: ['', '0', '10', '-5'],
      mode: ['truncate', 'corrupt', 'shred'],
      delayMs: ['', '0', '250', '700000'],
      percentage: ['100', '50', '0.5', '0', '101', '-1', 'abc', ''],
      duration: ['5m', '90s', '1h', '24h', '25h', '0.5s', '1s', '2', 'soon', ''],
    };
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 2000; i++) {
      const f: Form = { ...form.EMPTY_FORM };
      for (const [k, vs] of Object.entries(values)) if (r() < 0.6) f[k] = pick(vs);
      const v = form.validateAttackForm(f);
      if (!v.definition) {
        refused++;
        assert.ok(Object.keys(v.errors).length > 0, 'a refused form says why');
        continue;
      }
      accepted++;
      const server = validateAttack(v.definition);
      assert.ok(server.ok, `the console accepted ${JSON.stringify(f)} → ${JSON.stringify(v.definition)}, the server refused it: ${JSON.stringify(!server.ok && server.errors)}`);
    }
    assert.ok(accepted > 100 && refused > 100, `both kinds exercised (accepted ${accepted}, refused ${refused})`);
  });

  test('the server’s 422 field errors land on the form’s inputs', () => {
    const base = { target: { services: ['x'] }, fault: { kind: 'status', status: 503 }, percentage: 50, durationMs: 60_000 };
    const cases: [unknown, string][] = [
      [{ ...base, target: {} }, 'target'],
      [{ ...base, target: { services: [''] } }, 'services'],
      [{ ...base, target: { points: 'x' } }, 'points'],
      [{ ...base, labels: { 'labcoat.x': 'y' } }, 'labels'],
      [{ ...base, entry: { routes: ['GET /a b'] } }, 'entryRoutes'],
      [{ ...base, fault: { kind: 'status', status: 42 } }, 'status'],
      [{ ...base, fault: { kind: 'nope' } }, 'kind'],
      [{ ...base, fault: { kind: 'delay', ms: -1 } }, 'ms'],
      [{ ...base, fault: { kind: 'status', status: 503, delayMs: -1 } }, 'delayMs'],
      [{ ...base, percentage: 0 }, 'percentage'],
      [{ ...base, durationMs: 10 }, 'duration'],
      [{ ...base, name: '' }, 'name'],
      [{ ...base, extra: 1 }, 'general'],
    ];
    for (const [body, input] of cases) {
      const v = validateAttack(body);
      assert.ok(!v.ok, JSON.stringify(body));
      const mapped = form.formErrorsFromServer(v.errors);
      assert.ok(mapped[input], `${JSON.stringify(v.errors)} should land on ${input}; got ${JSON.stringify(mapped)}`);
    }
  });
});

describe('the console’s graph layout', () => {
  test('callers left of callees, every service placed, no two at one spot', () => {
    const nodes = ['edge', 'auth', 'profiles', 'profiles-db', 'recs', 'trending', 'lonely'];
    const edges = [
      ['edge', 'auth'],
      ['edge', 'profiles'],
      ['profiles', 'profiles-db'],
      ['edge', 'recs'],
      ['recs', 'trending'],
      ['trending', 'recs'], // a cycle
    ] as const;
    const pos = layout.layeredLayout(nodes, edges);
    assert.deepEqual([...pos.keys()].sort(), [...nodes].sort());
    const x = (n: string): number => pos.get(n)!.x;
    assert.ok(x('edge') < x('auth') && x('edge') < x('profiles') && x('profiles') < x('profiles-db') && x('recs') < x('trending'));
    assert.ok(x('lonely') > x('profiles-db'), 'a service with no edge goes to the end');
    assert.equal(new Set([...pos.values()].map((p) => `${p.x},${p.y}`)).size, nodes.length);
  });

  test('1,000 services and 10,000 edges with cycles: all placed, screen-shaped, deterministic', () => {
    const r = seeded(7);
    const nodes = Array.from({ length: 1000 }, (_, i) => `s${i}`);
    const edges: [string, string][] = [];
    for (let i = 0; i < 10_000; i++) {
      const a = Math.floor(r() * 1000);
      const b = r() < 0.05 ? Math.floor(r() * 1000) : Math.min(999, a + 1 + Math.floor(r() * 200));
      if (a !== b) edges.push([`s${a}`, `s${b}`]);
    }
    const one = layout.layeredLayout(nodes, edges);
    const two = layout.layeredLayout(nodes, edges);
    assert.equal(one.size, 1000);
    assert.deepEqual([...one.entries()], [...two.entries()], 'same input, same drawing');
    for (const p of one.values()) assert.ok(Number.isFinite(p.x) && Number.isFinite(p.y));
    assert.equal(new Set([...one.values()].map((p) => `${p.x},${p.y}`)).size, 1000, 'no two services at one spot');
    const xs = [...one.values()].map((p) => p.x);
    const ys = [...one.values()].map((p) => p.y);
    const width = Math.max(...xs) - Math.min(...xs);
    const height = Math.max(...ys) - Math.min(...ys);
    assert.ok(width / height < 6 && height / width < 6, `a drawing that fits a screen (${Math.round(width)} × ${Math.round(height)})`);
  });
});
