/**
 * The fast path of an HTTP listener: plain HTTP/1.1 requests that no fault can touch (no plan in
 * their baggage, no HTTP toxic on the proxy, no attack source) are forwarded on raw sockets. The
 * request head is parsed here, rewritten (hop-by-hop headers out, the trace headers naming the
 * proxy's span in), and the bodies in both directions are forwarded as they are, their framing
 * (content-length, chunked, close-delimited) tracked only to find where each message ends. Upstream
 * connections are kept alive in a pool. Spans are the same as on the full path.
 *
 * Anything else (a plan, a toxic, an upgrade, `Expect`, HTTP/1.0, a head this strict parser does
 * not accept) hands the connection, at a message boundary, to the node:http server of the full path,
 * which then serves it for the rest of its life.
 */
import net from 'node:net';
import { CLIENT_GONE, type Begun, type Exchange, type HttpListener, type HttpRoute } from './http-listener.js';

/** Request heads larger than this go to the full path (which answers 431 past its own limit). */
const MAX_HEAD = 16 * 1024;
/** Response heads larger than this are refused (502). */
const MAX_RESPONSE_HEAD = 64 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const REQUEST_LINE = /^([A-Z]{1,20}) (\S+) HTTP\/1\.1$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;
const DROP_REQUEST = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'traceparent', 'tracestate', 'baggage', 'labcoat-caller']);
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection']);
const IDLE_MS = 65_000;
const MAX_IDLE_UPSTREAM = 256;

/** Finds where a chunked body ends, byte by byte over the framing and in jumps over the data. */
export class ChunkScanner {
  private state = 0;
  private size = 0;
  private digits = 0;
  private remaining = 0;

  /** How many bytes of `b` belong to the body: `b.length` (and not done), or fewer (done). Throws on malformed framing. */
  scan(b: Buffer, from = 0): { used: number; done: boolean } {
    let i = from;
    while (i < b.length) {
      if (this.state === 3) {
        const n = Math.min(this.remaining, b.length - i);
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = 4;
        continue;
      }
      const c = b[i++]!;
      switch (this.state) {
        case 0: {
          const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (v >= 0) {
            if (++this.digits > 12) throw new Error('chunk size too large');
            this.size = this.size * 16 + v;
          } else if (this.digits > 0 && (c === 59 || c === 32 || c === 9)) this.state = 1;
          else if (this.digits > 0 && c === 13) this.state = 2;
          else throw new Error('bad chunk size');
          break;
        }
        case 1:
          if (c === 13) this.state = 2;
          else if (c === 10) throw new Error('bad chunk extension');
          break;
        case 2:
          if (c !== 10) throw new Error('bad chunk size line');
          if (this.size === 0) this.state = 6;
          else {
            this.remaining = this.size;
            this.state = 3;
          }
          break;
        case 4:
          if (c !== 13) throw new Error('bad chunk end');
          this.state = 5;
          break;
        case 5:
          if (c !== 10) throw new Error('bad chunk end');
          this.state = 0;
          this.size = 0;
          this.digits = 0;
          break;
        case 6:
          this.state = c === 13 ? 9 : 7;
          break;
        case 7:
          if (c === 13) this.state = 8;
          break;
        case 8:
          if (c !== 10) throw new Error('bad trailer');
          this.state = 6;
          break;
        case 9:
          if (c !== 10) throw new Error('bad chunked end');
          this.state = 10;
          return { used: i - from, done: true };
      }
    }
    return { used: i - from, done: false };
  }
}

/** A body being forwarded: how much of it is left to see. */
type Framing = { kind: 'none' } | { kind: 'length'; remaining: number } | { kind: 'chunked'; scanner: ChunkScanner } | { kind: 'close' };

/** Takes what belongs to the body from `b`; returns the count and whether the body is complete. */
function take(f: Framing, b: Buffer, from: number): { used: number; done: boolean } {
  switch (f.kind) {
    case 'none':
      return { used: 0, done: true };
    case 'length': {
      const n = Math.min(f.remaining, b.length - from);
      f.remaining -= n;
      return { used: n, done: f.remaining === 0 };
    }
    case 'chunked':
      return f.scanner.scan(b, from);
    case 'close':
      return { used: b.length - from, done: false };
  }
}

