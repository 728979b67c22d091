/**
 * The report: JSON (for `--report`, `--json` and the library API), the terminal table of minimal
 * failure sets with the symptom and the path of the failing call, and the certificate line.
 */
import Table from 'cli-table3';
import pc from 'picocolors';
import type { FaultSpec } from '@labcoat/core';
import type { ClassReport, ExplorationReport, FailureSetReport } from './types.js';

/** Orders failure sets: bugs before critical ones, smaller first, then by point. */
function orderSets(sets: readonly FailureSetReport[]): FailureSetReport[] {
  const key = (f: FailureSetReport): string => f.faults.map((x) => `${x.point} ${x.mode}`).join(' + ');
  return [...sets].sort((a, b) => Number(a.critical) - Number(b.critical) || a.faults.length - b.faults.length || key(a).localeCompare(key(b)));
}

export function buildClassReport(c: ClassReport): ClassReport {
  return { ...c, failureSets: orderSets(c.failureSets), points: [...c.points].sort() };
}

export function buildReport(r: { startedAt: number; maxFaults: number; faults: Readonly<Record<string, FaultSpec>>; classes: readonly ClassReport[]; collector?: string }): ExplorationReport {
  return {
    tool: 'labcoat',
    version: 1,
    startedAt: new Date(r.startedAt).toISOString(),
    durationMs: Date.now() - r.startedAt,
    experiments: r.classes.reduce((n, c) => n + c.experiments, 0),
    maxFaults: r.maxFaults,
    faults: r.faults,
    bugs: r.classes.reduce((n, c) => n + c.failureSets.filter((f) => !f.critical).length, 0),
    certified: r.classes.length > 0 && r.classes.every((c) => c.certified.complete),
    ...(r.collector ? { collector: r.collector } : {}),
    classes: r.classes,
  };
}

/** Exit code of a finished run: 1 when a non-critical failure set was found, else 0. */
export function exitCodeOf(report: ExplorationReport): 0 | 1 {
  return report.bugs > 0 ? 1 : 0;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The one line that says what the exploration proved for a class. */
export function certificateLine(c: ClassReport): string {
  const bugs = c.failureSets.filter((f) => !f.critical).length;
  const crit = c.failureSets.length - bugs;
  const k = c.certified.maxFaults;
  const among = `among ${plural(c.points.length, 'injection point')}`;
  const critNote = crit > 0 ? ` (${plural(crit, 'failure set')} made only of critical points, expected)` : '';
  if (!c.certified.complete) {
    const why: Record<string, string> = {
      budget: 'the experiment budget ran out',
      'time-budget': 'the time budget ran out',
      'first-failure': 'it stopped at the first failure, as asked',
      interrupted: 'it was interrupted',
      unexplainable: 'some failures could not be explained',
    };
    return `not certified: ${why[c.stopped] ?? `it stopped (${c.stopped})`} after ${plural(c.experiments, 'experiment')}; fault sets of size ≤ ${k} are left untried.`;
  }
  if (bugs === 0) return `certified: no combination of ≤ ${k} faults ${among} breaks ${c.name}${critNote} (${plural(c.experiments, 'experiment')}).`;
  return `complete for ≤ ${k} faults ${among}: the ${plural(bugs, 'minimal failure set')} above ${bugs === 1 ? 'is' : 'are'} the only ones that break ${c.name}${critNote} (${plural(c.experiments, 'experiment')}).`;
}

/** The terminal rendering: per class, the table of failure sets, the certificate line and notes. */
export function renderText(report: ExplorationReport, color = false): string {
  const c = color ? pc : pc.createColors(false);
  const out: string[] = [];
  for (const cls of report.classes) {
    out.push('');
    out.push(c.bold(`${cls.name}  ${c.dim(cls.request)}`));
    if (cls.failureSets.length > 0) {
      const rows = cls.failureSets.map((fs, i) => [
        String(i + 1),
        fs.faults.map((f) => `${f.point} · ${f.mode === f.kind ? f.kind : `${f.kind} ${f.mode}`}`).join('\n+ '),
        fs.symptom,
        fs.faults.map((f) => f.path.join(' → ')).join('\n'),
        fs.critical ? 'critical' : fs.flaky ? 'BUG flaky' : 'BUG',
      ]);
      const widest = (i: number, cap: number, min: number): number =>
        Math.min(cap, Math.max(min, ...rows.flatMap((r) => r[i]!.split('\n').map((l) => l.length + 2))));
      const table = new Table({
        head: ['#', 'faults (point · kind)', 'what the user sees', 'path of the failing call', ''],
        style: { head: [], border: [], compact: true },
        wordWrap: true,
        wrapOnWordBoundary: true,
        colWidths: [4, widest(1, 64, 24), widest(2, 48, 20), widest(3, 44, 26), 11],
      });
      for (const r of rows) table.push([r[0]!, r[1]!, r[2]!, r[3]!, r[4] === 'critical' ? c.dim(r[4]) : r[4] === 'BUG' ? c.red(r[4]) : c.yellow(r[4]!)]);
      out.push(table.toString());
    }
    const line = certificateLine(cls);
    out.push(cls.certified.complete ? (cls.failureSets.some((f) => !f.critical) ? c.red(line) : c.green(line)) : c.yellow(line));
    if (cls.neverFired.length > 0) out.push(c.dim(`planned faults that never fired (their calls were not reached): ${cls.neverFired.join(', ')}`));
    for (const n of cls.notes) out.push(c.dim(`note: ${n}`));
  }
  out.push('');
  const total = `${plural(report.experiments, 'experiment')} in ${(report.durationMs / 1000).toFixed(1)} s`;
  out.push(report.bugs > 0 ? c.red(c.bold(`${plural(report.bugs, 'failure set')} found (${total}).`)) : c.green(c.bold(`No failure set of size ≤ ${report.maxFaults} found (${total}).`)));
  return out.join('\n');
}

/**
 * For tests: throws an Error describing the failure sets when the report has any non-critical one
 * (or, with `certified: true`, when a class was not explored completely).
 *
 * @example
 * const report = await explore({ target: 'http://127.0.0.1:3000/home', maxFaults: 2 });
 * assertResilient(report);   // fails the test with the table of failure sets
 */
export function assertResilient(report: ExplorationReport, options: { certified?: boolean } = {}): void {
  const problems: string[] = [];
  for (const c of report.classes) {
    for (const fs of c.failureSets.filter((f) => !f.critical)) {
      problems.push(`${c.name}: ${fs.faults.map((f) => `${f.point} (${f.mode})`).join(' + ')} → ${fs.symptom}`);
    }
    if (options.certified && !c.certified.complete) problems.push(`${c.name}: ${certificateLine(c)}`);
  }
  if (problems.length > 0) {
    const err = new Error(`labcoat found ${plural(problems.length, 'problem')}:\n  ${problems.join('\n  ')}`);
    err.name = 'ResilienceAssertionError';
    throw err;
  }
}
