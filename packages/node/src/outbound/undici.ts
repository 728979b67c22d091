import type { FaultAction } from '@labcoat/core';
// Must come before undici: lets Node's bundled undici install its own global Agent first, so that
// installFetchInterceptor wraps the agent fetch would have used rather than npm undici's default.
import './bundled-dispatcher.js';
import { Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { getLabcoat } from '../global.js';
import type { ClientCall, Labcoat } from '../labcoat.js';
import { SERVICE_HEADER } from '../targets.js';
import { askForName, httpPoint, httpSpanName, withTraceHeaders } from './call-info.js';
import { garbage, networkError } from './fault-errors.js';

/**
 * undici's core handler interface (`onConnect`/`onHeaders`/`onData`/`onComplete`/`onError`): what
 * undici's own clients and Node's bundled `fetch` pass to a dispatcher, and what undici's core
 * calls. labcoat works at this level so the global fetch path converts no headers.
 */
interface CoreHandler {
  onConnect?(abort: (reason?: Error) => void, context?: object): void;
  onResponseStarted?(): void;
  onUpgrade?(statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: unknown): void;
  onHeaders?(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(trailers: Buffer[] | string[] | null): void;
  onError?(err: Error): void;
}

type Dispatch = (opts: Dispatcher.DispatchOptions, handler: CoreHandler) => boolean;

interface Origin {
  readonly origin: string;
  readonly hostname: string;
  readonly port: string;
}

/** Parsed origins by the string fetch passes (`http://host:port`): parsing a URL per call is ~1 µs. Bounded. */
const origins = new Map<string, Origin>();

function originOf(o: unknown): Origin {
  const key = typeof o === 'string' ? o : undefined;
  if (key !== undefined) {
    const hit = origins.get(key);
    if (hit !== undefined) return hit;
  }
  const url = typeof o === 'string' ? new URL(o) : (o as URL);
  const parsed: Origin = { origin: url.origin, hostname: url.hostname, port: url.port || (url.protocol === 'https:' ? '443' : '80') };
  if (key !== undefined) {
    if (origins.size >= 1024) origins.clear();
    origins.set(key, parsed);
  }
  return parsed;
}

/**
 * Propagates context, records a client span and applies the plan's fault around one dispatch.
 * Shared by the interceptor and the global dispatcher.
 */
function labcoatDispatch(lc: Labcoat | undefined, dispatch: Dispatch, opts: Dispatcher.DispatchOptions, handler: CoreHandler): boolean {
  if (!lc || opts.upgrade) return dispatch(opts, handler);
  let call: ClientCall;
  let hostname: string;
  let port: string;
  try {
    const origin = originOf(opts.origin);
    hostname = origin.hostname;
    port = origin.port;
    const p = httpPoint(lc, hostname, port, opts.method, opts.path);
    call = lc.startCall(p, httpSpanName(p));
    call.span.setAttribute('url.full', `${origin.origin}${opts.path}`);
  } catch {
    lc.stats.internalErrors++;
    return dispatch(opts, handler);
  }
  const target = new FaultingHandler(handler, call, lc, hostname, port);
  const next = { ...opts, headers: withTraceHeaders(opts.headers, askForName(lc, hostname, port, call.headers)) as Dispatcher.DispatchOptions['headers'] };
  if (!call.action) return dispatch(next, target);
  return target.applyFault(call.action, () => dispatch(next, target));
}

/**
 * An undici interceptor that propagates context, records client spans and applies faults, for one
 * agent: `new Agent().compose(labcoatInterceptor())`. For Node's global `fetch`, use
 * {@link installFetchInterceptor}.
 *
 * @example
 * const agent = new Agent().compose(labcoatInterceptor());
 * await request('http://127.0.0.1:4001/x', { dispatcher: agent });
 */
export function labcoatInterceptor(sdk?: Labcoat): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) =>
    function labcoatInterceptorDispatch(opts, handler) {
      const core = typeof (handler as Dispatcher.DispatchHandler).onRequestStart === 'function' ? toCoreApi(handler) : (handler as CoreHandler);
      return labcoatDispatch(sdk ?? getLabcoat(), dispatch as unknown as Dispatch, opts, core);
    };
}

