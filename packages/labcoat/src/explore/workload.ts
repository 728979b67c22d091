/**
 * Workloads: what one execution sends. An HTTP request (with `traceparent` and the plan in
 * `baggage`), a shell command (context in `TRACEPARENT`/`TRACESTATE`/`BAGGAGE`), or a function from
 * the library API. Every one has a deadline: an HTTP request is aborted at it, a command's process
 * group is killed, a function's signal is aborted and its result no longer awaited.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { PLAN_BAGGAGE_KEY } from '@labcoat/core';
import { formatMs } from './errors.js';
import type { FaultRef, WorkloadFn, WorkloadOutcome } from './types.js';

// The runner's own requests must not be traced or faulted by an @labcoat/node SDK that the same
// process may have initialised (a test that runs services in-process): keep node:http as it was
// when this module loaded. (The SDK patches the module object; these references stay unpatched.)
const rawHttpRequest = http.request;
const rawHttpsRequest = https.request;

const MAX_BODY = 1024 * 1024;
const MAX_OUTPUT = 16 * 1024;

/** The trace context of one execution: a fresh trace id, and the span id the entry will see as its parent. */
export interface ExecutionContext {
  readonly traceId: string;
  readonly parentSpanId: string;
  readonly traceparent: string;
  /** `labcoat.plan=<token>` when faults are planned. */
  readonly baggage?: string;
  readonly planToken?: string;
  readonly planned: readonly FaultRef[];
  readonly deadlineMs: number;
}

export function newExecutionContext(planToken: string | undefined, planned: readonly FaultRef[], deadlineMs: number): ExecutionContext {
  const traceId = randomBytes(16).toString('hex');
  const parentSpanId = randomBytes(8).toString('hex');
  return {
    traceId,
    parentSpanId,
    traceparent: `00-${traceId}-${parentSpanId}-01`,
    ...(planToken ? { baggage: `${PLAN_BAGGAGE_KEY}=${planToken}`, planToken } : {}),
    planned,
    deadlineMs,
  };
}

/** A workload: runs one execution under a context and reports what came back. Never throws. */
export interface Workload {
  /** How the report names it: `GET http://…`, `command: …`. */
  readonly description: string;
  /** True when the trace may have several roots (a command may make several calls itself). */
  readonly multiRoot: boolean;
  run(ctx: ExecutionContext, signal?: AbortSignal): Promise<WorkloadOutcome>;
  close?(): void;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

function mergeBaggage(user: string | undefined, ours: string | undefined): string | undefined {
  if (!ours) return user;
  // A plan the user put in their own baggage would fight ours: drop it.
  const kept = (user ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m && !m.startsWith(`${PLAN_BAGGAGE_KEY}=`));
  return [...kept, ours].join(',');
}

/** An HTTP request class as a workload. */
export class HttpWorkload implements Workload {
  readonly multiRoot = false;
  readonly description: string;
  private readonly url: URL;
  private readonly agents: { http: http.Agent; https: https.Agent };

  constructor(private readonly request: { method: string; url: string; headers?: Readonly<Record<string, string>>; body?: string }) {
    this.url = new URL(request.url);
    this.description = `${request.method.toUpperCase()} ${request.url}`;
    this.agents = { http: new http.Agent({ keepAlive: true, maxSockets: 4 }), https: new https.Agent({ keepAlive: true, maxSockets: 4 }) };
  }

