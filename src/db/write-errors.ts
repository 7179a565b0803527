import { VigilError } from '../shared/errors.js';

/**
 * What a failed catalog write means, in Vigil's words rather than the engine's. The engine's own
 * codes are read here only (see `toCatalogError`, applied to every statement by the connection):
 * nothing outside `src/db/` names an engine.
 */

/** Why the catalog could not take a write that will succeed later: its disk is full, or another writer holds it. */
export type CatalogUnavailableReason = 'full' | 'busy';

const MESSAGES: Record<CatalogUnavailableReason, string> = {
  full: 'the database disk is full: nothing was changed; free space on the disk that holds the data folder',
  busy: 'the database is busy: nothing was changed; try again',
};

/**
 * The catalog refused a write for a reason that passes: nothing was written, and the same write
 * succeeds once space is freed (full) or the lock is released (busy). The API answers 503 with
 * `Retry-After`; the indexer retries the row.
 */
export class CatalogUnavailableError extends VigilError {
  constructor(
    readonly reason: CatalogUnavailableReason,
    cause: unknown,
  ) {
    super('unavailable', MESSAGES[reason], { cause, retryAfterSeconds: reason === 'full' ? 30 : 1 });
    this.name = 'CatalogUnavailableError';
  }
}

/** better-sqlite3's error code of `err` (e.g. `SQLITE_FULL`, `SQLITE_IOERR_WRITE`), if it is one. */
function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/**
 * The engine's error as a domain error: SQLITE_FULL → catalog full; SQLITE_BUSY / SQLITE_LOCKED →
 * catalog busy. Anything else (a constraint, a bug, an I/O error) is returned unchanged.
 */
export function toCatalogError(err: unknown): unknown {
  if (err instanceof CatalogUnavailableError) return err;
  const code = sqliteCode(err);
  if (code === undefined) return err;
  if (code === 'SQLITE_FULL') return new CatalogUnavailableError('full', err);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return new CatalogUnavailableError('busy', err);
  return err;
}

/** The catalog's disk is full. */
export function isCatalogFull(err: unknown): boolean {
  return err instanceof CatalogUnavailableError && err.reason === 'full';
}

/**
 * A write that failed for a reason that passes (disk full, another writer holding the lock past the
 * busy timeout, an I/O error of a disk filling up): retrying it later is right; giving up would lose
 * the row.
 */
export function isTransientWriteError(err: unknown): boolean {
  if (err instanceof CatalogUnavailableError) return true;
  const code = sqliteCode(err);
  if (code !== undefined) return code.startsWith('SQLITE_IOERR');
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  return errno === 'ENOSPC' || errno === 'EDQUOT';
}

/**
 * Whether the catalog can take writes, as the last writes showed. Set by a write that failed for
 * want of space; cleared by the next write that succeeds, or when the disk has room again.
 */
export class DatabaseWriteHealth {
  private fullSinceMs: number | undefined;

  noteFailure(err: unknown, nowMs: number): void {
    if (isCatalogFull(err)) this.fullSinceMs ??= nowMs;
  }

  noteSuccess(): void {
    this.fullSinceMs = undefined;
  }

  /** Since when writes fail for want of space, or undefined while they succeed. */
  get fullSince(): number | undefined {
    return this.fullSinceMs;
  }
}
