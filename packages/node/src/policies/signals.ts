import { CancelledError } from './errors.js';
import { NEVER } from './policy.js';

/**
 * AbortSignal plumbing shared by the policies. Hand-rolled rather than `AbortSignal.any`, whose
 * listeners on Node 20 outlive the child until garbage collection: a policy must leave nothing
 * registered on a long-lived parent signal once its execution ends.
 */

/** A controller that also aborts when `parent` does, until disposed. */
export class LinkedController {
  private readonly controller = new AbortController();
  private readonly parent: AbortSignal;
  private readonly onParentAbort: (() => void) | undefined;

  constructor(parent: AbortSignal) {
    this.parent = parent;
    if (parent === NEVER) return;
    if (parent.aborted) {
      this.controller.abort(parent.reason);
      return;
    }
    this.onParentAbort = () => this.controller.abort(parent.reason);
    parent.addEventListener('abort', this.onParentAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  abort(reason?: unknown): void {
    this.controller.abort(reason);
  }

  /** Unhooks from the parent. Call when the execution ends, whatever its outcome. */
  dispose(): void {
    if (this.onParentAbort) this.parent.removeEventListener('abort', this.onParentAbort);
  }
}

/** The error to reject with when `signal` aborted: its reason, or a CancelledError naming the policy. */
export function abortError(signal: AbortSignal, policy: string): unknown {
  return signal.reason !== undefined ? signal.reason : new CancelledError(policy);
}

/** Resolves after `ms`, or rejects as soon as `signal` aborts; leaves no timer or listener behind either way. */
export function sleep(ms: number, signal: AbortSignal, policy: string): Promise<void> {
  if (signal.aborted) return Promise.reject(abortError(signal, policy));
  if (ms <= 0 && signal === NEVER) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal, policy));
    };
    const timer = setTimeout(() => {
      if (signal !== NEVER) signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal !== NEVER) signal.addEventListener('abort', onAbort, { once: true });
  });
}
