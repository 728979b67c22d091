import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

/** One service process to start. */
export interface ServiceSpec {
  name: string;
  /** Path of the compiled JavaScript entry. */
  script: string;
  env?: Record<string, string>;
  /**
   * The port the launcher chose for it: passed as `PORT`, and the readiness line must name it.
   * Without it the service picks one and says which.
   */
  port?: number;
  /**
   * Give the service a stdin pipe and set `LABCOAT_WATCH_STDIN=1`, so that it can stop by itself
   * when the pipe closes: the launcher was killed without a chance to stop it (SIGKILL, a crash).
   */
  watchStdin?: boolean;
}

/** A started service: where it listens and how its output ended up. */
export interface RunningService {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  /** The last lines the process wrote to stderr (for error messages). */
  stderr(): string;
}

const READY = /^LABCOAT_READY (\S+) port=(\d+)$/m;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A launcher must never leave orphans, whatever way its own process ends.
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

/**
 * Starts a service process and waits for its readiness line (`LABCOAT_READY <name> port=<n>`).
 * Rejects with the service's stderr when it exits or does not get ready within `timeoutMs`.
 */
export async function startService(spec: ServiceSpec, timeoutMs = 15_000): Promise<RunningService> {
  installExitHook();
  const env: Record<string, string | undefined> = { ...process.env, ...spec.env };
  if (spec.port !== undefined) env['PORT'] = String(spec.port);
  if (spec.watchStdin) env['LABCOAT_WATCH_STDIN'] = '1';
  const child = spawn(process.execPath, [spec.script], {
    env,
    stdio: [spec.watchStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err = (err + d).slice(-4000);
  });
  let out = '';
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${spec.name} did not get ready within ${timeoutMs} ms`)), timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out = (out + d).slice(-4000);
      const m = READY.exec(out);
      if (m) {
        clearTimeout(timer);
        if (spec.port !== undefined && Number(m[2]) !== spec.port) reject(new Error(`${spec.name} listens on port ${m[2]}, not on ${spec.port} as told`));
        else resolve(Number(m[2]));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${spec.name} exited (${signal ?? `code ${code}`}) before it was ready`));
    });
  });
  try {
    const port = await ready;
    return { name: spec.name, port, url: `http://127.0.0.1:${port}`, child, stderr: () => err };
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}${err ? `\n--- ${spec.name} stderr ---\n${err.trim()}` : ''}`);
  }
}

/**
 * Finds `count` distinct free TCP ports on `host` by binding them all at once (then releasing
 * them), so a launcher can tell every service where every other one will listen before any starts.
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => resolve());
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }
}

/**
 * Starts several services at once and waits until all are ready. If any fails, the others are
 * stopped (none is left running) and the error names every service that failed.
 */
export async function startServices(specs: readonly ServiceSpec[], timeoutMs = 15_000): Promise<RunningService[]> {
  const results = await Promise.allSettled(specs.map((s) => startService(s, timeoutMs)));
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
  if (failed.length > 0) {
    await stopServices(started);
    throw new Error(`${failed.length} of ${specs.length} services failed to start:\n${failed.join('\n')}`);
  }
  return started;
}

/** Stops services: SIGTERM, then SIGKILL after `graceMs`. Resolves when every process has exited. */
export async function stopServices(services: readonly { child: ChildProcess }[], graceMs = 3000): Promise<void> {
  await Promise.all(
    services.map(async ({ child }) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }),
  );
}
