import { existsSync } from 'node:fs';
import { sql } from 'kysely';
import { openDatabase, type Db, type OpenedDb } from './connection.js';
import { isPostgresUrl } from './engine.js';

/**
 * `vigil catalog copy`: a single box's SQLite catalog moved into an empty PostgreSQL catalog — every
 * table, every row with its id, each id sequence set where SQLite's AUTOINCREMENT counter stood (an id
 * deleted before the copy is never given again), all in one PostgreSQL transaction, and the counts of
 * every table compared before it commits. The source is read in one transaction: a consistent snapshot
 * even while Vigil records into it (stop Vigil first anyway, or the rows it writes after the snapshot
 * are not copied).
 */

/** Tables in an order that satisfies every foreign key; `id`: the table has an identity id. */
export const CATALOG_TABLES: ReadonlyArray<{ name: string; id: boolean }> = [
  { name: 'cameras', id: false },
  { name: 'camera_status', id: false },
  { name: 'nodes', id: false },
  { name: 'camera_leases', id: false },
  { name: 'cluster_keys', id: false },
  { name: 'segments', id: true },
  { name: 'recording_gaps', id: true },
  { name: 'events', id: true },
  { name: 'segment_tombstones', id: false },
  { name: 'users', id: true },
  { name: 'sessions', id: false },
  { name: 'api_keys', id: true },
  { name: 'login_failures', id: false },
  { name: 'audit_log', id: true },
  { name: 'chain_links', id: false },
  { name: 'chain_checkpoints', id: false },
  { name: 'signing_keys', id: false },
  { name: 'exports', id: false },
  { name: 'webhooks', id: true },
  { name: 'webhook_deliveries', id: false },
  { name: 'motion_intervals', id: true },
  { name: 'motion_zones', id: false },
  { name: 'motion_thumbnails', id: false },
];

/** Why a copy did not happen; `exitCode` is the command's (docs/operations.md, "PostgreSQL catalog"). */
export class CatalogCopyError extends Error {
  constructor(
    message: string,
    readonly exitCode: 2 | 3,
  ) {
    super(message);
    this.name = 'CatalogCopyError';
  }
}

export interface CopyReport {
  /** Rows per table, equal in source and target. */
  rows: Record<string, number>;
}

const BATCH_ROWS = 500;
const PAGE_ROWS = 5000;

type AnyDb = Db & { selectFrom(t: string): never };

async function countRows(db: Db, table: string): Promise<number> {
  const r = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM ${sql.table(table)}`.execute(db);
  return Number(r.rows[0]?.n ?? 0);
}

/**
 * A SQLite table's rows in pages, in rowid order (keyset: each page an index seek, whatever the table's
 * size); motion_zones has no rowid (WITHOUT ROWID) and is paged by its primary key.
 */
async function* sourcePages(db: Db, table: string): AsyncGenerator<Record<string, unknown>[]> {
  if (table === 'motion_zones') {
    let after: { i: number; z: string } | undefined;
    for (;;) {
      const where = after ? sql`WHERE (interval_id, zone) > (${after.i}, ${after.z})` : sql``;
      const page = (await sql<Record<string, unknown>>`SELECT * FROM motion_zones ${where} ORDER BY interval_id, zone LIMIT ${PAGE_ROWS}`.execute(db)).rows;
      if (page.length === 0) return;
      const last = page[page.length - 1] as { interval_id: number; zone: string };
      after = { i: last.interval_id, z: last.zone };
      yield page;
    }
  }
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const page = (await sql<Record<string, unknown>>`SELECT rowid AS vigil_copy_rowid, * FROM ${sql.table(table)} WHERE rowid > ${after} ORDER BY rowid LIMIT ${PAGE_ROWS}`.execute(db)).rows;
    if (page.length === 0) return;
    after = Number(page[page.length - 1]?.['vigil_copy_rowid']);
    for (const row of page) delete row['vigil_copy_rowid'];
    yield page;
  }
}

/** Copies the SQLite catalog `fromSpec` (`sqlite:<file>`) into the empty PostgreSQL catalog at `to` (a postgres:// URL). */
export async function copyCatalog(fromSpec: string, to: string): Promise<CopyReport> {
  if (!isPostgresUrl(to)) throw new CatalogCopyError(`--to must be a postgres:// or postgresql:// URL (got ${to.split(':')[0]}:…)`, 2);
  if (!fromSpec.startsWith('sqlite:') || fromSpec.length === 'sqlite:'.length) throw new CatalogCopyError('--from must be sqlite:<file> (the SQLite catalog, e.g. sqlite:/var/lib/vigil/vigil.db)', 2);
  const from = fromSpec.slice('sqlite:'.length);
  if (!existsSync(from)) throw new CatalogCopyError(`--from: no catalog at ${from}`, 2);
  let source: OpenedDb | undefined;
  let target: OpenedDb | undefined;
  try {
    source = await openDatabase(from);
    target = await openDatabase(to);
    const tdb = target.db;
    for (const t of CATALOG_TABLES) {
      const n = await countRows(tdb, t.name);
      if (n > 0) throw new CatalogCopyError(`the target catalog is not empty (${t.name} has ${n} rows): copy only into an empty database`, 3);
    }
    const sdb = source.db;
    return await sdb.transaction().execute(async (strx) => {
      const sequences = new Map(
        (await sql<{ name: string; seq: number }>`SELECT name, seq FROM sqlite_sequence`.execute(strx)).rows.map((r) => [r.name, Number(r.seq)]),
      );
      return tdb.transaction().execute(async (ttrx) => {
        const rows: Record<string, number> = {};
        for (const t of CATALOG_TABLES) {
          let batch: Record<string, unknown>[] = [];
          const flush = async () => {
            if (batch.length === 0) return;
            await (ttrx as unknown as AnyDb).insertInto(t.name as never).values(batch as never).execute();
            batch = [];
          };
          for await (const page of sourcePages(strx, t.name)) {
            for (const row of page) {
              batch.push(row);
              if (batch.length >= BATCH_ROWS) await flush();
            }
          }
          await flush();
          const [s, d] = [await countRows(strx, t.name), await countRows(ttrx, t.name)];
          if (s !== d) throw new Error(`${t.name}: ${s} rows in the source, ${d} copied: nothing was committed`);
          rows[t.name] = d;
          if (t.id) {
            const max = Number((await sql<{ m: number | null }>`SELECT MAX(id) AS m FROM ${sql.table(t.name)}`.execute(ttrx)).rows[0]?.m ?? 0);
            const next = Math.max(max, sequences.get(t.name) ?? 0);
            if (next > 0) await sql`SELECT setval(pg_get_serial_sequence(${t.name}, 'id'), ${next}, true)`.execute(ttrx);
          }
        }
        return { rows };
      });
    });
  } finally {
    await source?.close();
    await target?.close();
  }
}
