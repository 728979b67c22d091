/**
 * The proxy's data plane: the same plan verification, fault decisions, point ids and spans as
 * `@labcoat/node`, shared by every HTTP listener of one proxy server. One `Labcoat` SDK instance
 * per service name (callers record client spans, callees' server spans are recorded on their
 * behalf), one span exporter, and a bounded cache of request contexts so that the attempts of a
 * call within one request, and the calls a proxied service made, are counted as the SDK counts them.
 */
import { Baggage, type FaultAction, type PointDescriptor } from '@labcoat/core';
import { Labcoat, newSpanId, newStats, newTraceId, OtlpHttpExporter, RequestContext, type LabcoatStats, type SpanExporter, type AttackOptions } from '@labcoat/node';

/** Everything an attack source may look at to decide on one proxied call. */
export interface ProxiedCall {
  /** The proxy (listener) name. */
  readonly proxy: string;
  /** The injection point (absent on ingress listeners: the entry call is no dependency call). */
  readonly point: PointDescriptor | undefined;
  readonly pointId: string | undefined;
  readonly method: string;
  /** Route template of the path (ids stripped). */
  readonly route: string;
  readonly attempt: number;
  readonly traceId: string;
}

/** A fault decided for one proxied call. */
export interface ProxyFault {
  /** Label on the client span (`status:503`, `bandwidth:100KBps`). */
  readonly label: string;
  readonly action: FaultAction;
  /** Slow body: KB/s on the response body (downstream) or the request body (upstream). */
  readonly slowBody?: { readonly rateKBps: number; readonly stream: 'upstream' | 'downstream' };
  /** Who decided: `plan:<id>`, `toxic:<name>`, `attack:<id>`. */
  readonly source: string;
}

/**
 * Where faults come from besides signed plans: the admin API's HTTP toxics today; the control
 * plane's active attacks (issue 6) plug in here. `decide` is called for every call no plan
 * faulted; it must be fast and must never throw (a throw counts as "no fault").
 */
export interface AttackSource {
  decide(call: ProxiedCall): ProxyFault | undefined;
}

export interface DataPlaneOptions {
  /** Shared plan signing key (≥ 16 bytes). Without it no plan is accepted. */
  key?: string | Buffer;
  /** Where spans go: an exporter, `{ otlpUrl }`, or nothing (spans are still recorded, then dropped). */
  exporter?: SpanExporter | { otlpUrl: string };
  /** Route templates per target service (`{ catalog: ['/items/:sku'] }`). */
  routes?: Record<string, readonly string[]>;
  /** Attack sources consulted after plans and the control plane's attacks (custom sources, tests). */
  attacks?: readonly AttackSource[];
  /**
   * Production attacks from a labcoat control plane, as @labcoat/node's SDK takes them (`url`,
   * `token`, `leaseMs`): each upstream service's SDK instance subscribes to the signed feed, holds
   * attacks under the lease (dead-man switch) and injects only for requests marked by an entry.
   * `entryServices` names the services whose ingress listeners decide which requests join.
   */
  control?: ControlPlaneOptions;
}

/** How the proxy reaches the control plane for production attacks. */
export interface ControlPlaneOptions extends Omit<AttackOptions, 'entry'> {
  /** Services that are entries (their ingress listener marks requests). */
  entryServices?: readonly string[];
}

interface CachedContext {
  readonly ctx: RequestContext;
  /** The service this context's span belongs to when it is a server span the proxy recorded. */
  readonly service: string | undefined;
  readonly at: number;
}

const MAX_SDKS = 1024;
const MAX_CONTEXTS = 16_384;
const CONTEXT_TTL_MS = 10 * 60_000;
const SERVICE_NAME = /^[\w.-]{1,128}$/;

export class DataPlane {
  readonly stats: LabcoatStats = newStats();
  readonly exporter: SpanExporter | undefined;
  readonly attacks: AttackSource[];
  private readonly key: string | Buffer | undefined;
  private readonly routes: Record<string, readonly string[]> | undefined;
  private readonly sdks = new Map<string, Labcoat>();
  private readonly control: ControlPlaneOptions | undefined;
  private readonly contexts = new Map<string, CachedContext>();

  constructor(options: DataPlaneOptions = {}) {
    this.key = options.key;
    this.routes = options.routes;
    const e = options.exporter;
    this.exporter = e === undefined ? undefined : 'otlpUrl' in e ? new OtlpHttpExporter({ url: e.otlpUrl }, this.stats) : e;
    this.attacks = [...(options.attacks ?? [])];
    this.control = options.control;
    // Fail early on a bad key rather than on the first request.
    if (this.key !== undefined) this.sdk('labcoat-proxy');
  }

