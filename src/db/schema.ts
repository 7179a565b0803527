import type { Generated } from 'kysely';

/** Row types as Kysely sees them. Columns are documented in the migrations that create them. */
export interface CamerasTable {
  id: string;
  name: string;
  main_url: string;
  sub_url: string | null;
  segment_seconds: number;
  retention_hours: number | null;
  storage_quota_bytes: number | null;
  enabled: number;
  anr_enabled: Generated<number>;
  anr_replay_url_template: string | null;
  anr_timezone: Generated<string>;
  anr_preset: 'hikvision' | 'dahua' | 'generic' | null;
  /** ONVIF device service URL (may hold credentials, never printed); NULL = none (0008). */
  onvif_url: string | null;
  /** JSON motion settings (MotionConfig in snake_case); NULL = detection off (0009). */
  motion: string | null;
  /** Footage with motion kept this long; NULL = no separate rule (0009). */
  retention_hours_motion: number | null;
  /** Record the camera's audio: 'auto' or 'off' (0011). */
  audio: Generated<'auto' | 'off'>;
  /** The node an admin pinned the camera to; NULL = any (0012). */
  pinned_node: string | null;
  origin: 'config' | 'api' | 'demo';
  created_at_ms: number;
  updated_at_ms: number;
  deleted_at_ms: number | null;
}

export type CameraState = 'disabled' | 'connecting' | 'recording' | 'offline' | 'error';

export interface CameraStatusTable {
  camera_id: string;
  state: CameraState;
  pid: number | null;
  last_error: string | null;
  last_started_at_ms: number | null;
  reconnect_count: Generated<number>;
  segments_written: Generated<number>;
  last_segment_at_ms: number | null;
  bitrate_bps: number | null;
  fps: number | null;
  updated_at_ms: number;
}

export type SegmentSource = 'live' | 'recovered' | 'edge';

export interface SegmentsTable {
  id: Generated<number>;
  camera_id: string;
  path: string;
  start_ms: number;
  end_ms: number;
  duration_ms: number;
  size_bytes: number;
  codec: string | null;
  width: number | null;
  height: number | null;
  source: SegmentSource;
  locked: Generated<number>;
  evidence_locked: Generated<number>;
  incident_id: string | null;
  indexed_at_ms: number;
  sha256: string | null;
  chain_seq: number | null;
  chain_hash: string | null;
  media_offset_ms: Generated<number>;
  /** The node whose data dir holds the file; NULL = a single Vigil, no cluster (0012). */
  node_id: string | null;
  /** Fragments of the file that start with a keyframe, counted when it was indexed; NULL before 0015. */
  keyframe_fragments: number | null;
}

export type ChainLinkKind = 'segment' | 'deletion';

export interface ChainLinksTable {
  camera_id: string;
  seq: number;
  kind: ChainLinkKind;
  segment_id: number;
  target_seq: number | null;
  reason: string | null;
  start_ms: number;
  end_ms: number;
  size_bytes: number;
  sha256: string;
  prev_hash: string;
  chain_hash: string;
  signature: string | null;
  key_fingerprint: string | null;
  at_ms: number;
}

export interface ChainCheckpointsTable {
  camera_id: string;
  first_seq: number;
  prev_hash: string;
  signature: string;
  key_fingerprint: string;
  at_ms: number;
}

export interface SigningKeysTable {
  fingerprint: string;
  public_key_pem: string;
  created_at_ms: number;
  retired_at_ms: number | null;
}

export type ExportState = 'queued' | 'running' | 'done' | 'failed' | 'deleted';

export interface ExportsTable {
  id: string;
  state: ExportState;
  camera_ids: string;
  from_ms: number;
  to_ms: number;
  incident_id: string | null;
  reason: string;
  include_segments: Generated<number>;
  requested_by: string;
  request_id: string | null;
  progress: Generated<number>;
  size_bytes: number | null;
  sha256: string | null;
  manifest_sha256: string | null;
  error: string | null;
  attempts: Generated<number>;
  created_at_ms: number;
  started_at_ms: number | null;
  finished_at_ms: number | null;
  deleted_at_ms: number | null;
}

export type FillState = 'pending' | 'filling' | 'filled' | 'partial' | 'failed';

export interface RecordingGapsTable {
  id: Generated<number>;
  camera_id: string;
  gap_start_ms: number;
  gap_end_ms: number;
  fill_state: Generated<FillState>;
  fill_attempts: Generated<number>;
  last_error: string | null;
  detected_at_ms: number;
  next_attempt_at_ms: number | null;
}

export type Severity = 'info' | 'warning' | 'critical';