  run(ctx: ExecutionContext, outer?: AbortSignal): Promise<WorkloadOutcome> {
    const started = performance.now();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.request.headers ?? {})) headers[k.toLowerCase()] = v;
    headers['traceparent'] = ctx.traceparent;
    delete headers['tracestate'];
    const baggage = mergeBaggage(headers['baggage'], ctx.baggage);
    if (baggage) headers['baggage'] = baggage;
    const body = this.request.body;
    if (body !== undefined) {
      headers['content-length'] = String(Buffer.byteLength(body));
      headers['content-type'] ??= /^\s*[[{]/.test(body) ? 'application/json' : 'text/plain';
    }
    const secure = this.url.protocol === 'https:';
    const request = secure ? rawHttpsRequest : rawHttpRequest;
    return new Promise<WorkloadOutcome>((resolve) => {
      let settled = false;
      const elapsed = (): number => performance.now() - started;
      const finish = (o: WorkloadOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        outer?.removeEventListener('abort', onAbort);
        resolve(o);
      };
      const timeout = (): void => {
        req.destroy();
        finish({ kind: 'http', durationMs: elapsed(), failure: { reason: 'timeout', message: `no answer within ${formatMs(ctx.deadlineMs)}` } });
      };
      const onAbort = (): void => {
        req.destroy();
        finish({ kind: 'http', durationMs: elapsed(), failure: { reason: 'error', message: 'aborted' } });
      };
      const timer = setTimeout(timeout, ctx.deadlineMs);
      const req = request(this.url, { method: this.request.method.toUpperCase(), headers, agent: secure ? this.agents.https : this.agents.http }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < MAX_BODY) chunks.push(c);
          size += c.length;
        });
        res.on('error', (e: NodeJS.ErrnoException) =>
          finish({ kind: 'http', durationMs: elapsed(), status: res.statusCode ?? 0, failure: { reason: 'error', message: `HTTP ${res.statusCode ?? '?'}, then the body broke off: ${e.code ?? e.message}`, ...(e.code ? { code: e.code } : {}) } }),
        );
        res.on('aborted', () =>
          finish({ kind: 'http', durationMs: elapsed(), status: res.statusCode ?? 0, failure: { reason: 'error', message: `HTTP ${res.statusCode ?? '?'}, then the connection was reset mid-body`, code: 'ECONNRESET' } }),
        );
        res.on('end', () => {
          const hs: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) hs[k] = Array.isArray(v) ? v.join(', ') : v;
          finish({ kind: 'http', durationMs: elapsed(), status: res.statusCode ?? 0, headers: hs, body: Buffer.concat(chunks).toString('utf8').slice(0, MAX_BODY) });
        });
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        const code = e.code ?? 'Error';
        if (UNREACHABLE.has(code)) finish({ kind: 'http', durationMs: elapsed(), failure: { reason: 'unreachable', message: `cannot reach ${this.url.origin}: ${code}`, code } });
        else finish({ kind: 'http', durationMs: elapsed(), failure: { reason: 'error', message: `request failed: ${code}${e.message && e.message !== code ? ` (${e.message})` : ''}`, code } });
      });
      if (outer?.aborted) onAbort();
      else outer?.addEventListener('abort', onAbort, { once: true });
      req.end(body);
    });
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

/** Keeps the last `max` characters of a stream. */
function tail(max: number): { push(s: string): void; text(): string } {
  let buf = '';
  return {
    push(s) {
      buf = (buf + s).slice(-max);
    },
    text: () => buf,
  };
}

/**
 * A shell command as a workload: exit 0 = success (or the expected exit code). It gets the context
 * in `TRACEPARENT`, `TRACESTATE` and `BAGGAGE` (the @labcoat/node SDK reads them as the process's
 * context), plus `LABCOAT_KEY` and `LABCOAT_OTLP_URL` when known. At the deadline its whole
 * process group is killed.
 */
export class CommandWorkload implements Workload {
  readonly multiRoot = true;
  readonly description: string;

  constructor(
    private readonly command: string,
    private readonly env: Readonly<Record<string, string>> = {},
  ) {
    this.description = `command: ${command}`;
  }

  run(ctx: ExecutionContext, outer?: AbortSignal): Promise<WorkloadOutcome> {
    return runCommand(this.command, { ...this.env, TRACEPARENT: ctx.traceparent, TRACESTATE: '', BAGGAGE: ctx.baggage ?? '' }, ctx.deadlineMs, outer);
  }
}

