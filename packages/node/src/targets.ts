/**
 * Names the service behind a host and port, so injection points say `edge->profiles`, not
 * `edge->127.0.0.1:4012`. Order: the explicit map (option `services` or env `LABCOAT_SERVICES`
 * as `name=host:port,name=host:port`), then a name the callee announced in an earlier reply
 * (`labcoat-service` response header, sent when the request asked with `labcoat-ask: service`,
 * which a caller does for a host:port it has no name for yet, a few times at most), then the DNS host's first label (`profiles.svc.local` →
 * `profiles`); for a bare IP address or `localhost` without a mapping, `host:port` itself.
 */
export class TargetResolver {
  private readonly byHostPort = new Map<string, string>();
  private readonly learned = new Map<string, string>();

  constructor(services: Record<string, string | readonly string[]> = {}) {
    for (const [name, where] of Object.entries(services)) {
      for (const hp of typeof where === 'string' ? [where] : where) this.byHostPort.set(normalizeHostPort(hp), name);
    }
  }

  /** Parses `LABCOAT_SERVICES` (`a=127.0.0.1:4001,b=127.0.0.1:4002`); bad entries are skipped. */
  static parseEnv(text: string | undefined): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    if (!text) return out;
    for (const entry of text.split(',')) {
      const eq = entry.indexOf('=');
      if (eq <= 0) continue;
      const name = entry.slice(0, eq).trim();
      const hp = entry.slice(eq + 1).trim();
      if (!/^[\w.-]+$/.test(name) || !hp.includes(':')) continue;
      (out[name] ??= []).push(hp);
    }
    return out;
  }

  /** Resolutions by raw `host:port`, so the common case is one Map lookup. Cleared on learning. */
  private readonly resolved = new Map<string, string>();

  resolve(hostname: string, port: string | number): string {
    const raw = `${hostname}:${port}`;
    const hit = this.resolved.get(raw);
    if (hit !== undefined) return hit;
    const name = this.resolveUncached(hostname, port);
    if (this.resolved.size > 4096) this.resolved.clear();
    this.resolved.set(raw, name);
    return name;
  }

  private resolveUncached(hostname: string, port: string | number): string {
    const key = normalizeHostPort(`${hostname}:${port}`);
    const mapped = this.byHostPort.get(key) ?? this.learned.get(key);
    if (mapped) return mapped;
    const host = stripBrackets(hostname).toLowerCase();
    if (host === 'localhost' || /^[\d.]+$/.test(host) || host.includes(':')) return key;
    return host.split('.')[0]!;
  }

  /** How often each raw `host:port` was asked for its name (ASK_LIMIT: mapped, or asked enough). */
  private readonly asked = new Map<string, number>();

  /**
   * Whether a call to `hostname:port` should ask the callee for its name (`labcoat-ask: service`):
   * only while no name is mapped or learned for it, and at most {@link ASK_LIMIT} times, so a
   * callee that does not run labcoat costs a few request headers, not one per call forever.
   */
  shouldAsk(hostname: string, port: string | number): boolean {
    const raw = `${hostname}:${port}`;
    const n = this.asked.get(raw);
    if (n === ASK_LIMIT) return false;
    if (this.confirmed.has(raw)) return false;
    if (n === undefined && this.byHostPort.has(normalizeHostPort(raw))) {
      this.asked.set(raw, ASK_LIMIT);
      return false;
    }
    if (this.asked.size > 4096) this.asked.clear();
    this.asked.set(raw, (n ?? 0) + 1);
    return true;
  }

  /** Names already confirmed for a raw `host:port`, so a repeated announcement costs one lookup. */
  private readonly confirmed = new Map<string, string>();

  /** Records the name a callee announced; explicit mappings always win. Bounded. */
  learn(hostname: string, port: string | number, name: string): void {
    const raw = `${hostname}:${port}`;
    if (this.confirmed.get(raw) === name) return;
    if (this.confirmed.size > 4096) this.confirmed.clear();
    this.confirmed.set(raw, name);
    if (!/^[\w.-]{1,128}$/.test(name)) return;
    const key = normalizeHostPort(`${hostname}:${port}`);
    if (this.byHostPort.has(key) || this.learned.get(key) === name) return;
    if (this.learned.size > 4096) this.learned.clear();
    this.learned.set(key, name);
    this.resolved.clear();
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function normalizeHostPort(hp: string): string {
  const i = hp.lastIndexOf(':');
  const host = stripBrackets(hp.slice(0, i)).toLowerCase();
  const port = hp.slice(i + 1);
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Response header with which a labcoat-instrumented server announces its service name, when asked. */
export const SERVICE_HEADER = 'labcoat-service';

/**
 * Request header with which a caller asks for {@link SERVICE_HEADER} (value `service`). Servers
 * announce only when asked: an extra response header on every response made Node's `writeHead`
 * take its slow path (headers merged one by one) and cost ~10 µs of median latency per hop.
 */
export const ASK_HEADER = 'labcoat-ask';

/** Requests that ask one `host:port` for its name before giving up on it. */
export const ASK_LIMIT = 8;
