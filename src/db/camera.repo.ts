import type { Selectable } from 'kysely';
import { ANR_DISABLED, MOTION_DEFAULTS, type AnrSettings, type CameraAudio, type CameraConfig, type MotionConfig } from '../shared/camera-settings.js';
import type { Db } from './connection.js';
import { prepared } from './prepared.js';
import type { CamerasTable } from './schema.js';

export interface CameraRow extends CameraConfig {
  anr: AnrSettings;
  audio: CameraAudio;
  motion: MotionConfig;
  retentionHoursMotion: number | null;
  origin: CamerasTable['origin'];
  /** The cluster node an admin pinned the camera to (null: any node may record it). */
  pinnedNode: string | null;
  /** The cluster node holding the camera's lease (null: a single Vigil, or no node holds it now). */
  recordingNode: string | null;
  createdAtMs: number;
  updatedAtMs: number;
}

/** Motion settings as stored: the snake_case of the config file and the API. */
function motionToJson(m: MotionConfig | undefined): string | null {
  if (!m) return null;
  return JSON.stringify({
    enabled: m.enabled,
    sensitivity: m.sensitivity,
    min_area_percent: m.minAreaPercent,
    fps: m.fps,
    masks: m.masks,
    zones: m.zones,
    post_roll_seconds: m.postRollSeconds,
  });
}

function motionFromJson(text: string | null): MotionConfig {
  if (text === null) return MOTION_DEFAULTS;
  const j = JSON.parse(text) as Record<string, unknown>;
  return {
    enabled: j.enabled === true,
    sensitivity: Number(j.sensitivity ?? MOTION_DEFAULTS.sensitivity),
    minAreaPercent: Number(j.min_area_percent ?? MOTION_DEFAULTS.minAreaPercent),
    fps: Number(j.fps ?? MOTION_DEFAULTS.fps),
    masks: (j.masks as MotionConfig['masks'] | undefined) ?? [],
    zones: (j.zones as MotionConfig['zones'] | undefined) ?? [],
    postRollSeconds: Number(j.post_roll_seconds ?? MOTION_DEFAULTS.postRollSeconds),
  };
}

function toCamera(r: Selectable<CamerasTable> & { lease_node?: string | null }): CameraRow {
  return {
    id: r.id,
    name: r.name,
    mainUrl: r.main_url,
    subUrl: r.sub_url,
    segmentSeconds: r.segment_seconds,
    retentionHours: r.retention_hours,
    storageQuotaBytes: r.storage_quota_bytes,
    enabled: r.enabled === 1,
    anr: {
      enabled: r.anr_enabled === 1,
      replayUrlTemplate: r.anr_replay_url_template,
      timezone: r.anr_timezone,
      preset: r.anr_preset,
    },
    onvifUrl: r.onvif_url,
    motion: motionFromJson(r.motion),
    retentionHoursMotion: r.retention_hours_motion,
    audio: r.audio === 'off' ? 'off' : 'auto',
    origin: r.origin,
    pinnedNode: r.pinned_node,
    recordingNode: r.lease_node ?? null,
    createdAtMs: r.created_at_ms,
    updatedAtMs: r.updated_at_ms,
  };
}

function toColumns(c: CameraConfig) {
  const anr = c.anr ?? ANR_DISABLED;
  return {
    anr_enabled: anr.enabled ? 1 : 0,
    anr_replay_url_template: anr.replayUrlTemplate,
    anr_timezone: anr.timezone,
    anr_preset: anr.preset,
    onvif_url: c.onvifUrl ?? null,
    motion: motionToJson(c.motion),
    retention_hours_motion: c.retentionHoursMotion ?? null,
    audio: c.audio ?? 'auto',
    name: c.name,
    main_url: c.mainUrl,
    sub_url: c.subUrl,
    segment_seconds: c.segmentSeconds,
    retention_hours: c.retentionHours,
    storage_quota_bytes: c.storageQuotaBytes,
    enabled: c.enabled ? 1 : 0,
  };
}

