import { sql } from 'kysely';
import type { Db } from './connection.js';
import type { DeleteReason } from './schema.js';
import { appendDeletionLinks } from './chain.repo.js';
import type { Signer } from '../shared/evidence-hash.js';
import { MOTION_DEFAULTS } from '../shared/camera-settings.js';
import { MOTION_INTERVAL_MAX_MS } from './motion.repo.js';

export interface Candidate {
  id: number;
  cameraId: string;
  path: string;
  sizeBytes: number;
  startMs: number;
}

export interface CandidateQuery {
  cameraId?: string | undefined;
  /** Only segments that ended at or before this instant. */
  endedByMs?: number | undefined;
  /** Keyset: continue after this (start_ms, id). */
  after?: { startMs: number; id: number } | undefined;
  /**
   * Only segments no motion interval of their camera overlaps, the interval widened by these rolls
   * (footage just before and after motion is kept with it).
   */
  withoutMotion?: { preRollMs: number; postRollMs: number } | undefined;
  /** In a cluster: only this node's footage (the files in its data dir). */
  nodeId?: string | undefined;
  limit: number;
}

/** Deletable segments (not read-locked, not evidence), oldest first. */
export async function listDeletable(db: Db, q: CandidateQuery): Promise<Candidate[]> {
  let query = db
    .selectFrom('segments')
    .select(['id', 'camera_id', 'path', 'size_bytes', 'start_ms'])
    .where('locked', '=', 0)
    .where('evidence_locked', '=', 0);
  if (q.cameraId !== undefined) query = query.where('camera_id', '=', q.cameraId);
  if (q.nodeId !== undefined) query = query.where('node_id', '=', q.nodeId);
  if (q.endedByMs !== undefined) query = query.where('end_ms', '<=', q.endedByMs);
  if (q.after) {
    const a = q.after;
    query = query.where((eb) => eb.or([eb('start_ms', '>', a.startMs), eb.and([eb('start_ms', '=', a.startMs), eb('id', '>', a.id)])]));
  }
  if (q.withoutMotion) {
    const { preRollMs, postRollMs } = q.withoutMotion;
    // Motion in [m.start − pre, m.end + post] keeps a segment; intervals are at most MOTION_INTERVAL_MAX_MS
    // long, which bounds the index range on (camera_id, start_ms).
    query = query.where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('motion_intervals as m')
            .select('m.id')
            .whereRef('m.camera_id', '=', 'segments.camera_id')
            .where(sql<boolean>`m.start_ms < segments.end_ms + ${preRollMs}`)
            .where(sql<boolean>`m.start_ms >= segments.start_ms - ${postRollMs + MOTION_INTERVAL_MAX_MS}`)
            .where(sql<boolean>`m.end_ms > segments.start_ms - ${postRollMs}`),
        ),
      ),
    );
  }
  const rows = await query.orderBy('start_ms').orderBy('id').limit(q.limit).execute();
  return rows.map((r) => ({ id: r.id, cameraId: r.camera_id, path: r.path, sizeBytes: r.size_bytes, startMs: r.start_ms }));
}

/**
 * Step 1 of a crash-ordered delete: in one transaction, delete the rows — with the lock check in the
 * same statement, so a read-lock or evidence hold taken after selection wins — and tombstone their
 * paths, and append a signed deletion link per row to its camera's chain. Returns what was actually deleted.
 */
export async function deleteToTombstones(db: Db, ids: readonly number[], reason: DeleteReason, nowMs: number, signer?: Signer): Promise<Candidate[]> {
  if (ids.length === 0) return [];
  return db.transaction().execute(async (trx) => {
    const deleted = await trx
      .deleteFrom('segments')
      .where('id', 'in', [...ids])
      .where('locked', '=', 0)
      .where('evidence_locked', '=', 0)
      .returning(['id', 'camera_id', 'path', 'size_bytes', 'start_ms', 'end_ms', 'sha256', 'chain_seq', 'node_id'])
      .execute();
    // A deletion by policy is a signed link in the camera's chain; only a silent DELETE breaks it.
    await appendDeletionLinks(trx, deleted, reason, signer, nowMs);
    if (deleted.length > 0) {
      await trx
        .insertInto('segment_tombstones')
        .values(deleted.map((d) => ({ path: d.path, camera_id: d.camera_id, segment_id: d.id, size_bytes: d.size_bytes, reason, created_at_ms: nowMs, node_id: d.node_id })))
        .onConflict((oc) => oc.column('path').doNothing())
        .execute();
    }
    return deleted.map((r) => ({ id: r.id, cameraId: r.camera_id, path: r.path, sizeBytes: r.size_bytes, startMs: r.start_ms }));
  });
}