/** A pooled upstream connection; its listeners stay, and dispatch to whichever exchange owns it. */
class UpConn {
  owner: FastExchange | undefined;
  reused = false;
  constructor(
    readonly socket: net.Socket,
    private readonly pool: UpstreamPool,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      const owner = this.owner;
      if (!owner) return void socket.destroy(); // bytes nobody asked for: the connection is unusable
      try {
        owner.onUpData(d);
      } catch {
        owner.crashed();
      }
    });
    socket.on('error', (e) => this.owner?.onUpError(e));
    socket.on('close', () => {
      this.pool.forget(this);
      this.owner?.onUpClose();
    });
    socket.on('drain', () => this.owner?.onUpDrain());
  }
}

export class UpstreamPool {
  private idle: UpConn[] = [];
  private readonly all = new Set<UpConn>();
  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  get size(): number {
    return this.all.size;
  }

  acquire(): UpConn {
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (!c.socket.destroyed && c.socket.writable) {
        c.reused = true;
        return c;
      }
    }
    const c = new UpConn(net.connect({ host: this.host, port: this.port }), this);
    this.all.add(c);
    return c;
  }

  release(c: UpConn): void {
    c.owner = undefined;
    if (c.socket.destroyed || this.idle.length >= MAX_IDLE_UPSTREAM) {
      c.socket.destroy();
      return;
    }
    this.idle.push(c);
  }

  forget(c: UpConn): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i !== -1) this.idle.splice(i, 1);
  }

  destroy(): void {
    for (const c of this.all) c.socket.destroy();
    this.all.clear();
    this.idle = [];
  }
}

interface ParsedHead {
  method: string;
  target: string;
  /** Forwarded header lines (`name: value\r\n`). */
  lines: string;
  trace: Record<string, string>;
  framing: Framing;
  close: boolean;
}

/** Parses a request head for the fast path; undefined when the full path should take it. */
function parseHead(head: string, r: HttpRoute, faultsPossible: boolean): ParsedHead | undefined {
  const lines = head.split('\r\n');
  const m = REQUEST_LINE.exec(lines[0]!);
  if (!m) return undefined;
  let out = '';
  const trace: Record<string, string> = {};
  let length: number | undefined;
  let chunked = false;
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return undefined;
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) return undefined;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'content-length':
        if (length !== undefined || !/^\d{1,15}$/.test(value)) return undefined;
        length = Number(value);
        break;
      case 'transfer-encoding':
        if (value.toLowerCase() !== 'chunked' || chunked) return undefined;
        chunked = true;
        break;
      case 'connection': {
        for (const t of value.toLowerCase().split(',')) {
          const token = t.trim();
          if (token === 'close') close = true;
          else if (token !== 'keep-alive' && token !== '') return undefined;
        }
        continue;
      }
      case 'upgrade':
      case 'expect':
        return undefined;
      case 'traceparent':
      case 'tracestate':
      case 'baggage':
      case 'labcoat-caller':
        trace[lower] = trace[lower] === undefined ? value : `${trace[lower]},${value}`;
        continue;
    }
    if (DROP_REQUEST.has(lower)) continue;
    out += `${name}: ${value}\r\n`;
  }
  if (chunked && length !== undefined) return undefined;
  // A plan or an attack mark in the baggage may fault this call: the full path decides and carries it out.
  const baggage = trace['baggage'];
  if (faultsPossible || (baggage !== undefined && (baggage.includes('labcoat.plan') || baggage.includes('labcoat.attack'))) || r.timeoutMs > 0) return undefined;
  const framing: Framing = chunked ? { kind: 'chunked', scanner: new ChunkScanner() } : length ? { kind: 'length', remaining: length } : { kind: 'none' };
  return { method: m[1]!, target: m[2]!, lines: out, trace, framing, close };
}

/** One client connection on the fast path. */
export class FastConn {
  private buf: Buffer | undefined;
  current: FastExchange | undefined;
  private handedOff = false;
  private closed = false;

