/**
 * An error that ends an exploration before it can say anything about the system: bad options, a
 * target that cannot be reached, a baseline that already fails, a service that drops the trace
 * context, a reset that fails. The CLI prints the message and exits 2; the library API throws it.
 */
export class ExploreError extends Error {
  override readonly name = 'ExploreError';
  readonly exitCode = 2;
  constructor(
    readonly code: 'usage' | 'unreachable' | 'baseline' | 'context' | 'no-spans' | 'reset' | 'plan' | 'engine',
    message: string,
  ) {
    super(message);
  }
}

/** Formats a duration for people: `850 ms`, `2 s`, `1.5 s`, `3 min`. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Number((ms / 1000).toFixed(1))} s`;
  return `${Number((ms / 60_000).toFixed(1))} min`;
}
