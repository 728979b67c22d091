/**
 * PostgreSQL for tests and benchmarks. `.ci/run` installs Debian's postgresql, starts its cluster,
 * creates a role and exports `LABCOAT_TEST_PG` (a URL whose role may create databases); callers then
 * make one database each and drop it afterwards. Without that variable, a throwaway cluster is
 * started from the same PostgreSQL binaries (initdb + pg_ctl, as the `postgres` user when running
 * as root) in a temporary directory on a free loopback port, and removed at the end. When neither
 * works, `testPostgres()` says why (tests skip with that reason).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface TestPostgres {
  /** A URL for a fresh, empty database. */
  newDatabase(): Promise<string>;
  /** Drops the databases made and stops the throwaway cluster, if one was started. */
  close(): Promise<void>;
}

export type PostgresAvailability = { ok: true; pg: TestPostgres } | { ok: false; reason: string };

function findBin(name: string): string | undefined {
  const which = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const p = join(root, v, 'bin', name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  c.on('error', () => {});
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end().catch(() => {});
  }
}

function databaseManager(adminUrl: string, stop: () => void): TestPostgres {
  const made: string[] = [];
  return {
    async newDatabase() {
      const name = `labcoat_t_${process.pid}_${Date.now().toString(36)}_${made.length}`;
      await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
      made.push(name);
      return withDatabase(adminUrl, name);
    },
    async close() {
      for (const name of made.splice(0)) await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      stop();
    },
  };
}

let cached: Promise<PostgresAvailability> | undefined;

/** PostgreSQL for this process (found or started once; `close` drops the databases and stops a throwaway cluster). */
export function testPostgres(): Promise<PostgresAvailability> {
  cached ??= find();
  return cached;
}

async function find(): Promise<PostgresAvailability> {
  const url = process.env['LABCOAT_TEST_PG'] || process.env['LABCOAT_BENCH_PG'];
  if (url) {
    try {
      await adminQuery(url, 'SELECT 1');
    } catch (e) {
      return { ok: false, reason: `LABCOAT_TEST_PG is set but PostgreSQL does not answer there: ${(e as Error).message}` };
    }
    return { ok: true, pg: databaseManager(url, () => {}) };
  }
  return startThrowawayCluster();
}

async function startThrowawayCluster(): Promise<PostgresAvailability> {
  const initdb = findBin('initdb');
  const pgCtl = findBin('pg_ctl');
  if (!initdb || !pgCtl) return { ok: false, reason: 'no PostgreSQL: LABCOAT_TEST_PG is not set and initdb/pg_ctl were not found (apt-get install postgresql, or run .ci/run)' };
  const root = process.getuid?.() === 0;
  const asPostgres = (args: string[]): string[] => (root ? ['runuser', '-u', 'postgres', '--', ...args] : args);
  if (root && spawnSync('id', ['postgres']).status !== 0) return { ok: false, reason: 'running as root and there is no postgres user to run a throwaway cluster as' };
  const dir = mkdtempSync(join(tmpdir(), 'labcoat-pg-'));
  const data = join(dir, 'data');
  if (root) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  const run = (args: string[]) => {
    const [cmd, ...rest] = asPostgres(args);
    return spawnSync(cmd!, rest, { encoding: 'utf8', timeout: 60_000 });
  };
  const init = run([initdb, '-D', data, '-U', 'labcoat', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { ok: false, reason: `initdb failed: ${(init.stderr || init.stdout).trim().split('\n').slice(-3).join(' ')}` };
  }
  const start = run([pgCtl, '-D', data, '-l', join(dir, 'log'), '-w', '-t', '30', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`, 'start']);
  const stop = (): void => {
    run([pgCtl, '-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop']);
    rmSync(dir, { recursive: true, force: true });
  };
  if (start.status !== 0) {
    stop();
    return { ok: false, reason: `pg_ctl start failed: ${(start.stderr || start.stdout).trim().split('\n').slice(-3).join(' ')}` };
  }
  // Whatever way this test process ends, the cluster goes with it.
  process.once('exit', stop);
  const adminUrl = `postgres://labcoat@127.0.0.1:${port}/postgres`;
  return {
    ok: true,
    pg: databaseManager(adminUrl, () => {
      process.removeListener('exit', stop);
      stop();
    }),
  };
}