/** Runs `sh -c command` with a deadline; kills its process group at the deadline or on abort. */
export function runCommand(command: string, env: Readonly<Record<string, string>>, deadlineMs: number, outer?: AbortSignal): Promise<WorkloadOutcome> {
  const started = performance.now();
  return new Promise<WorkloadOutcome>((resolve) => {
    const out = tail(MAX_OUTPUT);
    const err = tail(MAX_OUTPUT);
    let timedOut = false;
    let settled = false;
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const finish = (o: WorkloadOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
      resolve(o);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
      // A grandchild that escaped the group could keep the pipes open: do not wait for them.
      finish({ kind: 'command', durationMs: performance.now() - started, exitCode: null, signal: 'SIGKILL', stdout: out.text(), stderr: err.text(), failure: { reason: 'timeout', message: `no answer within ${formatMs(deadlineMs)} (the command was killed)` } });
    }, deadlineMs);
    const onAbort = (): void => {
      killGroup();
      finish({ kind: 'command', durationMs: performance.now() - started, exitCode: null, signal: 'SIGKILL', failure: { reason: 'error', message: 'aborted' } });
    };
    if (outer?.aborted) onAbort();
    else outer?.addEventListener('abort', onAbort, { once: true });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => out.push(d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => err.push(d));
    child.on('error', (e) => finish({ kind: 'command', durationMs: performance.now() - started, failure: { reason: 'error', message: `cannot run the command: ${e.message}` } }));
    child.on('close', (code, signal) => {
      if (timedOut) return;
      finish({ kind: 'command', durationMs: performance.now() - started, exitCode: code, signal, stdout: out.text(), stderr: err.text() });
    });
  });
}

/** A function workload (library API). */
export class FunctionWorkload implements Workload {
  readonly multiRoot = true;
  readonly description = 'function';

  constructor(private readonly fn: WorkloadFn) {}

  async run(ctx: ExecutionContext, outer?: AbortSignal): Promise<WorkloadOutcome> {
    const started = performance.now();
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(outer?.reason);
    outer?.addEventListener('abort', onAbort, { once: true });
    const headers: Record<string, string> = { traceparent: ctx.traceparent, ...(ctx.baggage ? { baggage: ctx.baggage } : {}) };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        controller.abort(new Error('deadline'));
        resolve('timeout');
      }, ctx.deadlineMs);
    });
    try {
      const call = Promise.resolve().then(() =>
        this.fn({ headers, traceId: ctx.traceId, parentSpanId: ctx.parentSpanId, ...(ctx.planToken ? { planToken: ctx.planToken } : {}), planned: ctx.planned, signal: controller.signal }),
      );
      const r = await Promise.race([call.then((value) => ({ value }), (error: unknown) => ({ error })), deadline]);
      const durationMs = performance.now() - started;
      if (r === 'timeout') {
        call.catch(() => undefined);
        return { kind: 'function', durationMs, failure: { reason: 'timeout', message: `no answer within ${formatMs(ctx.deadlineMs)}` } };
      }
      if ('error' in r) {
        const e = r.error as { message?: string; code?: string; cause?: { code?: string } };
        const code = e?.cause?.code ?? e?.code;
        const message = String(e?.message ?? r.error).split('\n')[0]!.slice(0, 200);
        if (code && UNREACHABLE.has(code)) return { kind: 'function', durationMs, failure: { reason: 'unreachable', message: `cannot reach the target: ${code}`, code } };
        return { kind: 'function', durationMs, failure: { reason: 'error', message: code && !message.includes(code) ? `${message} (${code})` : message, ...(code ? { code } : {}) } };
      }
      return await outcomeOf(r.value, durationMs);
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    }
  }
}

/** A function's result as an outcome: a fetch Response (status + body), an object with `status`/`body`, or a value. */
async function outcomeOf(value: unknown, durationMs: number): Promise<WorkloadOutcome> {
  if (typeof Response !== 'undefined' && value instanceof Response) {
    const body = (await value.text().catch(() => '')).slice(0, MAX_BODY);
    const headers: Record<string, string> = {};
    value.headers.forEach((v, k) => (headers[k] = v));
    return { kind: 'http', durationMs, status: value.status, headers, body };
  }
  if (typeof value === 'object' && value !== null && typeof (value as { status?: unknown }).status === 'number') {
    const v = value as { status: number; body?: unknown; text?: unknown; headers?: Record<string, string> };
    const raw = v.body ?? v.text;
    const body = typeof raw === 'string' ? raw : raw === undefined ? undefined : JSON.stringify(raw);
    return { kind: 'http', durationMs, status: v.status, ...(body !== undefined ? { body } : {}), ...(v.headers ? { headers: v.headers } : {}), value };
  }
  return { kind: 'function', durationMs, value };
}
