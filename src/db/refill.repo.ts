import { sql } from 'kysely';
import type { Db } from './connection.js';
import { toGap, type Gap } from './gap.repo.js';
import { redactUrl } from '../shared/redact.js';

/** Longest `last_error` the table accepts (CHECK on recording_gaps.last_error). */
export const GAP_ERROR_MAX_CHARS = 800;

/**
 * Pending gaps of cameras with edge replay on whose attempt is due and that were detected at least
 * `settledBeforeMs` ago (cameras finalize their SD files late), oldest first.
 */
export async function listRefillCandidates(db: Db, nowMs: number, detectedBeforeMs: number, limit: number): Promise<Gap[]> {
  const rows = await db
    .selectFrom('recording_gaps as g')
    .innerJoin('cameras as c', 'c.id', 'g.camera_id')
    .selectAll('g')
    .where('g.fill_state', '=', 'pending')
    .where('c.anr_enabled', '=', 1)
    .where('c.deleted_at_ms', 'is', null)
    .where('g.detected_at_ms', '<=', detectedBeforeMs)
    .where((eb) => eb.or([eb('g.next_attempt_at_ms', 'is', null), eb('g.next_attempt_at_ms', '<=', nowMs)]))
    .orderBy('g.gap_start_ms')
    .orderBy('g.id')
    .limit(limit)
    .execute();
  return rows.map(toGap);
}

/**
 * When the next pending gap of a camera with edge replay becomes due (its backoff over and its settle
 * delay passed); undefined when none is waiting. The refill loop sleeps until then, not a whole scan.
 */
export async function nextRefillDueMs(db: Db, settleMs: number): Promise<number | undefined> {
  const row = await db
    .selectFrom('recording_gaps as g')
    .innerJoin('cameras as c', 'c.id', 'g.camera_id')
    .select(sql<number | null>`MIN(MAX(COALESCE(g.next_attempt_at_ms, 0), g.detected_at_ms + ${settleMs}))`.as('due'))
    .where('g.fill_state', '=', 'pending')
    .where('c.anr_enabled', '=', 1)
    .where('c.deleted_at_ms', 'is', null)
    .executeTakeFirst();
  return row?.due ?? undefined;
}

/** pending → filling; false when another worker took it or its state changed. */
export async function claimGap(db: Db, gapId: number): Promise<boolean> {
  const res = await db
    .updateTable('recording_gaps')
    .set({ fill_state: 'filling' })
    .where('id', '=', gapId)
    .where('fill_state', '=', 'pending')
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * filling → filled | partial: the attempt that got here counts like any other (`fill_attempts` and the
 * events agree). A partial fill says what is still missing in `last_error`.
 */
export async function finishGap(db: Db, gapId: number, state: 'filled' | 'partial', missing?: string): Promise<Gap> {
  const row = await db
    .updateTable('recording_gaps')
    .set({ fill_state: state, fill_attempts: sql`fill_attempts + 1`, last_error: state === 'partial' ? (missing ?? 'partly filled').slice(0, GAP_ERROR_MAX_CHARS) : null, next_attempt_at_ms: null })
    .where('id', '=', gapId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toGap(row);
}

/**
 * One failed attempt: count it, keep the reason, and either schedule the next attempt (pending with
 * `next_attempt_at_ms`) or give up (`failed`) once `maxAttempts` are used.
 */
export async function failGapAttempt(db: Db, gapId: number, error: string, nextAttemptAtMs: number, maxAttempts: number): Promise<Gap> {
  const row = await db
    .updateTable('recording_gaps')
    .set({
      fill_attempts: sql`fill_attempts + 1`,
      fill_state: sql`CASE WHEN fill_attempts + 1 >= ${maxAttempts} THEN 'failed' ELSE 'pending' END`,
      next_attempt_at_ms: sql`CASE WHEN fill_attempts + 1 >= ${maxAttempts} THEN NULL ELSE ${nextAttemptAtMs} END`,
      last_error: redactUrl(error).slice(0, GAP_ERROR_MAX_CHARS),
    })
    .where('id', '=', gapId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toGap(row);
}

/**
 * filling → pending without counting an attempt, not before `nextAttemptAtMs`, saying why: the
 * refill could not be written (the recordings disk full), which says nothing about the edge.
 */
export async function deferGap(db: Db, gapId: number, error: string, nextAttemptAtMs: number): Promise<Gap> {
  const row = await db
    .updateTable('recording_gaps')
    .set({ fill_state: 'pending', next_attempt_at_ms: nextAttemptAtMs, last_error: redactUrl(error).slice(0, GAP_ERROR_MAX_CHARS) })
    .where('id', '=', gapId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toGap(row);
}

/** filling → pending without counting an attempt (shutdown, or the camera lost edge replay meanwhile). */
export async function releaseGap(db: Db, gapId: number): Promise<void> {
  await db.updateTable('recording_gaps').set({ fill_state: 'pending' }).where('id', '=', gapId).where('fill_state', '=', 'filling').execute();
}

/** What `last_error` says of a refill that Vigil's own end interrupted. */
export const INTERRUPTED_REFILL_ERROR = 'interrupted: Vigil ended (crash or kill) while this refill ran';

/**
 * Start-up: no refill runs yet, so every `filling` gap was interrupted by a crash. The attempt
 * counts — a refill that brought Vigil down each time must not be retried forever — and the gap
 * goes back to pending (or to `failed` once `maxAttempts` are used).
 */
export async function resetFillingGaps(db: Db, maxAttempts: number): Promise<number> {
  const res = await db
    .updateTable('recording_gaps')
    .set({
      fill_attempts: sql`fill_attempts + 1`,
      fill_state: sql`CASE WHEN fill_attempts + 1 >= ${maxAttempts} THEN 'failed' ELSE 'pending' END`,
      next_attempt_at_ms: null,
      last_error: INTERRUPTED_REFILL_ERROR,
    })
    .where('fill_state', '=', 'filling')
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

export async function getGap(db: Db, cameraId: string, gapId: number): Promise<Gap | undefined> {
  const row = await db.selectFrom('recording_gaps').selectAll().where('id', '=', gapId).where('camera_id', '=', cameraId).executeTakeFirst();
  return row && toGap(row);
}

/**
 * Manual refill: a failed or partial gap goes back to pending with a fresh attempt budget, due now;
 * a pending one is made due now. Returns the gap as it is afterwards (undefined if unknown).
 */
export async function requeueGap(db: Db, cameraId: string, gapId: number): Promise<Gap | undefined> {
  await db
    .updateTable('recording_gaps')
    .set({ fill_state: 'pending', fill_attempts: 0, next_attempt_at_ms: null, last_error: null })
    .where('id', '=', gapId)
    .where('camera_id', '=', cameraId)
    .where('fill_state', 'in', ['failed', 'partial'])
    .execute();
  await db
    .updateTable('recording_gaps')
    .set({ next_attempt_at_ms: null })
    .where('id', '=', gapId)
    .where('camera_id', '=', cameraId)
    .where('fill_state', '=', 'pending')
    .execute();
  return getGap(db, cameraId, gapId);
}
