import BetterSqlite3 from 'better-sqlite3';

/** What a copy of the catalog is: whole (integrity), at which migration, how many rows of what. */
export interface CatalogFacts {
  /** `PRAGMA integrity_check`'s answer: `ok` or the first problems it found. */
  integrity: string;
  /** The name of the last migration applied (e.g. `0008-onvif`), null for a file Vigil never migrated. */
  migration: string | null;
  /** Rows per table (segments, gaps, events, chain links, …), Kysely's own tables left out. */
  rowCounts: Record<string, number>;
}

export interface BackupProgress {
  /** Wall time of the whole copy. */
  durationMs: number;
  /**
   * The longest single step: how long the catalog's own connection was held by the copy at once
   * (measured between steps, so an upper bound: other work of the event loop in between counts too).
   */
  longestStepMs: number;
  /** The last step, which also commits the copy and syncs it to disk: usually the longest. */
  lastStepMs: number;
  steps: number;
  pages: number;
}

/** Pages copied per step when the copy shares the writer's connection (4 KiB pages: 400 KiB a step). */
export const PAGES_PER_STEP = 100;
/** better-sqlite3 caps a step's page count at this: the whole catalog in one step. */
const ALL_PAGES = 0x7fffffff;

/**
 * Copies the catalog with SQLite's online backup API, from the connection that writes it (a scheduled
 * backup inside `vigil serve`). It goes in steps of `PAGES_PER_STEP`, one per turn of the event loop,
 * so indexing runs between steps; a write made through this same connection is applied to the copy
 * as well, so the copy never has to start over and ends consistent as of its last step.
 */
export async function backupFromConnection(sqlite: BetterSqlite3.Database, destFile: string): Promise<BackupProgress> {
  return timedBackup(sqlite, destFile, PAGES_PER_STEP);
}

/**
 * Copies the catalog file from a connection of its own (`vigil backup` beside a running Vigil). A write
 * by another connection between two steps would restart the copy, so the whole file goes in one step:
 * one read transaction, which in WAL mode never blocks the writer (it only keeps the WAL from being
 * checkpointed past it until the step ends). Never takes a write lock, never migrates.
 */
export async function backupCatalogFile(sourceFile: string, destFile: string): Promise<BackupProgress> {
  const sqlite = new BetterSqlite3(sourceFile, { readonly: true, fileMustExist: true });
  try {
    sqlite.pragma('busy_timeout = 5000');
    return await timedBackup(sqlite, destFile, ALL_PAGES);
  } finally {
    sqlite.close();
  }
}

async function timedBackup(sqlite: BetterSqlite3.Database, destFile: string, pagesPerStep: number): Promise<BackupProgress> {
  const started = performance.now();
  let last = started;
  let longestStepMs = 0;
  let steps = 0;
  const result = await sqlite.backup(destFile, {
    progress: () => {
      const now = performance.now();
      longestStepMs = Math.max(longestStepMs, now - last);
      steps++;
      last = now;
      return pagesPerStep;
    },
  });
  // The last step resolves the promise without calling `progress`: it is timed here.
  const lastStepMs = performance.now() - last;
  longestStepMs = Math.max(longestStepMs, lastStepMs);
  selfContained(destFile);
  return { durationMs: performance.now() - started, longestStepMs, lastStepMs, steps: steps + 1, pages: result.totalPages };
}

/**
 * The copy carries the source's WAL mode in its header, so opening it (even read-only) would create
 * -wal and -shm files beside it. Rollback-journal mode makes it one self-contained file that can be
 * hashed, moved and inspected as it is; Vigil turns WAL on again when it opens a restored catalog.
 */
function selfContained(file: string): void {
  const copy = new BetterSqlite3(file, { fileMustExist: true });
  try {
    copy.pragma('journal_mode = DELETE');
  } finally {
    copy.close();
  }
}

/** Reads a catalog file (a backup) without changing it: integrity, migration level, row counts. */
export function inspectCatalog(file: string): CatalogFacts {
  const sqlite = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    const problems = sqlite.pragma('integrity_check', { simple: false }) as Array<{ integrity_check: string }>;
    const integrity = problems.map((p) => p.integrity_check).slice(0, 10).join('; ');
    const tables = (sqlite.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as Array<{ name: string }>).map((t) => t.name);
    const rowCounts: Record<string, number> = {};
    for (const t of tables) {
      if (t.startsWith('kysely_')) continue;
      rowCounts[t] = (sqlite.prepare(`SELECT count(*) AS n FROM "${t.replace(/"/g, '""')}"`).get() as { n: number }).n;
    }
    const migration = tables.includes('kysely_migration')
      ? ((sqlite.prepare('SELECT name FROM kysely_migration ORDER BY name DESC LIMIT 1').get() as { name: string } | undefined)?.name ?? null)
      : null;
    return { integrity, migration, rowCounts };
  } finally {
    sqlite.close();
  }
}
