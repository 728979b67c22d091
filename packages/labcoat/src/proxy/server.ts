/**
 * `labcoat proxy`: a collection of proxies sharing one data plane, managed from a config file and
 * through a Toxiproxy-compatible admin API (default 127.0.0.1:8474).
 */
import { readFileSync } from 'node:fs';
import type { SpanExporter } from '@labcoat/node';
import { startAdminApi, type AdminApi } from './admin.js';
import { DataPlane, type AttackSource, type ControlPlaneOptions } from './dataplane.js';
import { ApiError } from './toxics.js';
import { parseProxyConfig, Proxy, type ProxyConfig, type ProxyJson, type ProxyStats } from './proxy.js';

export const DEFAULT_ADMIN = '127.0.0.1:8474';

export interface ProxyServerOptions {
  /** Proxies to start with (the config file's `proxies`, or Toxiproxy's config array). */
  readonly proxies?: readonly unknown[];
  /** Admin API address (`host:port`), default 127.0.0.1:8474; `false`: no admin API. */
  readonly admin?: string | false;
  /** Plan signing key shared with the services (≥ 16 bytes); without it plans inject nothing. */
  readonly key?: string;
  /** OTLP/HTTP JSON traces URL for spans. */
  readonly otlpUrl?: string;
  /** Or an exporter (tests: an InMemoryExporter). */
  readonly exporter?: SpanExporter;
  /** Route templates per service. */
  readonly routes?: Record<string, readonly string[]>;
  /** Sources of faults besides plans, toxics and the control plane's attacks. */
  readonly attacks?: readonly AttackSource[];
  /** Production attacks from a labcoat control plane (`url`, `token`, `entryServices`, `leaseMs`). */
  readonly control?: ControlPlaneOptions;
}

/** The config file: Toxiproxy's array of proxies, or `{ proxies, routes, admin, otlp }`. */
export interface ProxyFile {
  readonly proxies: readonly unknown[];
  readonly routes?: Record<string, readonly string[]>;
  readonly admin?: string;
  readonly otlp?: string;
}

