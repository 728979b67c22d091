import { toOtlpJson, type SpanData } from '@labcoat/core';
import type { LabcoatStats } from '../stats.js';
import { originalHttp } from '../outbound/originals.js';
import type { SpanExporter } from './exporter.js';

export interface OtlpHttpExporterOptions {
  /** Collector traces URL, e.g. `http://127.0.0.1:4318/v1/traces`. */
  url: string;
  /** Spans held at most; past it new spans are dropped and counted. Default 4096. */
  maxQueue?: number;
  /** Spans per request. Default 512. */
  maxBatch?: number;
  /** How often the queue is sent. Default 500 ms. */
  intervalMs?: number;
  /** Deadline for one export request, start to finish. Default 5000 ms. */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

/**
 * Batches spans and sends them as OTLP/HTTP JSON. The queue is bounded: when full, spans are
 * dropped and counted, so a slow or dead collector can never block or grow the application.
 * Requests go through the unpatched node:http, so exports are never traced or faulted.
 */
export class OtlpHttpExporter implements SpanExporter {
  private queue: SpanData[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private readonly url: URL;
  private readonly maxQueue: number;
  private readonly maxBatch: number;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly options: OtlpHttpExporterOptions,
    private readonly stats: LabcoatStats,
  ) {
    this.url = new URL(options.url);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') {
      throw new Error(`labcoat: OTLP exporter URL must be http(s), got ${options.url}`);
    }
    this.maxQueue = options.maxQueue ?? 4096;
    this.maxBatch = options.maxBatch ?? 512;
    this.intervalMs = options.intervalMs ?? 500;
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  export(span: SpanData): void {
    if (this.queue.length >= this.maxQueue) {
      this.stats.spansDropped++;
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.maxBatch) void this.sendOne();
    else this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sendOne();
    }, this.intervalMs);
    this.timer.unref();
  }

  private sendOne(): Promise<void> {
    if (this.inflight) return this.inflight;
    const batch = this.queue.splice(0, this.maxBatch);
    if (batch.length === 0) return Promise.resolve();
    this.inflight = this.post(batch).then(
      (ok) => {
        if (ok) this.stats.spansExported += batch.length;
        else {
          this.stats.exportFailures++;
          this.stats.spansDropped += batch.length;
        }
      },
    ).finally(() => {
      this.inflight = undefined;
      if (this.queue.length > 0) this.schedule();
    });
    return this.inflight;
  }

  private post(batch: SpanData[]): Promise<boolean> {
    return new Promise((resolve) => {
      let body: string;
      try {
        body = JSON.stringify(toOtlpJson(batch));
      } catch {
        resolve(false);
        return;
      }
      const request = this.url.protocol === 'https:' ? originalHttp.httpsRequest : originalHttp.httpRequest;
      try {
        const req = request(
          this.url,
          {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...this.options.headers },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve((res.statusCode ?? 500) < 300));
            res.on('error', () => resolve(false));
          },
        );
        // A whole-request deadline, not an idle timeout: a collector trickling bytes cannot hold an export.
        const deadline = setTimeout(() => req.destroy(new Error('OTLP export timed out')), this.timeoutMs);
        deadline.unref();
        req.once('close', () => clearTimeout(deadline));
        req.on('error', () => resolve(false));
        req.end(body);
      } catch {
        resolve(false);
      }
    });
  }

  /** Sends everything queued (bounded: at most as many batches as the queue can hold). */
  async flush(): Promise<void> {
    for (let i = 0; i <= this.maxQueue / this.maxBatch + 1 && (this.queue.length > 0 || this.inflight); i++) {
      await (this.inflight ?? this.sendOne());
    }
  }

  async shutdown(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
