/**
 * `labcoat explore` and `labcoat demo --chain` as a user runs them: the compiled CLI in its own
 * process, against examples/chain as real processes. Bad input exits 2 with a clear message and
 * never hangs; a run exits 1 when it finds failure sets.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startChain, type Chain } from '../src/chain.js';
import type { ExplorationReport } from '../src/explore/types.js';
import { labcoat } from './explore-helpers.js';

const KEY = 'explore-cli-test-key-0123456789abc';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const noStack = (text: string): void => assert.doesNotMatch(text, /^\s+at .+\(.+:\d+:\d+\)$/m, 'no stack trace');

describe('labcoat explore: bad input exits 2 with a clear message', () => {
  test('an unreachable target', async () => {
    const r = await labcoat(['explore', '--target', 'http://127.0.0.1:1/x'], { LABCOAT_KEY: KEY });
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /cannot reach http:\/\/127\.0\.0\.1:1: ECONNREFUSED\. Is the service running and listening there\?/);
    assert.equal(r.out, '');
    noStack(r.err);
  });

  test('no key, a bad flag, an unknown option, nothing to explore', async () => {
    const noKey = await labcoat(['explore', '--target', 'http://127.0.0.1:1/x']);
    assert.equal(noKey.code, 2);
    assert.match(noKey.err, /no plan signing key: pass --key or set LABCOAT_KEY/);
    const badK = await labcoat(['explore', '--target', 'http://127.0.0.1:1/x', '--max-faults', 'two'], { LABCOAT_KEY: KEY });
    assert.equal(badK.code, 2);
    assert.match(badK.err, /--max-faults: expected an integer from 1 to 8, got "two"/);
    const unknown = await labcoat(['explore', '--target', 'http://127.0.0.1:1/x', '--frobnicate'], { LABCOAT_KEY: KEY });
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /unknown option '--frobnicate'/);
    const nothing = await labcoat(['explore'], { LABCOAT_KEY: KEY });
    assert.equal(nothing.code, 2);
    assert.match(nothing.err, /say what to explore: --target URL/);
    const dir = mkdtempSync(join(tmpdir(), 'labcoat-explore-'));
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ classes: [{ name: 'a', path: '/x', expect: { status: [200, 'ok'] } }] }));
    const badFile = await labcoat(['explore', '--config', join(dir, 'c.json'), '--target', 'http://127.0.0.1:1'], { LABCOAT_KEY: KEY });
    assert.equal(badFile.code, 2);
    assert.match(badFile.err, /c\.json\.classes\[0\]\.expect\.status\[1\]: expected an integer from 100 to 599, got "ok"/);
    for (const r of [noKey, badK, nothing, badFile]) noStack(r.err);
  });

  test('a command workload that hangs is killed at the deadline (with its children): a clear baseline error, bounded', async () => {
    const marker = `${31 + Math.random()}`.slice(0, 8);
    const r = await labcoat(['explore', '--command', `sleep ${marker}; true`, '--deadline', '1s', '--span-wait', '200ms'], { LABCOAT_KEY: KEY }, 30_000);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /command: sleep .*: the request already fails with no fault injected: no answer within 1 s \(the command was killed\)/);
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
    const left = execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((l) => l.includes(`sleep ${marker}`));
    assert.deepEqual(left, [], 'the hung command and its children are gone');
  });
});

describe('labcoat explore on examples/chain', () => {
  let chain: Chain;
  let port: number;
  let dir: string;
  const otlp = () => `http://127.0.0.1:${port}/v1/traces`;
  before(async () => {
    port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'labcoat-explore-'));
    // The services export to a fixed collector port that `explore --collector-port` will listen on.
    chain = await startChain({ key: KEY, otlpUrl: `http://127.0.0.1:${port}/v1/traces` });
  });
  after(async () => {
    await chain?.stop();
  });

  test('a baseline that already fails: exit 2 with the symptom', async () => {
    const r = await labcoat(['explore', '--target', `${chain.edge.url}/chain/42`, '--expect-status', '204', '--collector-port', String(port)], { LABCOAT_KEY: KEY });
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /the request already fails with no fault injected: HTTP 200\./);
    assert.match(r.err, /check the target, the request, and the expectations/);
    noStack(r.err);
  });

  test('finds the failure sets the chain has (every hop is a single point of failure): JSON report, HTML report, exit 1', async () => {
    const html = join(dir, 'report.html');
    const file = join(dir, 'report.json');
    const r = await labcoat(
      ['explore', '--target', `${chain.edge.url}/chain/42`, '--expect-json', '/downstream/body/ratings/body/stars=5', '--faults', 'error,503', '--max-faults', '2', '--deadline', '4s', '--collector-port', String(port), '--json', '--html', html, '--report', file],
      { LABCOAT_KEY: KEY },
    );
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, new RegExp(`collecting spans at ${otlp().replace(/[/.]/g, '\\$&')}`));
    const report = JSON.parse(r.out) as ExplorationReport;
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), report);
    assert.ok(report.experiments > 0);
    const cls = report.classes[0]!;
    assert.equal(cls.name, 'GET /chain/42');
    assert.ok(cls.experiments > 0);
    assert.deepEqual([...cls.points].sort(), Object.values(chain.points).sort());
    const sets = cls.failureSets.map((f) => f.faults.map((x) => `${x.point} ${x.kind} ${x.mode}`).join(' + ')).sort();
    assert.deepEqual(sets, [
      `${chain.points.catalogToRatings} error error`,
      `${chain.points.catalogToRatings} status 503`,
      `${chain.points.edgeToCatalog} error error`,
      `${chain.points.edgeToCatalog} status 503`,
      `${chain.points.ratingsToDb} error error`,
      `${chain.points.ratingsToDb} status 503`,
    ]);
    for (const fs of cls.failureSets) {
      assert.equal(fs.critical, false);
      assert.match(fs.symptom, /^HTTP 502/);
    }
    assert.deepEqual(cls.certified, { maxFaults: 2, complete: true });
    assert.equal(report.bugs, 6);
    const page = readFileSync(html, 'utf8');
    assert.equal((page.match(/<svg /g) ?? []).length, 1);
    assert.match(page, /class="edge bad" data-point="edge-&gt;catalog GET \/items\/:id"/);
    assert.doesNotMatch(page, /(src|href)\s*=\s*["']?(https?:)?\/\//i);
    assert.doesNotMatch(page, /<link|@import/i);
  });

  test('critical points: their failure sets are expected (or skipped), not bugs', async () => {
    const common = ['explore', '--target', `${chain.edge.url}/chain/42`, '--faults', 'error', '--collector-port', String(port), '--json'];
    const skipped = await labcoat([...common, '--critical', 'ratings-db'], { LABCOAT_KEY: KEY });
    assert.equal(skipped.code, 1, skipped.err);
    const a = JSON.parse(skipped.out) as ExplorationReport;
    assert.deepEqual(a.classes[0]!.failureSets.map((f) => f.faults[0]!.point).sort(), [chain.points.catalogToRatings, chain.points.edgeToCatalog]);
    const tried = await labcoat([...common, '--critical', `ratings-db,${chain.points.catalogToRatings},${chain.points.edgeToCatalog}`, '--no-skip-critical'], { LABCOAT_KEY: KEY });
    assert.equal(tried.code, 0, tried.err);
    const b = JSON.parse(tried.out) as ExplorationReport;
    assert.equal(b.classes[0]!.failureSets.length, 3);
    assert.ok(b.classes[0]!.failureSets.every((f) => f.critical));
    assert.equal(b.bugs, 0);
  });

  test('a command workload gets the context in TRACEPARENT/BAGGAGE, and a config file runs several classes', async () => {
    const client = join(dir, 'client.mjs');
    writeFileSync(
      client,
      `const r = await fetch(process.argv[2], { headers: { traceparent: process.env.TRACEPARENT, baggage: process.env.BAGGAGE } });\nprocess.exit(r.status === 200 ? 0 : 1);\n`,
    );
    const cmd = await labcoat(['explore', '--command', `node ${client} ${chain.edge.url}/chain/7`, '--faults', 'error', '--max-faults', '1', '--collector-port', String(port), '--json'], { LABCOAT_KEY: KEY });
    assert.equal(cmd.code, 1, cmd.err);
    const c = JSON.parse(cmd.out) as ExplorationReport;
    assert.equal(c.classes[0]!.failureSets.length, 3);
    assert.equal(c.classes[0]!.certified.complete, true);
    assert.match(c.classes[0]!.failureSets[0]!.symptom, /^exit code 1/);

    const config = join(dir, 'classes.json');
    writeFileSync(
      config,
      JSON.stringify({
        classes: [
          { name: 'item 42', path: '/chain/42', expect: { status: [200], json: { '/downstream/body/ratings/body/stars': 5 } } },
          { name: 'item 7', path: '/chain/7', expect: { status: [200], json: { '/downstream/body/ratings/body/stars': { $type: 'number' } }, deadlineMs: 4000 } },
        ],
        critical: { services: ['ratings-db'] },
      }),
    );
    const multi = await labcoat(['explore', '--config', config, '--target', chain.edge.url, '--faults', 'error', '--max-faults', '1', '--collector-port', String(port)], { LABCOAT_KEY: KEY });
    assert.equal(multi.code, 1, multi.err);
    assert.match(multi.out, /item 42 {2}GET http:\/\/127\.0\.0\.1:\d+\/chain\/42/);
    assert.match(multi.out, /item 7 {2}GET http:\/\/127\.0\.0\.1:\d+\/chain\/7/);
    assert.match(multi.out, /complete for ≤ 1 faults among 3 injection points: the 2 minimal failure sets above are the only ones that break item 42/);
    assert.match(multi.out, /4 failure sets found/);
  });
});

describe('labcoat demo --chain', () => {
  test('starts the chain, explores it, prints the failure sets, stops everything', async () => {
    const r = await labcoat(['demo', '--chain', '--faults', 'error', '--json']);
    assert.equal(r.code, 1, r.err);
    const report = JSON.parse(r.out) as ExplorationReport & { system: string };
    assert.equal(report.system, 'chain');
    assert.equal(report.classes[0]!.failureSets.length, 3);
    assert.equal(report.classes[0]!.certified.complete, true);
    assert.match(r.err, /stopping services/);
    const bugs = await labcoat(['demo', '--chain', '--bugs', 'all']);
    assert.equal(bugs.code, 2);
    assert.match(bugs.err, /--bugs applies to the streaming demo system/);
  });
});
