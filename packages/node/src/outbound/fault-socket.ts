import { Duplex } from 'node:stream';

/**
 * An in-memory socket handed to a node:http ClientRequest in place of a real connection, for faults
 * where the dependency is not called: it answers with canned bytes (a `status` fault) or never
 * answers (a `hang`). The real HTTP parser reads it, so the application sees exactly the objects
 * and events a real response or a silent peer would produce.
 */
export class FaultSocket extends Duplex {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily = 'IPv4';
  readonly localAddress = '127.0.0.1';
  readonly localPort = 0;
  readonly connecting = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private answered = false;

  constructor(
    private readonly answer: Buffer | undefined,
    remote: { host: string; port: number },
  ) {
    super({ allowHalfOpen: false });
    this.remoteAddress = remote.host;
    this.remotePort = remote.port;
  }

  override _write(_chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // Answer once the request head has been written, as a server would.
    if (this.answer && !this.answered) {
      this.answered = true;
      setImmediate(() => {
        if (this.destroyed) return;
        this.push(this.answer);
        this.push(null);
      });
    }
    callback();
  }

  override _read(): void {}

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.idleTimer);
    callback(error);
  }

  setTimeout(ms: number, onTimeout?: () => void): this {
    clearTimeout(this.idleTimer);
    if (onTimeout) this.once('timeout', onTimeout);
    if (ms > 0) {
      this.idleTimer = setTimeout(() => this.emit('timeout'), ms);
      this.idleTimer.unref?.();
    }
    return this;
  }

  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress, family: 'IPv4', port: this.localPort };
  }
}

const REASONS: Record<number, string> = {
  200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout',
  409: 'Conflict', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** Serialises an HTTP/1.1 response that closes its connection. */
export function cannedResponse(status: number, headers: Readonly<Record<string, string>>, body: string): Buffer {
  const bytes = Buffer.from(body);
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Status'}\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (k === 'content-length' || k === 'connection' || k === 'transfer-encoding') continue;
    head += `${k}: ${v}\r\n`;
  }
  head += `content-length: ${bytes.length}\r\nconnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bytes]);
}
