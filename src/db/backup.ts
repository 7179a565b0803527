import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { systemClock, type Clock } from '../shared/clock.js';

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
  /** Wall time of the whole copy, its commit and sync included. */
  durationMs: number;
  /** Pages copied (the catalog's size in pages). */
  pages: number;
  /** The copy as read back: integrity, migration level, row counts. */
  facts: CatalogFacts;
}

/** better-sqlite3 caps a step's page count at this: the whole catalog in one step. */
const ALL_PAGES = 0x7fffffff;

/**
 * Copies the catalog from inside `vigil serve` (scheduled backups) on a worker thread with a read-only
 * connection of its own: the copy, its commit, the sync of 300 MB to disk and the integrity check of
 * the copy never hold the event loop that indexes segments. (Stepping through Vigil's own connection did: its last step, which commits
 * and syncs the copy, held indexing for 0.5 s on a 1 M-segment catalog; docs/proof.md.)
 */
export function backupInWorker(sourceFile: string, destFile: string): Promise<BackupProgress> {
  const ext = extname(fileURLToPath(import.meta.url));
  // By way of the folder's name: this code may run from the server's bundle (dist/cli/), one folder below dist/ too.
  const entry = new URL(`../db/backup-worker${ext}`, import.meta.url);
  // From dist/ the worker is JavaScript. From src/ (tests, benchmarks) it is TypeScript: a worker does not
  // inherit the parent's loader, so a small bootstrap registers tsx's before importing it.
  const worker =
    ext === '.ts'
      ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`, { eval: true, workerData: { sourceFile, destFile } })
      : new Worker(entry, { workerData: { sourceFile, destFile } });
  return new Promise((resolve, reject) => {
    let settled = false;
    worker.once('message', (m: { ok: true; progress: BackupProgress } | { ok: false; message: string }) => {
      settled = true;
      if (m.ok) resolve(m.progress);
      else reject(new Error(m.message));
      void worker.terminate();
    });
    worker.once('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`the backup worker exited with code ${code} before it finished`));
    });
  });
}

/**
 * Copies the catalog file from a connection of its own (`vigil backup` beside a running Vigil, and the
 * worker of scheduled backups). A write by another connection between two steps would restart the
 * copy, so the whole file goes in one step: one read transaction, which in WAL mode never blocks the
 * writer (it only keeps the WAL from being checkpointed past it until the step ends). Never takes a
 * write lock, never migrates.
 */
export async function backupCatalogFile(sourceFile: string, destFile: string, clock: Clock = systemClock): Promise<BackupProgress> {
  const sqlite = new BetterSqlite3(sourceFile, { readonly: true, fileMustExist: true });
  try {
    sqlite.pragma('busy_timeout = 5000');
    return await timedBackup(sqlite, destFile, clock);
  } finally {
    sqlite.close();
  }
}

async function timedBackup(sqlite: BetterSqlite3.Database, destFile: string, clock: Clock): Promise<BackupProgress> {
  const started = clock.nowMs();
  // better-sqlite3's first step only opens the copy; the next one takes every page.
  const result = await sqlite.backup(destFile, { progress: () => ALL_PAGES });
  selfContained(destFile);
  const durationMs = clock.nowMs() - started;
  // Checked here, where the copy was made: on the worker, a 300 MB integrity check holds no event loop.
  return { durationMs, pages: result.totalPages, facts: inspectCatalog(destFile) };
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
