import { readFileSync } from 'node:fs';

/**
 * Request classes and their oracles: what a system under test is asked (`classes.json`) and what
 * counts as a correct answer. The explore engine sends each class, injects faults, and judges the
 * answers with {@link checkAnswer}.
 *
 * ```json
 * { "classes": [ { "name": "home", "method": "GET", "path": "/home", "headers": { … },
 *                  "expect": { "status": [200], "json": { "/profile/id": "7" }, "deadlineMs": 1000 } } ],
 *   "critical": { "services": ["auth"], "points": ["edge->licensing POST /licenses/:id"],
 *                 "expect": { "status": [503], "json": { "/error": { "$type": "string" } } } } }
 * ```
 *
 * A JSON check maps a JSON Pointer (RFC 6901) to either a literal (the value there must be deeply
 * equal to it) or a matcher, an object whose keys all start with `$`:
 * `$type` (`string`, `number`, `boolean`, `object`, `array`, `null`), `$minItems` (arrays),
 * `$in` (one of these literals), `$exists` (`false`: nothing may be there).
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

export interface Matcher {
  $type?: 'string' | 'number' | 'boolean' | 'object' | 'array' | 'null';
  $minItems?: number;
  $in?: JsonValue[];
  $exists?: boolean;
}

/** What a correct answer looks like. */
export interface Expectation {
  /** Acceptable HTTP statuses. */
  status: number[];
  /** JSON Pointer → literal or {@link Matcher}. */
  json?: Record<string, JsonValue | Matcher>;
  /** The answer must arrive within this many ms (measured by the client). */
  deadlineMs?: number;
}

export interface RequestClass {
  name: string;
  description?: string;
  method: string;
  /** Path (and query) on the entry service. */
  path: string;
  headers?: Record<string, string>;
  body?: JsonValue;
  expect: Expectation;
}

/**
 * Dependencies whose failure is expected to fail a request. A point is critical when its caller or
 * its target is one of `services`, or when it is listed in `points`. A fault there must still end
 * in a clean failure: `expect` (the class's deadline applies).
 */
export interface CriticalSpec {
  description?: string;
  services: string[];
  points: string[];
  expect: Expectation;
}

export interface ClassesFile {
  system?: string;
  /** The service the classes are sent to. */
  entry?: string;
  classes: RequestClass[];
  critical: CriticalSpec;
}

