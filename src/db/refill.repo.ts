import { sql } from 'kysely';
import type { Db } from './connection.js';
import { toGap, type Gap } from './gap.repo.js';
import { redactUrl } from '../shared/redact.js';

/** Longest `last_error` the table accepts (CHECK on recording_gaps.last_error). */
export const GAP_ERROR_MAX_CHARS = 800;

/**
 * Gaps whose next refill attempt is due — pending ones (backoff over, or never tried), and partial
 * ones with an attempt scheduled (`next_attempt_at_ms` set) — of cameras with edge replay on, detected
 * at least `settledBeforeMs` ago (cameras finalize their SD files late), oldest first.
 */
export async function listRefillCandidates(db: Db, nowMs: number, detectedBeforeMs: number, limit: number): Promise<Gap[]> {
  const rows = await db
    .selectFrom('recording_gaps as g')
    .innerJoin('cameras as c', 'c.id', 'g.camera_id')
    .selectAll('g')
    .where((eb) =>
      eb.or([
        eb.and([eb('g.fill_state', '=', 'pending'), eb.or([eb('g.next_attempt_at_ms', 'is', null), eb('g.next_attempt_at_ms', '<=', nowMs)])]),
        eb.and([eb('g.fill_state', '=', 'partial'), eb('g.next_attempt_at_ms', 'is not', null), eb('g.next_attempt_at_ms', '<=', nowMs)]),
      ]),
    )
    .where('c.anr_enabled', '=', 1)
    .where('c.deleted_at_ms', 'is', null)
    .where('g.detected_at_ms', '<=', detectedBeforeMs)
    .orderBy('g.gap_start_ms')
    .orderBy('g.id')
    .limit(limit)
    .execute();
  return rows.map(toGap);
}

/**
 * When the next gap waiting for an attempt (pending, or partial with one scheduled) of a camera with
 * edge replay becomes due (its backoff over and its settle delay passed); undefined when none is
 * waiting. The refill loop sleeps until then, not a whole scan.
 */
export async function nextRefillDueMs(db: Db, settleMs: number): Promise<number | undefined> {
  const row = await db
    .selectFrom('recording_gaps as g')
    .innerJoin('cameras as c', 'c.id', 'g.camera_id')
    // The later of the two instants, written with CASE: the same SQL on both engines (two-argument MAX is SQLite's; GREATEST PostgreSQL's).
    .select(
      sql<number | null>`MIN(CASE WHEN COALESCE(g.next_attempt_at_ms, 0) > g.detected_at_ms + ${settleMs} THEN COALESCE(g.next_attempt_at_ms, 0) ELSE g.detected_at_ms + ${settleMs} END)`.as('due'),
    )
    .where((eb) => eb.or([eb('g.fill_state', '=', 'pending'), eb.and([eb('g.fill_state', '=', 'partial'), eb('g.next_attempt_at_ms', 'is not', null)])]))
    .where('c.anr_enabled', '=', 1)
    .where('c.deleted_at_ms', 'is', null)
    .executeTakeFirst();
  return row?.due ?? undefined;
}

