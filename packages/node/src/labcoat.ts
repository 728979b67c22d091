import {
  ATTR,
  Baggage,
  compileGlob,
  encodePlan,
  pointId,
  PLAN_BAGGAGE_KEY,
  unitFromKey,
  type CompiledPlan,
  type FaultAction,
  type FaultPlan,
  type PlanMac,
  type PointDescriptor,
  RouteTemplate,
  routeFor,
  type SpanData,
  type SpanKind,
} from '@labcoat/core';
import { AttackClient, resolveAttackOptions, type AttackOptions } from './attacks/client.js';
import type { AttackMark } from './attacks/mark.js';
import { nowMs } from './clock.js';
import { RequestContext, currentContext, runWithContext } from './context.js';
import type { SpanExporter } from './exporters/exporter.js';
import { InMemoryExporter } from './exporters/memory.js';
import { OtlpHttpExporter } from './exporters/otlp-http.js';
import { newSpanId, newTraceId } from './ids.js';
import { hmacMac } from './mac.js';
import { activeOtelSpanContext } from './otel-bridge.js';
import { PlanVerifier } from './plans.js';
import { envGetter, extract, outboundHeaders, type CarrierGetter, type OutboundHeaders } from './propagation.js';
import { LiveSpan } from './spans.js';
import { newStats, type LabcoatStats } from './stats.js';
import { TargetResolver } from './targets.js';

/** Options for a labcoat SDK instance. Every option has an environment fallback so services can be configured from outside. */
export interface LabcoatOptions {
  /** This service's name (env `LABCOAT_SERVICE`, then `OTEL_SERVICE_NAME`). */
  service?: string;
  /** Shared plan signing key, at least 16 bytes (env `LABCOAT_KEY`). Without it no plan is ever accepted. */
  key?: string | Buffer;
  /** Service name → `host:port` (or several), for naming call targets (env `LABCOAT_SERVICES`). */
  services?: Record<string, string | readonly string[]>;
  /** Route templates per target service, e.g. `{ profiles: ['/profiles/:pid/avatar'] }`; otherwise ids are stripped by rule. */
  routes?: Record<string, readonly string[]>;
  /** Point-id globs of calls that are optional (fire-and-forget); their spans say `labcoat.optional`. */
  optional?: readonly string[];
  /**
   * Where spans go: an exporter, `'memory'`, `{ otlpUrl }`, or `'none'`. Default: OTLP/HTTP JSON to
   * `LABCOAT_OTLP_URL` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` when set, else none.
   */
  exporter?: SpanExporter | 'memory' | 'none' | { otlpUrl: string; headers?: Record<string, string> };
  /** Announce this service's name in a `labcoat-service` response header when a request asks with `labcoat-ask` (default true). */
  announce?: boolean;
  /** Environment to read fallbacks from (default `process.env`). */
  env?: Record<string, string | undefined>;
  /**
   * Production attacks from a labcoat control plane: `{ url, token, entry?, leaseMs? }` (env
   * `LABCOAT_CONTROL_URL`, `LABCOAT_CONTROL_TOKEN`, `LABCOAT_ATTACK_ENTRY=1`); `false` turns them
   * off whatever the environment says. Needs the shared `key` to verify the feed.
   */
  attacks?: AttackOptions | false;
}

/** One dependency call in flight: its point, its span, its headers and, if a fault fires, what to do. */
export interface ClientCall {
  readonly pointId: string;
  readonly attempt: number;
  /** The fault to apply, when the plan says this call fails. */
  readonly action: FaultAction | undefined;
  readonly headers: OutboundHeaders;
  readonly span: LiveSpan;
  /** Records the response status (≥ 500 marks the span as failed). */
  response(status: number): void;
  /** Records a failure and ends the span. */
  fail(error: unknown): void;
  /** Ends the span (idempotent). */
  end(): void;
}

