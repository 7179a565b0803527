import type { Selectable } from 'kysely';
import type { Db } from './connection.js';
import type { CameraState, CameraStatusTable } from './schema.js';
import { redactUrl } from '../shared/redact.js';

/** `last_error` keeps the tail: the end of ffmpeg's stderr says why it died. */
export const LAST_ERROR_MAX_CHARS = 800;

export function errorTail(text: string | null): string | null {
  if (text === null) return null;
  // Defence in depth: whatever a caller passes, the catalog never stores a URL's password.
  const t = redactUrl(text.trim());
  return t.length <= LAST_ERROR_MAX_CHARS ? t : `…${t.slice(-(LAST_ERROR_MAX_CHARS - 1))}`;
}

export interface CameraStatus {
  cameraId: string;
  state: CameraState;
  pid: number | null;
  lastError: string | null;
  lastStartedAtMs: number | null;
  reconnectCount: number;
  segmentsWritten: number;
  lastSegmentAtMs: number | null;
  bitrateBps: number | null;
  fps: number | null;
  updatedAtMs: number;
}

function toStatus(r: Selectable<CameraStatusTable>): CameraStatus {
  return {
    cameraId: r.camera_id,
    state: r.state,
    pid: r.pid,
    lastError: r.last_error,
    lastStartedAtMs: r.last_started_at_ms,
    reconnectCount: r.reconnect_count,
    segmentsWritten: r.segments_written,
    lastSegmentAtMs: r.last_segment_at_ms,
    bitrateBps: r.bitrate_bps,
    fps: r.fps,
    updatedAtMs: r.updated_at_ms,
  };
}

export async function getStatus(db: Db, cameraId: string): Promise<CameraStatus | undefined> {
  const r = await db.selectFrom('camera_status').selectAll().where('camera_id', '=', cameraId).executeTakeFirst();
  return r && toStatus(r);
}

export async function listStatuses(db: Db): Promise<CameraStatus[]> {
  return (await db.selectFrom('camera_status').selectAll().execute()).map(toStatus);
}

/**
 * Upsert the status row with a state and last error. Never touches the counters.
 * `lastError` undefined keeps the current one; null clears it.
 */
export async function setState(
  db: Db,
  cameraId: string,
  state: CameraState,
  lastError: string | null | undefined,
  nowMs: number,
): Promise<void> {
  const err = lastError === undefined ? undefined : errorTail(lastError);
  await db
    .insertInto('camera_status')
    .values({ camera_id: cameraId, state, last_error: err ?? null, updated_at_ms: nowMs })
    .onConflict((oc) =>
      oc.column('camera_id').doUpdateSet(err === undefined ? { state, updated_at_ms: nowMs } : { state, last_error: err, updated_at_ms: nowMs }),
    )
    .execute();
}

/** The recorder process started: state, pid, last_started_at. Counters untouched. */
export async function setRunning(db: Db, cameraId: string, state: CameraState, pid: number, startedAtMs: number): Promise<void> {
  await db
    .insertInto('camera_status')
    .values({ camera_id: cameraId, state, pid, last_started_at_ms: startedAtMs, updated_at_ms: startedAtMs })
    .onConflict((oc) => oc.column('camera_id').doUpdateSet({ state, pid, last_started_at_ms: startedAtMs, updated_at_ms: startedAtMs }))
    .execute();
}

/** The recorder was stopped on purpose (disabled, deleted, shutdown): state and no pid. Counters untouched. */
export async function setStopped(db: Db, cameraId: string, state: CameraState, nowMs: number): Promise<void> {
  await db
    .insertInto('camera_status')
    .values({ camera_id: cameraId, state, pid: null, updated_at_ms: nowMs })
    .onConflict((oc) => oc.column('camera_id').doUpdateSet({ state, pid: null, updated_at_ms: nowMs }))
    .execute();
}

/** The recorder exited and will be restarted: count it, clear the pid, keep why. */
export async function bumpReconnect(db: Db, cameraId: string, state: CameraState, lastError: string | null, nowMs: number): Promise<void> {
  const err = errorTail(lastError);
  await db
    .insertInto('camera_status')
    .values({ camera_id: cameraId, state, pid: null, last_error: err, reconnect_count: 1, updated_at_ms: nowMs })
    .onConflict((oc) =>
      oc.column('camera_id').doUpdateSet((eb) => ({
        state,
        pid: null,
        last_error: err,
        reconnect_count: eb('camera_status.reconnect_count', '+', 1),
        updated_at_ms: nowMs,
      })),
    )
    .execute();
}

/**
 * A segment was indexed: `segments_written` moves forward by one, `last_segment_at` to the segment's
 * end unless a later one is already there (an edge refill lands in the past: it never moves back).
 * `measured` (the live bitrate and fps) is given for live footage only: an
 * edge-refilled segment says nothing about what the camera sends now.
 */
export async function recordSegmentIndexed(
  db: Db,
  cameraId: string,
  segmentEndMs: number,
  measured: { bitrateBps: number | null; fps: number | null } | undefined,
  nowMs: number,
): Promise<void> {
  await db
    .insertInto('camera_status')
    .values({
      camera_id: cameraId,
      state: 'recording',
      segments_written: 1,
      last_segment_at_ms: segmentEndMs,
      bitrate_bps: measured?.bitrateBps ?? null,
      fps: measured?.fps ?? null,
      updated_at_ms: nowMs,
    })
    .onConflict((oc) =>
      oc.column('camera_id').doUpdateSet((eb) => ({
        segments_written: eb('camera_status.segments_written', '+', 1),
        last_segment_at_ms: eb
          .case()
          .when(eb.or([eb('camera_status.last_segment_at_ms', 'is', null), eb('camera_status.last_segment_at_ms', '<', segmentEndMs)]))
          // Bound, not written into the SQL: a literal made every segment's upsert a statement of its own.
          .then(eb.val(segmentEndMs))
          .else(eb.ref('camera_status.last_segment_at_ms'))
          .end(),
        ...(measured ? { bitrate_bps: measured.bitrateBps, fps: measured.fps } : {}),
        updated_at_ms: nowMs,
      })),
    )
    .execute();
}

/** Pids a previous run left in the table: candidates for orphan ffmpeg processes after a crash. */
export async function listRecordedPids(db: Db): Promise<Array<{ cameraId: string; pid: number }>> {
  const rows = await db.selectFrom('camera_status').select(['camera_id', 'pid']).where('pid', 'is not', null).execute();
  return rows.map((r) => ({ cameraId: r.camera_id, pid: r.pid as number }));
}

export async function clearPids(db: Db, nowMs: number, nodeId?: string): Promise<void> {
  // In a cluster, only the cameras this node held: the others' recorders run on other nodes.
  let a = db.updateTable('camera_status').set({ pid: null, updated_at_ms: nowMs }).where('pid', 'is not', null);
  let b = db.updateTable('camera_status').set({ state: 'connecting', updated_at_ms: nowMs }).where('state', '=', 'recording');
  if (nodeId !== undefined) {
    a = a.where('camera_id', 'in', db.selectFrom('camera_leases').select('camera_id').where('node_id', '=', nodeId));
    b = b.where('camera_id', 'in', db.selectFrom('camera_leases').select('camera_id').where('node_id', '=', nodeId));
  }
  await a.execute();
  // After a crash no recorder runs yet: a camera last seen recording is connecting until its recorder says otherwise.
  await b.execute();
}
