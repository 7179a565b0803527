import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { checkAnrSettings } from './anr-replay.js';
import { checkMotionSettings, motionFromInput } from './motion-settings.js';
import { errorMessage, VigilError } from '../shared/errors.js';
import { CAMERA_DEFAULTS, NODE_ID_PATTERN, type CameraCreate } from './camera.schema.js';
import { ConfigFile } from './config.schema.js';
import { mqttConfigFrom, type MqttConfig } from './mqtt-config.js';
import { webhooksConfigFrom, type WebhooksConfig } from './webhooks-config.js';
import { backupConfigFrom, type BackupConfig } from './backup-config.js';
import { describeSchemaError } from './schema-errors.js';

export { ANR_DISABLED, type AnrPreset, type AnrSettings, type CameraConfig } from '../shared/camera-settings.js';
import { ANR_DISABLED, MOTION_DEFAULTS, type CameraConfig } from '../shared/camera-settings.js';

export interface RecorderConfig {
  ffmpegPath: string;
  rtspTimeoutSeconds: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** A run that lasted this long resets the backoff to its initial value. */
  healthyRunSeconds: number;
  /** A recorder with no new segment for max(3 × segment, this) is killed and restarted. */
  stallFloorSeconds: number;
  /**
   * Connected, but no new video for this long → the run is stopped gracefully and the camera
   * reconnected, so the silence becomes a recorded gap (a `camera_silent` event).
   */
  freezeSeconds: number;
  /** Graceful stop (SIGINT, last segment closed) before SIGKILL. */
  stopTimeoutMs: number;
}

export interface RetentionConfig {
  intervalSeconds: number;
  maxBytes: number | null;
  /** Free-space floor: absolute bytes, or a fraction of the disk (0.1 for "10%"). */
  minFree: { bytes: number } | { fraction: number };
  orphanGraceSeconds: number;
  batchSize: number;
}

export interface MediaConfig {
  maxJobs: number;
  /** Snapshot decoders kept idle ahead of need (`media.warm_decoders`). */
  warmDecoders: number;
  clipMaxSeconds: number;
  playbackMaxSeconds: number;
}

export interface AnrConfig {
  /** Refills running at once, over all cameras (one per camera at most). */
  maxConcurrent: number;
  /** Failed attempts before a gap is `failed` (a manual refill re-queues it). */
  maxAttempts: number;
  /** Wait this long after a gap is detected: cameras finalize their SD files late. */
  settleSeconds: number;
  scanIntervalSeconds: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** A refill is killed after the gap's length plus this. */
  timeoutMarginSeconds: number;
  /** Gaps looked at per scan. */
  batchSize: number;
}

export interface AuthConfig {
  sessionIdleMinutes: number;
  sessionMaxHours: number;
  lockoutFailures: number;
  lockoutMinutes: number;
  loginRatePerMinute: number;
}

export interface EvidenceConfig {
  signingKeyPath: string;
  exportsDir: string;
  maxExportJobs: number;
  exportMaxSeconds: number;
}

export interface Config {
  dataDir: string;
  listen: { host: string; port: number };
  logLevel: string;
  demo: 'auto' | boolean;
  /** PEM file paths when Vigil serves HTTPS itself. */
  tls: { certPath: string; keyPath: string } | null;
  trustProxy: boolean | number | string[];
  auth: AuthConfig;
  recorder: RecorderConfig;
  retention: RetentionConfig;
  media: MediaConfig;
  anr: AnrConfig;
  /** Prometheus `/metrics`: `public` lets anyone scrape it without an identity (default false). */
  metrics: { public: boolean };
  /** The site's IANA time zone: the console shows and takes every time in it. */
  site: { timeZone: string };
  evidence: EvidenceConfig;
  /** MQTT and Home Assistant discovery; null when `mqtt.url` is not set. */
  mqtt: MqttConfig | null;
  /** Signed webhooks: SSRF allowance, timeout, attempts and backoff. */
  webhooks: WebhooksConfig;
  /** ONVIF: the camera clock watch (0 disables it). */
  onvif: { clockCheckIntervalSeconds: number };
  /** Scheduled catalog backups; null when `backup:` is not set. */
  backup: BackupConfig | null;
  cameras: CameraConfig[];
  /** The PostgreSQL catalog's URL (`catalog.url`, env VIGIL_CATALOG_URL); undefined: SQLite in the data dir. */
  catalogUrl?: string | undefined;
  /** This node of a cluster (`cluster:`, needs the PostgreSQL catalog); null: a single Vigil. */
  cluster?: ClusterConfig | null;
  /** The file the config came from, if any. */
  source: string | null;
}

