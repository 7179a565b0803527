import { PostgresAdapter, type Kysely } from 'kysely';
import type { CatalogEngine } from './migrations/index.js';

/** The engine a catalog handle runs on, for the few statements written differently per engine. */
export function engineOf(db: Pick<Kysely<unknown>, 'getExecutor'>): CatalogEngine {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/** Whether `target` names a PostgreSQL catalog (postgres:// or postgresql://) rather than a SQLite file. */
export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//i.test(target);
}
