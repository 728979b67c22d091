import { param, type FaultKind } from './kind.js';

const CODES = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE'] as const;
const MESSAGES: Record<(typeof CODES)[number], string> = {
  ECONNREFUSED: 'connect ECONNREFUSED',
  ECONNRESET: 'socket hang up',
  ETIMEDOUT: 'connect ETIMEDOUT',
  EHOSTUNREACH: 'connect EHOSTUNREACH',
  ENOTFOUND: 'getaddrinfo ENOTFOUND',
  EPIPE: 'write EPIPE',
};

/** Connection error: the call is never made; the caller sees a network error with this code. */
export const errorKind: FaultKind<{ code: (typeof CODES)[number] }> = {
  name: 'error',
  summary: 'connection error before any byte is sent (code: ECONNREFUSED by default)',
  parse: (spec, where) => ({ code: param.oneOf(spec, 'code', where, CODES, 'ECONNREFUSED') }),
  action: (p, delayMs) => ({ type: 'refuse', delayMs, code: p.code, message: `${MESSAGES[p.code]} (injected by labcoat)` }),
};
