import type { SpanData } from '@labcoat/core';

/** Where finished spans go. `export` must never throw and never block the caller. */
export interface SpanExporter {
  export(span: SpanData): void;
  /** Sends what is queued; resolves when done or given up. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}
