/**
 * A small client for the control plane's API (what the CLI uses), and a reader of server-sent
 * events over fetch.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields?: readonly { field: string; message: string }[],
  ) {
    super(message);
  }
}

export interface ApiClientOptions {
  /** Base URL, e.g. http://127.0.0.1:7070 (default LABCOAT_SERVER, then that). */
  readonly server?: string;
  /** Bearer token (default LABCOAT_TOKEN). */
  readonly token?: string;
  readonly timeoutMs?: number;
}

export class ApiClient {
  readonly server: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(o: ApiClientOptions = {}) {
    const server = o.server ?? process.env['LABCOAT_SERVER'] ?? 'http://127.0.0.1:7070';
    try {
      const u = new URL(server);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    } catch {
      throw new ApiError(0, `--server: expected an http(s) URL like http://127.0.0.1:7070, got ${JSON.stringify(server)}`);
    }
    this.server = server.replace(/\/+$/, '');
    this.token = o.token ?? (process.env['LABCOAT_TOKEN'] || undefined);
    this.timeoutMs = o.timeoutMs ?? 30_000;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async request<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.server}${path}`, {
        method,
        headers: this.headers(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new ApiError(0, `cannot reach the labcoat server at ${this.server} (${cause}); start one with \`labcoat server\`, or point --server / LABCOAT_SERVER at it`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const p = parsed as { error?: string; fields?: { field: string; message: string }[] } | undefined;
      let message = p?.error ?? `HTTP ${res.status}`;
      if (res.status === 401 && !this.token) message += ' (pass --token or set LABCOAT_TOKEN)';
      throw new ApiError(res.status, message, p?.fields);
    }
    return parsed as T;
  }

  /** Follows an SSE endpoint, calling `onEvent` for each event, until the stream ends or `signal` aborts. */
  async follow(path: string, onEvent: (event: string, data: string, id: string | undefined) => boolean | void, signal?: AbortSignal): Promise<void> {
    let res: Response;
    try {
      res = await fetch(`${this.server}${path}`, { headers: this.headers({ accept: 'text/event-stream' }), ...(signal ? { signal } : {}) });
    } catch (e) {
      if (signal?.aborted) return;
      throw new ApiError(0, `cannot reach the labcoat server at ${this.server}: ${(e as Error).message}`);
    }
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      let message = `HTTP ${res.status}`;
      try {
        message = (JSON.parse(text) as { error?: string }).error ?? message;
      } catch {
        // not JSON
      }
      throw new ApiError(res.status, message);
    }
    await readSse(res.body, onEvent, signal);
  }
}

/** Reads an event stream; `onEvent` returning true stops reading. */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onEvent: (event: string, data: string, id: string | undefined) => boolean | void,
  signal?: AbortSignal,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  const onAbort = (): void => void reader.cancel().catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (let nl = buffer.search(/\r?\n|\r/); nl !== -1; nl = buffer.search(/\r?\n|\r/)) {
        if (buffer[nl] === '\r' && nl === buffer.length - 1) break; // maybe the first half of a CRLF
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer[nl] === '\r' && buffer[nl + 1] === '\n' ? 2 : 1));
        if (line === '') {
          if (data.length > 0 && onEvent(event || 'message', data.join('\n'), id) === true) {
            await reader.cancel().catch(() => {});
            return;
          }
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let v = colon === -1 ? '' : line.slice(colon + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (field === 'event') event = v;
        else if (field === 'data') data.push(v);
        else if (field === 'id') id = v;
      }
      if (buffer.length > 4 << 20) throw new Error('event stream line too long');
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
