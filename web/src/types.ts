/** The shapes the page reads from the API (snake_case, as the API speaks). */
export interface Camera {
  id: string;
  name: string;
  main_url: string;
  sub_url: string | null;
  segment_seconds: number;
  retention_hours: number | null;
  storage_quota_bytes: number | null;
  enabled: boolean;
  anr_enabled: boolean;
  anr_replay_url_template: string | null;
  anr_timezone: string;
  anr_preset: string | null;
  origin: string;
}

export interface CameraStatus {
  camera_id: string;
  state: string;
  last_error: string | null;
  bitrate_bps: number | null;
  fps: number | null;
  segments_written: number;
  last_segment_at: string | null;
  live_viewers?: number;
}

export interface Gap {
  id: number;
  gap_start: string;
  gap_end: string;
  seconds: number;
  fill_state: string;
}

export interface Timeline {
  spans: { start: string; end: string; segments: number }[];
  gaps: Gap[];
}

export interface Segment {
  id: number;
  start: string;
  end: string;
  source: string;
  evidence_locked: boolean;
  incident_id: string | null;
}

export interface VigilEvent {
  id: number;
  ts: string;
  type: string;
  severity: string;
  camera_id: string | null;
  payload: Record<string, unknown>;
}

export interface Me {
  user: { id: string | number; username: string; role: string; cameras: 'all' | string[] };
  capabilities: string[];
}
