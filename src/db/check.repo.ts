import type { Db } from './connection.js';
import { appendDeletionLinks } from './chain.repo.js';
import type { Signer } from '../shared/evidence-hash.js';
import type { SegmentSource } from './schema.js';

export interface CheckRow {
  id: number;
  cameraId: string;
  path: string;
  startMs: number;
  endMs: number;
  sizeBytes: number;
  locked: number;
  evidenceLocked: boolean;
  /** Media time (ms) in the file at `startMs` (docs/design.md, "Time truth"). */
  mediaOffsetMs: number;
  source: SegmentSource;
  /** The cluster node whose data dir holds the file (null: a single Vigil). */
  nodeId: string | null;
}

/** Every segment, ordered by camera then start (what an overlap check needs). */
export async function allSegmentsForCheck(db: Db): Promise<CheckRow[]> {
  const rows = await db
    .selectFrom('segments')
    .select(['id', 'camera_id', 'path', 'start_ms', 'end_ms', 'size_bytes', 'locked', 'evidence_locked', 'media_offset_ms', 'source', 'node_id'])
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
    mediaOffsetMs: r.media_offset_ms,
    source: r.source,
    nodeId: r.node_id,
  }));
}

/** Repair of a row whose file is gone; never an evidence-locked one. The deletion is a signed chain link. */
export async function deleteRowWithoutFile(db: Db, id: number, nowMs: number, signer?: Signer): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .deleteFrom('segments')
      .where('id', '=', id)
      .where('evidence_locked', '=', 0)
      .where('locked', '=', 0)
      .returning(['id', 'camera_id', 'start_ms', 'end_ms', 'size_bytes', 'sha256', 'chain_seq'])
      .execute();
    await appendDeletionLinks(trx, rows, 'repair', signer, nowMs);
    return rows.length;
  });
}