  constructor(
    readonly listener: HttpListener,
    readonly socket: net.Socket,
    readonly pool: UpstreamPool,
    private readonly handoff: (socket: net.Socket, pending: Buffer | undefined) => void,
  ) {
    socket.setNoDelay(true);
    // Idle keep-alive connections close after IDLE_MS; one waiting for its answer does not.
    socket.setTimeout(IDLE_MS, () => {
      if (!this.current) socket.destroy();
    });
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('error', () => {});
    socket.once('close', () => {
      this.closed = true;
      this.current?.clientGone();
    });
  }

  private readonly onDrain = (): void => this.current?.onClientDrain();

  private readonly onData = (d: Buffer): void => {
    try {
      this.receive(d);
    } catch {
      // Never a crash: an unexpected state closes this connection only.
      this.listener.plane.stats.internalErrors++;
      this.current?.clientGone();
      this.socket.destroy();
    }
  };

  private receive(d: Buffer): void {
    if (this.current?.wantsRequestBody()) {
      const rest = this.current.requestBody(d, 0);
      if (rest < d.length) this.stash(d.subarray(rest));
      return;
    }
    this.stash(d);
    if (!this.current) this.next();
  }

  private stash(d: Buffer): void {
    this.buf = this.buf ? Buffer.concat([this.buf, d]) : d;
    // A client that pipelines a lot while its answer is pending waits for it.
    if (this.current && this.buf.length > 64 * 1024) this.socket.pause();
  }

  /** Looks for the next request head in what has arrived. */
  next(): void {
    this.current = undefined;
    if (this.closed || this.handedOff) return;
    if (this.socket.isPaused()) this.socket.resume();
    const buf = this.buf;
    if (!buf) return;
    const end = buf.indexOf('\r\n\r\n');
    if (end === -1) {
      if (buf.length > MAX_HEAD) this.toFullPath();
      return;
    }
    if (end > MAX_HEAD) return this.toFullPath();
    const r = this.listener.routeNow();
    const parsed = parseHead(buf.toString('latin1', 0, end), r, this.listener.faultsPossible(r));
    if (!parsed) return this.toFullPath();
    this.buf = end + 4 < buf.length ? buf.subarray(end + 4) : undefined;
    const ex = new FastExchange(this, r, parsed);
    this.current = ex;
    ex.start();
    const rest = this.buf;
    if (rest && ex.wantsRequestBody()) {
      this.buf = undefined;
      const used = ex.requestBody(rest, 0);
      if (used < rest.length) this.buf = rest.subarray(used);
    }
  }

  private toFullPath(): void {
    this.handedOff = true;
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('drain', this.onDrain);
    this.socket.setTimeout(0);
    const pending = this.buf;
    this.buf = undefined;
    this.handoff(this.socket, pending);
  }

  /** Writes to the client; false when it is full. */
  write(data: Buffer | string): boolean {
    return this.socket.write(data);
  }
}

/** One request/response on the fast path. */
class FastExchange {
  private up: UpConn | undefined;
  private begun: Begun | undefined;
  private ex: Exchange | undefined;
  private head = '';
  private requestDone = false;
  private requestSent: Buffer[] | undefined = [];
  private respHead: Buffer | undefined;
  private respFraming: Framing | undefined;
  private status = 0;
  private headSent = false;
  private closeClient: boolean;
  private upReusable = true;
  private retried = false;
  private finished = false;

  constructor(
    private readonly conn: FastConn,
    private readonly r: HttpRoute,
    private readonly req: ParsedHead,
  ) {
    this.closeClient = req.close;
    if (req.framing.kind === 'none') this.requestDone = true;
  }

  start(): void {
    const l = this.conn.listener;
    l.fastStarted();
    const b = l.begin(this.req.method, this.req.target, this.req.trace, this.r);
    this.begun = b;
    this.ex = b.ex;
    if (b.ex.call && !b.ex.serverSpan) l.openServerSpan(b.ex, l.plane.sdk(this.r.service), b.traceId, b.ex.call.span.spanId, b.flags, b.tracestate, b.baggage, b.plan, this.r);
    const t = l.traceHeaders(b.ex, b.traceId, b.flags, b.tracestate, b.baggage);
    let traceLines = '';
    for (let i = 0; i + 1 < t.length; i += 2) traceLines += `${t[i]}: ${t[i + 1]}\r\n`;
    this.head = `${this.req.method} ${this.req.target} HTTP/1.1\r\n${this.req.lines}${traceLines}\r\n`;
    this.connect();
  }

