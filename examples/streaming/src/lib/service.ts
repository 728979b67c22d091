/**
 * What every service of the demo shares: its name and port from the launcher, where the other
 * services are, the readiness line, and a clean stop (SIGTERM/SIGINT, or the launcher going away).
 */
import type { Server } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { init, type Initialized, type InitOptions } from '@labcoat/node';
import { enabledBugs } from './bugs.js';

/** `LABCOAT_SERVICES` (`name=host:port,…`) as a map. */
export function serviceMap(env: NodeJS.ProcessEnv = process.env): Map<string, { host: string; port: number }> {
  const m = new Map<string, { host: string; port: number }>();
  for (const entry of (env['LABCOAT_SERVICES'] ?? '').split(',')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const addr = entry.slice(eq + 1).trim();
    const colon = addr.lastIndexOf(':');
    if (colon <= 0) continue;
    m.set(entry.slice(0, eq).trim(), { host: addr.slice(0, colon), port: Number(addr.slice(colon + 1)) });
  }
  return m;
}

/** Where a service listens, from `LABCOAT_SERVICES`; exits with a clear message when it is not there. */
export function addressOf(name: string): { host: string; port: number } {
  const a = serviceMap().get(name);
  if (!a) fail(`service "${name}" is missing from LABCOAT_SERVICES`);
  return a;
}

/** `http://host:port` of a service. */
export function urlOf(name: string): string {
  const { host, port } = addressOf(name);
  return `http://${host}:${port}`;
}

/** The port this service must listen on (`PORT`, 0 = any). */
export function portFromEnv(): number {
  const p = Number(process.env['PORT'] ?? 0);
  if (!Number.isInteger(p) || p < 0 || p > 65535) fail(`PORT must be a port number; got ${process.env['PORT']}`);
  return p;
}

export function fail(message: string): never {
  process.stderr.write(`${process.env['LABCOAT_SERVICE'] ?? 'service'}: ${message}\n`);
  process.exit(2);
}

/** Starts the SDK for this service (name, key, peers and OTLP endpoint come from the launcher's environment). */
export function startLabcoat(service: string, options: InitOptions = {}): Initialized {
  // Read the bug switch now, so an invalid one stops the service before it says it is ready.
  try {
    enabledBugs();
  } catch (e) {
    fail((e as Error).message);
  }
  return init({ service, ...options });
}

/**
 * Prints the readiness line (`LABCOAT_READY <name> port=<port>`) and arranges a clean stop: on
 * SIGTERM/SIGINT, or when the launcher's stdin pipe closes (`LABCOAT_WATCH_STDIN=1`: the launcher
 * died without stopping us), close the server, flush spans and exit.
 */
export function ready(service: string, server: Server | NetServer, labcoat: Initialized): void {
  const { port } = server.address() as AddressInfo;
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    server.close();
    (server as Server).closeAllConnections?.();
    void labcoat.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (process.env['LABCOAT_WATCH_STDIN'] === '1') {
    process.stdin.on('data', () => {});
    process.stdin.once('end', stop);
    process.stdin.once('close', stop);
    process.stdin.once('error', stop);
  }
  process.stdout.write(`LABCOAT_READY ${service} port=${port}\n`);
}

/** A promise for the server listening on 127.0.0.1 at `PORT`. */
export function listen(server: Server | NetServer): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(portFromEnv(), '127.0.0.1', () => resolve());
  });
}
