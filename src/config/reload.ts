import { ANR_DISABLED, type CameraConfig, type Config } from './config.js';
import { MOTION_DEFAULTS } from '../shared/camera-settings.js';

/** A camera of the new file that differs from the old file's, and the fields (as the file spells them) that differ. */
export interface CameraChange {
  camera: CameraConfig;
  fields: string[];
}

/** What a re-read config file changes, compared with the one Vigil runs with. */
export interface ConfigChanges {
  /** Cameras in the new file and not in the old one. */
  added: CameraConfig[];
  /** Ids of cameras in the old file and not in the new one. */
  removed: string[];
  /** Cameras in both whose settings differ. */
  changed: CameraChange[];
  /** Whether the `retention:` section differs. */
  retention: boolean;
  /**
   * Top-level keys that differ but take effect only at the next start (`listen`, `data_dir`, `tls`,
   * `recorder`, …): the HTTP server, the catalog and the services were built from them.
   */
  needRestart: string[];
}

/** The keys a running Vigil applies on reload; `source` (the file's path) is no setting. */
const APPLIED_LIVE = new Set<keyof Config>(['cameras', 'retention', 'source']);

/** Compares two loaded configs: the cameras by id, the retention section, and what else differs. */
export function diffConfigs(current: Config, next: Config): ConfigChanges {
  const before = new Map(current.cameras.map((c) => [c.id, c]));
  const after = new Map(next.cameras.map((c) => [c.id, c]));
  const changed: CameraChange[] = [];
  for (const [id, cam] of after) {
    const old = before.get(id);
    if (!old) continue;
    const fields = cameraFieldsChanged(old, cam);
    if (fields.length > 0) changed.push({ camera: cam, fields });
  }
  const needRestart = (Object.keys(next) as Array<keyof Config>)
    .filter((k) => !APPLIED_LIVE.has(k) && JSON.stringify(current[k]) !== JSON.stringify(next[k]))
    .map(fileKey);
  return {
    added: next.cameras.filter((c) => !before.has(c.id)),
    removed: current.cameras.filter((c) => !after.has(c.id)).map((c) => c.id),
    changed,
    retention: JSON.stringify(current.retention) !== JSON.stringify(next.retention),
    needRestart,
  };
}

/** True when nothing the file says differs. */
export function isUnchanged(c: ConfigChanges): boolean {
  return c.added.length + c.removed.length + c.changed.length + c.needRestart.length === 0 && !c.retention;
}

/** The camera settings that differ between `a` and `b`, named as in the config file and the API (`main_url`, `anr_preset`, …). */
export function cameraFieldsChanged(a: CameraConfig, b: CameraConfig): string[] {
  const flat = (c: CameraConfig): Record<string, unknown> => {
    const anr = c.anr ?? ANR_DISABLED;
    return {
      name: c.name,
      main_url: c.mainUrl,
      sub_url: c.subUrl,
      segment_seconds: c.segmentSeconds,
      retention_hours: c.retentionHours,
      storage_quota_bytes: c.storageQuotaBytes,
      enabled: c.enabled,
      anr_enabled: anr.enabled,
      anr_replay_url_template: anr.replayUrlTemplate,
      anr_timezone: anr.timezone,
      anr_preset: anr.preset,
      onvif_url: c.onvifUrl ?? null,
      motion: JSON.stringify(c.motion ?? MOTION_DEFAULTS),
      retention_hours_motion: c.retentionHoursMotion ?? null,
      audio: c.audio ?? 'auto',
    };
  };
  const fa = flat(a);
  const fb = flat(b);
  return Object.keys(fa).filter((k) => fa[k] !== fb[k]);
}

/** `dataDir` → `data_dir`: the name the operator wrote. */
function fileKey(key: string): string {
  return key.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);
}