  private connect(): void {
    const up = this.conn.pool.acquire();
    this.up = up;
    up.owner = this;
    up.socket.write(this.head, 'latin1');
    if (this.requestSent) for (const part of this.requestSent) up.socket.write(part);
  }

  wantsRequestBody(): boolean {
    return !this.requestDone;
  }

  /** Forwards request body bytes from `d` (from `from`); returns the index after what belonged to it. */
  requestBody(d: Buffer, from: number): number {
    let t;
    try {
      t = take(this.req.framing, d, from);
    } catch (e) {
      this.fail(400, `malformed request body: ${(e as Error).message}`, e, true);
      return d.length;
    }
    if (t.used > 0) {
      const part = d.subarray(from, from + t.used);
      // Bodies are never replayed on another connection; stop keeping them once they are big.
      if (this.requestSent) {
        this.requestSent.push(part);
        if (this.requestSent.length > 16) this.requestSent = undefined;
      }
      if (this.up && !this.up.socket.write(part)) this.conn.socket.pause();
    }
    if (t.done) this.requestDone = true;
    return from + t.used;
  }

  onUpDrain(): void {
    if (!this.requestDone && this.conn.socket.isPaused()) this.conn.socket.resume();
  }

  onClientDrain(): void {
    if (this.up && this.up.socket.isPaused()) this.up.socket.resume();
  }

  onUpData(d: Buffer): void {
    if (this.finished) return;
    if (!this.respFraming) {
      this.respHead = this.respHead ? Buffer.concat([this.respHead, d]) : d;
      this.parseResponse();
      return;
    }
    this.forwardBody(d, 0);
  }

