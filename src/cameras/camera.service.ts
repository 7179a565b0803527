import { checkAnrSettings } from '../config/anr-replay.js';
import type { CameraCreate, CameraPatch } from '../config/camera.schema.js';
import { ANR_DISABLED, cameraFromInput, type AnrSettings, type CameraConfig } from '../config/config.js';
import { checkMotionSettings, motionFromInput } from '../config/motion-settings.js';
import { cameraFieldsChanged } from '../config/reload.js';
import { MOTION_DEFAULTS } from '../shared/camera-settings.js';
import type { Db } from '../db/connection.js';
import {
  cameraIdTaken,
  deleteCamera,
  getCamera,
  insertCamera,
  listCameras,
  updateCamera,
  upsertDeclaredCamera,
  type CameraRow,
} from '../db/camera.repo.js';
import type { EventLog } from '../events/event-log.js';
import type { Actor } from '../shared/actor.js';
import type { Clock } from '../shared/clock.js';
import { conflict, notFound } from '../shared/errors.js';
import { maskUrl } from '../shared/redact.js';
import type { RecorderManager } from '../recorder/recorder-manager.js';
import type { Fence } from '../db/cluster.repo.js';

export type { Actor };

/** Camera management: the cameras table, its events, and keeping recorders in step with it. */
export class CameraService {
  constructor(
    private readonly d: {
      db: Db;
      clock: Clock;
      events: EventLog;
      recorders: RecorderManager;
      motion?: { sync(cameras: CameraRow[]): Promise<void> };
      /** In a cluster: the cameras this node holds leases on (only those record here) and a nudge to place new ones. */
      placement?: { fences(): ReadonlyMap<string, Fence>; kick(): void };
    },
  ) {}

  list(): Promise<CameraRow[]> {
    return listCameras(this.d.db);
  }

  async get(id: string): Promise<CameraRow> {
    const cam = await getCamera(this.d.db, id);
    if (!cam) throw notFound(`camera "${id}" not found`, 'id');
    return cam;
  }

  async create(input: CameraCreate, actor: Actor): Promise<CameraRow> {
    const taken = await cameraIdTaken(this.d.db, input.id);
    if (taken.live) throw conflict(`camera "${input.id}" already exists`, 'id');
    const config = cameraFromInput(input);
    checkAnrSettings(config.anr ?? ANR_DISABLED, config.mainUrl);
    checkMotionSettings(config.motion ?? MOTION_DEFAULTS, config.retentionHours, config.retentionHoursMotion ?? null);
    const cam = await insertCamera(this.d.db, config, 'api', this.d.clock.nowMs());
    await this.d.events.emit({
      type: 'camera_created',
      cameraId: cam.id,
      requestId: actor.requestId,
      payload: { main_url: maskUrl(cam.mainUrl), enabled: cam.enabled, revived: taken.deleted },
    });
    await this.syncRecorders();
    return cam;
  }

  async update(id: string, patch: CameraPatch, actor: Actor): Promise<CameraRow> {
    const cur = await this.get(id);
    const anr: AnrSettings = {
      enabled: patch.anr_enabled ?? cur.anr.enabled,
      replayUrlTemplate: patch.anr_replay_url_template === undefined ? cur.anr.replayUrlTemplate : patch.anr_replay_url_template,
      timezone: patch.anr_timezone ?? cur.anr.timezone,
      preset: patch.anr_preset === undefined ? cur.anr.preset : patch.anr_preset,
    };
    const next: CameraConfig = {
      id,
      name: patch.name ?? cur.name,
      mainUrl: patch.main_url ?? cur.mainUrl,
      subUrl: patch.sub_url === undefined ? cur.subUrl : patch.sub_url,
      segmentSeconds: patch.segment_seconds ?? cur.segmentSeconds,
      retentionHours: patch.retention_hours === undefined ? cur.retentionHours : patch.retention_hours,
      storageQuotaBytes: patch.storage_quota_bytes === undefined ? cur.storageQuotaBytes : patch.storage_quota_bytes,
      enabled: patch.enabled ?? cur.enabled,
      anr,
      onvifUrl: patch.onvif_url === undefined ? (cur.onvifUrl ?? null) : patch.onvif_url,
      motion: motionFromInput(patch.motion, cur.motion),
      retentionHoursMotion: patch.retention_hours_motion === undefined ? cur.retentionHoursMotion : patch.retention_hours_motion,
      audio: patch.audio ?? cur.audio,
    };
    // The settings are checked as a whole: a patch may make another field's value wrong (e.g. a
    // main_url without the path a preset needs), and the error names the field to fix.
    checkAnrSettings(anr, next.mainUrl);
    checkMotionSettings(next.motion ?? MOTION_DEFAULTS, next.retentionHours, next.retentionHoursMotion ?? null);
    if ((await updateCamera(this.d.db, next, this.d.clock.nowMs())) === 0) throw notFound(`camera "${id}" not found`, 'id');
    await this.d.events.emit({
      type: 'camera_updated',
      cameraId: id,
      requestId: actor.requestId,
      payload: { fields: Object.keys(patch).sort() },
    });
    await this.syncRecorders();
    return this.get(id);
  }

  /** Stops recording and hides the camera; its footage stays until retention removes it. */
  async delete(id: string, actor: Actor): Promise<void> {
    if ((await deleteCamera(this.d.db, id, this.d.clock.nowMs())) === 0) throw notFound(`camera "${id}" not found`, 'id');
    await this.d.events.emit({ type: 'camera_deleted', cameraId: id, requestId: actor.requestId, payload: {} });
    await this.syncRecorders();
  }

  /**
   * The cameras of a re-read config file, applied as start-up applies the file (the file wins): each
   * camera of `declared` is written as the file says, each id of `removed` that the file still owns
   * (origin `config`) is deleted. Then one recorder sync: only the recorders whose recording settings
   * changed get a new ffmpeg. Returns the ids deleted.
   */
  async applyFromFile(declared: CameraConfig[], removed: string[]): Promise<string[]> {
    for (const c of declared) {
      const before = await getCamera(this.d.db, c.id);
      await upsertDeclaredCamera(this.d.db, c, 'config', this.d.clock.nowMs());
      await this.d.events.emit(
        before
          ? { type: 'camera_updated', cameraId: c.id, requestId: null, payload: { fields: cameraFieldsChanged(before, c), origin: 'config' } }
          : { type: 'camera_created', cameraId: c.id, requestId: null, payload: { main_url: maskUrl(c.mainUrl), enabled: c.enabled, origin: 'config' } },
      );
    }
    const deleted: string[] = [];
    for (const id of removed) {
      // A camera the API took over, or deleted already, is no longer the file's to remove.
      if ((await getCamera(this.d.db, id))?.origin !== 'config') continue;
      if ((await deleteCamera(this.d.db, id, this.d.clock.nowMs())) === 0) continue;
      deleted.push(id);
      await this.d.events.emit({ type: 'camera_deleted', cameraId: id, requestId: null, payload: { origin: 'config' } });
    }
    await this.syncRecorders();
    return deleted;
  }

  /** Recorders and motion detectors in step with the cameras table (in a cluster, with this node's leases). */
  async syncRecorders(): Promise<void> {
    const cams = await this.list();
    const fences = this.d.placement?.fences();
    await this.d.recorders.sync(cams, fences);
    await this.d.motion?.sync(fences ? cams.filter((c) => fences.has(c.id)) : cams);
    // A camera created, enabled or disabled: the cluster places it (or frees its lease) now, not at the next heartbeat.
    this.d.placement?.kick();
  }
}
