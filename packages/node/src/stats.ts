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
  /** Production attacks (see `labcoat.attacks`). */
  attacks: AttackStats;
}

/** Counters of the production-attack client. */
export interface AttackStats {
  /** Valid snapshots taken from the control plane's feed. */
  snapshots: number;
  /** Feed envelopes whose signature did not verify (ignored). */
  badSignature: number;
  /** Feed envelopes or snapshot bodies that were not what the protocol says (ignored). */
  malformedSnapshots: number;
  /** Valid snapshots older than one already taken (ignored). */
  staleSnapshots: number;
  /** Attack definitions in valid snapshots that this SDK could not compile (never injected). */
  skippedAttacks: number;
  /** Feed connections or polls that failed. */
  feedFailures: number;
  /** Times the dead-man switch tripped (no valid snapshot within the lease). */
  deadman: number;
  /** Entry: requests marked (joined or not). */
  marked: number;
  /** Entry: requests that joined at least one attack. */
  joined: number;
  /** Requests that made a dependency call while attacks were held but carried no mark. */
  unmarked: number;
  /** Requests whose mark was forged, expired, malformed or for another trace. */
  invalidMark: number;
  /** Faults injected, by attack id. */
  injections: Record<string, number>;
  /** Injections the control plane acknowledged. */
  reported: number;
  reportFailures: number;
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
    attacks: {
      snapshots: 0,
      badSignature: 0,
      malformedSnapshots: 0,
      staleSnapshots: 0,
      skippedAttacks: 0,
      feedFailures: 0,
      deadman: 0,
      marked: 0,
      joined: 0,
      unmarked: 0,
      invalidMark: 0,
      injections: {},
      reported: 0,
      reportFailures: 0,
    },
  };
}

/** Total faults injected. */
export function totalInjections(stats: LabcoatStats): number {
  return Object.values(stats.injections).reduce((a, b) => a + b, 0);
}
