/**
 * One proxy: a listener in front of one upstream (Toxiproxy's model), TCP or HTTP-aware, with its
 * toxics. Its JSON is Toxiproxy v2's (`name`, `listen`, `upstream`, `enabled`, `toxics`) plus
 * labcoat's fields for HTTP-aware proxies (`protocol`, `service`, `caller`, `ingress`, `serverSpan`,
 * `timeoutMs`), which Toxiproxy clients ignore.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { DataPlane, ProxiedCall, ProxyFault } from './dataplane.js';
import { HttpListener, type HttpRoute, type ListenerStats } from './http-listener.js';
import { TcpConnection } from './tcp-link.js';
import { ApiError, parseToxic, Toxic, type ToxicJson } from './toxics.js';

/** A proxy as configured (config file, `POST /proxies`, `POST /populate`). */
export interface ProxyConfig {
  readonly name: string;
  /** `host:port` to listen on (port 0: any free port). Default `127.0.0.1:0`. */
  readonly listen?: string;
  /** `host:port` of the upstream. */
  readonly upstream: string;
  readonly enabled?: boolean;
  /** `http`: HTTP-aware (spans, plans, HTTP toxics). `tcp`: bytes only (Toxiproxy). Default: `http` when `service` is given, else `tcp`. */
  readonly protocol?: 'http' | 'tcp';
  /** The upstream service's name (HTTP): the target of injection points. Default: the proxy's name. */
  readonly service?: string;
  /** The calling service, for a listener that is one caller's egress: exact point ids. */
  readonly caller?: string;
  /** The entry listener in front of the system's entry service: its server span only, no client span or plan faults. */
  readonly ingress?: boolean;
  /** Record the upstream's server span on its behalf (default true; set false when the upstream runs the labcoat SDK). */
  readonly serverSpan?: boolean;
  /** Answer 504 when the upstream sends no response headers within this many ms (default 0: no limit). */
  readonly timeoutMs?: number;
  /** Toxics to start with. */
  readonly toxics?: readonly unknown[];
}

export interface ProxyJson {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics: ToxicJson[];
  protocol: 'http' | 'tcp';
  service?: string;
  caller?: string;
  ingress?: boolean;
  serverSpan?: boolean;
  timeoutMs?: number;
}

const NAME = /^[^/\s?#%]{1,128}$/;
const SERVICE = /^[\w.-]{1,128}$/;

/** Splits `host:port` (`[::1]:80`, `:8080` for every interface). */
export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  if (i === -1) throw new ApiError(`${what} ${JSON.stringify(text)}: expected host:port`, 400);
  let host = text.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const portText = text.slice(i + 1);
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) throw new ApiError(`${what} ${JSON.stringify(text)}: the port must be a number from 0 to 65535`, 400);
  return { host, port };
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Validates a proxy from any source; throws ApiError 400 naming the field. */
export function parseProxyConfig(input: unknown, where = 'proxy'): ProxyConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ApiError(`bad request body: ${where}: expected an object {"name","listen","upstream"}`, 400);
  const o = input as Record<string, unknown>;
  const str = (k: string): string | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new ApiError(`bad request body: ${where}.${k}: expected a string`, 400);
    return v;
  };
  const bool = (k: string): boolean | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw new ApiError(`bad request body: ${where}.${k}: expected true or false`, 400);
    return v;
  };
  const name = str('name');
  if (!name) throw new ApiError(`missing required field: name${where === 'proxy' ? '' : ` at ${where}`}`, 400);
  if (!NAME.test(name)) throw new ApiError(`bad request body: ${where}.name: 1-128 characters without / ? # % or spaces`, 400);
  const upstream = str('upstream');
  if (!upstream) throw new ApiError(`missing required field: upstream${where === 'proxy' ? '' : ` at ${where}`}`, 400);
  parseHostPort(upstream, 'upstream');
  const listen = str('listen') || undefined;
  if (listen !== undefined) parseHostPort(listen, 'listen');
  const protocol = str('protocol');
  if (protocol !== undefined && protocol !== 'http' && protocol !== 'tcp') throw new ApiError(`bad request body: ${where}.protocol: expected "http" or "tcp"`, 400);
  const service = str('service');
  if (service !== undefined && !SERVICE.test(service)) throw new ApiError(`bad request body: ${where}.service: a service name (letters, digits, . _ -)`, 400);
  const caller = str('caller');
  if (caller !== undefined && !SERVICE.test(caller)) throw new ApiError(`bad request body: ${where}.caller: a service name (letters, digits, . _ -)`, 400);
  const timeoutMs = o['timeoutMs'];
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 3_600_000)) {
    throw new ApiError(`bad request body: ${where}.timeoutMs: an integer from 0 to 3600000`, 400);
  }
  const toxics = o['toxics'];
  if (toxics !== undefined && toxics !== null && !Array.isArray(toxics)) throw new ApiError(`bad request body: ${where}.toxics: expected an array`, 400);
  const enabled = bool('enabled');
  const ingress = bool('ingress');
  const serverSpan = bool('serverSpan');
  return {
    name,
    upstream,
    ...(listen !== undefined ? { listen } : {}),
    ...(enabled !== undefined ? { enabled } : {}),
    ...(protocol !== undefined ? { protocol } : {}),
    ...(service !== undefined ? { service } : {}),
    ...(caller !== undefined ? { caller } : {}),
    ...(ingress !== undefined ? { ingress } : {}),
    ...(serverSpan !== undefined ? { serverSpan } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs: timeoutMs as number } : {}),
    ...(Array.isArray(toxics) && toxics.length > 0 ? { toxics } : {}),
  };
}

