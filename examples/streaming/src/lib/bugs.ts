import { readFileSync } from 'node:fs';

/**
 * The planted bugs. Their ids are listed once, in `examples/streaming/bugs.json`; a service reads
 * which are switched on from `LABCOAT_DEMO_BUGS` (`none`, `all`, or a comma list of ids) and asks
 * {@link bugOn} at the one place in its code where the bug lives.
 */

export interface BugEntry {
  readonly id: string;
  readonly title: string;
  readonly class: string;
}

const BUGS_FILE = new URL('../../../bugs.json', import.meta.url);

/** Every bug id bugs.json declares. */
export function knownBugIds(): string[] {
  const entries = JSON.parse(readFileSync(BUGS_FILE, 'utf8')) as BugEntry[];
  return entries.map((b) => b.id);
}

/**
 * Parses a bug switch: `none` (or empty), `all`, or ids separated by commas. Throws with the list of
 * valid ids when one is unknown.
 */
export function parseBugs(spec: string | undefined, known: readonly string[] = knownBugIds()): Set<string> {
  const s = (spec ?? '').trim();
  if (s === '' || s === 'none') return new Set();
  if (s === 'all') return new Set(known);
  const ids = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const unknown = ids.filter((id) => !known.includes(id));
  if (unknown.length > 0) throw new Error(`unknown bug id${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; valid: ${known.join(', ')} (or all, none)`);
  return new Set(ids);
}

let enabled: Set<string> | undefined;

/** The bugs switched on in this process (`LABCOAT_DEMO_BUGS`); throws on an unknown id. */
export function enabledBugs(): ReadonlySet<string> {
  enabled ??= parseBugs(process.env['LABCOAT_DEMO_BUGS']);
  return enabled;
}

/** True when the bug `id` is switched on in this process. */
export function bugOn(id: string): boolean {
  return enabledBugs().has(id);
}
