/**
 * Events as small disposables, as cockatiel has them: subscribing returns a handle whose
 * `dispose()` unsubscribes. Emitting with no listeners costs one length check, so policies emit
 * on every call without paying for it when nobody listens.
 */

/** Something that can be undone: an event subscription, a timer. */
export interface Disposable {
  dispose(): void;
}

/** Subscribe a listener; the returned handle unsubscribes it. */
export type Event<T> = (listener: (value: T) => void) => Disposable;

/** Source of one event. Listeners that throw are isolated: the error is reported, not propagated into the call. */
export class EventEmitter<T> {
  private listeners: ((value: T) => void)[] = [];

  /** The subscription function to hand out as a policy's `onX` property. */
  readonly event: Event<T> = (listener) => {
    this.listeners = [...this.listeners, listener];
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) return;
        disposed = true;
        this.listeners = this.listeners.filter((l) => l !== listener);
      },
    };
  };

  get size(): number {
    return this.listeners.length;
  }

  emit(value: T): void {
    const ls = this.listeners;
    if (ls.length === 0) return;
    // A copy-on-write array: listeners added or removed during emit take effect on the next one.
    for (let i = 0; i < ls.length; i++) {
      try {
        ls[i]!(value);
      } catch (error) {
        reportListenerError(error);
      }
    }
  }
}

/** A listener's exception must not change a call's outcome; it goes to the process as a warning instead. */
function reportListenerError(error: unknown): void {
  process.emitWarning(`labcoat policy event listener threw: ${error instanceof Error ? error.message : String(error)}`, 'LabcoatPolicyWarning');
}

/** Resolves on the next emission of `event` (and unsubscribes). */
export function onceEvent<T>(event: Event<T>): Promise<T> {
  return new Promise((resolve) => {
    const d = event((value) => {
      d.dispose();
      resolve(value);
    });
  });
}
