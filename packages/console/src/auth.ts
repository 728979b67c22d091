/**
 * Signing in: the token lives in sessionStorage (gone when the tab closes); the role comes from
 * `GET /api/whoami`. The role only decides what the console shows — the server refuses viewers'
 * mutations whatever the console does.
 */
import { ApiError, api, setToken } from './api.js';
import type { Role, WhoAmI } from './types.js';

const KEY = 'labcoat.token';

export interface Session {
  readonly token: string;
  readonly role: Role;
  readonly name: string | null;
  /** Set when the role was not confirmed by the server (no /api/whoami yet). */
  readonly note?: string;
}

export function storedToken(): string | undefined {
  try {
    return sessionStorage.getItem(KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function forget(): void {
  setToken(undefined);
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // storage disabled: nothing to forget
  }
}

/** The role letter labcoat puts in its tokens: `lc_a_…` admin, `lc_v_…` viewer, `lc_s_…` service. */
function roleFromToken(token: string): Role | undefined {
  const m = /^lc_([avs])_/.exec(token);
  return m ? ({ a: 'admin', v: 'viewer', s: 'service' } as const)[m[1] as 'a' | 'v' | 's'] : undefined;
}

/** Checks a token against the server and opens a session; throws ApiError with the server's reason. */
export async function signIn(raw: string): Promise<Session> {
  const token = raw.trim();
  if (!token) throw new ApiError(0, 'paste a token: create one with `labcoat token create --role admin` (or viewer)');
  if (/\s/.test(token)) throw new ApiError(0, 'a token has no spaces; paste only the token (lc_…)');
  setToken(token);
  let session: Session;
  try {
    const me = await api.get<WhoAmI>('/api/whoami');
    session = { token, role: me.role, name: me.name ?? null };
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) {
      setToken(undefined);
      throw e;
    }
    // No /api/whoami on this server: prove the token with a read, then take the role from its prefix.
    try {
      await api.get('/api/attacks?limit=1');
    } catch (e2) {
      setToken(undefined);
      throw e2;
    }
    const role = roleFromToken(token) ?? 'viewer';
    session = { token, role, name: null, note: 'this server has no GET /api/whoami: the role shown is read from the token' };
  }
  if (session.role === 'service') {
    setToken(undefined);
    throw new ApiError(403, 'this is a service token (for SDKs); sign in with an admin or viewer token');
  }
  try {
    sessionStorage.setItem(KEY, token);
  } catch {
    // storage disabled: the session lasts until reload
  }
  return session;
}
