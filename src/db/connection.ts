import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, SqliteQueryCompiler, sql, SqliteDriver, ValueNode, type CompiledQuery, type DatabaseConnection, type Driver, type LimitNode, type MigrationProvider, type OffsetNode, type QueryCompiler, type QueryResult, type SqliteDialectConfig, type SqliteStatement } from 'kysely';
import { migrationsFor, type CatalogEngine } from './migrations/index.js';
import { engineOf, isPostgresUrl } from './engine.js';
import type { PostgresOptions } from './postgres.js';
import type { Database } from './schema.js';
import { toCatalogError } from './write-errors.js';

export type Db = Kysely<Database>;

export type { CatalogEngine } from './migrations/index.js';
export { engineOf } from './engine.js';

export interface OpenedDb {
  db: Db;
  /** The engine the catalog runs on. */
  engine: CatalogEngine;
  /** The migrations this open applied (none when the catalog was up to date). */
  applied: string[];
  close(): Promise<void>;
}

/**
 * Opens the catalog and applies pending migrations: `target` is a postgres:// (postgresql://) URL for
 * a PostgreSQL catalog, otherwise the SQLite file (the zero-setup default), opened in WAL mode.
 */
export async function openDatabase(target: string, opts: PostgresOptions = {}): Promise<OpenedDb> {
  return isPostgresUrl(target) ? openPostgres(target, opts) : openSqlite(target);
}

async function openSqlite(file: string): Promise<OpenedDb> {
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  // NORMAL is durable across application crashes in WAL mode; only a power cut may lose the last commits,
  // and start-up reconciliation re-indexes any file whose row was lost that way.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // Migrations change the schema: they run on a Kysely of their own, so that no statement the catalog
  // keeps (and the result columns it knows for it) was prepared before the change.
  const applied = await migrate(new Kysely<Database>({ dialect: new CatalogDialect(sqlite) }), 'sqlite');
  const db = new Kysely<Database>({ dialect: new CatalogDialect(sqlite) });
  return {
    db,
    engine: 'sqlite',
    applied,
    close: () => db.destroy(),
  };
}

async function openPostgres(url: string, opts: PostgresOptions): Promise<OpenedDb> {
  // Loaded only for a PostgreSQL catalog: the SQLite default does not pay for `pg` at start-up.
  const { postgresKysely } = await import('./postgres.js');
  const db = postgresKysely(url, opts);
  let applied: string[];
  try {
    if (opts.schema !== undefined) await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(opts.schema)}`.execute(db);
    applied = await migrate(db, 'postgres', opts.schema);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return { db, engine: 'postgres', applied, close: () => db.destroy() };
}

/** Applies the pending migrations of the catalog's engine; returns the names of those applied. */
export async function migrate(db: Db, engine: CatalogEngine = engineOf(db), schema?: string): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrationsFor(engine) };
  // PostgreSQL: the migration history lives in the catalog's own schema (Kysely looks in every schema otherwise).
  const migrator = new Migrator({ db, provider, ...(schema !== undefined ? { migrationTableSchema: schema } : {}) });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${String(error)}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
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

  override createQueryCompiler(): QueryCompiler {
    return new CatalogQueryCompiler();
  }
}

/**
 * Writes a LIMIT or OFFSET that is an integer into the SQL rather than binding it: SQLite plans with a
 * bound LIMIT's value, so a statement whose LIMIT is a parameter is prepared again at every run once
 * its parameters are bound (as if the schema had changed) — ~3 µs for a one-row look-up, 50–90 µs for
 * a page of 100 segments. Each limit then has its own kept statement (`withStatementCache`); the value
 * is checked to be a safe integer, so only digits ever reach the SQL.
 */
class CatalogQueryCompiler extends SqliteQueryCompiler {
  protected override visitLimit(node: LimitNode): void {
    const n = integerValue(node.limit);
    if (n === undefined) super.visitLimit(node);
    else this.append(`limit ${n}`);
  }

  protected override visitOffset(node: OffsetNode): void {
    const n = integerValue(node.offset);
    if (n === undefined) super.visitOffset(node);
    else this.append(`offset ${n}`);
  }
}

function integerValue(node: LimitNode['limit']): number | undefined {
  if (!ValueNode.is(node)) return undefined;
  const { value } = node;
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
}

/** Prepared statements kept, most recently used last (a query with an IN list of another length is another). */
const STATEMENT_CACHE_SIZE = 500;

/** A kept statement and its result columns, learnt at its first run (the catalog's schema does not change after `migrate`). */
interface KeptStatement {
  stmt: BetterSqlite3.Statement;
  makeRow: ((row: unknown[]) => Record<string, unknown>) | undefined;
}

/**
 * A function making a row object of a row array, compiled once per statement: an object literal with
 * the columns as its keys has one shape from its first row on, where setting the keys one by one by
 * name costs ~1 µs a row of 20 columns. A later duplicate name wins, as in better-sqlite3's own objects.
 */
export function rowMaker(columns: readonly string[]): (row: unknown[]) => Record<string, unknown> {
  const last = new Map<string, number>();
  columns.forEach((c, i) => last.set(c, i));
  // `__proto__: …` in a literal would set the prototype, not a key: such a row is made key by key.
  if (last.has('__proto__')) return (r) => Object.fromEntries([...last].map(([c, i]) => [c, r[i]]));
  const body = [...last].map(([c, i]) => `${JSON.stringify(c)}: r[${i}]`).join(', ');
  // The names are quoted by JSON.stringify: a name is only ever a key, never code.
  return new Function('r', `return { ${body} };`) as (row: unknown[]) => Record<string, unknown>;
}

/**
 * The database as Kysely's driver sees it, with its prepared statements kept: the driver prepares every
 * query's SQL again otherwise, which costs more than running a small indexed query. Safe because the
 * driver runs one statement at a time (its connection mutex); SQLite re-prepares a kept statement by
 * itself after a schema change (none happens after start-up: `openDatabase` migrates first, on a Kysely of its own).
 *
 * Rows are read as arrays and made into objects here: better-sqlite3 builds each row object through
 * V8's API one property at a time, which costs more than reading the row (a page of 100 segments:
 * ~0.55 ms as objects, ~0.43 ms as arrays made into objects key by key, ~0.36 ms by `rowMaker`).
 */
function withStatementCache(sqlite: BetterSqlite3.Database): SqliteDialectConfig['database'] & object {
  const cache = new Map<string, KeptStatement>();
  return {
    close: () => sqlite.close(),
    prepare: (sql: string) => {
      let kept = cache.get(sql);
      if (kept) {
        cache.delete(sql);
      } else {
        kept = { stmt: sqlite.prepare(sql), makeRow: undefined };
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      }
      cache.set(sql, kept);
      return rowObjects(kept);
    },
  };
}

/** The statement as Kysely's driver uses it (reader, all, run, iterate), its rows read as arrays. */
function rowObjects(kept: KeptStatement): SqliteStatement {
  const { stmt } = kept;
  return {
    reader: stmt.reader,
    all: (parameters) => {
      if (!stmt.reader) return stmt.all(parameters);
      const make = (kept.makeRow ??= rowMaker(stmt.columns().map((c) => c.name)));
      const rows = stmt.raw(true).all(parameters) as unknown[][];
      stmt.raw(false);
      const out = new Array<Record<string, unknown>>(rows.length);
      for (let r = 0; r < rows.length; r++) out[r] = make(rows[r] as unknown[]);
      return out;
    },
    run: (parameters) => stmt.run(parameters),
    iterate: (parameters) => stmt.iterate(parameters),
  };
}
