import { CancelledError } from './errors.js';
import { NEVER } from './policy.js';

/**
 * AbortSignal plumbing shared by the policies. Hand-rolled rather than `AbortSignal.any`, whose
 * listeners on Node 20 outlive the child until garbage collection: a policy must leave nothing
 * registered on a long-lived parent signal once its execution ends.
 */

/**
 * Every policy listening to one caller signal goes through a single `abort` listener on it, so any
 * number of concurrent executions under one signal add one listener (no MaxListenersExceededWarning),
 * and that listener is removed as soon as the last one stops listening.
 */
class Fanout {
  readonly callbacks = new Set<() => void>();
  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', this.onAbort);
  }
  readonly onAbort = (): void => {
    this.detach();
    const callbacks = [...this.callbacks];
    this.callbacks.clear();
    for (const cb of callbacks) cb();
  };
  remove(cb: () => void): void {
    if (this.callbacks.delete(cb) && this.callbacks.size === 0) this.detach();
  }
  private detach(): void {
    fanouts.delete(this.signal);
    this.signal.removeEventListener('abort', this.onAbort);
  }
}
const fanouts = new WeakMap<AbortSignal, Fanout>();

/**
 * Calls `cb` once when `signal` aborts (like `addEventListener('abort', cb, { once: true })`),
 * sharing one real listener per signal. The same `cb` registered twice is called once.
 */
export function addAbortListener(signal: AbortSignal, cb: () => void): void {
  if (signal === NEVER) return;
  let fanout = fanouts.get(signal);
  if (fanout === undefined) {
    fanout = new Fanout(signal);
    fanouts.set(signal, fanout);
  }
  fanout.callbacks.add(cb);
}

/** Undoes {@link addAbortListener}. Harmless if `cb` already fired or was never added. */
export function removeAbortListener(signal: AbortSignal, cb: () => void): void {
  fanouts.get(signal)?.remove(cb);
}

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
    addAbortListener(parent, this.onParentAbort);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  abort(reason?: unknown): void {
    this.controller.abort(reason);
  }

  /** Unhooks from the parent. Call when the execution ends, whatever its outcome. */
  dispose(): void {
    if (this.onParentAbort) removeAbortListener(this.parent, this.onParentAbort);
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
      removeAbortListener(signal, onAbort);
      resolve();
    }, ms);
    addAbortListener(signal, onAbort);
  });
}
