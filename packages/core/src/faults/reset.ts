import { param, type FaultKind } from './kind.js';

/** Connection reset after a partial response: headers and `afterBytes` body bytes arrive, then ECONNRESET. */
export const resetKind: FaultKind<{ afterBytes: number }> = {
  name: 'reset',
  summary: 'real call; the connection resets after the headers and afterBytes body bytes (default 0)',
  parse: (spec, where) => ({ afterBytes: param.int(spec, 'afterBytes', where, 0, 1 << 30, 0) }),
  action: (p, delayMs) => ({ type: 'proceed', delayMs, body: { afterBytes: p.afterBytes, then: 'reset' } }),
};
