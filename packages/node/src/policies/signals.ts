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

/**
 * A controller that also aborts when `parent` does, until disposed. Its signal is made on first
 * read: on Node 20 an AbortSignal costs ~2 µs to create, more than a whole policy execution, and
 * most functions a timeout wraps never look at it.
 */
export class LinkedController {
  private controller: AbortController | undefined;
  private abortedEarly = false;
  private earlyReason: unknown;
  private onParentAbort: (() => void) | undefined;

  constructor(private readonly parent: AbortSignal) {}

  get signal(): AbortSignal {
    if (this.controller !== undefined) return this.controller.signal;
    const c = (this.controller = new AbortController());
    const parent = this.parent;
    if (this.abortedEarly) c.abort(this.earlyReason);
    else if (parent.aborted) c.abort(parent.reason);
    else if (parent !== NEVER) {
      this.onParentAbort = () => c.abort(parent.reason);
      addAbortListener(parent, this.onParentAbort);
    }
    return c.signal;
  }

  /** Whether it has been aborted (by {@link abort} or by the parent), without making the signal. */
  get aborted(): boolean {
    return this.controller !== undefined ? this.controller.signal.aborted : this.abortedEarly || this.parent.aborted;
  }

  abort(reason?: unknown): void {
    if (this.controller !== undefined) this.controller.abort(reason);
    else if (!this.abortedEarly && !this.parent.aborted) {
      this.abortedEarly = true;
      this.earlyReason = reason;
    }
  }

  /** Unhooks from the parent. Call when the execution ends, whatever its outcome. */
  dispose(): void {
    if (this.onParentAbort !== undefined) removeAbortListener(this.parent, this.onParentAbort);
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
