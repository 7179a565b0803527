import { randomBytes } from 'node:crypto';
import type { Db } from './connection.js';
import { engineOf } from './engine.js';

/** A recording node as the catalog knows it. */
export interface NodeRow {
  id: string;
  url: string;
  capacity: number;
  draining: boolean;
  startedAtMs: number;
  heartbeatAtMs: number;
  /** Set when the node stopped cleanly (its leases were released); null while it runs or after a crash. */
  stoppedAtMs: number | null;
}

/** Which node records a camera (node null: released), until when, under which fencing token. */
export interface LeaseRow {
  cameraId: string;
  nodeId: string | null;
  token: number;
  acquiredAtMs: number;
  expiresAtMs: number;
}

/** The lease a recorder runs under: its rows are written only while the catalog still says so. */
export interface Fence {
  nodeId: string;
  token: number;
}

/** A camera as lease placement sees it. */
export interface PlacementCamera {
  id: string;
  pinnedNode: string | null;
  /** Recent bitrate (camera_status), null before the first segments. */
  bitrateBps: number | null;
  lease: LeaseRow | undefined;
}

const toNode = (r: { id: string; url: string; capacity: number; draining: number; started_at_ms: number; heartbeat_at_ms: number; stopped_at_ms: number | null }): NodeRow => ({
  id: r.id,
  url: r.url,
  capacity: r.capacity,
  draining: r.draining === 1,
  startedAtMs: r.started_at_ms,
  heartbeatAtMs: r.heartbeat_at_ms,
  stoppedAtMs: r.stopped_at_ms,
});

const toLease = (r: { camera_id: string; node_id: string | null; token: number; acquired_at_ms: number; expires_at_ms: number }): LeaseRow => ({
  cameraId: r.camera_id,
  nodeId: r.node_id,
  token: r.token,
  acquiredAtMs: r.acquired_at_ms,
  expiresAtMs: r.expires_at_ms,
});

/** The cluster's request-signing key: created by the first node that asks (one row; a race keeps the first). */
export async function clusterSecret(db: Db, nowMs: number): Promise<string> {
  await db.insertInto('cluster_keys').values({ id: 1, secret: randomBytes(32).toString('hex'), created_at_ms: nowMs }).onConflict((oc) => oc.column('id').doNothing()).execute();
  return (await db.selectFrom('cluster_keys').select('secret').where('id', '=', 1).executeTakeFirstOrThrow()).secret;
}

/** Registers (or re-registers) a node at start-up: its address and capacity as configured now, heartbeat now. Draining is kept. */
export async function registerNode(db: Db, n: { id: string; url: string; capacity: number }, nowMs: number): Promise<NodeRow> {
  await db
    .insertInto('nodes')
    .values({ id: n.id, url: n.url, capacity: n.capacity, started_at_ms: nowMs, heartbeat_at_ms: nowMs, stopped_at_ms: null })
    .onConflict((oc) => oc.column('id').doUpdateSet({ url: n.url, capacity: n.capacity, started_at_ms: nowMs, heartbeat_at_ms: nowMs, stopped_at_ms: null }))
    .execute();
  return (await getNode(db, n.id))!;
}

/** The node's heartbeat; returns its row (draining or not), undefined when the row is gone. */
export async function beatHeart(db: Db, id: string, nowMs: number): Promise<NodeRow | undefined> {
  await db.updateTable('nodes').set({ heartbeat_at_ms: nowMs }).where('id', '=', id).execute();
  return getNode(db, id);
}

export async function getNode(db: Db, id: string): Promise<NodeRow | undefined> {
  const r = await db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirst();
  return r && toNode(r);
}

export async function listNodes(db: Db): Promise<NodeRow[]> {
  return (await db.selectFrom('nodes').selectAll().orderBy('id').execute()).map(toNode);
}

/** Asks a node to hand its cameras off (true) or to take cameras again (false). Returns whether the node exists. */
export async function setDraining(db: Db, id: string, draining: boolean): Promise<boolean> {
  const r = await db.updateTable('nodes').set({ draining: draining ? 1 : 0 }).where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** A clean stop: the node's row says so (it holds nothing from now on). */
export async function markStopped(db: Db, id: string, nowMs: number): Promise<void> {
  await db.updateTable('nodes').set({ stopped_at_ms: nowMs }).where('id', '=', id).execute();
}

/**
 * Gives the footage no node holds (rows written by a single Vigil, before its catalog was copied into a
 * cluster's) to `nodeId`, the node whose data dir holds those files. Returns the segment rows adopted.
 */
export async function adoptFootage(db: Db, nodeId: string): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const r = await trx.updateTable('segments').set({ node_id: nodeId }).where('node_id', 'is', null).executeTakeFirst();
    await trx.updateTable('segment_tombstones').set({ node_id: nodeId }).where('node_id', 'is', null).execute();
    return Number(r.numUpdatedRows);
  });
}

