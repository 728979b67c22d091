/**
 * The console's API client: same-origin fetch with the bearer token, JSON in and out, and errors
 * that carry what the server said (`{error, fields}`) so the views can show them, never swallow them.
 */
import type { FieldError } from './types.js';

export class ApiError extends Error {
  constructor(
    /** HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    message: string,
    readonly fields: readonly FieldError[] = [],
    /** `METHOD /path` of the failed call. */
    readonly call = '',
  ) {
    super(message);
  }
}

/** Called when the server answers 401: the token is unknown or revoked. */
let onUnauthorized: ((e: ApiError) => void) | undefined;
let token: string | undefined;

export function setToken(t: string | undefined): void {
  token = t;
}

export function setUnauthorizedHandler(fn: ((e: ApiError) => void) | undefined): void {
  onUnauthorized = fn;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  return { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra };
}

async function errorFrom(res: Response, call: string): Promise<ApiError> {
  let message = `${res.status} ${res.statusText || 'error'}`;
  let fields: FieldError[] = [];
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: unknown; fields?: unknown };
    if (typeof body.error === 'string') message = body.error;
    if (Array.isArray(body.fields)) fields = body.fields.filter((f): f is FieldError => typeof f === 'object' && f !== null && typeof (f as FieldError).field === 'string');
  } catch {
    if (text.trim()) message = `${message}: ${text.trim().slice(0, 300)}`;
  }
  return new ApiError(res.status, message, fields, call);
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
  /** Default 15 s. */
  readonly timeoutMs?: number;
}

export async function request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, o: RequestOptions = {}): Promise<T> {
  const call = `${method} ${path.split('?')[0]}`;
  const timeout = AbortSignal.timeout(o.timeoutMs ?? 15_000);
  const signal = o.signal ? anySignal([o.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: headers(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal,
      cache: 'no-store',
    });
  } catch (e) {
    if (o.signal?.aborted) throw e;
    const why = timeout.aborted ? 'no answer within the timeout' : (e as Error).message;
    throw new ApiError(0, `cannot reach the labcoat server (${why}); is \`labcoat server\` running?`, [], call);
  }
  if (!res.ok) {
    const err = await errorFrom(res, call);
    if (res.status === 401) onUnauthorized?.(err);
    throw err;
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, `the server answered ${call} with something that is not JSON`, [], call);
  }
}

export const api = {
  get: <T>(path: string, o?: RequestOptions) => request<T>('GET', path, undefined, o),
  post: <T>(path: string, body?: unknown, o?: RequestOptions) => request<T>('POST', path, body ?? {}, o),
};

/** Fetches a text document (the HTML report) with the token. */
export async function fetchText(path: string): Promise<{ text: string; type: string }> {
  const call = `GET ${path}`;
  let res: Response;
  try {
    res = await fetch(path, { headers: { ...headers(), accept: 'text/html' }, cache: 'no-store', signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    throw new ApiError(0, `cannot reach the labcoat server (${(e as Error).message})`, [], call);
  }
  if (!res.ok) throw await errorFrom(res, call);
  return { text: await res.text(), type: res.headers.get('content-type') ?? 'text/html' };
}

function anySignal(signals: AbortSignal[]): AbortSignal {
  const c = new AbortController();
  for (const s of signals) {
    if (s.aborted) {
      c.abort(s.reason);
      break;
    }
    s.addEventListener('abort', () => c.abort(s.reason), { once: true });
  }
  return c.signal;
}

export interface SseMessage {
  readonly event: string;
  readonly data: string;
  readonly id?: string;
}

/**
 * Reads a server-sent event stream through fetch (EventSource cannot send the bearer header).
 * Resolves when the stream ends; rejects with an ApiError when it cannot be opened. Every message
 * and every buffer is bounded.
 */
export async function readSse(path: string, onMessage: (m: SseMessage) => void, signal: AbortSignal, lastEventId?: string): Promise<void> {
  const call = `GET ${path.split('?')[0]}`;
  let res: Response;
  try {
    res = await fetch(path, { headers: { ...headers(), accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) }, cache: 'no-store', signal });
  } catch (e) {
    if (signal.aborted) return;
    throw new ApiError(0, `cannot reach the labcoat server (${(e as Error).message})`, [], call);
  }
  if (!res.ok) {
    const err = await errorFrom(res, call);
    if (res.status === 401) onUnauthorized?.(err);
    throw err;
  }
  if (!res.body) throw new ApiError(res.status, 'the event stream has no body', [], call);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let event = 'message';
  let data: string[] = [];
  let id: string | undefined;
  const MAX = 8 << 20;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      if (buffer.length > MAX) throw new ApiError(0, 'an event on the stream is too large', [], call);
      let nl: number;
      while ((nl = buffer.search(/\r\n|\n|\r/)) !== -1) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
        if (line === '') {
          if (data.length > 0) onMessage({ event, data: data.join('\n'), ...(id !== undefined ? { id } : {}) });
          event = 'message';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const name = colon === -1 ? line : line.slice(0, colon);
        const val = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'event') event = val;
        else if (name === 'data') data.push(val);
        else if (name === 'id') id = val;
      }
    }
  } catch (e) {
    if (signal.aborted) return;
    throw e;
  } finally {
    reader.releaseLock();
  }
}

/** A readable message for anything thrown. */
export function messageOf(e: unknown): string {
  if (e instanceof ApiError) return e.call && e.status !== 0 ? `${e.message} (${e.call} → ${e.status})` : e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
