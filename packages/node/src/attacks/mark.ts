import { base64urlToUtf8, utf8ToBase64url, type PlanMac } from '@labcoat/core';

/**
 * The attack mark: which production attacks a request joined, decided once by the entry service
 * and carried downstream as the W3C baggage member `labcoat.attack`:
 *
 *     v1.<base64url(JSON {"ids":["atk_1"],"exp":<epoch ms>,"t":"<trace id>"})>.<base64url(HMAC-SHA256(key, "v1." + payload))>
 *
 * The MAC is the plans' (same key, same construction). A mark is bound to its trace (`t`), so a
 * mark copied onto another request injects nothing.
 */
export const ATTACK_BAGGAGE_KEY = 'labcoat.attack';
/** A mark longer than this is refused unread. */
export const MARK_MAX_BYTES = 2048;
/** Attack ids one mark may name. */
export const MARK_MAX_IDS = 32;
/** How long a mark stays valid after the entry wrote it. */
export const MARK_TTL_MS = 5 * 60_000;

const VERSION = 'v1';
const TRACE_ID = /^[0-9a-f]{32}$/;
const ATTACK_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A verified mark. */
export interface AttackMark {
  readonly ids: readonly string[];
  readonly exp: number;
  /** The trace id the mark was written for. */
  readonly t: string;
}

/** Why a mark was refused. */
export type MarkRejection = 'oversized' | 'malformed' | 'bad-signature' | 'invalid' | 'expired' | 'wrong-trace';

/** Signs a mark into a baggage-safe token. */
export function encodeMark(mark: AttackMark, mac: PlanMac): string {
  const payload = utf8ToBase64url(JSON.stringify({ ids: mark.ids, exp: mark.exp, t: mark.t }));
  const signed = `${VERSION}.${payload}`;
  return `${signed}.${mac.sign(signed)}`;
}

/**
 * Checks a mark's signature and shape (not its expiry or trace: those depend on the request).
 * The signature is checked before the payload is parsed. Never throws.
 */
export function decodeMark(token: string, mac: PlanMac): AttackMark | MarkRejection {
  if (token.length > MARK_MAX_BYTES) return 'oversized';
  const firstDot = token.indexOf('.');
  const lastDot = token.lastIndexOf('.');
  if (firstDot === -1 || lastDot === firstDot || token.slice(0, firstDot) !== VERSION) return 'malformed';
  if (!mac.verify(token.slice(0, lastDot), token.slice(lastDot + 1))) return 'bad-signature';
  const json = base64urlToUtf8(token.slice(firstDot + 1, lastDot));
  if (json === undefined) return 'malformed';
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return 'malformed';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'invalid';
  const { ids, exp, t } = parsed as Record<string, unknown>;
  if (!Array.isArray(ids) || ids.length > MARK_MAX_IDS || !ids.every((id) => typeof id === 'string' && ATTACK_ID.test(id))) return 'invalid';
  if (typeof exp !== 'number' || !Number.isFinite(exp) || exp <= 0) return 'invalid';
  if (typeof t !== 'string' || !TRACE_ID.test(t)) return 'invalid';
  return { ids: ids as string[], exp, t };
}

/**
 * Verifies marks with a bounded cache (as plans are): the HMAC and JSON parse are paid once per
 * distinct token; forged tokens are cached as rejections so a flood of one costs a Map lookup.
 * Expiry and trace binding are checked on every use.
 */
export class MarkVerifier {
  private readonly cache = new Map<string, AttackMark | MarkRejection>();
  constructor(
    private readonly mac: PlanMac | undefined,
    private readonly maxEntries = 1024,
  ) {}

  verify(token: string, traceId: string, nowMs: number): AttackMark | MarkRejection {
    let decoded = this.cache.get(token);
    if (decoded === undefined) {
      if (!this.mac) return 'bad-signature';
      decoded = decodeMark(token, this.mac);
      // Oversized and malformed tokens are cheap to refuse again; cache what cost an HMAC.
      if (decoded !== 'oversized' && decoded !== 'malformed') this.remember(token, decoded);
    }
    if (typeof decoded === 'string') return decoded;
    if (decoded.t !== traceId) return 'wrong-trace';
    if (decoded.exp <= nowMs) return 'expired';
    return decoded;
  }

  private remember(token: string, value: AttackMark | MarkRejection): void {
    if (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(token, value);
  }
}