/** The ClientCall the transports get; a class rather than closures, since there is one per dependency call. */
class Call implements ClientCall {
  constructor(
    readonly pointId: string,
    readonly attempt: number,
    readonly action: FaultAction | undefined,
    readonly headers: OutboundHeaders,
    readonly span: LiveSpan,
  ) {}
  response(status: number): void {
    this.span.setAttribute('http.response.status_code', status);
    if (status >= 500) this.span.setStatus({ code: 'error', message: `HTTP ${status}` });
  }
  fail(error: unknown): void {
    this.span.recordError(error);
    this.span.end();
  }
  end(): void {
    this.span.end();
  }
}

/** A request being served: its context (run the handler inside it) and its span. */
export interface ServerRequest {
  readonly context: RequestContext;
  readonly span: LiveSpan;
  /** Ends the server span with the response status and the route template when known. */
  finish(status: number, route?: string): void;
}

/**
 * The labcoat SDK: request context, signed fault plans, injection decisions and spans for one service.
 * Transports (fetch/undici, node:http, generic points) and server adapters all go through it.
 *
 * @example
 * ```ts
 * import { init } from '@labcoat/node';
 * const labcoat = init({ service: 'profiles' });   // key from LABCOAT_KEY
 * ```
 */
export class Labcoat {
  readonly service: string;
  readonly stats: LabcoatStats = newStats();
  readonly targets: TargetResolver;
  readonly exporter: SpanExporter | undefined;
  readonly announce: boolean;
  /** Production attacks: the feed's state, the attacks held, entry marking (see {@link AttackClient}). */
  readonly attacks: AttackClient;
  private readonly mac: PlanMac | undefined;
  private readonly verifier: PlanVerifier;
  private readonly routes: Map<string, RouteTemplate[]>;
  private readonly optional: ((id: string) => boolean)[];
  private readonly processContext: RequestContext | undefined;

  constructor(options: LabcoatOptions = {}) {
    const env = options.env ?? process.env;
    const service = options.service ?? env['LABCOAT_SERVICE'] ?? env['OTEL_SERVICE_NAME'];
    if (!service || !/^[\w.-]{1,128}$/.test(service)) {
      throw new Error(`labcoat: option "service" must name this service (letters, digits, . _ -); got ${JSON.stringify(service)}. Set it in init({ service }) or LABCOAT_SERVICE`);
    }
    this.service = service;
    const key = options.key ?? env['LABCOAT_KEY'];
    this.mac = key ? hmacMac(key) : undefined;
    this.verifier = new PlanVerifier(this.mac, this.stats);
    this.targets = new TargetResolver({ ...TargetResolver.parseEnv(env['LABCOAT_SERVICES']), ...options.services });
    this.routes = new Map(Object.entries(options.routes ?? {}).map(([t, list]) => [t, list.map((r) => new RouteTemplate(r))]));
    this.optional = (options.optional ?? []).map((g) => compileGlob(g));
    this.announce = options.announce ?? true;
    this.exporter = makeExporter(options.exporter, env, this.stats);
    this.processContext = this.contextFromEnv(env);
    this.attacks = new AttackClient(resolveAttackOptions(options.attacks, env, service), this.mac, this.stats);
  }

  /** The in-memory exporter's spans, when the exporter is `'memory'`. */
  get memory(): InMemoryExporter | undefined {
    return this.exporter instanceof InMemoryExporter ? this.exporter : undefined;
  }

  /** Route templates declared for a target service. */
  routesFor(target: string): readonly RouteTemplate[] | undefined {
    return this.routes.get(target);
  }

  private readonly routeCache = new Map<string, string>();

  /**
   * The route template of `path` on `target` (declared template, else ids stripped). Memoised,
   * bounded: services call the same paths over and over.
   */
  routeOf(target: string, path: string): string {
    const q = path.indexOf('?');
    const key = `${target} ${q === -1 ? path : path.slice(0, q)}`;
    let route = this.routeCache.get(key);
    if (route === undefined) {
      route = routeFor(path, this.routes.get(target));
      if (this.routeCache.size >= 2048) this.routeCache.clear();
      this.routeCache.set(key, route);
    }
    return route;
  }

  /** Signs a plan with this instance's key (for tests, tools and the explore engine). */
  signPlan(plan: FaultPlan): string {
    if (!this.mac) throw new Error('labcoat: cannot sign a plan without a key; set LABCOAT_KEY or the `key` option');
    return encodePlan(plan, this.mac);
  }

