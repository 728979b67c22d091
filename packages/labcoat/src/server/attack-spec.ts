/**
 * Validation of attack definitions (`POST /api/attacks`): every problem is reported with the field
 * it concerns, so a client can show them next to its inputs (422 `{error, fields:[{field, message}]}`).
 */
import { compileFault, LabcoatInputError, type FaultSpec } from '@labcoat/core';
import type { AttackDefinition } from '../store/types.js';
import type { FieldError } from './http.js';

export const MIN_DURATION_MS = 1000;
export const MAX_DURATION_MS = 24 * 3_600_000;
const MAX_GLOBS = 64;
const MAX_GLOB = 512;
const TARGET_KEYS = ['services', 'points', 'callers', 'routes'] as const;
const TOP_KEYS = ['name', 'target', 'labels', 'entry', 'fault', 'percentage', 'durationMs'];
/** A W3C baggage key (an RFC 7230 token). */
const BAGGAGE_KEY = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function globList(v: unknown, field: string, errors: FieldError[]): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) {
    errors.push({ field, message: 'expected an array of strings (globs: * within a segment, ** across)' });
    return undefined;
  }
  if (v.length > MAX_GLOBS) errors.push({ field, message: `expected at most ${MAX_GLOBS} entries, got ${v.length}` });
  const out: string[] = [];
  v.forEach((g, i) => {
    if (typeof g !== 'string' || g.trim().length === 0 || g.length > MAX_GLOB) errors.push({ field: `${field}[${i}]`, message: `expected a non-empty string of at most ${MAX_GLOB} characters` });
    else out.push(g);
  });
  return out;
}

/** Validates an attack definition; `{ok:false, errors}` lists every problem found. */
export function validateAttack(input: unknown): { ok: true; attack: AttackDefinition } | { ok: false; errors: FieldError[] } {
  const errors: FieldError[] = [];
  if (!isObject(input)) return { ok: false, errors: [{ field: '', message: 'expected a JSON object: {"target":{…},"fault":{…},"percentage":…,"durationMs":…}' }] };
  for (const k of Object.keys(input)) if (!TOP_KEYS.includes(k)) errors.push({ field: k, message: `unknown field; an attack has ${TOP_KEYS.join(', ')}` });

  const name = input['name'];
  if (name !== undefined && (typeof name !== 'string' || name.length === 0 || name.length > 128)) errors.push({ field: 'name', message: 'expected a string of 1 to 128 characters' });

  const target: Record<string, string[]> = {};
  const rawTarget = input['target'];
  if (rawTarget === undefined) errors.push({ field: 'target', message: `required: an object with any of ${TARGET_KEYS.join(', ')}` });
  else if (!isObject(rawTarget)) errors.push({ field: 'target', message: `expected an object with any of ${TARGET_KEYS.join(', ')}` });
  else {
    for (const k of Object.keys(rawTarget)) if (!(TARGET_KEYS as readonly string[]).includes(k)) errors.push({ field: `target.${k}`, message: `unknown selector; use ${TARGET_KEYS.join(', ')}` });
    for (const k of TARGET_KEYS) {
      const list = globList(rawTarget[k], `target.${k}`, errors);
      if (list && list.length > 0) target[k] = list;
    }
    if (Object.keys(target).length === 0 && !errors.some((e) => e.field.startsWith('target'))) {
      errors.push({ field: 'target', message: 'name at least one of services, points, callers, routes (an attack on every call is refused)' });
    }
  }

  let labels: Record<string, string> | undefined;
  const rawLabels = input['labels'];
  if (rawLabels !== undefined) {
    if (!isObject(rawLabels)) errors.push({ field: 'labels', message: 'expected an object: baggage key → glob, e.g. {"user.id":"u-1*"}' });
    else {
      const entries = Object.entries(rawLabels);
      if (entries.length > MAX_GLOBS) errors.push({ field: 'labels', message: `expected at most ${MAX_GLOBS} labels` });
      labels = {};
      for (const [k, v] of entries) {
        if (!BAGGAGE_KEY.test(k)) errors.push({ field: `labels.${k}`, message: 'not a valid baggage key' });
        else if (k.startsWith('labcoat.')) errors.push({ field: `labels.${k}`, message: 'keys starting with "labcoat." are labcoat\'s own' });
        if (typeof v !== 'string' || v.length === 0 || v.length > MAX_GLOB) errors.push({ field: `labels.${k}`, message: `expected a non-empty glob of at most ${MAX_GLOB} characters` });
        else labels[k] = v;
      }
    }
  }

  let entry: { routes?: string[] } | undefined;
  const rawEntry = input['entry'];
  if (rawEntry !== undefined) {
    if (!isObject(rawEntry)) errors.push({ field: 'entry', message: 'expected {"routes":["GET /home", …]}' });
    else {
      for (const k of Object.keys(rawEntry)) if (k !== 'routes') errors.push({ field: `entry.${k}`, message: 'unknown field; entry has routes' });
      const routes = globList(rawEntry['routes'], 'entry.routes', errors);
      routes?.forEach((r, i) => {
        const parts = r.trim().split(/\s+/);
        if (parts.length > 2 || (parts.length === 2 && !/^([A-Za-z]+|\*)$/.test(parts[0]!))) errors.push({ field: `entry.routes[${i}]`, message: 'expected "METHOD /route/glob", "* /glob" or "/glob"' });
      });
      entry = routes && routes.length > 0 ? { routes } : {};
    }
  }

  let fault: FaultSpec | undefined;
  if (input['fault'] === undefined) errors.push({ field: 'fault', message: 'required: a fault like {"kind":"status","status":503}' });
  else {
    try {
      fault = compileFault(input['fault'], 'fault').spec;
    } catch (e) {
      if (e instanceof LabcoatInputError) errors.push({ field: e.where, message: e.message.slice(e.where.length + 2) });
      else errors.push({ field: 'fault', message: (e as Error).message });
    }
  }

  const percentage = input['percentage'];
  if (typeof percentage !== 'number' || !Number.isFinite(percentage) || percentage <= 0 || percentage > 100) {
    errors.push({ field: 'percentage', message: `expected a number greater than 0 and at most 100 (the share of matching requests that join), got ${JSON.stringify(percentage) ?? 'nothing'}` });
  }
  const durationMs = input['durationMs'];
  if (typeof durationMs !== 'number' || !Number.isInteger(durationMs) || durationMs < MIN_DURATION_MS || durationMs > MAX_DURATION_MS) {
    errors.push({ field: 'durationMs', message: `expected an integer from ${MIN_DURATION_MS} (1 s) to ${MAX_DURATION_MS} (24 h), got ${JSON.stringify(durationMs) ?? 'nothing'}` });
  }
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    attack: {
      ...(typeof name === 'string' ? { name } : {}),
      target,
      ...(labels && Object.keys(labels).length > 0 ? { labels } : {}),
      ...(entry && entry.routes ? { entry } : {}),
      fault: fault!,
      percentage: percentage as number,
      durationMs: durationMs as number,
    },
  };
}
