/**
 * What a transport does when a fault fires. Fault kinds (one file each, in this folder) turn their
 * parameters into one of these; each transport (undici interceptor, node:http, generic point,
 * sidecar proxy) knows how to carry out every action. A new kind that maps onto these actions needs
 * no transport change.
 */
export type FaultAction =
  /** Fail before any connection is made, as a refused/unreachable connection would. */
  | { readonly type: 'refuse'; readonly delayMs: number; readonly code: string; readonly message: string }
  /** Answer with a synthetic response; the dependency is not called. */
  | {
      readonly type: 'respond';
      readonly delayMs: number;
      readonly status: number;
      readonly headers: Readonly<Record<string, string>>;
      readonly body: string;
    }
  /** Make the real call (after delayMs), optionally damaging the response body. */
  | { readonly type: 'proceed'; readonly delayMs: number; readonly body?: BodyDamage }
  /** Never answer; give up only when the caller aborts, or after maxMs with a timeout error. */
  | { readonly type: 'hang'; readonly delayMs: number; readonly maxMs: number };

/** How a real response body is damaged after `afterBytes` bytes of it were delivered. */
export interface BodyDamage {
  readonly afterBytes: number;
  /** reset: the connection dies (ECONNRESET); truncate: the body ends early but cleanly; corrupt: the rest is replaced with bytes that parse as nothing. */
  readonly then: 'reset' | 'truncate' | 'corrupt';
}
