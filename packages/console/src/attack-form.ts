/**
 * The attack form's model and its client-side validation, mirroring the server's checks
 * (packages/labcoat/src/server/attack-spec.ts and the fault kinds of @labcoat/core) so that most
 * mistakes are shown before sending; the server's 422 field errors map onto the same inputs.
 */
import { parseDuration, splitList } from './format.js';
import type { AttackDefinition, FaultSpec, FieldError } from './types.js';

export const FAULT_KINDS = {
  status: 'synthetic HTTP response (e.g. 503)',
  error: 'connection error before any byte is sent',
  delay: 'wait, then make the real call',
  hang: 'never answer (until the caller gives up)',
  reset: 'connection reset after the headers',
  malformed: 'body truncated or corrupted',
} as const;
export type FaultKindName = keyof typeof FAULT_KINDS;
export const ERROR_CODES = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE'] as const;
const MAX_FAULT_MS = 600_000;
const MIN_DURATION_MS = 1000;
const MAX_DURATION_MS = 24 * 3_600_000;
const MAX_GLOBS = 64;
const MAX_GLOB = 512;
const BAGGAGE_KEY = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$/;

export interface AttackForm {
  name: string;
  services: string;
  points: string;
  callers: string;
  routes: string;
  /** `key=glob`, one per line. */
  labels: string;
  entryRoutes: string;
  kind: FaultKindName;
  status: string;
  body: string;
  code: string;
  ms: string;
  jitterMs: string;
  maxMs: string;
  afterBytes: string;
  mode: string;
  delayMs: string;
  percentage: string;
  duration: string;
}

export const EMPTY_FORM: AttackForm = {
  name: '',
  services: '',
  points: '',
  callers: '',
  routes: '',
  labels: '',
  entryRoutes: '',
  kind: 'status',
  status: '503',
  body: '',
  code: 'ECONNREFUSED',
  ms: '500',
  jitterMs: '',
  maxMs: '',
  afterBytes: '',
  mode: 'truncate',
  delayMs: '',
  percentage: '100',
  duration: '5m',
};

/** Form input key → message. */
export type FormErrors = Partial<Record<keyof AttackForm | 'target' | 'general', string>>;

function intIn(text: string, min: number, max: number): number | undefined {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) return undefined;
  const n = Number(t);
  return n >= min && n <= max ? n : undefined;
}

/** Validates the form; returns the definition to POST when there is no error. */
export function validateAttackForm(f: AttackForm): { errors: FormErrors; definition?: AttackDefinition } {
  const errors: FormErrors = {};
  const name = f.name.trim();
  if (name.length > 128) errors.name = 'at most 128 characters';

  const target: { services?: string[]; points?: string[]; callers?: string[]; routes?: string[] } = {};
  for (const k of ['services', 'points', 'callers', 'routes'] as const) {
    const list = splitList(f[k]);
    if (list.length > MAX_GLOBS) errors[k] = `at most ${MAX_GLOBS} entries`;
    else if (list.some((g) => g.length > MAX_GLOB)) errors[k] = `each entry at most ${MAX_GLOB} characters`;
    if (list.length > 0) target[k] = list;
  }
  if (Object.keys(target).length === 0) errors.target = 'name at least one target: services, points, callers or routes (an attack on every call is refused)';

  let labels: Record<string, string> | undefined;
  const labelLines = f.labels.split('\n').map((l) => l.trim()).filter(Boolean);
  if (labelLines.length > 0) {
    labels = {};
    for (const line of labelLines) {
      const eq = line.indexOf('=');
      const k = eq === -1 ? line : line.slice(0, eq).trim();
      const v = eq === -1 ? '' : line.slice(eq + 1).trim();
      if (!BAGGAGE_KEY.test(k)) errors.labels = `"${k}" is not a valid baggage key`;
      else if (k.startsWith('labcoat.')) errors.labels = `keys starting with "labcoat." are labcoat's own`;
      else if (!v) errors.labels = `write each label as key=glob ("${line}" has no glob)`;
      else if (v.length > MAX_GLOB) errors.labels = `glob of ${k} is longer than ${MAX_GLOB} characters`;
      else labels[k] = v;
    }
    if (labelLines.length > MAX_GLOBS) errors.labels = `at most ${MAX_GLOBS} labels`;
  }

  const entryRoutes = splitList(f.entryRoutes);
  for (const r of entryRoutes) {
    const parts = r.split(/\s+/);
    if (parts.length > 2 || (parts.length === 2 && !/^([A-Za-z]+|\*)$/.test(parts[0]!))) errors.entryRoutes = `"${r}": expected "METHOD /route/glob", "* /glob" or "/glob"`;
  }

  const fault: Record<string, unknown> = { kind: f.kind };
  switch (f.kind) {
    case 'status': {
      const s = intIn(f.status, 100, 599);
      if (s === undefined) errors.status = 'an HTTP status from 100 to 599';
      else fault['status'] = s;
      if (f.body.length > 65536) errors.body = 'at most 65536 characters';
      else if (f.body) fault['body'] = f.body;
      break;
    }
    case 'error':
      if (!(ERROR_CODES as readonly string[]).includes(f.code)) errors.code = `one of ${ERROR_CODES.join(', ')}`;
      else fault['code'] = f.code;
      break;
    case 'delay': {
      const ms = intIn(f.ms, 0, MAX_FAULT_MS);
      if (ms === undefined) errors.ms = `milliseconds from 0 to ${MAX_FAULT_MS}`;
      else fault['ms'] = ms;
      if (f.jitterMs.trim()) {
        const j = intIn(f.jitterMs, 0, MAX_FAULT_MS);
        if (j === undefined) errors.jitterMs = `milliseconds from 0 to ${MAX_FAULT_MS}`;
        else fault['jitterMs'] = j;
      }
      break;
    }
    case 'hang':
      if (f.maxMs.trim()) {
        const m = intIn(f.maxMs, 1, MAX_FAULT_MS);
        if (m === undefined) errors.maxMs = `milliseconds from 1 to ${MAX_FAULT_MS}`;
        else fault['maxMs'] = m;
      }
      break;
    case 'reset':
    case 'malformed':
      if (f.afterBytes.trim()) {
        const b = intIn(f.afterBytes, 0, 1 << 30);
        if (b === undefined) errors.afterBytes = 'a byte count from 0 to 1073741824';
        else fault['afterBytes'] = b;
      }
      if (f.kind === 'malformed') {
        if (f.mode !== 'truncate' && f.mode !== 'corrupt') errors.mode = 'truncate or corrupt';
        else fault['mode'] = f.mode;
      }
      break;
    default:
      errors.kind = `one of ${Object.keys(FAULT_KINDS).join(', ')}`;
  }
  if (f.delayMs.trim()) {
    const d = intIn(f.delayMs, 0, MAX_FAULT_MS);
    if (d === undefined) errors.delayMs = `milliseconds from 0 to ${MAX_FAULT_MS}`;
    else fault['delayMs'] = d;
  }

  const pText = f.percentage.trim();
  const percentage = pText === '' ? NaN : Number(pText);
  if (!Number.isFinite(percentage) || percentage <= 0 || percentage > 100) errors.percentage = 'a number greater than 0 and at most 100';

  const durationMs = parseDuration(f.duration);
  if (durationMs === undefined) errors.duration = 'a duration like 90s, 5m or 1h';
  else if (durationMs < MIN_DURATION_MS || durationMs > MAX_DURATION_MS) errors.duration = 'from 1 s to 24 h';

  if (Object.keys(errors).length > 0) return { errors };
  return {
    errors,
    definition: {
      ...(name ? { name } : {}),
      target,
      ...(labels && Object.keys(labels).length > 0 ? { labels } : {}),
      ...(entryRoutes.length > 0 ? { entry: { routes: entryRoutes } } : {}),
      fault: fault as FaultSpec,
      percentage,
      durationMs: durationMs!,
    },
  };
}