/** A dispatcher that runs labcoat around another one without undici's compose wrappers. */
class LabcoatDispatcher extends Dispatcher {
  constructor(
    private readonly inner: Dispatcher,
    private readonly sdk: Labcoat | undefined,
  ) {
    super();
  }
  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const h = handler as Dispatcher.DispatchHandler & CoreHandler;
    const core = typeof h.onRequestStart === 'function' ? toCoreApi(h) : h;
    return labcoatDispatch(this.sdk ?? getLabcoat(), (o, hh) => this.inner.dispatch(o, hh as Dispatcher.DispatchHandler), opts, core);
  }
  override close(...args: unknown[]): Promise<void> {
    return (this.inner.close as (...a: unknown[]) => Promise<void>)(...args);
  }
  override destroy(...args: unknown[]): Promise<void> {
    return (this.inner.destroy as (...a: unknown[]) => Promise<void>)(...args);
  }
}

/**
 * Makes Node's global `fetch` (and undici's global dispatcher) go through labcoat, around the
 * dispatcher that was global before: Node's bundled agent by default, or whatever the application
 * set (a ProxyAgent, a MockAgent). Returns a function that restores it.
 */
export function installFetchInterceptor(sdk?: Labcoat): () => void {
  const previous = getGlobalDispatcher();
  if (previous instanceof LabcoatDispatcher) return () => {};
  setGlobalDispatcher(new LabcoatDispatcher(previous, sdk));
  return () => setGlobalDispatcher(previous);
}

const SERVICE_HEADER_LENGTH = SERVICE_HEADER.length;

/**
 * Stands between undici and the caller's handler. The caller always gets this handler's abort
 * function, so an abort reaches a fault that is still waiting (delay, hang) as well as a real
 * request in flight.
 */
class FaultingHandler implements CoreHandler {
  private realAbort: ((reason?: Error) => void) | undefined;
  private started = false;
  private done = false;
  private resetting = false;
  private aborted = false;
  private abortReason: Error | undefined;
  private timer: NodeJS.Timeout | undefined;
  private onAbort: ((reason: Error) => void) | undefined;
  private bodyBytes = 0;
  private damage: Extract<FaultAction, { type: 'proceed' }>['body'];

  constructor(
    private readonly inner: CoreHandler,
    private readonly call: ClientCall,
    private readonly sdk: Labcoat,
    private readonly hostname: string,
    private readonly port: string,
  ) {}

