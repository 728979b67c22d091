import type { SpanData } from '@labcoat/core';
import type { SpanExporter } from './exporter.js';

/** Keeps spans in memory (bounded); for tests and in-process exploration. */
export class InMemoryExporter implements SpanExporter {
  readonly spans: SpanData[] = [];
  constructor(private readonly max = 100_000) {}
  export(span: SpanData): void {
    if (this.spans.length >= this.max) this.spans.shift();
    this.spans.push(span);
  }
  /** Spans of one trace. */
  trace(traceId: string): SpanData[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }
  clear(): void {
    this.spans.length = 0;
  }
  async flush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}