  static isServiceName(name: string): boolean {
    return SERVICE_NAME.test(name);
  }

  /** The SDK instance that records spans for `service` (bounded; names must be valid). */
  sdk(service: string): Labcoat {
    let sdk = this.sdks.get(service);
    if (!sdk) {
      if (this.sdks.size >= MAX_SDKS) this.sdks.clear();
      sdk = new Labcoat({
        service,
        ...(this.key !== undefined ? { key: this.key } : {}),
        exporter: this.exporter ?? 'none',
        ...(this.routes ? { routes: this.routes } : {}),
        announce: false,
        env: {},
        attacks: this.control ? { ...withoutEntries(this.control), entry: this.control.entryServices?.includes(service) ?? false } : false,
      });
      this.sdks.set(service, sdk);
    }
    return sdk;
  }

  private contextKey(traceId: string, spanId: string): string {
    return `${traceId}-${spanId}`;
  }

  /** True when the control plane's attacks can reach requests (the fast path must then look at marks). */
  get controlled(): boolean {
    return this.control !== undefined;
  }

  /** A request context the proxy recorded, or one seen before for the same trace and parent span. */
  lookup(traceId: string, spanId: string): CachedContext | undefined {
    const key = this.contextKey(traceId, spanId);
    const hit = this.contexts.get(key);
    if (!hit) return undefined;
    if (performance.now() - hit.at > CONTEXT_TTL_MS) {
      this.contexts.delete(key);
      return undefined;
    }
    return hit;
  }

  remember(ctx: RequestContext, service: string | undefined): void {
    if (this.contexts.size >= MAX_CONTEXTS) {
      const oldest = this.contexts.keys().next().value;
      if (oldest !== undefined) this.contexts.delete(oldest);
    }
    this.contexts.set(this.contextKey(ctx.traceId, ctx.spanId), { ctx, service, at: performance.now() });
  }

  /**
   * The request context a call arriving with this trace position belongs to: the one already known
   * for (trace, parent span) — so attempts and calls accumulate per request — else a new one.
   */
  contextFor(
    sdk: Labcoat,
    parent: { traceId: string; spanId: string; flags: number } | undefined,
    tracestate: string | undefined,
    baggage: Baggage,
    planToken: string | undefined,
  ): { ctx: RequestContext; parentService: string | undefined } {
    if (parent) {
      const hit = this.lookup(parent.traceId, parent.spanId);
      if (hit) return { ctx: hit.ctx, parentService: hit.service };
    }
    const plan = planToken === undefined ? undefined : sdk.verifyPlan(planToken);
    const ctx = parent
      ? new RequestContext(parent.traceId, parent.spanId, parent.flags, tracestate, baggage, plan)
      : new RequestContext(newTraceId(), newSpanId(), 1, undefined, baggage, plan);
    if (parent) this.remember(ctx, undefined);
    return { ctx, parentService: undefined };
  }

  /** Consults the attack sources; never throws. */
  attack(call: ProxiedCall): ProxyFault | undefined {
    for (const source of this.attacks) {
      try {
        const f = source.decide(call);
        if (f) return f;
      } catch {
        this.stats.internalErrors++;
      }
    }
    return undefined;
  }

  /** Plan and span counters over every SDK instance, plus the exporter's. */
  totals(): LabcoatStats {
    const t = newStats();
    const all = [this.stats, ...[...this.sdks.values()].map((s) => s.stats)];
    for (const s of all) {
      t.plansAccepted += s.plansAccepted;
      for (const k of Object.keys(t.plansRejected) as (keyof LabcoatStats['plansRejected'])[]) t.plansRejected[k] += s.plansRejected[k];
      for (const [k, v] of Object.entries(s.injections)) t.injections[k] = (t.injections[k] ?? 0) + v;
      t.internalErrors += s.internalErrors;
      t.spansStarted += s.spansStarted;
      t.spansExported += s.spansExported;
      t.spansDropped += s.spansDropped;
      t.exportFailures += s.exportFailures;
    }
    return t;
  }

  async flush(): Promise<void> {
    await this.exporter?.flush();
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.sdks.values()].map((sdk) => sdk.attacks.close()));
    await this.exporter?.shutdown();
  }
}

function withoutEntries(o: ControlPlaneOptions): Omit<AttackOptions, 'entry'> {
  const { entryServices: _entries, ...rest } = o;
  return rest;
}