  /** What the caller calls to abort. */
  private readonly abort = (reason?: Error): void => {
    const why = reason ?? new Error('aborted');
    if (this.realAbort) return this.realAbort(why);
    this.aborted = true;
    this.abortReason = why;
    this.onAbort?.(why);
  };

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.inner.onConnect?.(this.abort, {});
  }

  /** Carries out a fault; `proceed` runs the real dispatch. */
  applyFault(action: FaultAction, proceed: () => boolean): boolean {
    this.start();
    if (this.aborted) return true;
    const afterDelay = (): void => {
      switch (action.type) {
        case 'refuse':
          return this.onError(networkError(action.code, action.message));
        case 'respond':
          return this.respond(action.status, action.headers, action.body);
        case 'hang':
          this.wait(action.maxMs, () => this.onError(networkError('ETIMEDOUT', `no answer within ${action.maxMs} ms (labcoat hang)`)));
          return;
        case 'proceed':
          this.damage = action.body;
          proceed();
          return;
      }
    };
    if (action.delayMs > 0) this.wait(action.delayMs, afterDelay);
    else afterDelay();
    return true;
  }

  private wait(ms: number, then: () => void): void {
    this.timer = setTimeout(() => {
      this.onAbort = undefined;
      then();
    }, ms);
    this.onAbort = (reason) => {
      clearTimeout(this.timer);
      this.onAbort = undefined;
      this.onError(reason);
    };
  }

  private respond(status: number, headers: Readonly<Record<string, string>>, body: string): void {
    const bytes = Buffer.from(body);
    const raw: Buffer[] = [];
    for (const [k, v] of Object.entries({ ...headers, 'content-length': String(bytes.length) })) raw.push(Buffer.from(k, 'latin1'), Buffer.from(v, 'latin1'));
    this.onHeaders(status, raw, () => {}, '');
    if (bytes.length > 0) this.onData(bytes);
    this.onComplete([]);
  }

  // -- the core handler interface, called by undici --
  onConnect(abort: (reason?: Error) => void): void {
    this.realAbort = abort;
    if (this.aborted) abort(this.abortReason);
    this.start();
  }

  onResponseStarted(): void {
    this.inner.onResponseStarted?.();
  }

  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: unknown): void {
    this.inner.onUpgrade?.(statusCode, rawHeaders, socket);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.done) return true;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      if (name.length === SERVICE_HEADER_LENGTH && name.toString('latin1').toLowerCase() === SERVICE_HEADER) {
        this.sdk.targets.learn(this.hostname, this.port, rawHeaders[i + 1]!.toString('latin1'));
        break;
      }
    }
    this.call.response(statusCode);
    return this.inner.onHeaders?.(statusCode, rawHeaders, resume, statusText) ?? true;
  }

  onData(chunk: Buffer): boolean {
    if (this.done || this.resetting) return true;
    const d = this.damage;
    if (!d) return this.inner.onData?.(chunk) ?? true;
    const before = this.bodyBytes;
    this.bodyBytes += chunk.length;
    if (this.bodyBytes <= d.afterBytes) return this.inner.onData?.(chunk) ?? true;
    const keep = before >= d.afterBytes ? 0 : d.afterBytes - before;
    if (keep > 0) this.inner.onData?.(chunk.subarray(0, keep));
    if (d.then === 'corrupt') return this.inner.onData?.(garbage(chunk.length - keep)) ?? true;
    if (d.then === 'reset') this.reset();
    // truncate: the rest is dropped and the response ends normally at onComplete.
    return true;
  }

  /**
   * Kills the connection as a peer's RST would. The error is delivered on a later turn, as a real
   * reset arrives after the data before it; fetch loses an error raised in the same turn as the headers.
   */
  private reset(): void {
    this.resetting = true;
    const err = networkError('ECONNRESET', 'read ECONNRESET (injected by labcoat)');
    setImmediate(() => {
      this.resetting = false;
      this.onError(err);
      this.realAbort?.(err);
    });
  }

  onComplete(trailers: Buffer[] | string[] | null): void {
    if (this.done || this.resetting) return;
    if (this.damage?.then === 'reset' && this.bodyBytes <= this.damage.afterBytes) {
      // The body was no longer than the cut: the reset lands at the end, before completion.
      return this.reset();
    }
    this.done = true;
    this.call.end();
    this.inner.onComplete?.(trailers);
  }

  onError(err: Error): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.call.fail(err);
    this.inner.onError?.(err);
  }
}

/** Adapts a controller-style handler (`onRequestStart`…, undici ≥ 7 interceptors) to the core interface. */
function toCoreApi(handler: Dispatcher.DispatchHandler): CoreHandler {
  let paused = false;
  let aborted = false;
  let reason: Error | null = null;
  let resume: (() => void) | undefined;
  let abort: (reason?: Error) => void = () => {};
  const controller: Dispatcher.DispatchController = {
    get aborted() {
      return aborted;
    },
    get paused() {
      return paused;
    },
    get reason() {
      return reason;
    },
    abort(why: Error) {
      if (aborted) return;
      aborted = true;
      reason = why;
      abort(why);
    },
    pause() {
      paused = true;
    },
    resume() {
      if (!paused) return;
      paused = false;
      resume?.();
    },
  };
  return {
    onConnect(a, context) {
      abort = a;
      handler.onRequestStart?.(controller, context ?? {});
    },
    onUpgrade(status, raw, socket) {
      handler.onRequestUpgrade?.(controller, status, parseRaw(raw), socket as never);
    },
    onHeaders(status, raw, r, statusText) {
      resume = r;
      handler.onResponseStart?.(controller, status, parseRaw(raw), statusText);
      return !paused;
    },
    onData(chunk) {
      handler.onResponseData?.(controller, chunk);
      return !paused;
    },
    onComplete(trailers) {
      handler.onResponseEnd?.(controller, parseRaw(trailers));
    },
    onError(err) {
      handler.onResponseError?.(controller, err);
    },
  };
}

function parseRaw(raw: readonly (Buffer | string)[] | null): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!raw) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!.toString().toLowerCase();
    const value = raw[i + 1]!.toString();
    const prev = out[key];
    out[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}
