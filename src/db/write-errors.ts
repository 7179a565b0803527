import { VigilError } from '../shared/errors.js';

/**
 * What a failed catalog write means, in Vigil's words rather than the engine's. The engine's own
 * codes are read here only (see `toCatalogError`, applied to every statement by the connection):
 * nothing outside `src/db/` names an engine.
 */

/**
 * Why the catalog could not take a write that will succeed later: its disk is full, another writer
 * holds it, or (PostgreSQL) its server cannot be reached right now.
 */
export type CatalogUnavailableReason = 'full' | 'busy' | 'unreachable';

const MESSAGES: Record<CatalogUnavailableReason, string> = {
  full: 'the database disk is full: nothing was changed; free space on the disk that holds the data folder',
  busy: 'the database is busy: nothing was changed; try again',
  unreachable: 'the database server cannot be reached: nothing was changed; try again',
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
    super('unavailable', MESSAGES[reason], { cause, retryAfterSeconds: reason === 'full' ? 30 : reason === 'unreachable' ? 5 : 1 });
    this.name = 'CatalogUnavailableError';
  }
}

/** better-sqlite3's error code of `err` (e.g. `SQLITE_FULL`, `SQLITE_IOERR_WRITE`), if it is one. */
function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/** PostgreSQL's SQLSTATE of `err` (five characters, e.g. `53100`), if it is one from the server. */
function sqlState(err: unknown): string | undefined {
  const e = err as { code?: unknown; severity?: unknown } | null;
  return typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string' ? e.code : undefined;
}

const CONSTRAINT_WORDS: Record<string, string> = { '23514': 'CHECK', '23505': 'UNIQUE', '23503': 'FOREIGN KEY', '23502': 'NOT NULL' };

/**
 * A constraint PostgreSQL refused, said in the words SQLite uses ("CHECK constraint failed: …"), the
 * engine's own message after it: logs and callers read the same text whichever engine refused.
 */
function sameWords(err: Error & { constraint?: string; table?: string; column?: string }, state: string): Error {
  const word = CONSTRAINT_WORDS[state];
  if (word === undefined || err.message.startsWith(word)) return err;
  const what = word === 'NOT NULL' ? `${err.table ?? ''}.${err.column ?? ''}` : (err.constraint ?? '');
  err.message = `${word} constraint failed: ${what} (${err.message})`;
  return err;
}

/** Socket errors of a client that cannot reach, or lost, the database server. */
const UNREACHABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * The engine's error as a domain error. SQLite: SQLITE_FULL → catalog full; SQLITE_BUSY /
 * SQLITE_LOCKED → catalog busy. PostgreSQL: 53100 disk_full (and 53200 out of memory, 53300 too many
 * connections as busy) → full / busy; 40001 serialization failure, 40P01 deadlock, 55P03 lock timeout →
 * busy; 57P01-57P03 (server shutting down, starting), 25P03 (the session ended for idling in a
 * transaction) and class 08 (connection) or a refused/reset
 * socket → unreachable. Anything else (a constraint, a bug) is returned unchanged.
 */
export function toCatalogError(err: unknown): unknown {
  if (err instanceof CatalogUnavailableError) return err;
  const state = sqlState(err);
  if (state !== undefined) {
    if (state.startsWith('23')) return sameWords(err as Error & { constraint?: string; table?: string; column?: string }, state);
    if (state === '53100') return new CatalogUnavailableError('full', err);
    if (state === '40001' || state === '40P01' || state === '55P03' || state === '53200' || state === '53300') return new CatalogUnavailableError('busy', err);
    // 25P03: this session sat idle inside a transaction past IDLE_IN_TRANSACTION_MS and was ended (postgres.ts).
    if (state === '57P01' || state === '57P02' || state === '57P03' || state === '25P03' || state.startsWith('08')) return new CatalogUnavailableError('unreachable', err);
    return err;
  }
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof errno === 'string' && UNREACHABLE_ERRNO.has(errno)) return new CatalogUnavailableError('unreachable', err);
  if (err instanceof Error && /^Connection terminated/.test(err.message)) return new CatalogUnavailableError('unreachable', err);
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
  // PostgreSQL: class 58 (system error: I/O) passes like SQLite's I/O errors.
  const state = sqlState(err);
  if (state !== undefined) return state.startsWith('58');
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
