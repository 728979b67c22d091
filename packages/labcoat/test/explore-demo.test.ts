/**
 * SLOW (about 4 minutes): `labcoat demo` on examples/streaming (16 processes), end to end, with the
 * real engine. With every planted bug on, each fault set of each bug in bugs.json must come out as
 * a minimal failure set of its class; with none on, every class must end certified for k = 2 with
 * no non-critical failure set. Set LABCOAT_SKIP_SLOW=1 to skip.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { ExplorationReport } from '../src/explore/types.js';
import { loadBugs, STREAMING_FILES } from '../src/streaming.js';
import { labcoat } from './explore-helpers.js';

const skip = process.env['LABCOAT_SKIP_SLOW'] === '1' ? 'LABCOAT_SKIP_SLOW=1' : false;

/** A bug's fault as the report names it: `point mode` (mode: the kind, or the status for `status`). */
const bugFault = (f: { point: string; kind: string; status?: unknown }): string => `${f.point} ${f.kind === 'status' ? String(f.status) : f.kind}`;

describe('labcoat demo on examples/streaming (slow)', { skip }, () => {
  test('--bugs all --max-faults 2: every planted bug is found as a minimal failure set', { timeout: 600_000 }, async () => {
    const r = await labcoat(['demo', '--bugs', 'all', '--max-faults', '2', '--json'], {}, 580_000);
    assert.equal(r.code, 1, r.err.slice(-3000));
    const report = JSON.parse(r.out) as ExplorationReport & { bugsOn: string[] };
    const bugs = loadBugs();
    assert.deepEqual([...report.bugsOn].sort(), bugs.map((b) => b.id).sort());
    const missing: string[] = [];
    for (const bug of bugs) {
      const cls = report.classes.find((c) => c.name === bug.class);
      assert.ok(cls, `class ${bug.class} of bug ${bug.id} was explored`);
      const found = new Set(cls.failureSets.filter((f) => !f.critical).map((f) => f.faults.map((x) => `${x.point} ${x.mode}`).sort().join(' + ')));
      for (const set of bug.faultSets) {
        const want = set.map(bugFault).sort().join(' + ');
        if (!found.has(want)) missing.push(`${bug.id}: {${want}} in ${bug.class}`);
      }
    }
    assert.deepEqual(missing, [], 'every fault set of every bug is a minimal failure set');
    for (const c of report.classes) assert.deepEqual(c.certified, { maxFaults: 2, complete: true }, `${c.name}: ${c.stopped}`);
    // The classes file's critical declarations travel with the run.
    assert.ok(JSON.parse(readFileSync(STREAMING_FILES.classes, 'utf8')).critical.services.includes('auth'));
    assert.ok(report.classes.every((c) => c.failureSets.every((f) => !f.faults.every((x) => x.point.startsWith('edge->auth ') || x.point.startsWith('auth->')) || f.critical)));
  });

  test('--bugs none --max-faults 2: certified, no non-critical failure set', { timeout: 600_000 }, async () => {
    const r = await labcoat(['demo', '--bugs', 'none', '--max-faults', '2', '--json'], {}, 580_000);
    assert.equal(r.code, 0, r.err.slice(-3000));
    const report = JSON.parse(r.out) as ExplorationReport;
    assert.equal(report.bugs, 0);
    assert.equal(report.certified, true);
    assert.deepEqual(
      report.classes.map((c) => [c.name, c.certified.complete, c.failureSets.filter((f) => !f.critical).length]),
      report.classes.map((c) => [c.name, true, 0]),
    );
  });
});
