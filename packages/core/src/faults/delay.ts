import { MAX_FAULT_MS, param, type FaultKind } from './kind.js';

/** Delay then proceed: the real call is made after `ms` (± `jitterMs`). */
export const delayKind: FaultKind<{ ms: number; jitterMs: number }> = {
  name: 'delay',
  summary: 'wait ms (± jitterMs) then make the real call',
  parse: (spec, where) => ({
    ms: param.int(spec, 'ms', where, 0, MAX_FAULT_MS),
    jitterMs: param.int(spec, 'jitterMs', where, 0, MAX_FAULT_MS, 0),
  }),
  action: (p, delayMs, random) => ({
    type: 'proceed',
    delayMs: Math.min(MAX_FAULT_MS, Math.max(0, delayMs + p.ms + Math.round((random * 2 - 1) * p.jitterMs))),
  }),
};