  /** Verifies a plan token (cached). Undefined means: inject nothing. */
  verifyPlan(token: string | undefined): CompiledPlan | undefined {
    return this.verifier.verify(token, Date.now());
  }

  // ---- spans -------------------------------------------------------------------------------

  startSpan(name: string, kind: SpanKind, traceId: string, parentSpanId: string | undefined): LiveSpan {
    this.stats.spansStarted++;
    return new LiveSpan(traceId, newSpanId(), parentSpanId, name, kind, this.service, this.onSpanEnd);
  }

  private readonly onSpanEnd = (span: SpanData): void => {
    if (!this.exporter) return;
    try {
      this.exporter.export(span);
    } catch {
      this.stats.internalErrors++;
    }
  };

  // ---- inbound -----------------------------------------------------------------------------

  /**
   * Starts serving a request: extracts trace context, baggage and plan through `getter`, opens a
   * server span. Run the handler inside `runWithContext(req.context, …)`. Never throws.
   */
  startServer<C>(getter: CarrierGetter<C>, carrier: C, method: string, path: string): ServerRequest {
    const extracted = extract(getter, carrier);
    const plan = extracted.planToken === undefined ? undefined : this.verifyPlan(extracted.planToken);
    const parent = extracted.parent;
    const traceId = parent?.traceId ?? newTraceId();
    // Named by its route template at finish; the raw path only if no template is ever known.
    const span = this.startSpan(method, 'server', traceId, parent?.spanId);
    span.setAttribute('http.request.method', method);
    if (plan) span.setAttribute(ATTR.planId, plan.id);
    let baggage = extracted.baggage;
    let mark: AttackMark | undefined;
    // An entry holding attacks decides here which ones this request joins (one check when none are held).
    if (this.attacks.entry && this.attacks.active.length !== 0) {
      try {
        const joined = this.attacks.enter(traceId, baggage, method, path, () => this.routeOf(this.service, path));
        if (joined) ({ baggage, mark } = joined);
      } catch {
        this.stats.internalErrors++;
      }
    }
    const context = new RequestContext(traceId, span.spanId, parent?.flags ?? 1, extracted.tracestate, baggage, plan);
    if (mark) context.attackMark = mark;
    return {
      context,
      span,
      finish: (status, route) => {
        const template = route ?? context.route;
        if (template) {
          span.name = `${method} ${template}`;
          span.setAttribute(ATTR.route, template);
        } else span.name = `${method} ${path}`;
        span.setAttribute('http.response.status_code', status);
        span.setAttribute(ATTR.calls, context.calls);
        if (status >= 500) span.setStatus({ code: 'error', message: `HTTP ${status}` });
        span.end();
      },
    };
  }

  /** Runs `fn` as a new root request (optionally under a signed plan token), e.g. in tests or scripts. */
  run<T>(fn: () => T, options: { planToken?: string; baggage?: Baggage } = {}): T {
    let baggage = options.baggage ?? Baggage.EMPTY;
    if (options.planToken !== undefined) baggage = baggage.with(PLAN_BAGGAGE_KEY, options.planToken);
    const plan = options.planToken === undefined ? undefined : this.verifyPlan(options.planToken);
    const ctx = new RequestContext(newTraceId(), newSpanId(), 1, undefined, baggage, plan);
    return runWithContext(ctx, fn);
  }

  // ---- outbound ----------------------------------------------------------------------------