/** Reads and validates a classes file; throws a message naming the first problem. */
export function loadClasses(path: string | URL): ClassesFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read request classes from ${String(path)}: ${(e as Error).message}`);
  }
  return validateClasses(raw, String(path));
}

export function validateClasses(raw: unknown, where = 'classes'): ClassesFile {
  const bad = (what: string): never => {
    throw new Error(`${where}: ${what}`);
  };
  if (!isObject(raw)) bad('must be a JSON object with "classes" and "critical"');
  const o = raw as Record<string, unknown>;
  if (!Array.isArray(o['classes']) || o['classes'].length === 0) bad('"classes" must be a non-empty array');
  const names = new Set<string>();
  const classes = (o['classes'] as unknown[]).map((c, i) => {
    if (!isObject(c)) bad(`classes[${i}] must be an object`);
    const r = c as Record<string, unknown>;
    if (typeof r['name'] !== 'string' || r['name'] === '') bad(`classes[${i}].name must be a non-empty string`);
    if (names.has(r['name'] as string)) bad(`class name "${String(r['name'])}" appears twice`);
    names.add(r['name'] as string);
    if (typeof r['method'] !== 'string' || !/^[A-Z]+$/.test(r['method'])) bad(`classes[${i}].method must be an upper-case HTTP method`);
    if (typeof r['path'] !== 'string' || !r['path'].startsWith('/')) bad(`classes[${i}].path must start with /`);
    if (r['headers'] !== undefined && (!isObject(r['headers']) || Object.values(r['headers']).some((v) => typeof v !== 'string'))) bad(`classes[${i}].headers must map names to strings`);
    return { ...(r as object), expect: validateExpectation(r['expect'], `${where}: classes[${i}].expect`) } as RequestClass;
  });
  const cr = o['critical'] ?? { services: [], points: [], expect: { status: [503] } };
  if (!isObject(cr)) bad('"critical" must be an object');
  const c = cr as Record<string, unknown>;
  const strings = (v: unknown, name: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) bad(`critical.${name} must be an array of strings`);
    return v as string[];
  };
  const critical: CriticalSpec = {
    ...(typeof c['description'] === 'string' ? { description: c['description'] } : {}),
    services: strings(c['services'], 'services'),
    points: strings(c['points'], 'points'),
    expect: validateExpectation(c['expect'] ?? { status: [503] }, `${where}: critical.expect`),
  };
  return { ...(o as object), classes, critical } as ClassesFile;
}

function validateExpectation(raw: unknown, where: string): Expectation {
  if (!isObject(raw)) throw new Error(`${where} must be an object with "status"`);
  const e = raw as Record<string, unknown>;
  const status = e['status'];
  if (!Array.isArray(status) || status.length === 0 || status.some((s) => !Number.isInteger(s) || (s as number) < 100 || (s as number) > 599)) {
    throw new Error(`${where}.status must be a non-empty array of HTTP statuses`);
  }
  if (e['json'] !== undefined) {
    if (!isObject(e['json'])) throw new Error(`${where}.json must map JSON Pointers to values or matchers`);
    for (const [ptr, m] of Object.entries(e['json'] as object)) {
      if (ptr !== '' && !ptr.startsWith('/')) throw new Error(`${where}.json: "${ptr}" is not a JSON Pointer (it must start with /)`);
      if (isMatcher(m)) {
        for (const k of Object.keys(m)) if (!['$type', '$minItems', '$in', '$exists'].includes(k)) throw new Error(`${where}.json["${ptr}"]: unknown matcher ${k}`);
      }
    }
  }
  if (e['deadlineMs'] !== undefined && (typeof e['deadlineMs'] !== 'number' || !(e['deadlineMs'] > 0))) throw new Error(`${where}.deadlineMs must be a positive number`);
  return e as unknown as Expectation;
}

/** The value at a JSON Pointer, or `undefined` when there is none. */
export function atPointer(doc: unknown, pointer: string): unknown {
  if (pointer === '') return doc;
  let cur: unknown = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(key)) return undefined;
      cur = cur[Number(key)];
    } else if (isObject(cur)) {
      if (!Object.prototype.hasOwnProperty.call(cur, key)) return undefined;
      cur = (cur as Record<string, unknown>)[key];
    } else return undefined;
  }
  return cur;
}

/** An answer as the client saw it. `body` is the parsed JSON (undefined when it was not JSON). */
export interface Answer {
  status: number;
  body: unknown;
  durationMs: number;
}

/** One way an answer falls short of its expectation. */
export interface Violation {
  check: 'status' | 'json' | 'deadline';
  /** The JSON Pointer, for json checks. */
  pointer?: string;
  message: string;
}

/** Judges an answer: an empty list means it is correct. */
export function checkAnswer(expect: Expectation, answer: Answer): Violation[] {
  const out: Violation[] = [];
  if (!expect.status.includes(answer.status)) out.push({ check: 'status', message: `status ${answer.status}, expected ${expect.status.join(' or ')}` });
  for (const [pointer, want] of Object.entries(expect.json ?? {})) {
    const got = atPointer(answer.body, pointer);
    const problem = isMatcher(want) ? matchProblem(want, got) : deepEqual(got, want) ? undefined : `expected ${JSON.stringify(want)}`;
    if (problem) out.push({ check: 'json', pointer, message: `${pointer}: ${got === undefined ? 'missing' : `got ${short(got)}`}, ${problem}` });
  }
  if (expect.deadlineMs !== undefined && answer.durationMs > expect.deadlineMs) {
    out.push({ check: 'deadline', message: `took ${Math.round(answer.durationMs)} ms, deadline ${expect.deadlineMs} ms` });
  }
  return out;
}

function matchProblem(m: Matcher, got: unknown): string | undefined {
  if (m.$exists === false) return got === undefined ? undefined : 'expected nothing there';
  if (got === undefined) return 'expected a value';
  if (m.$type !== undefined && typeOf(got) !== m.$type) return `expected a${/^[aeiou]/.test(m.$type) ? 'n' : ''} ${m.$type}`;
  if (m.$minItems !== undefined && (!Array.isArray(got) || got.length < m.$minItems)) return `expected an array of at least ${m.$minItems} items`;
  if (m.$in !== undefined && !m.$in.some((v) => deepEqual(got, v))) return `expected one of ${JSON.stringify(m.$in)}`;
  return undefined;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isMatcher(v: unknown): v is Matcher {
  return isObject(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => k.startsWith('$'));
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** True when a fault at `pointId` is expected to fail the request (see {@link CriticalSpec}). */
export function isCriticalPoint(critical: CriticalSpec, pointId: string): boolean {
  if (critical.points.includes(pointId)) return true;
  const m = /^([^\s>]+)->(\S+) /.exec(pointId);
  return m !== null && (critical.services.includes(m[1]!) || critical.services.includes(m[2]!));
}
