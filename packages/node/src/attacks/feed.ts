import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { originalHttp } from '../outbound/originals.js';
import { SseParser } from './sse.js';

/** What the transport hands snapshots to (the AttackClient). */
export interface FeedSink {
  /** A `{body, sig}` envelope as received; true when it was a valid snapshot. */
  accept(envelope: string, via: 'sse' | 'poll'): boolean;
  /** The lease currently in force, for timeouts. */
  leaseMs(): number;
  /** Logs a line once per key. */
  logOnce(key: string, line: string): void;
  /** Counts a failed request for stats. */
  failed(): void;
}

/** Limits of one SSE event and of one poll answer. */
const MAX_BYTES = 1 << 20;
/** Consecutive SSE connections without a valid snapshot before polling instead. */
const SSE_FAILURES_BEFORE_POLL = 3;
/** Successful polls before the stream is tried again. */
const POLLS_BEFORE_SSE_RETRY = 10;
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 8000;

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, n));
}

/**
 * The attack feed's transport: `GET {url}/api/attacks/feed` as server-sent events, reconnecting
 * with bounded, jittered exponential backoff; after repeated stream failures it polls
 * `?poll=1` every third of the lease and retries the stream now and then.
 *
 * It uses node:http as it was before labcoat patched it (as the span exporter does), so the feed is
 * never traced or faulted, and it unrefs its sockets and timers: an open feed never keeps a
 * process alive.
 */
export class FeedTransport {
  private closed = false;
  private mode: 'sse' | 'poll' = 'sse';
  /** Consecutive failed attempts, for the backoff. */
  private failures = 0;
  private sseFailures = 0;
  private polls = 0;
  /** The stream is being tried again while polling works. */
  private retrying = false;
  private timer: NodeJS.Timeout | undefined;
  private current: ClientRequest | undefined;
  private readonly feedUrl: URL;
  private readonly pollUrl: URL;
  private readonly request: typeof http.request;
  private readonly agent: http.Agent;
  private readonly headers: Record<string, string>;