export interface ClusterConfig {
  /** This node's id (env VIGIL_NODE_ID wins over the file). */
  nodeId: string;
  /** Where the other nodes reach this one (env VIGIL_NODE_URL wins over the file). */
  url: string;
  /** Cameras this node records at most. */
  capacity: number;
  leaseTtlMs: number;
  heartbeatMs: number;
  /** Bytes of other nodes' segment files kept after a clip, export or playback read them. */
  cacheBytes: number;
}

export interface LoadOptions {
  /** Explicit `--config`; must exist. Without it `./vigil.yml` is read if present. */
  configPath?: string | undefined;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** CLI flags win over environment, which wins over the file. */
  overrides?: { dataDir?: string | undefined; listen?: string | undefined };
}

const DEFAULT_LISTEN = '127.0.0.1:8080';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(opts: LoadOptions = {}): Config {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  let source: string | null = null;
  let raw: unknown = {};
  const path = opts.configPath ? resolve(cwd, opts.configPath) : resolve(cwd, 'vigil.yml');
  if (opts.configPath || existsSync(path)) {
    if (!existsSync(path)) throw configError(`config file not found: ${path}`, 'config');
    source = path;
    try {
      raw = parseYaml(readFileSync(path, 'utf8')) ?? {};
    } catch (err) {
      throw configError(`${path}: not valid YAML: ${(err as Error).message}`, 'config');
    }
  }
  return buildConfig(raw, { source, cwd, env, overrides: opts.overrides ?? {} });
}

