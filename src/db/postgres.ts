import pg from 'pg';
import { CompiledQuery, Kysely, PostgresDialect, PostgresDriver, type DatabaseConnection, type Driver, type PostgresPool, type PostgresPoolClient, type TransactionSettings } from 'kysely';
import type { Database } from './schema.js';
import { toCatalogError } from './write-errors.js';

/** OIDs of the types read back as JavaScript numbers. */
const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * BIGINT columns (ids, ms instants, byte sizes) come back from `pg` as strings unless told otherwise.
 * They are read as numbers, exactly: a value beyond Number.MAX_SAFE_INTEGER (2^53 − 1, some 285 000
 * years of ms) is refused with an error rather than rounded to another value.
 */
export function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`catalog integer ${text} is beyond Number.MAX_SAFE_INTEGER: refused rather than rounded`);
  return n;
}

/** NUMERIC (what SUM over BIGINT returns): an integer as `parseInt8` reads it; a fraction (AVG) as a double. */
export function parseNumeric(text: string): number {
  if (/^-?\d+$/.test(text)) return parseInt8(text);
  return Number(text);
}

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID) return parseInt8;
    if (oid === NUMERIC_OID) return parseNumeric;
    return pg.types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

/** Lock waits end like SQLite's busy_timeout: after 5 s, as a "busy" catalog error (the caller retries). */
const LOCK_TIMEOUT_MS = 5000;

/**
 * A session that sits inside a transaction this long without sending anything is ended by the server,
 * its transaction rolled back and its locks released. Vigil's transactions last milliseconds; one held
 * this long belongs to a process that stopped (SIGSTOP, a frozen VM, a cut network) while holding the
 * catalog's transaction lock, which would otherwise stall every other node's writes, lease takeovers
 * included, until it came back (docs/design.md, "Cluster"). Under LOCK_TIMEOUT_MS, so that writers
 * waiting behind it get the lock instead of timing out.
 */
export const IDLE_IN_TRANSACTION_MS = 3000;

/**
 * Every transaction takes this catalog-wide transaction lock first, so transactions run one at a
 * time, as on SQLite (one writer): each read-modify-write a repository does in a transaction (the
 * hash chain's next link, a gap's fill state, a webhook cursor) sees no other transaction's writes
 * half-way. Single statements (the conditional delete, read-lock counts, idempotent inserts) need no
 * lock: each is atomic on both engines, and they run concurrently on PostgreSQL.
 */
const TRANSACTION_LOCK_KEY = 0x5619_1100;

export interface PostgresOptions {
  /** Schema the catalog lives in (its tables, functions and migration history); default: the search_path's first (public). */
  schema?: string;
  /** Connections kept open (default 10). */
  maxConnections?: number;
}

/** A `pg` pool whose clients map engine errors to domain errors (write-errors.ts). */
function domainErrorPool(pool: pg.Pool): PostgresPool {
  const wrapped = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  return {
    connect: async () => {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw toCatalogError(err);
      }
      let w = wrapped.get(client);
      if (!w) {
        const c = client;
        // The server may end a session on its own while it is checked out (IDLE_IN_TRANSACTION_MS, a
        // restart): the client then emits 'error', which pg's pool listens for only on idle clients; unheard
        // it would end the process. Its queries then fail with what ended it, and it leaves the pool.
        let broken: unknown;
        c.on('error', (err) => {
          broken ??= err;
        });
        w = {
          query: (async (text: string, values: readonly unknown[]) => {
            try {
              return await c.query(text, [...values]);
            } catch (err) {
              throw toCatalogError(broken ?? err);
            }
          }) as unknown as PostgresPoolClient['query'],
          release: () => {
            if (broken === undefined) c.release();
            else {
              wrapped.delete(c);
              c.release(broken instanceof Error ? broken : new Error(String(broken)));
            }
          },
        };
        wrapped.set(client, w);
      }
      return w;
    },
    end: () => pool.end(),
  };
}

class CatalogPostgresDriver extends PostgresDriver {
  override async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    await super.beginTransaction(connection, settings);
    await connection.executeQuery(CompiledQuery.raw(`select pg_advisory_xact_lock(${TRANSACTION_LOCK_KEY})`));
  }
}

class CatalogPostgresDialect extends PostgresDialect {
  constructor(private readonly pool: PostgresPool) {
    super({ pool });
  }

  override createDriver(): Driver {
    return new CatalogPostgresDriver({ pool: this.pool });
  }
}

/** A `pg` pool on the catalog at `url`: numbers read exactly, the 5 s lock timeout, the 3 s idle-in-transaction end, the schema first in the search path. */
export function postgresPool(url: string, opts: PostgresOptions = {}): pg.Pool {
  if (opts.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(opts.schema)) throw new Error(`invalid catalog schema name ${opts.schema}`);
  const pool = new pg.Pool({
    connectionString: url,
    types,
    max: opts.maxConnections ?? 10,
    lock_timeout: LOCK_TIMEOUT_MS,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
    application_name: 'vigil',
    ...(opts.schema !== undefined ? { options: `-c search_path=${opts.schema}` } : {}),
  });
  // An idle client whose server went away: the next query reports it; nothing to do here but not crash.
  pool.on('error', () => undefined);
  return pool;
}

/** A Kysely on a PostgreSQL catalog (not migrated: connection.ts does that). */
export function postgresKysely(url: string, opts: PostgresOptions = {}): Kysely<Database> {
  return new Kysely<Database>({ dialect: new CatalogPostgresDialect(domainErrorPool(postgresPool(url, opts))) });
}