/** A file with no row (an orphan) is tombstoned before it is unlinked, like any other deletion. */
export async function tombstoneOrphan(db: Db, path: string, cameraId: string, sizeBytes: number, nowMs: number, nodeId?: string): Promise<void> {
  await db
    .insertInto('segment_tombstones')
    .values({ path, camera_id: cameraId, segment_id: 0, size_bytes: sizeBytes, reason: 'orphan', created_at_ms: nowMs, node_id: nodeId ?? null })
    .onConflict((oc) => oc.column('path').doNothing())
    .execute();
}

/** Deletions under way (or a crash interrupted); in a cluster (`nodeId`), only this node's files. */
export async function listTombstones(db: Db, limit = 10_000, nodeId?: string): Promise<Array<{ path: string; cameraId: string; sizeBytes: number }>> {
  let q = db.selectFrom('segment_tombstones').select(['path', 'camera_id', 'size_bytes']);
  if (nodeId !== undefined) q = q.where('node_id', '=', nodeId);
  const rows = await q.limit(limit).execute();
  return rows.map((r) => ({ path: r.path, cameraId: r.camera_id, sizeBytes: r.size_bytes }));
}

export async function isTombstoned(db: Db, paths: readonly string[]): Promise<Set<string>> {
  if (paths.length === 0) return new Set();
  const rows = await db.selectFrom('segment_tombstones').select('path').where('path', 'in', [...paths]).execute();
  return new Set(rows.map((r) => r.path));
}

/** Step 3: the file is gone and its folder synced; the tombstone has done its job. */
export async function dropTombstones(db: Db, paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return;
  await db.deleteFrom('segment_tombstones').where('path', 'in', [...paths]).execute();
}

/** Bytes of footage per camera, evidence included (it counts toward quotas but is never deleted). */
export async function bytesByCamera(db: Db, nodeId?: string): Promise<Map<string, number>> {
  let q = db.selectFrom('segments').select(['camera_id', sql<number>`sum(size_bytes)`.as('bytes')]);
  // In a cluster each node counts (and deletes) the footage in its own data dir.
  if (nodeId !== undefined) q = q.where('node_id', '=', nodeId);
  const rows = await q.groupBy('camera_id').execute();
  return new Map(rows.map((r) => [r.camera_id, Number(r.bytes)]));
}

export interface RetentionPolicy {
  id: string;
  retentionHours: number | null;
  storageQuotaBytes: number | null;
  /** Footage with motion kept this long (footage without it: retentionHours); null = no separate rule. */
  retentionHoursMotion: number | null;
  /** The camera's motion post-roll: footage this long after motion is kept with it. */
  motionPostRollMs: number;
}

export async function retentionPolicies(db: Db): Promise<RetentionPolicy[]> {
  const rows = await db.selectFrom('cameras').select(['id', 'retention_hours', 'storage_quota_bytes', 'retention_hours_motion', 'motion']).execute();
  return rows.map((r) => {
    const post = r.motion === null ? undefined : (JSON.parse(r.motion) as { post_roll_seconds?: number }).post_roll_seconds;
    return {
      id: r.id,
      retentionHours: r.retention_hours,
      storageQuotaBytes: r.storage_quota_bytes,
      retentionHoursMotion: r.retention_hours_motion,
      motionPostRollMs: (post ?? MOTION_DEFAULTS.postRollSeconds) * 1000,
    };
  });
}