export function buildConfig(
  raw: unknown,
  ctx: { source: string | null; cwd: string; env: NodeJS.ProcessEnv; overrides: LoadOptions['overrides'] },
): Config {
  if (!Value.Check(ConfigFile, raw)) {
    const first = Value.Errors(ConfigFile, raw).First();
    const { field, message } = describeSchemaError(first);
    const where = ctx.source ? `${ctx.source}: ` : '';
    throw configError(`${where}${field}: ${message}`, field);
  }
  const file = raw;
  const env = (name: string) => ctx.env[name] || undefined; // an empty variable counts as unset
  const dataDirRaw = ctx.overrides?.dataDir ?? env('VIGIL_DATA_DIR') ?? file.data_dir ?? './vigil-data';
  const listenRaw = ctx.overrides?.listen ?? env('VIGIL_LISTEN') ?? file.listen ?? DEFAULT_LISTEN;
  const catalogUrl = env('VIGIL_CATALOG_URL') ?? file.catalog?.url;
  if (catalogUrl !== undefined && !/^postgres(ql)?:\/\//.test(catalogUrl)) throw configError('catalog.url: must be a postgres:// or postgresql:// URL', 'catalog.url');
  const listen = parseListen(listenRaw);
  const logLevel = env('VIGIL_LOG_LEVEL') ?? file.log_level ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw configError(`VIGIL_LOG_LEVEL: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`, 'VIGIL_LOG_LEVEL');
  }
  const cameras = (file.cameras ?? []).map(cameraFromInput);
  const ids = new Set<string>();
  cameras.forEach((c, i) => {
    try {
      checkAnrSettings(c.anr ?? ANR_DISABLED, c.mainUrl);
      checkMotionSettings(c.motion ?? MOTION_DEFAULTS, c.retentionHours, c.retentionHoursMotion ?? null);
    } catch (err) {
      const field = `cameras[${i}].${err instanceof VigilError && err.field ? err.field : 'anr_enabled'}`;
      throw configError(`${field}: ${errorMessage(err)}`, field);
    }
    if (ids.has(c.id)) throw configError(`cameras[${i}].id: duplicate camera id "${c.id}"`, `cameras[${i}].id`);
    ids.add(c.id);
  });
  const rec = file.recorder ?? {};
  const ret = file.retention ?? {};
  const anr = file.anr ?? {};
  const dataDir = isAbsolute(dataDirRaw) ? dataDirRaw : resolve(ctx.cwd, dataDirRaw);
  const ev = file.evidence ?? {};
  const config: Config = {
    dataDir,
    listen,
    logLevel,
    demo: file.demo ?? 'auto',
    tls: file.tls ? { certPath: resolve(ctx.cwd, file.tls.cert), keyPath: resolve(ctx.cwd, file.tls.key) } : null,
    trustProxy: file.trust_proxy ?? false,
    auth: {
      sessionIdleMinutes: file.auth?.session_idle_minutes ?? 12 * 60,
      sessionMaxHours: file.auth?.session_max_hours ?? 7 * 24,
      lockoutFailures: file.auth?.lockout_failures ?? 5,
      lockoutMinutes: file.auth?.lockout_minutes ?? 15,
      loginRatePerMinute: file.auth?.login_rate_per_minute ?? 20,
    },
    recorder: {
      ffmpegPath: rec.ffmpeg_path ?? 'ffmpeg',
      rtspTimeoutSeconds: rec.rtsp_timeout_seconds ?? 10,
      backoffInitialMs: rec.backoff_initial_ms ?? 1000,
      backoffMaxMs: rec.backoff_max_ms ?? 30_000,
      healthyRunSeconds: rec.healthy_run_seconds ?? 60,
      stallFloorSeconds: rec.stall_floor_seconds ?? 30,
      freezeSeconds: rec.freeze_seconds ?? 5,
      stopTimeoutMs: rec.stop_timeout_ms ?? 5000,
    },
    retention: {
      intervalSeconds: ret.interval_seconds ?? 300,
      maxBytes: ret.max_bytes ?? null,
      minFree:
        typeof ret.min_free_bytes === 'string'
          ? { fraction: Number(ret.min_free_bytes.slice(0, -1)) / 100 }
          : { bytes: ret.min_free_bytes ?? 5_000_000_000 },
      orphanGraceSeconds: ret.orphan_grace_seconds ?? 7200,
      batchSize: ret.batch_size ?? 500,
    },
    media: {
      maxJobs: file.media?.max_jobs ?? 4,
      warmDecoders: file.media?.warm_decoders ?? 1,
      clipMaxSeconds: file.media?.clip_max_seconds ?? 3600,
      playbackMaxSeconds: file.media?.playback_max_seconds ?? 86_400,
    },
    anr: {
      maxConcurrent: anr.max_concurrent ?? 2,
      maxAttempts: anr.max_attempts ?? 5,
      settleSeconds: anr.settle_seconds ?? 60,
      scanIntervalSeconds: anr.scan_interval_seconds ?? 60,
      backoffInitialMs: anr.backoff_initial_ms ?? 60_000,
      backoffMaxMs: anr.backoff_max_ms ?? 3_600_000,
      timeoutMarginSeconds: anr.timeout_margin_seconds ?? 30,
      batchSize: anr.batch_size ?? 20,
    },
    metrics: { public: file.metrics?.public ?? false },
    site: { timeZone: siteTimeZone(file.site?.time_zone) },
    evidence: {
      signingKeyPath: ev.signing_key_path ? resolve(ctx.cwd, ev.signing_key_path) : join(dataDir, 'keys', 'signing-key.pem'),
      exportsDir: ev.exports_dir ? resolve(ctx.cwd, ev.exports_dir) : join(dataDir, 'exports'),
      maxExportJobs: ev.max_export_jobs ?? 1,
      exportMaxSeconds: ev.export_max_seconds ?? 86_400,
    },
    mqtt: mqttConfigFrom(file.mqtt, ctx.cwd, env),
    webhooks: webhooksConfigFrom(file.webhooks),
    onvif: { clockCheckIntervalSeconds: file.onvif?.clock_check_interval_seconds ?? 3600 },
    backup: backupConfigFrom(file.backup, ctx.cwd),
    cameras,
    catalogUrl,
    cluster: clusterConfigFrom(file.cluster, env, catalogUrl),
    source: ctx.source,
  };
  return deepFreeze(config);
}