export interface ProxyStats extends ListenerStats {
  readonly name: string;
}

export class Proxy implements HttpRoute {
  readonly name: string;
  listen: string;
  upstream: string;
  enabled = false;
  readonly protocol: 'http' | 'tcp';
  readonly service: string;
  readonly caller: string | undefined;
  readonly ingress: boolean;
  readonly serverSpan: boolean;
  readonly timeoutMs: number;
  upstreamHost = '';
  upstreamPort = 0;
  toxics: Toxic[] = [];
  private tcp: net.Server | undefined;
  private http: HttpListener | undefined;
  private readonly conns = new Set<TcpConnection>();
  private tcpStats = { requests: 0 };
  /** Where to listen: as configured, then the address actually bound (a restart keeps a port 0 picked, as in Toxiproxy). */
  private requestedListen: string;
  /** `listen` as configured, for populate's comparison. */
  private readonly configuredListen: string;

  constructor(
    config: ProxyConfig,
    private readonly plane: DataPlane,
  ) {
    this.name = config.name;
    this.requestedListen = config.listen ?? '127.0.0.1:0';
    this.configuredListen = this.requestedListen;
    this.listen = this.requestedListen;
    this.upstream = config.upstream;
    this.protocol = config.protocol ?? (config.service !== undefined || config.caller !== undefined || config.ingress ? 'http' : 'tcp');
    this.service = config.service ?? (SERVICE.test(config.name) ? config.name : 'upstream');
    this.caller = config.caller;
    this.ingress = config.ingress ?? false;
    this.serverSpan = config.serverSpan ?? true;
    this.timeoutMs = config.timeoutMs ?? 0;
    this.setUpstream(config.upstream);
    for (const t of config.toxics ?? []) this.addToxic(t);
  }

  private setUpstream(upstream: string): void {
    const { host, port } = parseHostPort(upstream, 'upstream');
    this.upstream = upstream;
    this.upstreamHost = host === '' ? '127.0.0.1' : host;
    this.upstreamPort = port;
  }

  /** Same listen address, upstream and labcoat fields: populate leaves such a proxy untouched. */
  sameAs(c: ProxyConfig): boolean {
    const protocol = c.protocol ?? (c.service !== undefined || c.caller !== undefined || c.ingress ? 'http' : 'tcp');
    return (
      (c.listen ?? '127.0.0.1:0') === this.configuredListen &&
      c.upstream === this.upstream &&
      protocol === this.protocol &&
      (c.service ?? this.service) === this.service &&
      c.caller === this.caller &&
      (c.ingress ?? false) === this.ingress &&
      (c.serverSpan ?? true) === this.serverSpan &&
      (c.timeoutMs ?? 0) === this.timeoutMs
    );
  }

  toJSON(): ProxyJson {
    return {
      name: this.name,
      listen: this.listen,
      upstream: this.upstream,
      enabled: this.enabled,
      toxics: this.toxics.map((t) => t.toJSON()),
      protocol: this.protocol,
      ...(this.protocol === 'http'
        ? { service: this.service, ...(this.caller !== undefined ? { caller: this.caller } : {}), ingress: this.ingress, serverSpan: this.serverSpan, timeoutMs: this.timeoutMs }
        : {}),
    };
  }

