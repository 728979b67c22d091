import { MAX_FAULT_MS, param, type FaultKind } from './kind.js';

/**
 * Hang: no answer until the caller's AbortSignal fires (that is what exercises timeouts). So that
 * nothing waits forever, it gives up after maxMs (default 60 s) with an ETIMEDOUT error.
 */
export const hangKind: FaultKind<{ maxMs: number }> = {
  name: 'hang',
  summary: 'never answer; ends when the caller aborts, or after maxMs (default 60000) with ETIMEDOUT',
  parse: (spec, where) => ({ maxMs: param.int(spec, 'maxMs', where, 1, MAX_FAULT_MS, 60_000) }),
  action: (p, delayMs) => ({ type: 'hang', delayMs, maxMs: p.maxMs }),
};