function clusterConfigFrom(c: ConfigFile['cluster'], env: (name: string) => string | undefined, catalogUrl: string | undefined): ClusterConfig | null {
  if (!c) return null;
  if (catalogUrl === undefined) throw configError('cluster: the nodes of a cluster share a PostgreSQL catalog: set catalog.url (or VIGIL_CATALOG_URL)', 'cluster');
  const nodeId = env('VIGIL_NODE_ID') ?? c.node_id;
  if (!new RegExp(NODE_ID_PATTERN).test(nodeId)) throw configError(`VIGIL_NODE_ID: "${nodeId}" is not a valid node id (lower-case letters, digits, - and _, at most 63)`, 'cluster.node_id');
  const url = (env('VIGIL_NODE_URL') ?? c.url).replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s/]+(\/.*)?$/.test(url)) throw configError(`cluster.url: "${url}" is not an http(s) URL`, 'cluster.url');
  const leaseTtlMs = (c.lease_ttl_seconds ?? 15) * 1000;
  const heartbeatMs = Math.round((c.heartbeat_seconds ?? leaseTtlMs / 3000) * 1000);
  if (heartbeatMs >= leaseTtlMs) throw configError('cluster.heartbeat_seconds: must be shorter than lease_ttl_seconds (a lease would lapse between two renewals)', 'cluster.heartbeat_seconds');
  return { nodeId, url, capacity: c.capacity ?? 64, leaseTtlMs, heartbeatMs, cacheBytes: (c.cache_mib ?? 2048) * 1024 * 1024 };
}

export function cameraFromInput(c: CameraCreate): CameraConfig {
  return {
    id: c.id,
    name: c.name ?? c.id,
    mainUrl: c.main_url,
    subUrl: c.sub_url ?? CAMERA_DEFAULTS.sub_url,
    segmentSeconds: c.segment_seconds ?? CAMERA_DEFAULTS.segment_seconds,
    retentionHours: c.retention_hours ?? CAMERA_DEFAULTS.retention_hours,
    storageQuotaBytes: c.storage_quota_bytes ?? CAMERA_DEFAULTS.storage_quota_bytes,
    enabled: c.enabled ?? CAMERA_DEFAULTS.enabled,
    anr: {
      enabled: c.anr_enabled ?? CAMERA_DEFAULTS.anr_enabled,
      replayUrlTemplate: c.anr_replay_url_template ?? CAMERA_DEFAULTS.anr_replay_url_template,
      timezone: c.anr_timezone ?? CAMERA_DEFAULTS.anr_timezone,
      preset: c.anr_preset ?? CAMERA_DEFAULTS.anr_preset,
    },
    onvifUrl: c.onvif_url ?? CAMERA_DEFAULTS.onvif_url,
    motion: motionFromInput(c.motion),
    retentionHoursMotion: c.retention_hours_motion ?? CAMERA_DEFAULTS.retention_hours_motion,
    audio: c.audio ?? CAMERA_DEFAULTS.audio,
  };
}

export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw configError(`listen: "${value}" is not host:port (e.g. 127.0.0.1:8080)`, 'listen');
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function configError(message: string, field: string): VigilError {
  return new VigilError('invalid_argument', `invalid configuration: ${message}`, { field });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** A named IANA zone (checked by the runtime's own zone data), or the server's when none is named. */
function siteTimeZone(name: string | undefined): string {
  if (name === undefined) return Intl.DateTimeFormat().resolvedOptions().timeZone;
  try {
    // Checked, and kept as the operator spelled it (ICU would answer Asia/Calcutta for Asia/Kolkata).
    new Intl.DateTimeFormat('en', { timeZone: name });
    return name;
  } catch {
    throw configError(`site.time_zone: "${name}" is not an IANA time zone (e.g. Europe/Berlin, UTC)`, 'site.time_zone');
  }
}