  /** Starts listening (idempotent). Rejects with ApiError when the address cannot be bound. */
  async start(): Promise<void> {
    if (this.enabled) return;
    const { host, port } = parseHostPort(this.requestedListen, 'listen');
    let server: net.Server;
    if (this.protocol === 'http') {
      const listener = new HttpListener(() => this, this.plane);
      this.http = listener;
      server = listener.server;
    } else {
      server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.accept(client));
      this.tcp = server;
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => reject(new ApiError(`proxy ${this.name}: cannot listen on ${this.requestedListen}: ${e.message}`, 500));
      server.once('error', onError);
      server.listen(port, host === '' ? undefined : host, () => {
        server.removeListener('error', onError);
        resolve();
      });
    }).catch(async (e: unknown) => {
      if (this.http) await this.http.close().catch(() => {});
      this.http = undefined;
      this.tcp = undefined;
      throw e;
    });
    server.on('error', () => {});
    const addr = server.address() as AddressInfo;
    this.listen = formatHostPort(addr.address === '::' && host === '' ? '' : addr.address, addr.port);
    this.requestedListen = formatHostPort(host, addr.port);
    this.enabled = true;
  }

  /** Stops listening and closes every connection (Toxiproxy's `enabled: false`). */
  async stop(): Promise<void> {
    if (!this.enabled) return;
    this.enabled = false;
    const http = this.http;
    const tcp = this.tcp;
    this.http = undefined;
    this.tcp = undefined;
    for (const c of [...this.conns]) c.destroy();
    if (http) await http.close();
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }

  /** `POST /proxies/{name}`: listen, upstream, enabled (a changed address restarts the proxy). */
  async update(body: unknown): Promise<void> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError('bad request body: expected a JSON object', 400);
    const b = body as Record<string, unknown>;
    const listen = b['listen'];
    const upstream = b['upstream'];
    const enabled = b['enabled'];
    if (listen !== undefined && typeof listen !== 'string') throw new ApiError('bad request body: listen: expected a string', 400);
    if (upstream !== undefined && typeof upstream !== 'string') throw new ApiError('bad request body: upstream: expected a string', 400);
    if (enabled !== undefined && typeof enabled !== 'boolean') throw new ApiError('bad request body: enabled: expected true or false', 400);
    if (listen) parseHostPort(listen, 'listen');
    if (upstream) parseHostPort(upstream, 'upstream');
    const changedListen = listen !== undefined && listen !== '' && listen !== this.listen && listen !== this.requestedListen;
    const changedUpstream = upstream !== undefined && upstream !== '' && upstream !== this.upstream;
    if (changedListen || changedUpstream) {
      const was = this.enabled;
      await this.stop();
      if (changedListen) this.requestedListen = listen as string;
      if (changedUpstream) this.setUpstream(upstream as string);
      this.listen = this.requestedListen;
      if (was) await this.start();
    }
    if (enabled === true) await this.start();
    if (enabled === false) await this.stop();
  }

  private accept(client: net.Socket): void {
    this.tcpStats.requests++;
    client.setNoDelay(true);
    const upstream = net.connect({ host: this.upstreamHost, port: this.upstreamPort, allowHalfOpen: true });
    upstream.setNoDelay(true);
    const conn = new TcpConnection(client, upstream, this.toxics, (c) => this.conns.delete(c));
    this.conns.add(conn);
    client.resume();
  }

  // ---- toxics ----------------------------------------------------------------------------------

  getToxic(name: string): Toxic {
    const t = this.toxics.find((x) => x.name === name);
    if (!t) throw new ApiError('toxic not found', 404);
    return t;
  }

  addToxic(body: unknown): Toxic {
    const toxic = parseToxic(body, this.protocol);
    if (this.toxics.some((t) => t.name === toxic.name)) throw new ApiError('toxic already exists', 409);
    this.toxics.push(toxic);
    for (const c of this.conns) c.link(toxic.stream).add(toxic);
    return toxic;
  }

  updateToxic(name: string, body: unknown): Toxic {
    const toxic = this.getToxic(name);
    toxic.update(body);
    for (const c of this.conns) c.link(toxic.stream).update(toxic);
    return toxic;
  }

  removeToxic(name: string): void {
    const toxic = this.getToxic(name);
    this.toxics = this.toxics.filter((t) => t !== toxic);
    for (const c of [...this.conns]) c.link(toxic.stream).remove(toxic);
  }

  resetToxics(): void {
    for (const t of [...this.toxics]) this.removeToxic(t.name);
  }

  faultsPossible(): boolean {
    return this.toxics.some((t) => t.http !== undefined);
  }

  /** HTTP toxics as an attack source: the first matching fault, with a slow body from an `http_bandwidth` toxic. */
  decideToxic(call: ProxiedCall): ProxyFault | undefined {
    if (this.toxics.length === 0) return undefined;
    let fault: ProxyFault | undefined;
    let slow: ProxyFault['slowBody'];
    let slowLabel = '';
    let slowSource = '';
    for (const t of this.toxics) {
      const h = t.http;
      if (!h) continue;
      if (h.method && !h.method(call.method)) continue;
      if (h.path && !h.path(call.route)) continue;
      if (h.fault ? fault !== undefined : slow !== undefined) continue;
      if (h.first > 0 && t.fired >= h.first) continue;
      if (t.toxicity < 1 && !(Math.random() < t.toxicity)) continue;
      t.fired++;
      if (h.fault) fault = { label: h.fault.label, action: h.fault.action(Math.random()), source: `toxic:${t.name}` };
      else if (h.rateKBps > 0) {
        slow = { rateKBps: h.rateKBps, stream: t.stream };
        slowLabel = h.label;
        slowSource = `toxic:${t.name}`;
      }
    }
    if (!slow) return fault;
    if (!fault) return { label: slowLabel, action: { type: 'proceed', delayMs: 0 }, slowBody: slow, source: slowSource };
    return fault.action.type === 'proceed' ? { ...fault, label: `${fault.label}+${slowLabel}`, slowBody: slow } : fault;
  }

  stats(): ProxyStats {
    if (this.http) return { name: this.name, ...this.http.stats() };
    return { name: this.name, clientConnections: this.conns.size, upstreamSockets: this.conns.size, inflight: this.conns.size, requests: this.tcpStats.requests };
  }
}