/** Cameras that are not deleted, ordered by id. */
export async function listCameras(db: Db): Promise<CameraRow[]> {
  const rows = await withLease(db).where('cameras.deleted_at_ms', 'is', null).orderBy('cameras.id').execute();
  return rows.map(toCamera);
}

export async function getCamera(db: Db, id: string): Promise<CameraRow | undefined> {
  const row = await withLease(db).where('cameras.id', '=', id).where('cameras.deleted_at_ms', 'is', null).executeTakeFirst();
  return row && toCamera(row);
}

/** Cameras with the node holding each one's lease (cluster; none on a single Vigil). */
function withLease(db: Db) {
  return db.selectFrom('cameras').leftJoin('camera_leases', 'camera_leases.camera_id', 'cameras.id').selectAll('cameras').select('camera_leases.node_id as lease_node');
}

/** True when a camera (not deleted) has this id: the scope and existence checks of every request, one indexed column read. */
export async function cameraExists(db: Db, id: string): Promise<boolean> {
  return (await cameraExistsQuery(db, { id })).length > 0;
}

const cameraExistsQuery = prepared((db, v: { id: string }) => db.selectFrom('cameras').select('id').where('id', '=', v.id).where('deleted_at_ms', 'is', null));

/** True when the id exists, deleted or not (footage of a deleted camera still carries its id). */
export async function cameraIdTaken(db: Db, id: string): Promise<{ live: boolean; deleted: boolean }> {
  const row = await db.selectFrom('cameras').select('deleted_at_ms').where('id', '=', id).executeTakeFirst();
  return { live: !!row && row.deleted_at_ms === null, deleted: !!row && row.deleted_at_ms !== null };
}

/**
 * Inserts a camera, or revives a deleted one with the same id (its kept footage stays attached).
 * Fails with a UNIQUE error if a live camera has the id; callers check first.
 */
export async function insertCamera(db: Db, c: CameraConfig, origin: CamerasTable['origin'], nowMs: number): Promise<CameraRow> {
  const cols = toColumns(c);
  await db
    .insertInto('cameras')
    .values({ id: c.id, ...cols, origin, created_at_ms: nowMs, updated_at_ms: nowMs, deleted_at_ms: null })
    .onConflict((oc) =>
      oc
        .column('id')
        .doUpdateSet({ ...cols, origin, updated_at_ms: nowMs, deleted_at_ms: null })
        .where('cameras.deleted_at_ms', 'is not', null),
    )
    .execute();
  const row = await getCamera(db, c.id);
  if (!row) throw new Error(`camera ${c.id} vanished after insert`);
  return row;
}

/** Declared by the file (or the built-in demo): the declaration wins at every start. */
export async function upsertDeclaredCamera(db: Db, c: CameraConfig, origin: 'config' | 'demo', nowMs: number): Promise<void> {
  const cols = toColumns(c);
  await db
    .insertInto('cameras')
    .values({ id: c.id, ...cols, origin, created_at_ms: nowMs, updated_at_ms: nowMs, deleted_at_ms: null })
    .onConflict((oc) => oc.column('id').doUpdateSet({ ...cols, origin, updated_at_ms: nowMs, deleted_at_ms: null }))
    .execute();
}

export async function updateCamera(db: Db, c: CameraConfig, nowMs: number): Promise<number> {
  const res = await db
    .updateTable('cameras')
    .set({ ...toColumns(c), updated_at_ms: nowMs })
    .where('id', '=', c.id)
    .where('deleted_at_ms', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** Soft delete: the row stays so that segments keep their camera; returns rows affected. */
export async function deleteCamera(db: Db, id: string, nowMs: number): Promise<number> {
  const res = await db
    .updateTable('cameras')
    .set({ deleted_at_ms: nowMs, enabled: 0, updated_at_ms: nowMs })
    .where('id', '=', id)
    .where('deleted_at_ms', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

export async function setDemoCamerasEnabled(db: Db, enabled: boolean, nowMs: number): Promise<void> {
  await db
    .updateTable('cameras')
    .set({ enabled: enabled ? 1 : 0, updated_at_ms: nowMs })
    .where('origin', '=', 'demo')
    .where('deleted_at_ms', 'is', null)
    .execute();
}
