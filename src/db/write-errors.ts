/**
 * What a failed database write means. SQLite says SQLITE_FULL when the disk that holds the catalog
 * (its WAL) has no room: nothing was written, and the same write succeeds once space is freed.
 */

/** better-sqlite3's error code of `err` (e.g. `SQLITE_FULL`, `SQLITE_IOERR_WRITE`), if it is one. */
export function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/** The catalog's disk is full. */
export function isDatabaseFull(err: unknown): boolean {
  return sqliteCode(err) === 'SQLITE_FULL';
}

/**
 * A write that failed for a reason that passes (disk full, another writer holding the lock past the
 * busy timeout, an I/O error of a disk filling up): retrying it later is right; giving up would lose
 * the row.
 */
export function isTransientWriteError(err: unknown): boolean {
  const code = sqliteCode(err);
  if (code !== undefined) return code === 'SQLITE_FULL' || code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || code.startsWith('SQLITE_IOERR');
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  return errno === 'ENOSPC' || errno === 'EDQUOT';
}

/**
 * Whether the catalog can take writes, as the last writes showed. Set by a write that failed with
 * SQLITE_FULL; cleared by the next write that succeeds, or when the disk has room again.
 */
export class DatabaseWriteHealth {
  private fullSinceMs: number | undefined;

  noteFailure(err: unknown, nowMs: number): void {
    if (isDatabaseFull(err)) this.fullSinceMs ??= nowMs;
  }

  noteSuccess(): void {
    this.fullSinceMs = undefined;
  }

  /** Since when writes fail for want of space, or undefined while they succeed. */
  get fullSince(): number | undefined {
    return this.fullSinceMs;
  }
}
