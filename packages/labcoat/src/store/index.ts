/** Opens the store a `--db` value names: a `postgres://` / `postgresql://` URL, or a SQLite file path. */
import { PostgresStore, type PostgresStoreOptions } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export type * from './types.js';
export { SqliteStore } from './sqlite.js';
export { PostgresStore, redactUrl } from './postgres.js';
export { SQLITE_MIGRATIONS, POSTGRES_MIGRATIONS, type Migration } from './migrations.js';

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

export async function openStore(db: string, options: PostgresStoreOptions = {}): Promise<Store> {
  if (isPostgresUrl(db)) return PostgresStore.open(db, options);
  return SqliteStore.open(db, options.bucketMs !== undefined ? { bucketMs: options.bucketMs } : {});
}
