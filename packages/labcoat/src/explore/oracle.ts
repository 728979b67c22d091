/**
 * Oracles: decide whether one execution answered correctly, and if not, say what the user would
 * have seen (the symptom). Built in: HTTP status set, JSON pointer = value checks, a JSON Schema,
 * a latency budget, a command's exit code; plus a custom function from the library API.
 */
import { isDeepStrictEqual } from 'node:util';
import AjvModule from 'ajv';
import { ExploreError, formatMs } from './errors.js';
import type { CustomOracle, Expectation, OracleContext, Verdict, WorkloadOutcome } from './types.js';

const Ajv = AjvModule.default;

/** Reads an RFC 6901 JSON pointer; `found: false` when a step does not exist. */
export function readPointer(doc: unknown, pointer: string): { found: boolean; value?: unknown } {
  if (pointer === '') return { found: true, value: doc };
  if (!pointer.startsWith('/')) throw new ExploreError('usage', `JSON pointer ${JSON.stringify(pointer)} must start with "/" (RFC 6901), e.g. /user/id`);
  let cur: unknown = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(token) || Number(token) >= cur.length) return { found: false };
      cur = cur[Number(token)];
    } else if (typeof cur === 'object' && cur !== null && Object.prototype.hasOwnProperty.call(cur, token)) {
      cur = (cur as Record<string, unknown>)[token];
    } else return { found: false };
  }
  return { found: true, value: cur };
}

/** Parses `--expect-json /ptr=value` (value as JSON when it parses, else a string; `/ptr` alone = must exist). */
export function parseJsonCheck(text: string): [string, unknown] {
  const eq = text.indexOf('=');
  const pointer = eq < 0 ? text : text.slice(0, eq);
  if (!pointer.startsWith('/') && pointer !== '') {
    throw new ExploreError('usage', `--expect-json ${JSON.stringify(text)}: expected /json/pointer=value, e.g. /status=ok or /items/0/id=42`);
  }
  if (eq < 0) return [pointer, { $exists: true }];
  const raw = text.slice(eq + 1);
  try {
    return [pointer, JSON.parse(raw) as unknown];
  } catch {
    return [pointer, raw];
  }
}

/** Parses `200,204,5xx` into a status list. */
export function parseStatusList(text: string): (number | string)[] {
  return text.split(',').map((part) => {
    const t = part.trim();
    if (/^[1-5]xx$/i.test(t)) return t.toLowerCase();
    const n = Number(t);
    if (!Number.isInteger(n) || n < 100 || n > 599) throw new ExploreError('usage', `--expect-status: ${JSON.stringify(t)} is not an HTTP status (100-599) or a class like 2xx`);
    return n;
  });
}

function statusAccepted(status: number, accepted: readonly (number | string)[] | undefined): boolean {
  if (!accepted || accepted.length === 0) return status >= 200 && status < 300;
  return accepted.some((a) => (typeof a === 'number' ? a === status : Math.floor(status / 100) === Number(a[0])));
}

const show = (v: unknown, max = 60): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
};

/** A short, stable description of an HTTP failure: `HTTP 502 "ratings unavailable"` or `HTTP 500`. */
export function httpSymptom(status: number, body: string | undefined): string {
  if (!body) return `HTTP ${status}`;
  try {
    const json = JSON.parse(body) as unknown;
    if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
      for (const k of ['error', 'message', 'detail', 'title', 'reason']) {
        const v = (json as Record<string, unknown>)[k];
        if (typeof v === 'string' && v.length > 0) return `HTTP ${status} ${show(v, 100)}`;
      }
    }
    return `HTTP ${status}`;
  } catch {
    const line = body.trim().split('\n')[0] ?? '';
    return line ? `HTTP ${status} ${show(line, 100)}` : `HTTP ${status}`;
  }
}

/** The matchers a JSON check may use instead of a literal (every key starts with `$`). */
export interface JsonMatcher {
  $type?: 'string' | 'number' | 'boolean' | 'object' | 'array' | 'null';
  $minItems?: number;
  $in?: unknown[];
  $exists?: boolean;
}

const MATCHER_KEYS = ['$type', '$minItems', '$in', '$exists'];

/** True when a JSON check's expected value is a matcher (`{"$type":"string"}`) rather than a literal. */
export function isMatcher(v: unknown): v is JsonMatcher {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => k.startsWith('$'));
}

/** Checks a matcher's keys and values; returns what is wrong, or undefined. */
export function matcherError(m: JsonMatcher): string | undefined {
  for (const k of Object.keys(m)) if (!MATCHER_KEYS.includes(k)) return `unknown matcher ${k}; use ${MATCHER_KEYS.join(', ')}`;
  if (m.$type !== undefined && !['string', 'number', 'boolean', 'object', 'array', 'null'].includes(m.$type)) return `$type must be one of string, number, boolean, object, array, null`;
  if (m.$minItems !== undefined && (!Number.isInteger(m.$minItems) || m.$minItems < 0)) return '$minItems must be a non-negative integer';
  if (m.$in !== undefined && !Array.isArray(m.$in)) return '$in must be an array of values';
  if (m.$exists !== undefined && typeof m.$exists !== 'boolean') return '$exists must be true or false';
  return undefined;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  return Array.isArray(v) ? 'array' : typeof v;
}