  constructor(
    private readonly base: URL,
    token: string | undefined,
    private readonly sink: FeedSink,
  ) {
    const prefix = base.pathname.replace(/\/+$/, '');
    this.feedUrl = new URL(`${prefix}/api/attacks/feed`, base);
    this.pollUrl = new URL(`${prefix}/api/attacks/feed?poll=1`, base);
    const secure = base.protocol === 'https:';
    this.request = (secure ? originalHttp.httpsRequest : originalHttp.httpRequest) as typeof http.request;
    this.agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 2 }) : new http.Agent({ keepAlive: true, maxSockets: 2 });
    this.headers = token ? { authorization: `Bearer ${token}` } : {};
  }

  /** Where reports go: `{url}/api/attacks/{id}/report`. */
  reportUrl(id: string): URL {
    return new URL(`${this.base.pathname.replace(/\/+$/, '')}/api/attacks/${encodeURIComponent(id)}/report`, this.base);
  }

  /** How the feed is being read now. */
  get via(): 'sse' | 'poll' {
    return this.mode;
  }

  start(): void {
    this.connect();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.current?.destroy();
    this.current = undefined;
    this.agent.destroy();
  }

  private next(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect();
    }, delayMs);
    this.timer.unref();
  }

  private backoff(): number {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(this.failures, 10));
    return base * (0.5 + Math.random() * 0.5);
  }

  private connect(): void {
    if (this.closed) return;
    try {
      if (this.mode === 'sse') this.openStream();
      else this.poll();
    } catch {
      // A request that cannot even be built (should not happen with a validated URL): try later.
      this.failures++;
      this.next(this.backoff());
    }
  }

  private refused(res: IncomingMessage): void {
    const status = res.statusCode ?? 0;
    if (status === 401 || status === 403) {
      this.sink.logOnce(`status:${status}`, `labcoat: the control plane at ${this.base.origin} refused the attack feed (HTTP ${status}); check LABCOAT_CONTROL_TOKEN (a token with role service). Attacks stay off until it is accepted`);
    } else if (status === 404) {
      this.sink.logOnce('status:404', `labcoat: ${this.feedUrl.href} was not found (HTTP 404); is LABCOAT_CONTROL_URL a labcoat server? Attacks stay off`);
    } else {
      this.sink.logOnce(`status:${status}`, `labcoat: the attack feed answered HTTP ${status}; retrying with backoff`);
    }
  }

  private openStream(): void {
    const lease = this.sink.leaseMs();
    let gotSnapshot = false;
    let done = false;
    const req = this.request(this.feedUrl, {
      method: 'GET',
      agent: false,
      headers: { ...this.headers, accept: 'text/event-stream', 'cache-control': 'no-cache' },
    });
    this.current = req;
    // The server sends a snapshot on connect and a heartbeat every third of the lease.
    const firstDeadline = setTimeout(() => {
      if (!gotSnapshot) req.destroy(new Error('no snapshot'));
    }, clamp(lease / 2, 100, 5000));
    firstDeadline.unref();
    const end = (): void => {
      if (done) return;
      done = true;
      clearTimeout(firstDeadline);
      if (this.current === req) this.current = undefined;
      req.destroy();
      if (this.closed) return;
      if (gotSnapshot) {
        this.retrying = false;
        this.failures = 0;
        this.sseFailures = 0;
        // The stream worked and ended (server restart, proxy timeout): come back quickly.
        this.next(50 + Math.random() * 200);
        return;
      }
      this.sink.failed();
      this.sseFailures++;
      if (this.retrying) {
        // Polling worked a moment ago: go straight back to it, within the lease.
        this.retrying = false;
        this.mode = 'poll';
        this.polls = 0;
        this.next(0);
        return;
      }
      this.failures++;
      if (this.sseFailures >= SSE_FAILURES_BEFORE_POLL) {
        this.mode = 'poll';
        this.polls = 0;
        this.sink.logOnce('polling', `labcoat: the attack feed stream failed ${this.sseFailures} times in a row; polling ${this.pollUrl.href} instead`);
        // Another transport, not a retry of the same one: poll now.
        this.next(0);
        return;
      }
      this.next(this.backoff());
    };
    req.on('socket', (socket) => socket.unref());
    req.setTimeout(clamp(lease * 1.5, 1500, 120_000), () => req.destroy(new Error('attack feed idle')));
    req.on('response', (res) => {
      const type = String(res.headers['content-type'] ?? '');
      if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
        if (res.statusCode === 200) this.sink.logOnce('content-type', `labcoat: the attack feed answered ${JSON.stringify(type)}, not text/event-stream`);
        else this.refused(res);
        res.resume();
        end();
        return;
      }
      res.setEncoding('utf8');
      const parser = new SseParser((event, data) => {
        if ((event === 'snapshot' || event === 'message') && this.sink.accept(data, 'sse')) {
          gotSnapshot = true;
          this.failures = 0;
          this.sseFailures = 0;
        }
      }, MAX_BYTES);
      res.on('data', (chunk: string) => {
        if (!done && !parser.push(chunk)) req.destroy(new Error('attack feed event too large'));
      });
      res.on('end', end);
      res.on('close', end);
      res.on('error', end);
    });
    req.on('error', end);
    req.on('close', end);
    req.end();
  }

  private poll(): void {
    let done = false;
    const req = this.request(this.pollUrl, { method: 'GET', agent: this.agent, headers: { ...this.headers, accept: 'application/json' } });
    this.current = req;
    const deadline = setTimeout(() => req.destroy(new Error('attack poll timed out')), clamp(this.sink.leaseMs() / 2, 500, 10_000));
    deadline.unref();
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      if (this.current === req) this.current = undefined;
      if (this.closed) return;
      this.polls++;
      if (!ok) {
        this.sink.failed();
        this.failures++;
        if (this.polls >= POLLS_BEFORE_SSE_RETRY) {
          // Polling does not work either: give the stream another chance (one failure and we poll again).
          this.polls = 0;
          this.mode = 'sse';
          this.sseFailures = SSE_FAILURES_BEFORE_POLL - 1;
        }
        this.next(this.backoff());
        return;
      }
      this.failures = 0;
      if (this.polls >= POLLS_BEFORE_SSE_RETRY) {
        // Try the stream again right after a good poll, so that a failed try still ends within the lease.
        this.mode = 'sse';
        this.retrying = true;
        this.next(0);
        return;
      }
      // The lease of the snapshot just taken.
      this.next(clamp(this.sink.leaseMs() / 3, 100, 10_000));
    };
    req.on('socket', (socket) => socket.unref());
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        this.refused(res);
        res.resume();
        res.on('end', () => finish(false));
        res.on('error', () => finish(false));
        return;
      }
      res.setEncoding('utf8');
      let text = '';
      res.on('data', (chunk: string) => {
        text += chunk;
        if (text.length > MAX_BYTES) req.destroy(new Error('attack poll answer too large'));
      });
      res.on('end', () => finish(this.sink.accept(text, 'poll')));
      res.on('error', () => finish(false));
      res.on('close', () => finish(false));
    });
    req.on('error', () => finish(false));
    req.on('close', () => finish(false));
    req.end();
  }

  /**
   * POSTs `{injections}` for one attack; resolves true when the server took it (or no longer
   * knows the attack, so the count can be dropped). Bounded by `timeoutMs`; never rejects.
   */
  report(id: string, injections: number, timeoutMs: number): Promise<'ok' | 'drop' | 'retry'> {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (r: 'ok' | 'drop' | 'retry'): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve(r);
      };
      const body = JSON.stringify({ injections });
      let req: ClientRequest;
      try {
        req = this.request(this.reportUrl(id), {
          method: 'POST',
          agent: this.agent,
          headers: { ...this.headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
        });
      } catch {
        resolve('retry');
        return;
      }
      const deadline = setTimeout(() => req.destroy(new Error('attack report timed out')), timeoutMs);
      deadline.unref();
      req.on('socket', (socket) => socket.unref());
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.on('end', () => settle(status < 300 ? 'ok' : status === 404 || status === 410 || status === 422 ? 'drop' : 'retry'));
        res.on('error', () => settle('retry'));
      });
      req.on('error', () => settle('retry'));
      req.on('close', () => settle('retry'));
      req.end(body);
    });
  }
}
