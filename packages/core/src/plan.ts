import { base64urlToUtf8, utf8ToBase64url } from './base64url.js';
import { LabcoatInputError } from './errors.js';
import { compileFault, type CompiledFault, type FaultSpec } from './faults/index.js';
import { show } from './faults/kind.js';
import { compileSelector, type PointMatcher, type PointSelector } from './match.js';

/**
 * Fault plan: the list of faults one experiment injects. It travels as the W3C baggage member
 * `labcoat.plan`, whose value is a signed token:
 *
 *     v1.<base64url(JSON plan)>.<base64url(HMAC-SHA256(key, "v1." + base64url(JSON plan)))>
 *
 * Every character is a legal baggage octet, so any OpenTelemetry-instrumented service forwards it.
 */
export const PLAN_BAGGAGE_KEY = 'labcoat.plan';
/** A plan token longer than this is refused unread (so an attacker cannot make us parse megabytes). */
export const PLAN_MAX_BYTES = 4096;
export const PLAN_MAX_RULES = 64;
const PLAN_VERSION = 'v1';
const PLAN_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** When a rule fires, given that its points match. Both conditions must hold when both are given. */
export interface FiringCondition {
  /** Fire only on the first N attempts of this call within one request (to test retries). */
  readonly first?: number;
  /** Fire with this probability (0–1), drawn deterministically per request, point and attempt. */
  readonly p?: number;
}

export interface PlanRule {
  readonly match: PointSelector;
  readonly fault: FaultSpec;
  readonly when?: FiringCondition;
}

/** The JSON a plan is made of. */
export interface FaultPlan {
  readonly v: 1;
  /** Identifies the experiment in spans and logs. */
  readonly id: string;
  /** Expiry, milliseconds since the epoch. An expired plan injects nothing. */
  readonly exp: number;
  readonly rules: readonly PlanRule[];
}

export interface CompiledRule {
  readonly index: number;
  readonly matches: PointMatcher;
  readonly fault: CompiledFault;
  readonly first: number;
  readonly p: number;
}

/** A validated plan, ready for matching. */
export interface CompiledPlan {
  readonly id: string;
  readonly exp: number;
  readonly rules: readonly CompiledRule[];
}

/** Message authentication used to sign plans; packages/node provides HMAC-SHA256 over node:crypto. */
export interface PlanMac {
  /** base64url MAC of `data`. */
  sign(data: string): string;
  /** Constant-time check of a base64url MAC. */
  verify(data: string, mac: string): boolean;
}

/** Validates plan JSON; throws LabcoatInputError naming the first bad field. */
export function compilePlan(input: unknown): CompiledPlan {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new LabcoatInputError('plan', 'expected an object {"v":1,"id":…,"exp":…,"rules":[…]}');
  }
  const plan = input as Record<string, unknown>;
  if (plan['v'] !== 1) throw new LabcoatInputError('plan.v', `expected 1, got ${show(plan['v'])}`);
  const id = plan['id'];
  if (typeof id !== 'string' || !PLAN_ID.test(id)) {
    throw new LabcoatInputError('plan.id', 'expected 1-64 characters from A-Z a-z 0-9 . _ : -');
  }
  const exp = plan['exp'];
  if (typeof exp !== 'number' || !Number.isFinite(exp) || exp <= 0) {
    throw new LabcoatInputError('plan.exp', 'expected the expiry as milliseconds since the epoch');
  }
  const rules = plan['rules'];
  if (!Array.isArray(rules) || rules.length > PLAN_MAX_RULES) {
    throw new LabcoatInputError('plan.rules', `expected an array of at most ${PLAN_MAX_RULES} rules`);
  }
  return { id, exp, rules: rules.map((r, i) => compileRule(r, i)) };
}

const SELECTOR_KEYS = ['point', 'caller', 'target', 'method', 'route'] as const;

