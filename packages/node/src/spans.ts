import type { AttributeValue, Attributes, SpanData, SpanEvent, SpanKind, SpanStatus } from '@labcoat/core';
import { nowMs } from './clock.js';

/** The status of every span until one is set (shared: statuses are replaced, never modified). */
const UNSET: SpanStatus = Object.freeze({ code: 'unset' });

/** A span being recorded. `end()` is idempotent; after it the span is immutable and exported. */
export class LiveSpan {
  readonly attributes: Attributes = {};
  private status: SpanStatus = UNSET;
  private events: SpanEvent[] | undefined;
  private ended = false;
  readonly startMs = nowMs();

  constructor(
    readonly traceId: string,
    readonly spanId: string,
    readonly parentSpanId: string | undefined,
    public name: string,
    readonly kind: SpanKind,
    readonly service: string,
    private readonly onEnd: (span: SpanData) => void,
  ) {}

  setAttribute(key: string, value: AttributeValue): this {
    if (!this.ended) this.attributes[key] = value;
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (!this.ended) this.status = status;
    return this;
  }

  /** Records an exception event (OpenTelemetry semantic conventions) and marks the span as failed. */
  recordError(error: unknown): this {
    if (this.ended) return this;
    const e = error as { name?: unknown; message?: unknown; code?: unknown } | undefined;
    const message = typeof e?.message === 'string' ? e.message : String(error);
    (this.events ??= []).push({
      name: 'exception',
      timeMs: nowMs(),
      attributes: {
        'exception.type': typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'Error',
        'exception.message': message.slice(0, 1024),
      },
    });
    this.status = { code: 'error', message: message.slice(0, 256) };
    return this;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    // One object shape for every span keeps this allocation monomorphic on the hot path.
    this.onEnd({
      traceId: this.traceId,
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      name: this.name,
      kind: this.kind,
      service: this.service,
      startMs: this.startMs,
      endMs: nowMs(),
      status: this.status,
      attributes: this.attributes,
      events: this.events,
    });
  }
}
