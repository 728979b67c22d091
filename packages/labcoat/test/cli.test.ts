/** The CLI as a user runs it: a real process, its output and exit code. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const BIN = fileURLToPath(new URL('../../bin/labcoat.js', import.meta.url));
const KEY = 'cli-test-key-0123456789abcdef';

function labcoat(args: string[], env: Record<string, string> = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, LABCOAT_KEY: '', ...env }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('labcoat plan', () => {
  test('sign then verify round-trips a plan', () => {
    const signed = labcoat(['plan', 'sign', '--point', 'edge->profiles GET /profiles/:id', '--fault', '503', '--first', '2', '--id', 'cli-1', '--json'], { LABCOAT_KEY: KEY });
    assert.equal(signed.code, 0, signed.err);
    const { plan, token, baggage } = JSON.parse(signed.out) as { plan: { id: string; rules: unknown[] }; token: string; baggage: string };
    assert.equal(plan.id, 'cli-1');
    assert.deepEqual(plan.rules, [{ match: { point: 'edge->profiles GET /profiles/:id' }, fault: { kind: 'status', status: 503 }, when: { first: 2 } }]);
    assert.equal(baggage, `labcoat.plan=${token}`);
    const ok = labcoat(['plan', 'verify', baggage, '--json'], { LABCOAT_KEY: KEY });
    assert.equal(ok.code, 0);
    assert.equal((JSON.parse(ok.out) as { valid: boolean }).valid, true);
    const wrong = labcoat(['plan', 'verify', token, '--json', '--key', 'a-different-key-0123456789']);
    assert.equal(wrong.code, 1);
    assert.equal((JSON.parse(wrong.out) as { reason: string }).reason, 'bad-signature');
  });

  test('a plan file is validated and signed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'labcoat-cli-'));
    const file = join(dir, 'plan.json');
    writeFileSync(file, JSON.stringify({ rules: [{ match: { target: 'cache' }, fault: { kind: 'hang' } }] }));
    const r = labcoat(['plan', 'sign', '--file', file, '--json'], { LABCOAT_KEY: KEY });
    assert.equal(r.code, 0, r.err);
    writeFileSync(file, JSON.stringify({ rules: [{ match: { target: 'cache' }, fault: { kind: 'status', status: 99 } }] }));
    const bad = labcoat(['plan', 'sign', '--file', file], { LABCOAT_KEY: KEY });
    assert.equal(bad.code, 2);
    assert.match(bad.err, /plan\.rules\[0\]\.fault\.status: expected an integer from 100 to 599, got 99/);
  });

  test('bad input gets a clear message and exit 2', () => {
    const noKey = labcoat(['plan', 'sign', '--target', 'x', '--fault', 'error']);
    assert.equal(noKey.code, 2);
    assert.match(noKey.err, /no signing key: pass --key or set LABCOAT_KEY/);
    const noMatch = labcoat(['plan', 'sign', '--fault', 'error'], { LABCOAT_KEY: KEY });
    assert.match(noMatch.err, /say which calls fail/);
    const badFault = labcoat(['plan', 'sign', '--target', 'x', '--fault', 'explode'], { LABCOAT_KEY: KEY });
    assert.equal(badFault.code, 2);
    assert.match(badFault.err, /unknown fault kind "explode"; known kinds: error, status, delay, hang, reset, malformed/);
    const badTtl = labcoat(['plan', 'sign', '--target', 'x', '--fault', 'error', '--ttl', 'soon'], { LABCOAT_KEY: KEY });
    assert.match(badTtl.err, /--ttl: expected a duration/);
  });

  test('faults lists every kind', () => {
    const r = labcoat(['faults', '--json']);
    assert.deepEqual((JSON.parse(r.out) as { kind: string }[]).map((k) => k.kind), ['error', 'status', 'delay', 'hang', 'reset', 'malformed']);
  });
});

describe('labcoat demo --plans', () => {
  test('runs the example services, every signed plan hits only its point, and stops everything', () => {
    const r = labcoat(['demo', '--plans', '--json']);
    assert.equal(r.code, 0, `${r.err}\n${r.out}`);
    const report = JSON.parse(r.out) as { ok: boolean; steps: { name: string; ok: boolean; faultedPoints: string[] }[]; trace: { service: string }[] };
    assert.equal(report.ok, true);
    assert.equal(report.steps.length, 9);
    assert.deepEqual(new Set(report.trace.map((s) => s.service)), new Set(['edge', 'catalog', 'ratings']));
    assert.match(r.err, /stopping services/);
  });
});