function matcherProblem(m: JsonMatcher, got: { found: boolean; value?: unknown }): string | undefined {
  if (m.$exists === false) return got.found ? `is present (${show(got.value)}), expected nothing there` : undefined;
  if (!got.found) return `is missing${m.$type ? `, expected a${/^[aeiou]/.test(m.$type) ? 'n' : ''} ${m.$type}` : ''}`;
  if (m.$type !== undefined && typeOf(got.value) !== m.$type) return `was ${show(got.value)}, expected a${/^[aeiou]/.test(m.$type) ? 'n' : ''} ${m.$type}`;
  if (m.$minItems !== undefined && (!Array.isArray(got.value) || got.value.length < m.$minItems)) return `was ${show(got.value)}, expected an array of at least ${m.$minItems} item${m.$minItems === 1 ? '' : 's'}`;
  if (m.$in !== undefined && !m.$in.some((v) => isDeepStrictEqual(got.value, v))) return `was ${show(got.value)}, expected one of ${show(m.$in)}`;
  return undefined;
}

/**
 * A compiled oracle. `judge` never throws: a custom oracle that throws is a failure whose message is
 * the symptom (so `assert.equal(...)` inside works).
 */
export class Oracle {
  private readonly validate: ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null } | undefined;

  constructor(
    readonly expect: Expectation,
    private readonly custom?: CustomOracle,
  ) {
    for (const [p, want] of Object.entries(expect.json ?? {})) {
      readPointer({}, p); // validates the pointer's syntax
      const bad = isMatcher(want) ? matcherError(want) : undefined;
      if (bad) throw new ExploreError('usage', `expect.json[${JSON.stringify(p)}]: ${bad}`);
    }
    if (expect.schema !== undefined) {
      try {
        const ajv = new Ajv({ allErrors: false, strict: false });
        this.validate = ajv.compile(expect.schema);
      } catch (e) {
        throw new ExploreError('usage', `expect.schema is not a valid JSON Schema: ${(e as Error).message}`);
      }
    }
  }

  async judge(outcome: WorkloadOutcome, context: OracleContext): Promise<Verdict> {
    const builtIn = this.builtIn(outcome);
    if (!builtIn.ok || !this.custom) return builtIn;
    try {
      const r = await this.custom(outcome, context);
      if (r === undefined || r === true) return { ok: true };
      if (r === false) return { ok: false, symptom: 'the custom oracle said no' };
      return r.ok ? { ok: true } : { ok: false, symptom: r.symptom ?? 'the custom oracle said no' };
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      return { ok: false, symptom: msg.split('\n')[0]!.slice(0, 200) || 'the custom oracle threw' };
    }
  }

  private builtIn(o: WorkloadOutcome): Verdict {
    if (o.failure) return { ok: false, symptom: o.failure.message };
    const deadline = this.expect.deadlineMs;
    if (deadline !== undefined && o.durationMs > deadline) {
      return { ok: false, symptom: `answered in ${formatMs(o.durationMs)}, over the ${formatMs(deadline)} budget` };
    }
    if (o.kind === 'command') {
      const want = this.expect.exitCode ?? 0;
      if (o.exitCode !== want) {
        const tail = (o.stderr ?? '').trim().split('\n').pop()?.slice(0, 120);
        const how = o.exitCode === null || o.exitCode === undefined ? `killed by ${o.signal ?? 'a signal'}` : `exit code ${o.exitCode}`;
        return { ok: false, symptom: `${how}${tail ? `: ${tail}` : ''}` };
      }
      return { ok: true };
    }
    if (o.kind === 'http') {
      const status = o.status ?? 0;
      if (!statusAccepted(status, this.expect.status)) return { ok: false, symptom: httpSymptom(status, o.body) };
    }
    const checks = Object.entries(this.expect.json ?? {});
    if (checks.length === 0 && !this.validate) return { ok: true };
    let doc: unknown;
    if (o.kind === 'function') doc = o.value;
    else {
      try {
        doc = JSON.parse(o.body ?? '');
      } catch {
        return { ok: false, symptom: `HTTP ${o.status ?? '?'} with a body that is not JSON${o.body ? ` (${show(o.body.slice(0, 40))})` : ' (empty)'}` };
      }
    }
    for (const [pointer, want] of checks) {
      const got = readPointer(doc, pointer);
      const where = pointer || '/';
      if (isMatcher(want)) {
        const problem = matcherProblem(want, got);
        if (problem) return { ok: false, symptom: `${where} ${problem}` };
        continue;
      }
      if (!got.found) return { ok: false, symptom: `${where} is missing, expected ${show(want)}` };
      if (!isDeepStrictEqual(got.value, want)) return { ok: false, symptom: `${where} was ${show(got.value)}, expected ${show(want)}` };
    }
    if (this.validate && !this.validate(doc)) {
      const err = this.validate.errors?.[0];
      return { ok: false, symptom: `body ${err?.instancePath || '/'} ${err?.message ?? 'does not match the schema'}` };
    }
    return { ok: true };
  }
}
