import type { FaultAction } from '@labcoat/core';
import { Agent, getGlobalDispatcher, setGlobalDispatcher, type Dispatcher } from 'undici';
import { getLabcoat } from '../global.js';
import type { ClientCall, Labcoat } from '../labcoat.js';
import { SERVICE_HEADER } from '../targets.js';
import { httpPoint, httpSpanName, withTraceHeaders } from './call-info.js';
import { garbage, networkError } from './fault-errors.js';

type Handler = Dispatcher.DispatchHandler;
type Controller = Dispatcher.DispatchController;
type Headers = Record<string, string | string[] | undefined>;

/**
 * An undici interceptor that propagates context, records client spans and applies faults. Use it
 * per agent (`new Agent().compose(labcoatInterceptor())`) or globally with
 * {@link installFetchInterceptor}, which covers Node's global `fetch`.
 *
 * @example
 * const agent = new Agent().compose(labcoatInterceptor());
 * await request('http://127.0.0.1:4001/x', { dispatcher: agent });
 */
export function labcoatInterceptor(sdk?: Labcoat): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) =>
    function labcoatDispatch(opts, handler) {
      const lc = sdk ?? getLabcoat();
      if (!lc || opts.upgrade) return dispatch(opts, handler);
      let call: ClientCall;
      let hostname: string;
      let port: string;
      try {
        const origin = new URL(String(opts.origin));
        hostname = origin.hostname;
        port = origin.port || (origin.protocol === 'https:' ? '443' : '80');
        const p = httpPoint(lc, hostname, port, opts.method, opts.path);
        call = lc.startCall(p, httpSpanName(p));
        call.span.setAttribute('url.full', `${origin.origin}${opts.path}`);
      } catch {
        lc.stats.internalErrors++;
        return dispatch(opts, handler);
      }
      const target = new FaultingHandler(toNewApi(handler), call, lc, hostname, port);
      const next = { ...opts, headers: withTraceHeaders(opts.headers, call.headers) as Dispatcher.DispatchOptions['headers'] };
      if (!call.action) return dispatch(next, target);
      return target.applyFault(call.action, () => dispatch(next, target));
    };
}

/**
 * Makes Node's global `fetch` (and undici's global dispatcher) go through labcoat. Returns a
 * function that restores the previous dispatcher.
 */
export function installFetchInterceptor(sdk?: Labcoat): () => void {
  const previous = getGlobalDispatcher();
  setGlobalDispatcher(new Agent().compose(labcoatInterceptor(sdk)));
  return () => setGlobalDispatcher(previous);
}

/**
 * Stands between undici and the caller's handler. The caller always gets this controller, so an
 * abort reaches a fault that is still waiting (delay, hang) as well as a real request in flight.
 */
class FaultingHandler implements Handler, Controller {
  private real: Controller | undefined;
  private started = false;
  private done = false;
  private timer: NodeJS.Timeout | undefined;
  private onAbort: ((reason: Error) => void) | undefined;
  private bodyBytes = 0;
  private damage: Extract<FaultAction, { type: 'proceed' }>['body'];
  #aborted = false;
  #reason: Error | null = null;

  constructor(
    private readonly inner: Handler,
    private readonly call: ClientCall,
    private readonly sdk: Labcoat,
    private readonly hostname: string,
    private readonly port: string,
  ) {}

  // -- controller seen by the caller --
  get aborted(): boolean {
    return this.real?.aborted ?? this.#aborted;
  }
  get paused(): boolean {
    return this.real?.paused ?? false;
  }
  get reason(): Error | null {
    return this.real?.reason ?? this.#reason;
  }
  abort(reason: Error): void {
    if (this.real) return this.real.abort(reason);
    this.#aborted = true;
    this.#reason = reason;
    this.onAbort?.(reason);
  }
  pause(): void {
    this.real?.pause();
  }
  resume(): void {
    this.real?.resume();
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.inner.onRequestStart?.(this, {});
  }