/** Pins a camera to a node (null: unpinned). Returns whether the camera exists. */
export async function pinCamera(db: Db, cameraId: string, nodeId: string | null): Promise<boolean> {
  const r = await db.updateTable('cameras').set({ pinned_node: nodeId }).where('id', '=', cameraId).where('deleted_at_ms', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Every camera that should record (enabled, not deleted), with its pin, its bitrate and its lease. */
export async function placementView(db: Db): Promise<PlacementCamera[]> {
  const rows = await db
    .selectFrom('cameras')
    .leftJoin('camera_leases', 'camera_leases.camera_id', 'cameras.id')
    .leftJoin('camera_status', 'camera_status.camera_id', 'cameras.id')
    .select([
      'cameras.id as id',
      'cameras.pinned_node as pinned_node',
      'camera_status.bitrate_bps as bitrate_bps',
      'camera_leases.node_id as node_id',
      'camera_leases.token as token',
      'camera_leases.acquired_at_ms as acquired_at_ms',
      'camera_leases.expires_at_ms as expires_at_ms',
    ])
    .where('cameras.deleted_at_ms', 'is', null)
    .where('cameras.enabled', '=', 1)
    .orderBy('cameras.id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    pinnedNode: r.pinned_node,
    bitrateBps: r.bitrate_bps ?? null,
    lease:
      r.token === null || r.token === undefined
        ? undefined
        : { cameraId: r.id, nodeId: r.node_id ?? null, token: r.token, acquiredAtMs: r.acquired_at_ms!, expiresAtMs: r.expires_at_ms! },
  }));
}

/** Every lease row (the API's and the CLI's view of who records what). */
export async function listLeases(db: Db): Promise<LeaseRow[]> {
  return (await db.selectFrom('camera_leases').selectAll().orderBy('camera_id').execute()).map(toLease);
}

/**
 * Takes a camera's lease for `nodeId` when it is free: never leased, released, or expired at `nowMs`.
 * One conditional statement (atomic on both engines; on PostgreSQL the candidate row is locked with
 * FOR UPDATE SKIP LOCKED, so two nodes after the same camera never wait on each other): of two nodes
 * racing for it, one gets it. The token grows by one at every acquisition (the fencing token).
 * Returns the new lease, undefined when another node holds it.
 */
export async function acquireLease(db: Db, cameraId: string, nodeId: string, nowMs: number, ttlMs: number): Promise<LeaseRow | undefined> {
  return db.transaction().execute(async (trx) => {
    let q = trx.selectFrom('camera_leases').selectAll().where('camera_id', '=', cameraId);
    if (engineOf(trx) === 'postgres') q = q.forUpdate().skipLocked();
    const cur = await q.executeTakeFirst();
    if (!cur) {
      const inserted = await trx
        .insertInto('camera_leases')
        .values({ camera_id: cameraId, node_id: nodeId, token: 1, acquired_at_ms: nowMs, expires_at_ms: nowMs + ttlMs })
        .onConflict((oc) => oc.column('camera_id').doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return undefined;
      return { cameraId, nodeId, token: 1, acquiredAtMs: nowMs, expiresAtMs: nowMs + ttlMs };
    }
    if (cur.node_id !== null && cur.node_id !== nodeId && cur.expires_at_ms >= nowMs) return undefined;
    const token = cur.token + 1;
    const r = await trx
      .updateTable('camera_leases')
      .set({ node_id: nodeId, token, acquired_at_ms: nowMs, expires_at_ms: nowMs + ttlMs })
      .where('camera_id', '=', cameraId)
      .where('token', '=', cur.token)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return undefined;
    return { cameraId, nodeId, token, acquiredAtMs: nowMs, expiresAtMs: nowMs + ttlMs };
  });
}

/**
 * Renews every lease `nodeId` still holds (expired ones too, as long as no other node took them) and
 * returns them: a camera missing from the answer was taken over (its new holder's token differs).
 */
export async function renewLeases(db: Db, nodeId: string, nowMs: number, ttlMs: number): Promise<LeaseRow[]> {
  return db.transaction().execute(async (trx) => {
    await trx.updateTable('camera_leases').set({ expires_at_ms: nowMs + ttlMs }).where('node_id', '=', nodeId).execute();
    return (await trx.selectFrom('camera_leases').selectAll().where('node_id', '=', nodeId).orderBy('camera_id').execute()).map(toLease);
  });
}

/** Gives a lease up (its holder stopped recording the camera): free for any node at once. */
export async function releaseLease(db: Db, cameraId: string, fence: Fence): Promise<boolean> {
  const r = await db
    .updateTable('camera_leases')
    .set({ node_id: null, expires_at_ms: 0 })
    .where('camera_id', '=', cameraId)
    .where('node_id', '=', fence.nodeId)
    .where('token', '=', fence.token)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/**
 * Whether `fence` is still the camera's lease (same node, same token). Called inside the transaction
 * that writes a segment row (invariant 14): on PostgreSQL that transaction holds the catalog lock, so
 * no acquisition can slip between this check and the row.
 */
export async function holdsLease(db: Db, cameraId: string, fence: Fence): Promise<boolean> {
  const r = await db.selectFrom('camera_leases').select(['node_id', 'token']).where('camera_id', '=', cameraId).executeTakeFirst();
  return r !== undefined && r.node_id === fence.nodeId && r.token === fence.token;
}