function compileRule(input: unknown, index: number): CompiledRule {
  const where = `plan.rules[${index}]`;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new LabcoatInputError(where, 'expected {"match":{…},"fault":{…},"when":{…}}');
  }
  const rule = input as Record<string, unknown>;
  const match = rule['match'];
  if (typeof match !== 'object' || match === null || Array.isArray(match)) {
    throw new LabcoatInputError(`${where}.match`, `expected an object with any of ${SELECTOR_KEYS.join(', ')}`);
  }
  const selector: Record<string, string> = {};
  for (const [k, v] of Object.entries(match)) {
    if (!(SELECTOR_KEYS as readonly string[]).includes(k)) {
      throw new LabcoatInputError(`${where}.match.${k}`, `unknown selector; use ${SELECTOR_KEYS.join(', ')}`);
    }
    if (typeof v !== 'string' || v.length === 0 || v.length > 512) {
      throw new LabcoatInputError(`${where}.match.${k}`, 'expected a non-empty string of at most 512 characters');
    }
    selector[k] = v;
  }
  if (Object.keys(selector).length === 0) {
    throw new LabcoatInputError(`${where}.match`, 'a rule must name at least one selector (a plan that faults every call is refused)');
  }
  const fault = compileFault(rule['fault'], `${where}.fault`);
  let first = Infinity;
  let p = 1;
  const when = rule['when'];
  if (when !== undefined) {
    if (typeof when !== 'object' || when === null || Array.isArray(when)) {
      throw new LabcoatInputError(`${where}.when`, 'expected {"first":N} and/or {"p":0.5}');
    }
    const w = when as Record<string, unknown>;
    if (w['first'] !== undefined) {
      const f = w['first'];
      if (typeof f !== 'number' || !Number.isInteger(f) || f < 1 || f > 1_000_000) {
        throw new LabcoatInputError(`${where}.when.first`, 'expected an integer from 1 to 1000000');
      }
      first = f;
    }
    if (w['p'] !== undefined) {
      const prob = w['p'];
      if (typeof prob !== 'number' || !(prob >= 0 && prob <= 1)) {
        throw new LabcoatInputError(`${where}.when.p`, 'expected a probability from 0 to 1');
      }
      p = prob;
    }
  }
  return { index, matches: compileSelector(selector), fault, first, p };
}

/** Signs a plan into a baggage-safe token. Validates it first, so a bad plan is never sent. */
export function encodePlan(plan: FaultPlan, mac: PlanMac): string {
  compilePlan(plan);
  const payload = utf8ToBase64url(JSON.stringify(plan));
  const signed = `${PLAN_VERSION}.${payload}`;
  const token = `${signed}.${mac.sign(signed)}`;
  if (token.length > PLAN_MAX_BYTES) {
    throw new LabcoatInputError('plan', `signed plan is ${token.length} bytes; the limit is ${PLAN_MAX_BYTES}. Use fewer rules or match by pattern`);
  }
  return token;
}

/** Why a plan token injected nothing. Counted by the SDK, never thrown into the application. */
export type PlanRejection = 'oversized' | 'malformed' | 'bad-signature' | 'expired' | 'invalid';

export type DecodedPlan = { ok: true; plan: CompiledPlan } | { ok: false; reason: PlanRejection; detail: string };

/**
 * Verifies and decodes a plan token. The signature is checked before the payload is parsed, so
 * unsigned or forged input is never interpreted. Expiry is checked against `nowMs`; callers that
 * cache the result must re-check `plan.exp` on every use.
 */
export function decodePlan(token: string, mac: PlanMac, nowMs: number): DecodedPlan {
  if (token.length > PLAN_MAX_BYTES) return { ok: false, reason: 'oversized', detail: `${token.length} bytes > ${PLAN_MAX_BYTES}` };
  const firstDot = token.indexOf('.');
  const lastDot = token.lastIndexOf('.');
  if (firstDot === -1 || lastDot === firstDot || token.slice(0, firstDot) !== PLAN_VERSION) {
    return { ok: false, reason: 'malformed', detail: 'expected v1.<payload>.<signature>' };
  }
  const signed = token.slice(0, lastDot);
  const signature = token.slice(lastDot + 1);
  if (!mac.verify(signed, signature)) return { ok: false, reason: 'bad-signature', detail: 'signature does not match the shared key' };
  const json = base64urlToUtf8(token.slice(firstDot + 1, lastDot));
  if (json === undefined) return { ok: false, reason: 'malformed', detail: 'payload is not base64url UTF-8' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return { ok: false, reason: 'malformed', detail: 'payload is not JSON' };
  }
  let plan: CompiledPlan;
  try {
    plan = compilePlan(parsed);
  } catch (e) {
    return { ok: false, reason: 'invalid', detail: e instanceof Error ? e.message : String(e) };
  }
  if (plan.exp <= nowMs) return { ok: false, reason: 'expired', detail: `expired at ${new Date(plan.exp).toISOString()}` };
  return { ok: true, plan };
}