  /** Carries out a fault; `proceed` runs the real dispatch. */
  applyFault(action: FaultAction, proceed: () => boolean): boolean {
    this.start();
    if (this.#aborted) return true;
    const afterDelay = (): void => {
      switch (action.type) {
        case 'refuse':
          return this.fail(networkError(action.code, action.message));
        case 'respond':
          return this.respond(action.status, action.headers, action.body);
        case 'hang':
          this.wait(action.maxMs, () => this.fail(networkError('ETIMEDOUT', `no answer within ${action.maxMs} ms (labcoat hang)`)));
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
      this.fail(reason);
    };
  }

  private respond(status: number, headers: Readonly<Record<string, string>>, body: string): void {
    const bytes = Buffer.from(body);
    this.onResponseStart(this, status, { ...headers, 'content-length': String(bytes.length) }, '');
    if (bytes.length > 0) this.onResponseData(this, bytes);
    this.onResponseEnd(this, {});
  }

  private fail(err: Error): void {
    this.onResponseError(this, err);
  }

  // -- handler seen by undici --
  onRequestStart(controller: Controller, _context: unknown): void {
    this.real = controller;
    if (this.#aborted) controller.abort(this.#reason!);
    this.start();
  }

  onRequestUpgrade(controller: Controller, statusCode: number, headers: Headers, socket: unknown): void {
    this.inner.onRequestUpgrade?.(controller, statusCode, headers as never, socket as never);
  }

  onResponseStart(controller: Controller, statusCode: number, headers: Headers, statusMessage?: string): void {
    if (this.done) return;
    const announced = headers[SERVICE_HEADER];
    if (typeof announced === 'string') this.sdk.targets.learn(this.hostname, this.port, announced);
    this.call.response(statusCode);
    this.inner.onResponseStart?.(this, statusCode, headers as never, statusMessage);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.done || this.resetting) return;
    const d = this.damage;
    if (!d) return void this.inner.onResponseData?.(this, chunk);
    const before = this.bodyBytes;
    this.bodyBytes += chunk.length;
    if (this.bodyBytes <= d.afterBytes) return void this.inner.onResponseData?.(this, chunk);
    const keep = before >= d.afterBytes ? 0 : d.afterBytes - before;
    if (keep > 0) this.inner.onResponseData?.(this, chunk.subarray(0, keep));
    if (d.then === 'corrupt') return void this.inner.onResponseData?.(this, garbage(chunk.length - keep));
    if (d.then === 'reset') this.reset(controller);
    // truncate: the rest is dropped and the response ends normally at onResponseEnd.
  }

  private resetting = false;

  /**
   * Kills the connection as a peer's RST would. The error is delivered on a later turn, as a real
   * reset arrives after the data before it; fetch loses an error raised in the same turn as the headers.
   */
  private reset(controller: Controller): void {
    this.resetting = true;
    const err = networkError('ECONNRESET', 'read ECONNRESET (injected by labcoat)');
    setImmediate(() => {
      this.resetting = false;
      this.onResponseError(this, err);
      if (!controller.aborted) controller.abort(err);
    });
  }

  onResponseEnd(controller: Controller, trailers: Headers): void {
    if (this.done || this.resetting) return;
    if (this.damage?.then === 'reset' && this.bodyBytes <= this.damage.afterBytes) {
      // The body was no longer than the cut: the reset lands at the end, before completion.
      return this.reset(controller);
    }
    this.done = true;
    this.call.end();
    this.inner.onResponseEnd?.(this, trailers as never);
  }

  onResponseError(controller: Controller, err: Error): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.call.fail(err);
    this.inner.onResponseError?.(this, err);
  }
}

/** Adapts a handler written for undici's older callback API (what Node's bundled fetch passes) to the controller API. */
function toNewApi(handler: Dispatcher.DispatchHandler): Handler {
  const h = handler as Handler & LegacyHandler;
  if (typeof h.onRequestStart === 'function') return h;
  return {
    onRequestStart: (c, context) => h.onConnect?.((reason: Error) => c.abort(reason), context),
    onRequestUpgrade: (_c, status, headers, socket) => h.onUpgrade?.(status, rawHeaders(headers), socket),
    onResponseStart: (c, status, headers, statusMessage) => {
      if (h.onHeaders?.(status, rawHeaders(headers), () => c.resume(), statusMessage ?? '') === false) c.pause();
    },
    onResponseData: (c, chunk) => {
      if (h.onData?.(chunk) === false) c.pause();
    },
    onResponseEnd: (_c, trailers) => h.onComplete?.(rawHeaders(trailers)),
    onResponseError: (_c, err) => {
      if (!h.onError) throw err;
      h.onError(err);
    },
  };
}

interface LegacyHandler {
  onConnect?(abort: (reason: Error) => void, context?: unknown): void;
  onUpgrade?(status: number, headers: Buffer[], socket: unknown): void;
  onHeaders?(status: number, headers: Buffer[], resume: () => void, statusText: string): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(trailers: Buffer[]): void;
  onError?(err: Error): void;
}

function rawHeaders(headers: Record<string, string | string[] | undefined> | null | undefined): Buffer[] {
  const out: Buffer[] = [];
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.push(Buffer.from(k, 'latin1'), Buffer.from(one, 'latin1'));
  }
  return out;
}
