import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

/** The readiness line launchers wait for: `LABCOAT_READY <service> port=<port>`. */
export function announceReady(service: string, server: Server): void {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`LABCOAT_READY ${service} port=${port}\n`);
}

/** Stops the server and flushes spans on SIGTERM/SIGINT, so launchers never leave orphans. */
export function stopOn(server: Server, flush: () => Promise<void>): void {
  const stop = (): void => {
    server.close();
    server.closeAllConnections?.();
    void flush().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

export function requiredEnv(name: string): string {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`missing environment variable ${name}\n`);
    process.exit(2);
  }
  return v;
}
