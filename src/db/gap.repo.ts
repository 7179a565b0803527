import type { Selectable } from 'kysely';
import type { Db } from './connection.js';
import type { FillState, RecordingGapsTable } from './schema.js';

/**
 * A gap's refill state as shown: the stored one, except that a pending gap of a camera without edge
 * replay is `not_applicable` (nothing will fill it unless edge replay is configured, which makes it
 * pending again).
 */
export type GapFillState = FillState | 'not_applicable';

export interface Gap {
  id: number;
  cameraId: string;
  gapStartMs: number;
  gapEndMs: number;
  fillState: GapFillState;
  fillAttempts: number;
  lastError: string | null;
  detectedAtMs: number;
  /** Earliest next refill attempt; null = as soon as the gap is pending. */
  nextAttemptAtMs: number | null;
}

export function toGap(r: Selectable<RecordingGapsTable>): Gap {
  return {
    id: r.id,
    cameraId: r.camera_id,
    gapStartMs: r.gap_start_ms,
    gapEndMs: r.gap_end_ms,
    fillState: r.fill_state,
    fillAttempts: r.fill_attempts,
    lastError: r.last_error,
    detectedAtMs: r.detected_at_ms,
    nextAttemptAtMs: r.next_attempt_at_ms,
  };
}

/**
 * Records a hole > 3 s between consecutive segments, for refill from edge storage.
 * Ignore-on-conflict by (camera_id, gap_start): a re-scan never duplicates a gap.
 * Returns the gap only when this call inserted it.
 */
export async function upsertRecordingGap(
  db: Db,
  cameraId: string,
  gapStartMs: number,
  gapEndMs: number,
  nowMs: number,
): Promise<Gap | undefined> {
  if (gapEndMs - gapStartMs <= 3000) return undefined;
  const row = await db
    .insertInto('recording_gaps')
    .values({ camera_id: cameraId, gap_start_ms: gapStartMs, gap_end_ms: gapEndMs, last_error: null, detected_at_ms: nowMs })
    .onConflict((oc) => oc.columns(['camera_id', 'gap_start_ms']).doNothing())
    .returningAll()
    .executeTakeFirst();
  return row && toGap(row);
}

/**
 * Footage [startMs, endMs) landed inside gaps recorded before it (indexed out of order): each such gap
 * still waiting for a refill (pending or failed) keeps its row for the part before the footage and
 * gets a new row for the part after it, each only if still longer than 3 s. A gap being filled, or
 * already filled, is the refill's to describe and stays as it is.
 */
export async function reviseGapsAround(db: Db, cameraId: string, startMs: number, endMs: number): Promise<void> {
  const hit = await db
    .selectFrom('recording_gaps')
    .selectAll()
    .where('camera_id', '=', cameraId)
    .where('gap_start_ms', '<', endMs)
    .where('gap_end_ms', '>', startMs)
    .where('fill_state', 'in', ['pending', 'failed'])
    .execute();
  for (const g of hit) {
    if (startMs - g.gap_start_ms > 3000) {
      await db.updateTable('recording_gaps').set({ gap_end_ms: startMs }).where('id', '=', g.id).execute();
    } else {
      await db.deleteFrom('recording_gaps').where('id', '=', g.id).execute();
    }
    if (g.gap_end_ms - endMs > 3000) {
      await db
        .insertInto('recording_gaps')
        .values({ camera_id: cameraId, gap_start_ms: endMs, gap_end_ms: g.gap_end_ms, last_error: null, detected_at_ms: g.detected_at_ms })
        .onConflict((oc) => oc.columns(['camera_id', 'gap_start_ms']).doNothing())
        .execute();
    }
  }
}

export async function listGaps(db: Db, cameraId: string, fromMs?: number, toMs?: number): Promise<Gap[]> {
  let q = db
    .selectFrom('recording_gaps as g')
    .leftJoin('cameras as c', 'c.id', 'g.camera_id')
    .selectAll('g')
    .select('c.anr_enabled')
    .where('g.camera_id', '=', cameraId);
  if (fromMs !== undefined) q = q.where('g.gap_end_ms', '>', fromMs);
  if (toMs !== undefined) q = q.where('g.gap_start_ms', '<', toMs);
  return (await q.orderBy('g.gap_start_ms').execute()).map((r) => {
    const gap = toGap(r);
    if (gap.fillState === 'pending' && r.anr_enabled !== 1) gap.fillState = 'not_applicable';
    return gap;
  });
}