/** pending, or partial with an attempt scheduled → filling; false when another worker took it or its state changed. */
export async function claimGap(db: Db, gapId: number): Promise<boolean> {
  const res = await db
    .updateTable('recording_gaps')
    .set({ fill_state: 'filling' })
    .where('id', '=', gapId)
    .where((eb) => eb.or([eb('fill_state', '=', 'pending'), eb.and([eb('fill_state', '=', 'partial'), eb('next_attempt_at_ms', 'is not', null)])]))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * filling → filled: the attempt that got here counts like any other (`fill_attempts` and the events
 * agree).
 */
export async function finishGap(db: Db, gapId: number): Promise<Gap> {
  const row = await db
    .updateTable('recording_gaps')
    .set({ fill_state: 'filled', fill_attempts: sql`fill_attempts + 1`, last_error: null, next_attempt_at_ms: null })
    .where('id', '=', gapId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toGap(row);
}

/**
 * One attempt that did not fill the gap — it failed, or left part of it missing (or was interrupted by
 * a crash): count it and keep what `error` says. A gap part of which is indexed footage (`partlyFilled`)
 * stays `partial`, otherwise it is `pending`; either waits for `nextAttemptAtMs`. Once `maxAttempts`
 * are used, or with no next attempt (`nextAttemptAtMs` null: nothing left a replay could ask for), it
 * has none: `next_attempt_at_ms` NULL, and a gap with no footage at all is `failed`.
 */
export async function failGapAttempt(
  db: Db,
  gapId: number,
  error: string,
  nextAttemptAtMs: number | null,
  maxAttempts: number,
  partlyFilled = false,
): Promise<Gap> {
  const last = nextAttemptAtMs === null ? sql<boolean>`1 = 1` : sql<boolean>`fill_attempts + 1 >= ${maxAttempts}`;
  const row = await db
    .updateTable('recording_gaps')
    .set({
      fill_attempts: sql`fill_attempts + 1`,
      fill_state: partlyFilled ? 'partial' : sql`CASE WHEN ${last} THEN 'failed' ELSE 'pending' END`,
      next_attempt_at_ms: sql`CASE WHEN ${last} THEN NULL ELSE CAST(${nextAttemptAtMs} AS BIGINT) END`,
      last_error: redactUrl(error).slice(0, GAP_ERROR_MAX_CHARS),
    })
    .where('id', '=', gapId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toGap(row);
}

/**
 * filling → filled or partial without an attempt counted and with none scheduled: nothing of the gap
 * is left that a replay could ask for (footage indexed inside it meanwhile, or only slivers under a
 * second, which whole-second replay URLs cannot address).
 */
export async function settleGap(db: Db, gapId: number, state: 'filled' | 'partial', missing: string | null): Promise<Gap> {
  const row = await db
    .updateTable('recording_gaps')
    .set({ fill_state: state, next_attempt_at_ms: null, last_error: state === 'partial' ? (missing ?? 'partly filled').slice(0, GAP_ERROR_MAX_CHARS) : null })
    .where('id', '=', gapId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toGap(row);
}

/**
 * filling → back to `back` (pending, or partial for a gap part of which is filled) without counting an
 * attempt, not before `nextAttemptAtMs`, saying why: the refill could not be written (the recordings
 * disk full), which says nothing about the edge.
 */
export async function deferGap(db: Db, gapId: number, error: string, nextAttemptAtMs: number, back: 'pending' | 'partial' = 'pending'): Promise<Gap> {
  const row = await db
    .updateTable('recording_gaps')
    .set({ fill_state: back, next_attempt_at_ms: nextAttemptAtMs, last_error: redactUrl(error).slice(0, GAP_ERROR_MAX_CHARS) })
    .where('id', '=', gapId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toGap(row);
}

/**
 * filling → back to `back`, the state it was claimed from, without counting an attempt (shutdown, or
 * the camera lost edge replay meanwhile); its `next_attempt_at_ms` is untouched, so it is as due as it was.
 */
export async function releaseGap(db: Db, gapId: number, back: 'pending' | 'partial' = 'pending'): Promise<void> {
  await db.updateTable('recording_gaps').set({ fill_state: back }).where('id', '=', gapId).where('fill_state', '=', 'filling').execute();
}

/** What `last_error` says of a refill that Vigil's own end interrupted. */
export const INTERRUPTED_REFILL_ERROR = 'interrupted: Vigil ended (crash or kill) while this refill ran';

/**
 * Start-up: no refill runs yet, so every `filling` gap was interrupted by a crash. The refill service
 * counts each interrupted attempt (`failGapAttempt`) — a refill that brought Vigil down each time must
 * not be retried forever.
 */
export async function listFillingGaps(db: Db): Promise<Gap[]> {
  const rows = await db.selectFrom('recording_gaps').selectAll().where('fill_state', '=', 'filling').orderBy('id').execute();
  return rows.map(toGap);
}

export async function getGap(db: Db, cameraId: string, gapId: number): Promise<Gap | undefined> {
  const row = await db.selectFrom('recording_gaps').selectAll().where('id', '=', gapId).where('camera_id', '=', cameraId).executeTakeFirst();
  return row && toGap(row);
}

/**
 * Manual refill, with a fresh attempt budget: a failed gap goes back to pending, due now; a partial one
 * stays partial (what is still missing stays in `last_error`) with an attempt due now (`nowMs`); a
 * pending one is made due now. Returns the gap as it is afterwards (undefined if unknown).
 */
export async function requeueGap(db: Db, cameraId: string, gapId: number, nowMs: number): Promise<Gap | undefined> {
  await db
    .updateTable('recording_gaps')
    .set({ fill_state: 'pending', fill_attempts: 0, next_attempt_at_ms: null, last_error: null })
    .where('id', '=', gapId)
    .where('camera_id', '=', cameraId)
    .where('fill_state', '=', 'failed')
    .execute();
  await db
    .updateTable('recording_gaps')
    .set({ fill_attempts: 0, next_attempt_at_ms: nowMs })
    .where('id', '=', gapId)
    .where('camera_id', '=', cameraId)
    .where('fill_state', '=', 'partial')
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