  private parseResponse(): void {
    for (;;) {
      const buf = this.respHead!;
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buf.length > MAX_RESPONSE_HEAD) this.badGateway(new Error('response head too large'));
        return;
      }
      const lines = buf.toString('latin1', 0, end).split('\r\n');
      const m = STATUS_LINE.exec(lines[0]!);
      if (!m) return this.badGateway(new Error(`malformed status line ${JSON.stringify(lines[0]!.slice(0, 60))}`));
      const status = Number(m[2]);
      let out = `HTTP/1.1 ${m[2]} ${m[3] ?? ''}\r\n`;
      let length: number | undefined;
      let chunked = false;
      let upClose = m[1] === '0';
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i]!;
        const colon = line.indexOf(':');
        if (colon <= 0) return this.badGateway(new Error('malformed response header'));
        const name = line.slice(0, colon);
        const lower = name.toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (lower === 'content-length') {
          if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) return this.badGateway(new Error('bad content-length'));
          length = Number(value);
        } else if (lower === 'transfer-encoding') {
          if (value.toLowerCase().split(',').pop()!.trim() === 'chunked') chunked = true;
        } else if (lower === 'connection') {
          const v = value.toLowerCase();
          if (v.includes('close')) upClose = true;
          else if (m[1] === '0' && v.includes('keep-alive')) upClose = false;
        }
        if (DROP_RESPONSE.has(lower)) continue;
        out += `${line}\r\n`;
      }
      const rest = end + 4 < buf.length ? buf.subarray(end + 4) : undefined;
      if (status >= 100 && status < 200) {
        // Informational (103 Early Hints…): pass it on, the final answer follows.
        if (status === 101) return this.badGateway(new Error('unexpected 101 without an upgrade request'));
        this.conn.write(`${out}\r\n`);
        this.respHead = rest;
        if (!rest) return;
        continue;
      }
      if (upClose) this.upReusable = false;
      this.status = status;
      let framing: Framing;
      if (this.req.method === 'HEAD' || status === 204 || status === 304) framing = { kind: 'none' };
      else if (chunked) framing = { kind: 'chunked', scanner: new ChunkScanner() };
      else if (length !== undefined) framing = length === 0 ? { kind: 'none' } : { kind: 'length', remaining: length };
      else {
        framing = { kind: 'close' };
        this.closeClient = true;
        this.upReusable = false;
      }
      if (this.closeClient) out += 'connection: close\r\n';
      this.respFraming = framing;
      this.respHead = undefined;
      this.headSent = true;
      const headBytes = `${out}\r\n`;
      if (!rest) {
        this.conn.socket.cork();
        this.conn.write(headBytes);
        this.conn.socket.uncork();
        if (framing.kind === 'none') this.complete();
        return;
      }
      this.conn.socket.cork();
      this.conn.write(headBytes);
      this.forwardBody(rest, 0);
      this.conn.socket.uncork();
      return;
    }
  }

  private forwardBody(d: Buffer, from: number): void {
    let t;
    try {
      t = take(this.respFraming!, d, from);
    } catch (e) {
      this.ex?.finish(this.status, e);
      this.finished = true;
      this.up?.socket.destroy();
      this.conn.socket.destroy();
      return;
    }
    if (t.used > 0) {
      const ok = this.conn.write(t.used === d.length - from && from === 0 ? d : d.subarray(from, from + t.used));
      if (!ok) this.up?.socket.pause();
    }
    if (t.done) {
      // Anything after the response on this connection was not asked for.
      if (from + t.used < d.length) this.upReusable = false;
      this.complete();
    }
  }

  private complete(): void {
    if (this.finished) return;
    this.finished = true;
    this.ex?.finish(this.status);
    this.conn.listener.fastEnded();
    const up = this.up!;
    if (up.socket.isPaused()) up.socket.resume();
    if (this.upReusable && this.requestDone) this.conn.pool.release(up);
    else {
      up.owner = undefined;
      up.socket.destroy();
    }
    if (this.closeClient || !this.requestDone) {
      this.conn.socket.end();
      return;
    }
    this.conn.next();
  }

  onUpError(e: Error): void {
    this.upFailed(e);
  }

  onUpClose(): void {
    if (this.finished) return;
    if (this.respFraming?.kind === 'close') return this.complete();
    this.upFailed(Object.assign(new Error('the upstream closed the connection'), { code: 'ECONNRESET' }));
  }

  private upFailed(e: Error): void {
    if (this.finished) return;
    const up = this.up;
    if (up) up.owner = undefined;
    // A pooled connection the upstream had closed while idle: once more on a fresh one.
    if (up?.reused && !this.retried && !this.headSent && !this.respHead && this.req.framing.kind === 'none') {
      this.retried = true;
      up.socket.destroy();
      this.connect();
      return;
    }
    up?.socket.destroy();
    if (this.headSent) {
      this.finished = true;
      this.ex?.finish(this.status, e);
      this.conn.listener.fastEnded();
      this.conn.socket.destroy();
      return;
    }
    this.badGateway(e);
  }

  private badGateway(e: Error & { code?: string }): void {
    const r = this.r;
    this.ex?.serverSpan?.recordError(e);
    this.fail(502, `upstream ${r.service} (${r.upstreamHost}:${r.upstreamPort}) cannot be reached: ${`${e.code ?? ''} ${e.message}`.trim()}`, e, false);
  }

  /** Answers the client with an error of the proxy's own, then closes or goes on. */
  private fail(status: number, what: string, e: unknown, close: boolean): void {
    if (this.finished) return;
    this.finished = true;
    if (this.up) {
      this.up.owner = undefined;
      this.up.socket.destroy();
    }
    const body = `labcoat proxy ${this.r.name}: ${what}\n`;
    const closeAfter = close || !this.requestDone || this.closeClient;
    this.status = status;
    this.conn.write(
      `HTTP/1.1 ${status} ${status === 502 ? 'Bad Gateway' : 'Bad Request'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `${status === 502 ? 'labcoat-proxy-error: upstream-unreachable\r\n' : ''}${closeAfter ? 'connection: close\r\n' : ''}\r\n${body}`,
    );
    this.ex?.finish(status, e);
    this.conn.listener.fastEnded();
    if (closeAfter) this.conn.socket.end();
    else this.conn.next();
  }

  /** An unexpected error while handling this exchange: both connections close; the process lives on. */
  crashed(): void {
    this.conn.listener.plane.stats.internalErrors++;
    this.clientGone();
    this.conn.socket.destroy();
  }

  clientGone(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.up) {
      this.up.owner = undefined;
      this.up.socket.destroy();
    }
    this.ex?.finish(this.status, CLIENT_GONE);
    this.conn.listener.fastEnded();
  }
}
