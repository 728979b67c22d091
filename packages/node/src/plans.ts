import { decodePlan, type CompiledPlan, type PlanMac } from '@labcoat/core';
import type { LabcoatStats } from './stats.js';

/**
 * Verifies plan tokens with a bounded cache, so only the first request carrying a given plan pays
 * for the HMAC and JSON parse; the others pay a Map lookup and an expiry check. Rejections are
 * cached too, so a flood of the same forged token costs nothing either.
 */
export class PlanVerifier {
  private readonly cache = new Map<string, CompiledPlan | null>();
  constructor(
    private readonly mac: PlanMac | undefined,
    private readonly stats: LabcoatStats,
    private readonly maxEntries = 1024,
  ) {}

  /** The plan a token carries, or undefined when it must inject nothing. Never throws. */
  verify(token: string | undefined, nowMs: number): CompiledPlan | undefined {
    if (token === undefined || token === '') return undefined;
    const hit = this.cache.get(token);
    if (hit !== undefined) {
      if (hit === null) return this.reject('bad-signature');
      if (hit.exp <= nowMs) return this.reject('expired');
      this.stats.plansAccepted++;
      return hit;
    }
    if (!this.mac) return this.reject('bad-signature');
    const decoded = decodePlan(token, this.mac, nowMs);
    if (decoded.ok) {
      this.remember(token, decoded.plan);
      this.stats.plansAccepted++;
      return decoded.plan;
    }
    // Only signature failures are cached as rejections: an oversized or malformed token is cheap to refuse again.
    if (decoded.reason === 'bad-signature') this.remember(token, null);
    return this.reject(decoded.reason);
  }

  private reject(reason: keyof LabcoatStats['plansRejected']): undefined {
    this.stats.plansRejected[reason]++;
    return undefined;
  }

  private remember(token: string, plan: CompiledPlan | null): void {
    if (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(token, plan);
  }
}
