import type { Db } from './connection.js';

export interface CheckRow {
  id: number;
  cameraId: string;
  path: string;
  startMs: number;
  endMs: number;
  sizeBytes: number;
  locked: number;
  evidenceLocked: boolean;
}

/** Every segment, ordered by camera then start (what an overlap check needs). */
export async function allSegmentsForCheck(db: Db): Promise<CheckRow[]> {
  const rows = await db
    .selectFrom('segments')
    .select(['id', 'camera_id', 'path', 'start_ms', 'end_ms', 'size_bytes', 'locked', 'evidence_locked'])
    .orderBy('camera_id')
    .orderBy('start_ms')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    cameraId: r.camera_id,
    path: r.path,
    startMs: r.start_ms,
    endMs: r.end_ms,
    sizeBytes: r.size_bytes,
    locked: r.locked,
    evidenceLocked: r.evidence_locked === 1,
  }));
}

/** Repair of a row whose file is gone; never an evidence-locked one. */
export async function deleteRowWithoutFile(db: Db, id: number): Promise<number> {
  const res = await db.deleteFrom('segments').where('id', '=', id).where('evidence_locked', '=', 0).where('locked', '=', 0).executeTakeFirst();
  return Number(res.numDeletedRows);
}
