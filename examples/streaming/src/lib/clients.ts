/**
 * The two HTTP client styles the demo's services use: the global `fetch` and plain `node:http`.
 * Both throw {@link HttpError} for a non-2xx answer and a SyntaxError for a body that is not JSON,
 * so resilience policies see every kind of failure as an error.
 */
import http from 'node:http';
import { handleWhen } from '@labcoat/node/policies';

/** A dependency answered with an error status. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly service: string,
    readonly body: string,
  ) {
    super(`${service} answered ${status}`);
  }
}

/** Failures worth retrying or falling back on: everything but a 4xx answer (which says the request itself is wrong). */
export const handleTransient = handleWhen((e) => !(e instanceof HttpError && e.status >= 400 && e.status < 500));

export interface CallOptions {
  method?: string;
  body?: unknown;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

/** Calls a JSON endpoint with the global fetch. */
export async function fetchJson<T>(service: string, url: string, options: CallOptions = {}): Promise<T> {
  const init: RequestInit = { method: options.method ?? 'GET', headers: { accept: 'application/json', ...options.headers } };
  if (options.signal) init.signal = options.signal;
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new HttpError(res.status, service, text.slice(0, 200));
  return JSON.parse(text) as T;
}

/** Calls a JSON endpoint with node:http (`http.request`), honouring the signal. */
export function httpJson<T>(service: string, url: string, options: CallOptions = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const req = http.request(url, { method: options.method ?? 'GET', headers, ...(options.signal ? { signal: options.signal } : {}) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('error', reject);
      res.on('aborted', () => reject(Object.assign(new Error(`${service}: response aborted`), { code: 'ECONNRESET' })));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) return reject(new HttpError(status, service, text.slice(0, 200)));
        try {
          resolve(JSON.parse(text) as T);
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** A short description of an error for response bodies and logs. */
export function describe(e: unknown): string {
  if (e instanceof HttpError) return e.message;
  const err = e as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  // fetch reports network errors as "TypeError: fetch failed" with the real error as its cause.
  if (err.name === 'TypeError' && err.cause && typeof err.cause === 'object') return `${err.cause.code ?? 'Error'}: ${err.cause.message ?? 'fetch failed'}`;
  return `${err.code ?? err.name ?? 'Error'}: ${err.message ?? String(e)}`;
}
