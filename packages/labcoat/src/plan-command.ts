import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import {
  compilePlan,
  decodePlan,
  encodePlan,
  FAULT_KINDS,
  parseFaultShorthand,
  PLAN_BAGGAGE_KEY,
  base64urlToUtf8,
  type FaultPlan,
  type PlanRule,
  type PointSelector,
} from '@labcoat/core';
import { hmacMac } from '@labcoat/node';
import { parseDuration } from './duration.js';

export interface SignOptions {
  point?: string;
  caller?: string;
  target?: string;
  method?: string;
  route?: string;
  fault?: string;
  first?: string;
  p?: string;
  ttl: string;
  id?: string;
  file?: string;
  key?: string;
}

/** Reads the signing key from --key or LABCOAT_KEY, with a message that says what to do. */
export function requireKey(key: string | undefined): string {
  const k = key ?? process.env['LABCOAT_KEY'];
  if (!k) throw new Error('no signing key: pass --key or set LABCOAT_KEY to the secret your services share (at least 16 bytes)');
  return k;
}

/** Builds a plan from flags or a JSON file. */
export function planFromOptions(o: SignOptions, now = Date.now()): FaultPlan {
  const ttl = parseDuration(o.ttl, '--ttl');
  if (o.file) {
    let parsed: Partial<FaultPlan> & { rules?: PlanRule[] };
    try {
      parsed = JSON.parse(readFileSync(o.file, 'utf8')) as typeof parsed;
    } catch (e) {
      throw new Error(`--file ${o.file}: ${(e as Error).message}`);
    }
    const plan = { v: 1, id: parsed.id ?? o.id ?? `plan-${randomUUID().slice(0, 8)}`, exp: parsed.exp ?? now + ttl, rules: parsed.rules ?? [] } as FaultPlan;
    compilePlan(plan);
    return plan;
  }
  const match: Record<string, string> = {};
  for (const k of ['point', 'caller', 'target', 'method', 'route'] as const) if (o[k] !== undefined) match[k] = o[k]!;
  if (Object.keys(match).length === 0) throw new Error('say which calls fail: --point ID, or any of --caller/--target/--method/--route, or --file plan.json');
  if (!o.fault) throw new Error(`say how they fail: --fault with one of ${[...FAULT_KINDS.keys()].join(', ')}, a status like 503, delay:200, or JSON`);
  const when: { first?: number; p?: number } = {};
  if (o.first !== undefined) when.first = Number(o.first);
  if (o.p !== undefined) when.p = Number(o.p);
  const rule: PlanRule = { match: match as PointSelector, fault: parseFaultShorthand(o.fault), ...(Object.keys(when).length ? { when } : {}) };
  const plan: FaultPlan = { v: 1, id: o.id ?? `plan-${randomUUID().slice(0, 8)}`, exp: now + ttl, rules: [rule] };
  compilePlan(plan);
  return plan;
}

export function signCommand(o: SignOptions & { json?: boolean }): void {
  const plan = planFromOptions(o);
  const token = encodePlan(plan, hmacMac(requireKey(o.key)));
  if (o.json) {
    console.log(JSON.stringify({ plan, token, baggage: `${PLAN_BAGGAGE_KEY}=${token}` }));
    return;
  }
  console.log(`plan ${plan.id}, expires ${new Date(plan.exp).toISOString()}`);
  console.log('send this header with the request (merge with any baggage you already send):');
  console.log(`baggage: ${PLAN_BAGGAGE_KEY}=${token}`);
}

export function verifyCommand(token: string, o: { key?: string; json?: boolean }): number {
  const raw = token.startsWith(`${PLAN_BAGGAGE_KEY}=`) ? token.slice(PLAN_BAGGAGE_KEY.length + 1) : token;
  const result = decodePlan(raw, hmacMac(requireKey(o.key)), Date.now());
  const parts = raw.split('.');
  let payload: unknown;
  try {
    payload = JSON.parse(base64urlToUtf8(parts[1] ?? '') ?? 'null');
  } catch {
    payload = null;
  }
  if (o.json) {
    console.log(JSON.stringify(result.ok ? { valid: true, plan: payload } : { valid: false, reason: result.reason, detail: result.detail, payload }));
  } else if (result.ok) {
    console.log(`valid plan ${result.plan.id}, expires ${new Date(result.plan.exp).toISOString()}, ${result.plan.rules.length} rule(s)`);
    console.log(JSON.stringify(payload, null, 2));
  } else {
    console.log(`INVALID (${result.reason}): ${result.detail}. Services will inject nothing for it.`);
  }
  return result.ok ? 0 : 1;
}