export interface EventsTable {
  id: Generated<number>;
  ts_ms: number;
  type: string;
  severity: Severity;
  camera_id: string | null;
  payload: string;
  request_id: string | null;
}

export type DeleteReason = 'age' | 'camera_quota' | 'global_cap' | 'disk_floor' | 'orphan' | 'repair';

export interface SegmentTombstonesTable {
  path: string;
  camera_id: string;
  segment_id: number;
  size_bytes: number;
  reason: DeleteReason;
  created_at_ms: number;
  /** The node whose data dir holds the file; NULL = a single Vigil (0012). */
  node_id: string | null;
}

export type Role = 'admin' | 'operator' | 'viewer';

export interface UsersTable {
  id: Generated<number>;
  username: string;
  password_hash: string;
  role: Role;
  cameras: string | null;
  disabled: Generated<number>;
  created_at_ms: number;
  updated_at_ms: number;
  password_changed_at_ms: number;
}

export interface SessionsTable {
  token_sha256: string;
  user_id: number;
  created_at_ms: number;
  last_seen_at_ms: number;
  expires_at_ms: number;
  client_addr: string | null;
}

export interface ApiKeysTable {
  id: Generated<number>;
  name: string;
  key_sha256: string;
  prefix: string;
  role: Role;
  capabilities: string | null;
  cameras: string | null;
  created_by: number | null;
  created_at_ms: number;
  expires_at_ms: number | null;
  revoked_at_ms: number | null;
  last_used_at_ms: number | null;
}

export interface LoginFailuresTable {
  username: string;
  failures: number;
  first_failure_at_ms: number;
  locked_until_ms: number | null;
}

export type AuditOutcome = 'success' | 'denied' | 'failure';

export interface AuditLogTable {
  id: Generated<number>;
  ts_ms: number;
  actor_kind: 'user' | 'api_key' | 'anonymous' | 'system';
  actor_id: number | null;
  actor_name: string | null;
  action: string;
  target: string | null;
  request_id: string | null;
  client_addr: string | null;
  outcome: AuditOutcome;
  status_code: number | null;
  detail: string | null;
}

export interface WebhooksTable {
  id: Generated<number>;
  name: string;
  url: string;
  secret: string;
  event_types: string | null;
  min_severity: Severity;
  cameras: string | null;
  enabled: number;
  cursor_event_id: number;
  created_at_ms: number;
  updated_at_ms: number;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'abandoned';

export interface WebhookDeliveriesTable {
  id: string;
  webhook_id: number;
  event_id: number;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at_ms: number | null;
  last_attempt_at_ms: number | null;
  last_error: string | null;
  response_code: number | null;
  created_at_ms: number;
  updated_at_ms: number;
  delivered_at_ms: number | null;
}

export interface MotionIntervalsTable {
  id: Generated<number>;
  camera_id: string;
  start_ms: number;
  end_ms: number;
  peak_score: number;
  peak_at_ms: number;
  /** Sorted zone names joined by ','; '' for none. */
  zones: Generated<string>;
  has_thumbnail: Generated<number>;
  created_at_ms: number;
}

export interface MotionZonesTable {
  interval_id: number;
  zone: string;
}

export interface MotionThumbnailsTable {
  interval_id: number;
  jpeg: Uint8Array;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  api_keys: ApiKeysTable;
  login_failures: LoginFailuresTable;
  audit_log: AuditLogTable;
  segment_tombstones: SegmentTombstonesTable;
  cameras: CamerasTable;
  camera_status: CameraStatusTable;
  segments: SegmentsTable;
  recording_gaps: RecordingGapsTable;
  events: EventsTable;
  chain_links: ChainLinksTable;
  chain_checkpoints: ChainCheckpointsTable;
  signing_keys: SigningKeysTable;
  exports: ExportsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  motion_intervals: MotionIntervalsTable;
  motion_zones: MotionZonesTable;
  motion_thumbnails: MotionThumbnailsTable;
  nodes: NodesTable;
  camera_leases: CameraLeasesTable;
  cluster_keys: ClusterKeysTable;
}

/** The nodes' shared request-signing key (0012). */
export interface ClusterKeysTable {
  id: number;
  secret: string;
  created_at_ms: number;
}

/** A recording node of a cluster (0012). */
export interface NodesTable {
  id: string;
  url: string;
  capacity: number;
  draining: Generated<number>;
  started_at_ms: number;
  heartbeat_at_ms: number;
  stopped_at_ms: number | null;
}

/** Which node records a camera, until when, under which fencing token (0012). */
export interface CameraLeasesTable {
  camera_id: string;
  node_id: string | null;
  token: number;
  acquired_at_ms: number;
  expires_at_ms: number;
}
