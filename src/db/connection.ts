import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, SqliteDriver, type CompiledQuery, type DatabaseConnection, type Driver, type MigrationProvider, type QueryResult, type SqliteDialectConfig } from 'kysely';
import { migrationsFor } from './migrations/index.js';
import type { Database } from './schema.js';
import { toCatalogError } from './write-errors.js';

export type Db = Kysely<Database>;

export interface OpenedDb {
  db: Db;
  close(): Promise<void>;
}

/** Opens the catalog (SQLite in WAL mode) and applies pending migrations. */
export async function openDatabase(file: string): Promise<OpenedDb> {
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  // NORMAL is durable across application crashes in WAL mode; only a power cut may lose the last commits,
  // and start-up reconciliation re-indexes any file whose row was lost that way.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new CatalogDialect(sqlite) });
  await migrate(db);
  return {
    db,
    close: () => db.destroy(),
  };
}

const provider: MigrationProvider = { getMigrations: async () => migrationsFor('sqlite') };

export async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${String(error)}`, { cause: error });
  }
}

/**
 * SQLite ends a transaction by itself on some errors (SQLITE_FULL: the disk is full). Kysely then
 * sends its own ROLLBACK, which fails with "no transaction is active" and replaces the error that
 * says what happened. This driver rolls back only a transaction that is still open, so the caller
 * gets the catalog-full error (and the API a 503, the indexer a retry).
 */
class CatalogDriver extends SqliteDriver {
  constructor(
    config: SqliteDialectConfig,
    private readonly sqlite: BetterSqlite3.Database,
  ) {
    super(config);
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (!this.sqlite.inTransaction) return;
    await super.rollbackTransaction(connection);
  }

  /** Every statement's engine error leaves `db/` as a domain error (catalog full / busy): see write-errors.ts. */
  override async acquireConnection(): Promise<DatabaseConnection> {
    return new DomainErrorConnection(await super.acquireConnection());
  }
}

class DomainErrorConnection implements DatabaseConnection {
  constructor(private readonly inner: DatabaseConnection) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return await this.inner.executeQuery<R>(query);
    } catch (err) {
      throw toCatalogError(err);
    }
  }

  async *streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(query, chunkSize);
    } catch (err) {
      throw toCatalogError(err);
    }
  }
}

class CatalogDialect extends SqliteDialect {
  constructor(private readonly sqlite: BetterSqlite3.Database) {
    super({ database: sqlite });
  }

  override createDriver(): Driver {
    return new CatalogDriver({ database: withStatementCache(this.sqlite) }, this.sqlite);
  }
}

/** Prepared statements kept, most recently used last (a query with an IN list of another length is another). */
const STATEMENT_CACHE_SIZE = 500;

/**
 * The database as Kysely's driver sees it, with its prepared statements kept: the driver prepares every
 * query's SQL again otherwise, which costs more than running a small indexed query. Safe because the
 * driver runs one statement at a time (its connection mutex); SQLite re-prepares a kept statement by
 * itself after a schema change.
 */
function withStatementCache(sqlite: BetterSqlite3.Database): SqliteDialectConfig['database'] & object {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => sqlite.close(),
    prepare: (sql: string) => {
      let stmt = cache.get(sql);
      if (stmt) {
        cache.delete(sql);
      } else {
        stmt = sqlite.prepare(sql);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      }
      cache.set(sql, stmt);
      return stmt;
    },
  };
}