  /**
   * Starts a dependency call at an injection point: counts the attempt, decides whether a fault
   * fires, opens a client span and computes the headers to send. Transports then carry out
   * `call.action` if set. Never throws.
   */
  startCall(point: PointDescriptor, spanName: string): ClientCall {
    const id = pointId(point);
    const ctx = currentContext() ?? this.processContext;
    let traceId: string;
    let parentId: string | undefined;
    let flags = 1;
    if (ctx) {
      traceId = ctx.traceId;
      parentId = ctx.spanId;
      flags = ctx.flags;
    } else {
      const otel = activeOtelSpanContext();
      traceId = otel?.traceId ?? newTraceId();
      parentId = otel?.spanId;
      flags = otel?.flags ?? 1;
    }
    const attempt = ctx ? ctx.nextAttempt(id) : 1;
    if (ctx) ctx.calls++;
    const span = this.startSpan(spanName, 'client', traceId, parentId);
    span.setAttribute(ATTR.point, id);
    span.setAttribute(ATTR.attempt, attempt);
    span.setAttribute('peer.service', point.target);
    if (this.optional.length > 0 && this.optional.some((g) => g(id))) span.setAttribute(ATTR.optional, true);
    let action: FaultAction | undefined;
    try {
      action = ctx?.plan ? this.decide(ctx, ctx.plan, point, id, attempt, span) : undefined;
      // Production attacks, when no plan rule fired (one check when none are held).
      if (action === undefined && ctx !== undefined && this.attacks.active.length !== 0) action = this.decideAttack(ctx, point, id, attempt, span);
    } catch {
      this.stats.internalErrors++;
      action = undefined;
    }
    const headers = outboundHeaders(traceId, span.spanId, flags, ctx?.tracestate, ctx?.baggage ?? Baggage.EMPTY);
    return new Call(id, attempt, action, headers, span);
  }

  private decide(ctx: RequestContext, plan: CompiledPlan, point: PointDescriptor, id: string, attempt: number, span: LiveSpan): FaultAction | undefined {
    if (plan.exp <= Date.now()) {
      this.stats.plansRejected.expired++;
      return undefined;
    }
    for (const rule of plan.rules) {
      if (attempt > rule.first || !rule.matches(point, id)) continue;
      const key = `${ctx.traceId}|${id}|${attempt}|${rule.index}`;
      if (rule.p < 1 && unitFromKey(key) >= rule.p) continue;
      const label = rule.fault.label;
      this.stats.injections[label] = (this.stats.injections[label] ?? 0) + 1;
      span.setAttribute(ATTR.fault, label);
      span.setAttribute(ATTR.planId, plan.id);
      return rule.fault.action(unitFromKey(`${key}|draw`));
    }
    return undefined;
  }

  private decideAttack(ctx: RequestContext, point: PointDescriptor, id: string, attempt: number, span: LiveSpan): FaultAction | undefined {
    const hit = this.attacks.decide(ctx, point, id, attempt);
    if (!hit) return undefined;
    const label = hit.attack.fault.label;
    this.stats.injections[label] = (this.stats.injections[label] ?? 0) + 1;
    span.setAttribute(ATTR.fault, label);
    span.setAttribute(ATTR.attackId, hit.attack.id);
    return hit.action;
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Sends queued spans. */
  flush(): Promise<void> {
    return this.exporter?.flush() ?? Promise.resolve();
  }

  /** Stops the attack feed (dropping its attacks) and sends queued spans. */
  async shutdown(): Promise<void> {
    await this.attacks.close();
    await this.exporter?.shutdown();
  }

  private contextFromEnv(env: Record<string, string | undefined>): RequestContext | undefined {
    if (!env['TRACEPARENT'] && !env['BAGGAGE']) return undefined;
    const extracted = extract(envGetter, env);
    const plan = extracted.planToken === undefined ? undefined : this.verifyPlan(extracted.planToken);
    const traceId = extracted.parent?.traceId ?? newTraceId();
    return new RequestContext(traceId, extracted.parent?.spanId ?? newSpanId(), extracted.parent?.flags ?? 1, extracted.tracestate, extracted.baggage, plan);
  }
}

function makeExporter(
  choice: LabcoatOptions['exporter'],
  env: Record<string, string | undefined>,
  stats: LabcoatStats,
): SpanExporter | undefined {
  if (choice === 'none') return undefined;
  if (choice === 'memory') return new InMemoryExporter();
  if (choice && 'export' in choice) return choice;
  if (choice && 'otlpUrl' in choice) return new OtlpHttpExporter({ url: choice.otlpUrl, ...(choice.headers ? { headers: choice.headers } : {}) }, stats);
  const url = env['LABCOAT_OTLP_URL'] ?? env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
  return url ? new OtlpHttpExporter({ url }, stats) : undefined;
}

/** A millisecond clock with sub-ms precision, exported for adapters. */
export { nowMs };
