import type { Db } from './connection.js';

/**
 * Read-locks are reference counts (`segments.locked`): each reader adds one and removes its own one,
 * so two overlapping readers never unpin each other. Retention deletes only rows with locked = 0.
 */
export async function addReadLocks(db: Db, segmentIds: readonly number[]): Promise<number> {
  if (segmentIds.length === 0) return 0;
  const res = await db
    .updateTable('segments')
    .set((eb) => ({ locked: eb('locked', '+', 1) }))
    .where('id', 'in', [...segmentIds])
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

export async function releaseReadLocks(db: Db, segmentIds: readonly number[]): Promise<number> {
  if (segmentIds.length === 0) return 0;
  const res = await db
    .updateTable('segments')
    .set((eb) => ({ locked: eb('locked', '-', 1) }))
    .where('id', 'in', [...segmentIds])
    .where('locked', '>', 0)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** At start-up no reader exists yet: every read-lock is stale (a crash mid-read). */
export async function clearReadLocks(db: Db, nodeId?: string): Promise<number> {
  // In a cluster only this node's segments: it alone reads its files (other nodes ask it for them).
  let q = db.updateTable('segments').set({ locked: 0 }).where('locked', '!=', 0);
  if (nodeId !== undefined) q = q.where('node_id', '=', nodeId);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows);
}

export async function readLockCounts(db: Db, segmentIds: readonly number[]): Promise<Map<number, number>> {
  if (segmentIds.length === 0) return new Map();
  const rows = await db.selectFrom('segments').select(['id', 'locked']).where('id', 'in', [...segmentIds]).execute();
  return new Map(rows.map((r) => [r.id, r.locked]));
}
