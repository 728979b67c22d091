/**
 * The request-class file (`labcoat explore --config classes.json`): several request classes per
 * run, each with its expectations, plus the critical services and points. The same shape as
 * examples/streaming/classes.json:
 *
 * ```json
 * {
 *   "target": "http://127.0.0.1:8080",
 *   "critical": { "services": ["auth"], "points": ["edge->auth POST /login"] },
 *   "classes": [
 *     { "name": "home", "method": "GET", "path": "/home", "headers": { "x-user": "u1" },
 *       "expect": { "status": [200], "json": { "/rows/0/id": "r1" }, "deadlineMs": 2000 } },
 *     { "name": "play", "method": "POST", "path": "/play/42", "body": { "device": "tv" },
 *       "expect": { "status": ["2xx"], "schema": { "type": "object", "required": ["url"] } } },
 *     { "name": "cli", "command": "node client.js", "expect": { "exitCode": 0 } }
 *   ]
 * }
 * ```
 *
 * Every field is checked; an error names the field (`classes[1].expect.status[0]: …`).
 */
import { readFileSync } from 'node:fs';
import { ExploreError } from './errors.js';
import { isMatcher, matcherError } from './oracle.js';
import type { Expectation, RequestClass } from './types.js';

/** Critical services and points, and (optionally) what a clean failure caused by them looks like. */
export interface CriticalDeclaration {
  readonly services?: readonly string[];
  readonly points?: readonly string[];
  /** A request failed by critical faults must still fail cleanly like this; otherwise the failure set is a bug. */
  readonly expect?: Expectation;
}

export interface ClassesFile {
  readonly target?: string;
  /** Informational: the system's name and its entry service. */
  readonly system?: string;
  readonly entry?: string;
  readonly critical?: CriticalDeclaration;
  readonly classes: readonly RequestClass[];
}

/** Keys anyone may add for documentation (ignored). */
const FREE = (k: string): boolean => k.startsWith('$') || k.startsWith('_') || ['description', 'comment', 'note', 'notes'].includes(k);

