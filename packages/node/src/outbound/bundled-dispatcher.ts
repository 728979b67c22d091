/**
 * Node's `fetch` loads its bundled undici on first call, and that undici then registers its own
 * Agent as the process-wide dispatcher (a `globalThis` symbol shared with npm undici) unless one is
 * set. A `data:` fetch (no network) loads it now, before npm undici would register an agent of its
 * own, so installFetchInterceptor wraps the agent Node ships: one undici per request, not two.
 */
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');
if ((globalThis as Record<symbol, unknown>)[GLOBAL_DISPATCHER] === undefined && typeof globalThis.fetch === 'function') {
  try {
    globalThis.fetch('data:,').then(
      (res) => res.body?.cancel().catch(() => {}),
      () => {},
    );
  } catch {
    // An environment whose fetch cannot start: npm undici's agent serves instead.
  }
}