/** Puts the server's 422 field errors on the form's inputs; what maps nowhere goes to `general`. */
export function formErrorsFromServer(fields: readonly FieldError[]): FormErrors {
  const out: FormErrors = {};
  const put = (k: keyof FormErrors, m: string): void => {
    out[k] = out[k] ? `${out[k]}; ${m}` : m;
  };
  for (const { field, message } of fields) {
    const m = /^target\.(services|points|callers|routes)\b/.exec(field);
    if (m) put(m[1] as 'services', message);
    else if (field === 'target') put('target', message);
    else if (field.startsWith('labels')) put('labels', message);
    else if (field.startsWith('entry')) put('entryRoutes', message);
    else if (field === 'fault' || field === 'fault.kind') put('kind', message);
    else if (field.startsWith('fault.')) {
      const p = field.slice(6).split(/[.[]/)[0]!;
      if (['status', 'body', 'code', 'ms', 'jitterMs', 'maxMs', 'afterBytes', 'mode', 'delayMs'].includes(p)) put(p as 'status', message);
      else put('kind', `${field}: ${message}`);
    } else if (field === 'percentage') put('percentage', message);
    else if (field === 'durationMs') put('duration', message);
    else if (field === 'name') put('name', message);
    else put('general', `${field || 'body'}: ${message}`);
  }
  return out;
}

/** One line describing a fault: `status 503`, `delay 500 ms`, `error ECONNRESET`. */
export function describeFault(f: FaultSpec): string {
  const extra = f.delayMs ? ` after ${f.delayMs} ms` : '';
  switch (f.kind) {
    case 'status':
      return `status ${String(f['status'])}${extra}`;
    case 'error':
      return `error ${String(f['code'] ?? 'ECONNREFUSED')}${extra}`;
    case 'delay':
      return `delay ${String(f['ms'])} ms${f['jitterMs'] ? ` ± ${String(f['jitterMs'])}` : ''}`;
    case 'hang':
      return `hang${f['maxMs'] ? ` (max ${String(f['maxMs'])} ms)` : ''}${extra}`;
    case 'malformed':
      return `malformed ${String(f['mode'] ?? 'truncate')}${extra}`;
    default:
      return `${f.kind}${extra}`;
  }
}

/** One line describing an attack's target. */
export function describeTarget(t: AttackDefinition['target']): string {
  const parts: string[] = [];
  if (t.services?.length) parts.push(`→ ${t.services.join(', ')}`);
  if (t.callers?.length) parts.push(`from ${t.callers.join(', ')}`);
  if (t.points?.length) parts.push(t.points.join(', '));
  if (t.routes?.length) parts.push(`routes ${t.routes.join(', ')}`);
  return parts.join(' · ');
}
