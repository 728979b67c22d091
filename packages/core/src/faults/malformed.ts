import { param, type FaultKind } from './kind.js';

/**
 * Malformed body: the real response arrives with its status and headers, but its body is cut
 * short (truncate) or overwritten with bytes no parser accepts (corrupt) after `afterBytes` bytes.
 */
export const malformedKind: FaultKind<{ mode: 'truncate' | 'corrupt'; afterBytes: number }> = {
  name: 'malformed',
  summary: 'real call; body truncated (mode truncate) or corrupted (mode corrupt) after afterBytes (default 1)',
  parse: (spec, where) => ({
    mode: param.oneOf(spec, 'mode', where, ['truncate', 'corrupt'] as const, 'truncate'),
    afterBytes: param.int(spec, 'afterBytes', where, 0, 1 << 30, 1),
  }),
  action: (p, delayMs) => ({ type: 'proceed', delayMs, body: { afterBytes: p.afterBytes, then: p.mode } }),
};
