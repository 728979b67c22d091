import type { PlanRejection } from '@labcoat/core';

/** Counters every SDK instance keeps. Cheap to read; exposed for logs, metrics and tests. */
export interface LabcoatStats {
  /** Requests that carried a valid plan. */
  plansAccepted: number;
  /** Plans that injected nothing, by reason. */
  plansRejected: Record<PlanRejection, number>;
  /** Faults injected, by fault label. */
  injections: Record<string, number>;
  /** Internal SDK errors swallowed so the application was not affected. */
  internalErrors: number;
  spansStarted: number;
  spansExported: number;
  spansDropped: number;
  exportFailures: number;
}

export function newStats(): LabcoatStats {
  return {
    plansAccepted: 0,
    plansRejected: { oversized: 0, malformed: 0, 'bad-signature': 0, expired: 0, invalid: 0 },
    injections: {},
    internalErrors: 0,
    spansStarted: 0,
    spansExported: 0,
    spansDropped: 0,
    exportFailures: 0,
  };
}

/** Total faults injected. */
export function totalInjections(stats: LabcoatStats): number {
  return Object.values(stats.injections).reduce((a, b) => a + b, 0);
}
