import type { PointDescriptor } from './point.js';

/**
 * Which injection points a plan rule applies to. Either an exact point id, or any combination of
 * patterns on the point's parts (all given ones must match). Patterns are globs: `*` matches any
 * run of characters except `/`, `**` matches anything; a pattern without wildcards is exact.
 * Methods compare case-insensitively.
 */
export interface PointSelector {
  readonly point?: string;
  readonly caller?: string;
  readonly target?: string;
  readonly method?: string;
  readonly route?: string;
}

export type PointMatcher = (point: PointDescriptor, id: string) => boolean;

const cache = new Map<string, (s: string) => boolean>();

/** Compiles a glob (see PointSelector) into a predicate; compiled globs are cached. */
export function compileGlob(glob: string, caseInsensitive = false): (s: string) => boolean {
  const key = `${caseInsensitive ? 'i' : 's'}:${glob}`;
  const hit = cache.get(key);
  if (hit) return hit;
  let fn: (s: string) => boolean;
  if (!glob.includes('*')) {
    const want = caseInsensitive ? glob.toUpperCase() : glob;
    fn = caseInsensitive ? (s) => s.toUpperCase() === want : (s) => s === want;
  } else {
    const source = glob
      .split('**')
      .map((part) => part.split('*').map((lit) => lit.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*'))
      .join('.*');
    const re = new RegExp(`^${source}$`, caseInsensitive ? 'i' : '');
    fn = (s) => re.test(s);
  }
  if (cache.size > 10_000) cache.clear();
  cache.set(key, fn);
  return fn;
}

/** Compiles a selector; an empty selector matches every point. */
export function compileSelector(sel: PointSelector): PointMatcher {
  const tests: PointMatcher[] = [];
  if (sel.point !== undefined) {
    const want = sel.point;
    tests.push((_p, id) => id === want);
  }
  if (sel.caller !== undefined) {
    const g = compileGlob(sel.caller);
    tests.push((p) => g(p.caller));
  }
  if (sel.target !== undefined) {
    const g = compileGlob(sel.target);
    tests.push((p) => g(p.target));
  }
  if (sel.method !== undefined) {
    const g = compileGlob(sel.method, true);
    tests.push((p) => g(p.method));
  }
  if (sel.route !== undefined) {
    const g = compileGlob(sel.route);
    tests.push((p) => g(p.route));
  }
  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0]!;
  return (p, id) => tests.every((t) => t(p, id));
}
