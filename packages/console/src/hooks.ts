/** Polling with visible errors: the last good data stays on screen, the error is shown beside it. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Polled<T> {
  readonly data: T | undefined;
  readonly error: unknown;
  readonly loading: boolean;
  /** Fetches again now. */
  refresh(): void;
}

/**
 * Calls `load` now and every `everyMs` (none when 0) while the component is mounted, one call at a
 * time; `deps` restart it. Pauses while the tab is hidden.
 */
export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, everyMs: number, deps: readonly unknown[]): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const kick = useRef<() => void>(() => {});
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    let again = false;
    const controller = new AbortController();
    setLoading(true);
    setData(undefined);
    setError(undefined);
    const tick = async (): Promise<void> => {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      if (timer) clearTimeout(timer);
      try {
        const d = await load(controller.signal);
        if (!stopped) {
          setData(d);
          setError(undefined);
        }
      } catch (e) {
        if (!stopped) setError(e);
      } finally {
        running = false;
        if (!stopped) {
          setLoading(false);
          if (again) {
            again = false;
            void tick();
          } else if (everyMs > 0) timer = setTimeout(() => void (document.hidden ? schedule() : tick()), everyMs);
        }
      }
    };
    const schedule = (): void => {
      timer = setTimeout(() => void (document.hidden ? schedule() : tick()), everyMs);
    };
    kick.current = () => void tick();
    void tick();
    return () => {
      stopped = true;
      controller.abort();
      if (timer) clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  const refresh = useCallback(() => kick.current(), []);
  return { data, error, loading, refresh };
}

/** Re-renders every `ms` (countdowns, "ago" labels). */
export function useNow(ms: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