/** Reads and checks a config file; throws Error with the file and the field. */
export function loadProxyFile(path: string): ProxyFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path} is not JSON: ${(e as Error).message}`);
  }
  return parseProxyFile(json, path);
}

export function parseProxyFile(json: unknown, where = 'config'): ProxyFile {
  const fail = (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
  if (Array.isArray(json)) json = { proxies: json };
  if (typeof json !== 'object' || json === null) return fail('expected an array of proxies or {"proxies":[…]}');
  const o = json as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['proxies', 'routes', 'admin', 'otlp'].includes(k)) fail(`unknown field "${k}" (expected proxies, routes, admin, otlp)`);
  const proxies = o['proxies'] ?? [];
  if (!Array.isArray(proxies)) return fail('"proxies" must be an array');
  const names = new Set<string>();
  proxies.forEach((p, i) => {
    try {
      const c = parseProxyConfig(p, `proxies[${i}]`);
      if (names.has(c.name)) fail(`proxies[${i}]: duplicate proxy name "${c.name}"`);
      names.add(c.name);
    } catch (e) {
      if (e instanceof ApiError) fail(e.message.replace(/^bad request body: /, ''));
      throw e;
    }
  });
  const routes = o['routes'];
  if (routes !== undefined) {
    if (typeof routes !== 'object' || routes === null || Array.isArray(routes)) fail('"routes" must map service names to arrays of route templates');
    for (const [svc, list] of Object.entries(routes as Record<string, unknown>)) {
      if (!Array.isArray(list) || list.some((r) => typeof r !== 'string' || !r.startsWith('/'))) fail(`routes.${svc}: expected an array of templates like "/items/:id"`);
    }
  }
  for (const k of ['admin', 'otlp'] as const) if (o[k] !== undefined && typeof o[k] !== 'string') fail(`"${k}" must be a string`);
  return {
    proxies,
    ...(routes !== undefined ? { routes: routes as Record<string, string[]> } : {}),
    ...(typeof o['admin'] === 'string' ? { admin: o['admin'] } : {}),
    ...(typeof o['otlp'] === 'string' ? { otlp: o['otlp'] } : {}),
  };
}

export class ProxyServer {
  readonly plane: DataPlane;
  private readonly proxies = new Map<string, Proxy>();
  private admin: AdminApi | undefined;
  /** Serialises changes (the admin API may be called concurrently). */
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(options: ProxyServerOptions) {
    this.plane = new DataPlane({
      ...(options.key !== undefined ? { key: options.key } : {}),
      ...(options.exporter ? { exporter: options.exporter } : options.otlpUrl ? { exporter: { otlpUrl: options.otlpUrl } } : {}),
      ...(options.routes ? { routes: options.routes } : {}),
      ...(options.attacks ? { attacks: options.attacks } : {}),
      ...(options.control ? { control: options.control } : {}),
    });
  }

  /** Starts the proxies and the admin API. On failure, everything started is stopped again. */
  static async start(options: ProxyServerOptions = {}): Promise<ProxyServer> {
    const server = new ProxyServer(options);
    try {
      for (const p of options.proxies ?? []) await server.create(p);
      if (options.admin !== false) server.admin = await startAdminApi(server, options.admin ?? DEFAULT_ADMIN);
    } catch (e) {
      await server.close();
      throw e;
    }
    return server;
  }

  /** `http://host:port` of the admin API, when it runs. */
  get adminUrl(): string | undefined {
    return this.admin?.url;
  }

  /** Runs admin changes one at a time. */
  serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  get(name: string): Proxy {
    const p = this.proxies.get(name);
    if (!p) throw new ApiError('proxy not found', 404);
    return p;
  }

  list(): Proxy[] {
    return [...this.proxies.values()];
  }

  /** `POST /proxies`: creates and (unless `enabled: false`) starts a proxy. */
  async create(input: unknown): Promise<Proxy> {
    const config = parseProxyConfig(input);
    if (this.proxies.has(config.name)) throw new ApiError('proxy already exists', 409);
    const proxy = new Proxy(config, this.plane);
    this.proxies.set(config.name, proxy);
    if (config.enabled !== false) {
      try {
        await proxy.start();
      } catch (e) {
        this.proxies.delete(config.name);
        throw e;
      }
    }
    return proxy;
  }

  async remove(name: string): Promise<void> {
    const p = this.get(name);
    this.proxies.delete(name);
    await p.stop();
  }

  /**
   * `POST /populate`: creates or replaces a list of proxies. All are validated first; a proxy that
   * exists with the same fields is left as it is, one that differs is replaced.
   */
  async populate(input: unknown): Promise<Proxy[]> {
    if (!Array.isArray(input)) throw new ApiError('bad request body: expected an array of proxies', 400);
    const configs = input.map((p, i) => parseProxyConfig(p, `proxy ${i + 1}`));
    const names = new Set<string>();
    for (const c of configs) {
      if (names.has(c.name)) throw new ApiError(`duplicate proxy name "${c.name}"`, 400);
      names.add(c.name);
    }
    const out: Proxy[] = [];
    for (const c of configs) {
      const existing = this.proxies.get(c.name);
      if (existing && existing.sameAs(c)) {
        if (c.enabled === false) await existing.stop();
        else if (c.enabled === true) await existing.start();
        out.push(existing);
        continue;
      }
      if (existing) await this.remove(c.name);
      out.push(await this.create(c));
    }
    return out;
  }

  /** `POST /reset`: every proxy enabled, every toxic removed. */
  async reset(): Promise<void> {
    for (const p of this.proxies.values()) {
      p.resetToxics();
      await p.start();
    }
  }

  toJSON(): Record<string, ProxyJson> {
    return Object.fromEntries(this.list().map((p) => [p.name, p.toJSON()]));
  }

  /** Connections, sockets and requests per proxy, and the data plane's counters. */
  stats(): { proxies: ProxyStats[]; dataPlane: ReturnType<DataPlane['totals']> } {
    return { proxies: this.list().map((p) => p.stats()), dataPlane: this.plane.totals() };
  }

  /** Stops every proxy and the admin API, and sends the spans still queued. */
  async close(): Promise<void> {
    await this.admin?.close();
    this.admin = undefined;
    for (const p of this.proxies.values()) await p.stop().catch(() => {});
    this.proxies.clear();
    await this.plane.shutdown().catch(() => {});
  }
}

export type { ProxyConfig };
