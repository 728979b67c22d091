/**
 * Starts and stops the 3-service benchmark chain (C, then B pointing at C, then A pointing at B),
 * each service a child process running chain-service.js. Every child is tracked so that the runner
 * can kill whatever is left on error, SIGINT or exit.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type Mode = 'none' | 'labcoat' | 'otel' | 'agent' | 'labcoat-in' | 'labcoat-out' | 'als' | 'candidate';
export const MODES: readonly Mode[] = ['none', 'labcoat', 'otel', 'agent', 'labcoat-in', 'labcoat-out', 'als', 'candidate'];
export type Role = 'a' | 'b' | 'c';

export interface ServiceStats {
  cpuUs: number;
  served: number;
  spans: number;
  failures: number;
  internalErrors: number;
}

export interface Service {
  readonly role: Role;
  readonly port: number;
  readonly child: ChildProcess;
}

export interface Chain {
  readonly mode: Mode;
  readonly url: string;
  readonly services: readonly Service[];
  stats(): Promise<Record<Role, ServiceStats>>;
  stop(): Promise<void>;
}

const SERVICE_JS = fileURLToPath(new URL('./chain-service.js', import.meta.url));
const children = new Set<ChildProcess>();

/** Kills every child still running (synchronous; safe in 'exit' handlers). */
export function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  children.clear();
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // Nothing from the caller's environment may configure the SDKs under test.
    if (k.startsWith('LABCOAT_') || k.startsWith('OTEL_') || k === 'TRACEPARENT' || k === 'BAGGAGE' || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  // NodeSDK would otherwise set up OTLP log and metric exporters from defaults; the benchmark is about traces.
  env['OTEL_LOGS_EXPORTER'] = 'none';
  env['OTEL_METRICS_EXPORTER'] = 'none';
  return env;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function once<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (msg: { type?: string }): void => {
      if (msg?.type !== type) return;
      cleanup();
      resolve(msg as T);
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`service exited (code ${code}, signal ${signal}) while waiting for "${type}"`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

async function startService(mode: Mode, role: Role, next: string | undefined, execArgv: string[], extraEnv: Record<string, string>): Promise<Service> {
  const env = { ...cleanEnv(), ...extraEnv };
  env['BENCH_MODE'] = mode;
  env['BENCH_ROLE'] = role;
  if (next) env['BENCH_NEXT'] = next;
  const child = fork(SERVICE_JS, [], { env, execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  // Services' own output goes to stderr: stdout is the benchmark's report.
  child.stdout?.on('data', (d: Buffer) => process.stderr.write(d));
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  try {
    const ready = await withTimeout(once<{ port: number }>(child, 'ready'), 20_000, `service ${role} (${mode}) start`);
    return { role, port: ready.port, child };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

async function stopService(s: Service): Promise<void> {
  const { child } = s;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    child.send({ type: 'stop' });
  } catch {
    child.kill('SIGKILL');
  }
  // Writing a CPU profile can take a moment; then force it.
  await withTimeout(exited, 10_000, `service ${s.role} stop`).catch(() => {
    child.kill('SIGKILL');
  });
}

/**
 * Starts C, B and A in `mode`. With `cpuProfDir`, each service runs with --cpu-prof and writes
 * `<tag>-<role>.cpuprofile` there when stopped.
 */
export async function startChain(mode: Mode, options: { cpuProfDir?: string; tag?: string; env?: Record<string, string> } = {}): Promise<Chain> {
  const extra = options.env ?? {};
  const started: Service[] = [];
  const argv = (role: Role): string[] =>
    options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`, `--cpu-prof-name=${options.tag ?? mode}-${role}.cpuprofile`] : [];
  try {
    const c = await startService(mode, 'c', undefined, argv('c'), extra);
    started.push(c);
    const b = await startService(mode, 'b', `http://127.0.0.1:${c.port}/c`, argv('b'), extra);
    started.push(b);
    const a = await startService(mode, 'a', `http://127.0.0.1:${b.port}/b`, argv('a'), extra);
    started.push(a);
  } catch (err) {
    await Promise.all(started.map(stopService));
    throw err;
  }
  const byRole = (r: Role): Service => started.find((s) => s.role === r)!;
  return {
    mode,
    url: `http://127.0.0.1:${byRole('a').port}/a`,
    services: started,
    async stats() {
      const all = await Promise.all(
        started.map(async (s) => {
          const answer = once<ServiceStats>(s.child, 'stats');
          s.child.send({ type: 'stats' });
          return [s.role, await withTimeout(answer, 10_000, `service ${s.role} stats`)] as const;
        }),
      );
      return Object.fromEntries(all) as Record<Role, ServiceStats>;
    },
    async stop() {
      await Promise.all(started.map(stopService));
    },
  };
}