class Where {
  constructor(readonly path: string) {}
  err(message: string): ExploreError {
    return new ExploreError('usage', `${this.path}: ${message}`);
  }
  at(k: string | number): Where {
    return new Where(typeof k === 'number' ? `${this.path}[${k}]` : `${this.path}.${k}`);
  }
  object(v: unknown, allowed: readonly string[]): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw this.err(`expected an object, got ${describe(v)}`);
    for (const k of Object.keys(v)) if (!allowed.includes(k) && !FREE(k)) throw this.at(k).err(`unknown field; expected one of ${allowed.join(', ')}`);
    return v as Record<string, unknown>;
  }
  string(v: unknown): string {
    if (typeof v !== 'string' || v.length === 0) throw this.err(`expected a non-empty string, got ${describe(v)}`);
    return v;
  }
  strings(v: unknown): string[] {
    if (!Array.isArray(v)) throw this.err(`expected an array of strings, got ${describe(v)}`);
    return v.map((x, i) => this.at(i).string(x));
  }
  int(v: unknown, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw this.err(`expected an integer from ${min} to ${max}, got ${describe(v)}`);
    return v;
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}…` : s;
}

function critical(v: unknown, w: Where, withExpect: boolean): CriticalDeclaration | undefined {
  if (v === undefined) return undefined;
  const o = w.object(v, withExpect ? ['services', 'points', 'expect'] : ['services', 'points']);
  return {
    ...(o['services'] !== undefined ? { services: w.at('services').strings(o['services']) } : {}),
    ...(o['points'] !== undefined ? { points: w.at('points').strings(o['points']) } : {}),
    ...(o['expect'] !== undefined ? { expect: parseExpectation(o['expect'], w.at('expect')) } : {}),
  };
}

/** Validates an expectation object (`expect` of a class). */
export function parseExpectation(v: unknown, w: Where = new Where('expect')): Expectation {
  if (v === undefined) return {};
  const o = w.object(v, ['status', 'json', 'schema', 'deadlineMs', 'exitCode']);
  const out: { -readonly [K in keyof Expectation]: Expectation[K] } = {};
  if (o['status'] !== undefined) {
    const list = typeof o['status'] === 'number' || typeof o['status'] === 'string' ? [o['status']] : o['status'];
    if (!Array.isArray(list)) throw w.at('status').err(`expected a list of statuses like [200, 204] or ["2xx"], got ${describe(o['status'])}`);
    out.status = list.map((s, i) => {
      if (typeof s === 'string' && /^[1-5]xx$/i.test(s)) return s.toLowerCase();
      return w.at('status').at(i).int(s, 100, 599);
    });
  }
  if (o['json'] !== undefined) {
    const json = o['json'];
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw w.at('json').err('expected an object of JSON pointer → expected value, e.g. {"/user/id": "u1"}');
    for (const [p, want] of Object.entries(json)) {
      if (p !== '' && !p.startsWith('/')) throw w.at('json').err(`${JSON.stringify(p)} is not a JSON pointer (RFC 6901): it must start with "/"`);
      const bad = isMatcher(want) ? matcherError(want) : undefined;
      if (bad) throw w.at('json').at(p).err(bad);
    }
    out.json = json as Record<string, unknown>;
  }
  if (o['schema'] !== undefined) {
    if (typeof o['schema'] !== 'object' || o['schema'] === null) throw w.at('schema').err('expected a JSON Schema object');
    out.schema = o['schema'];
  }
  if (o['deadlineMs'] !== undefined) out.deadlineMs = w.at('deadlineMs').int(o['deadlineMs'], 1, 600_000);
  if (o['exitCode'] !== undefined) out.exitCode = w.at('exitCode').int(o['exitCode'], 0, 255);
  return out;
}

const METHODS = /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$/;

/**
 * Validates a parsed classes file. `baseTarget` (from `--target`) resolves relative `path`s and
 * overrides the file's `target`.
 */
export function parseClassesFile(input: unknown, baseTarget?: string, where = 'config'): ClassesFile {
  const w = new Where(where);
  const o = w.object(input, ['target', 'system', 'entry', 'critical', 'classes']);
  const target = baseTarget ?? (o['target'] === undefined ? undefined : w.at('target').string(o['target']));
  if (target !== undefined) {
    try {
      new URL(target);
    } catch {
      throw (baseTarget !== undefined ? new Where('--target') : w.at('target')).err(`${JSON.stringify(target)} is not a URL; expected e.g. http://127.0.0.1:8080`);
    }
  }
  const list = o['classes'];
  if (!Array.isArray(list) || list.length === 0) throw w.at('classes').err('expected a non-empty array of request classes');
  const names = new Set<string>();
  const classes = list.map((c, i): RequestClass => {
    const cw = w.at('classes').at(i);
    const co = cw.object(c, ['name', 'method', 'path', 'url', 'headers', 'body', 'command', 'expect', 'critical']);
    const name = cw.at('name').string(co['name']);
    if (names.has(name)) throw cw.at('name').err(`${JSON.stringify(name)} is used by two classes; names must be unique`);
    names.add(name);
    const expect = parseExpectation(co['expect'], cw.at('expect'));
    const crit = critical(co['critical'], cw.at('critical'), false);
    const base = { name, expect, ...(crit ? { critical: crit } : {}) };
    if (co['command'] !== undefined) {
      for (const k of ['path', 'url', 'method', 'body', 'headers']) if (co[k] !== undefined) throw cw.at(k).err('a command class sends no HTTP request; remove this field or the command');
      return { ...base, command: cw.at('command').string(co['command']) };
    }
    if (co['path'] === undefined && co['url'] === undefined) throw cw.err('say what to send: "path" (relative to the target), "url", or "command"');
    if (co['path'] !== undefined && co['url'] !== undefined) throw cw.at('url').err('give either "path" or "url", not both');
    let url: string;
    if (co['url'] !== undefined) {
      url = cw.at('url').string(co['url']);
      try {
        new URL(url);
      } catch {
        throw cw.at('url').err(`${JSON.stringify(url)} is not an absolute URL`);
      }
    } else {
      const path = cw.at('path').string(co['path']);
      if (!path.startsWith('/')) throw cw.at('path').err(`expected a path starting with "/", got ${JSON.stringify(path)}`);
      if (target === undefined) throw cw.at('path').err('a relative path needs a base URL: set "target" in the file or pass --target');
      url = new URL(path, target).toString();
    }
    const method = co['method'] === undefined ? 'GET' : cw.at('method').string(co['method']).toUpperCase();
    if (!METHODS.test(method)) throw cw.at('method').err(`expected an HTTP method (GET, POST, …), got ${JSON.stringify(co['method'])}`);
    const headers: Record<string, string> = {};
    if (co['headers'] !== undefined) {
      const h = co['headers'];
      if (typeof h !== 'object' || h === null || Array.isArray(h)) throw cw.at('headers').err('expected an object of header name → value');
      for (const [k, v] of Object.entries(h)) {
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) throw cw.at('headers').err(`${JSON.stringify(k)} is not a header name`);
        headers[k] = cw.at('headers').at(k).string(v);
      }
    }
    const b = co['body'];
    const body = b === undefined ? undefined : typeof b === 'string' ? b : JSON.stringify(b);
    if (b !== undefined && typeof b !== 'string' && !headers['content-type'] && !headers['Content-Type']) headers['content-type'] = 'application/json';
    return { ...base, http: { method, url, headers, ...(body !== undefined ? { body } : {}) } };
  });
  const crit = critical(o['critical'], w.at('critical'), true);
  const info = {
    ...(o['system'] !== undefined ? { system: w.at('system').string(o['system']) } : {}),
    ...(o['entry'] !== undefined ? { entry: w.at('entry').string(o['entry']) } : {}),
  };
  return { ...(target !== undefined ? { target } : {}), ...info, ...(crit ? { critical: crit } : {}), classes };
}

/** Reads and validates a classes file. */
export function loadClassesFile(file: string, baseTarget?: string): ClassesFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ExploreError('usage', `--config ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ExploreError('usage', `--config ${file}: not valid JSON (${(e as Error).message})`);
  }
  return parseClassesFile(json, baseTarget, file);
}
