/**
 * Bearer tokens: `lc_<role initial>_<43 base64url chars>` (256 random bits), stored as SHA-256
 * hashes; the token itself is shown once, when created. Roles: `admin` (everything), `viewer`
 * (reads), `service` (the attack feed, injection reports and span ingestion).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Actor, Role, Store, TokenRecord } from '../store/types.js';
import { ROLES } from '../store/types.js';
import { HttpError, type Access } from './http.js';

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
}

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

/** Creates a token: stores its hash (audited) and returns the token text, which is never stored. */
export async function createToken(store: Store, role: Role, name: string | null, actor: Actor, nowMs = Date.now()): Promise<{ token: string; record: TokenRecord }> {
  if (!isRole(role)) throw new Error(`--role: expected one of ${ROLES.join(', ')}, got ${JSON.stringify(role)}`);
  if (name !== null && (name.length === 0 || name.length > 128)) throw new Error('--name: expected 1 to 128 characters');
  const token = `lc_${role[0]}_${randomBytes(32).toString('base64url')}`;
  const record: TokenRecord = { id: newId('tok'), name, role, hash: hashToken(token), createdAt: nowMs, revokedAt: null };
  await store.insertToken(record, { actor, action: 'token.create', target: record.id, details: { role, name } });
  return { token, record };
}

/** Which roles may use a route. */
export function allowed(access: Access, role: Role): boolean {
  switch (access) {
    case 'public':
    case 'token':
      return true;
    case 'viewer':
      return role === 'viewer' || role === 'admin';
    case 'admin':
      return role === 'admin';
    case 'service':
    case 'ingest':
      return role === 'service' || role === 'admin';
  }
}

/**
 * Token lookups, cached for a few seconds (a revoked token stops working within `ttlMs`), with the
 * cache bounded so that random tokens cannot grow it.
 */
export class Authenticator {
  private readonly cache = new Map<string, { record: TokenRecord | undefined; at: number }>();
  constructor(
    private readonly store: Store,
    private readonly ttlMs = 5000,
  ) {}

  /** The token record for an Authorization header; 401 when missing, malformed, unknown or revoked. */
  async authenticate(header: string | undefined): Promise<TokenRecord> {
    const challenge = { 'www-authenticate': 'Bearer realm="labcoat"' };
    if (!header) throw new HttpError(401, 'missing bearer token: send Authorization: Bearer <token> (create one with `labcoat token create`)', undefined, challenge);
    const m = /^Bearer\s+(\S{1,512})\s*$/i.exec(header);
    if (!m) throw new HttpError(401, 'malformed Authorization header: expected "Bearer <token>"', undefined, challenge);
    const hash = hashToken(m[1]!);
    const now = Date.now();
    let hit = this.cache.get(hash);
    if (!hit || now - hit.at > this.ttlMs) {
      hit = { record: await this.store.tokenByHash(hash), at: now };
      if (this.cache.size >= 1000) this.cache.clear();
      if (hit.record) this.cache.set(hash, hit);
    }
    const record = hit.record;
    if (!record) throw new HttpError(401, 'unknown token', undefined, challenge);
    if (record.revokedAt !== null) throw new HttpError(401, 'this token was revoked', undefined, challenge);
    return record;
  }
}

export function actorOf(t: TokenRecord | undefined): Actor {
  return t ? { id: t.id, role: t.role, name: t.name } : { id: 'anonymous', role: 'system' };
}
