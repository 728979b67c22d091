import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** One service process to start. */
export interface ServiceSpec {
  name: string;
  /** Path of the compiled JavaScript entry. */
  script: string;
  env?: Record<string, string>;
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
  const child = spawn(process.execPath, [spec.script], {
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
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
        resolve(Number(m[2]));
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
