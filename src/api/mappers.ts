import type { CameraStatus } from '../db/camera-status.repo.js';
import type { CameraRow } from '../db/camera.repo.js';
import type { Incident } from '../db/evidence.repo.js';
import type { EventRow } from '../db/event.repo.js';
import type { Gap } from '../db/gap.repo.js';
import type { Segment } from '../db/segment.repo.js';
import type { LiveStats } from '../live/live-hub.js';
import type { RangeHold } from '../footage/evidence.service.js';
import { maskUrl, redactUrl } from '../shared/redact.js';
import { effectiveTemplate } from '../config/anr-replay.js';
import { toIso, toIsoOrNull } from '../shared/time.js';

/** The replay URL template a refill uses (a preset's, filled from the main URL, or the written one), masked. */
function effectiveReplay(c: CameraRow): string | null {
  try {
    const t = effectiveTemplate(c.anr, c.mainUrl);
    return t === null ? null : maskUrl(t);
  } catch {
    return null; // a main URL a preset cannot read: the camera's settings check says so when it is saved
  }
}

/** Rows → JSON: snake_case, ISO-8601 times, credentials masked. */
export const cameraOut = (c: CameraRow) => ({
  id: c.id,
  name: c.name,
  main_url: maskUrl(c.mainUrl),
  sub_url: c.subUrl === null ? null : maskUrl(c.subUrl),
  segment_seconds: c.segmentSeconds,
  retention_hours: c.retentionHours,
  storage_quota_bytes: c.storageQuotaBytes,
  enabled: c.enabled,
  anr_enabled: c.anr.enabled,
  anr_replay_url_template: c.anr.replayUrlTemplate === null ? null : maskUrl(c.anr.replayUrlTemplate),
  anr_timezone: c.anr.timezone,
  anr_preset: c.anr.preset,
  anr_replay_url_effective: effectiveReplay(c),
  onvif_url: c.onvifUrl ? maskUrl(c.onvifUrl) : null,
  motion: {
    enabled: c.motion.enabled,
    sensitivity: c.motion.sensitivity,
    min_area_percent: c.motion.minAreaPercent,
    fps: c.motion.fps,
    masks: c.motion.masks,
    zones: c.motion.zones,
    post_roll_seconds: c.motion.postRollSeconds,
  },
  retention_hours_motion: c.retentionHoursMotion,
  audio: c.audio,
  origin: c.origin,
  pinned_node: c.pinnedNode,
  recording_node: c.recordingNode,
  created_at: toIso(c.createdAtMs),
  updated_at: toIso(c.updatedAtMs),
});

export const statusOut = (
  cam: CameraRow,
  s: CameraStatus | undefined,
  live?: LiveStats,
  clock?: { driftMs: number; checkedAtMs: number },
  frames?: { lastFrameAtMs: number | undefined; stalled: boolean },
  motion?: { state: string; error: string | null; lastMotionAtMs: number | null },
) => ({
  camera_id: cam.id,
  // A stall is seen by the running recorder, not stored: it overlays the stored `recording`.
  state: frames?.stalled && s?.state === 'recording' ? 'stalled' : s?.state ?? (cam.enabled ? 'connecting' : 'disabled'),
  last_frame_at: toIsoOrNull(frames?.lastFrameAtMs),
  recording_node: cam.recordingNode,
  pid: s?.pid ?? null,
  last_error: s?.lastError ? redactUrl(s.lastError) : null,
  last_started_at: toIsoOrNull(s?.lastStartedAtMs),
  reconnect_count: s?.reconnectCount ?? 0,
  segments_written: s?.segmentsWritten ?? 0,
  last_segment_at: toIsoOrNull(s?.lastSegmentAtMs),
  // From the indexed segments; until the first one closes, from the live stream.
  bitrate_bps: s?.bitrateBps ?? live?.bitrateBps ?? null,
  fps: s?.fps ?? null,
  live_viewers: live?.viewers ?? 0,
  live_bitrate_bps: live?.bitrateBps ?? null,
  live_dropped_fragments: live?.droppedFragments ?? 0,
  clock_drift_ms: clock?.driftMs ?? null,
  clock_checked_at: toIsoOrNull(clock?.checkedAtMs),
  motion_state: motion?.state ?? 'off',
  motion_error: motion?.error ? redactUrl(motion.error) : null,
  last_motion_at: toIsoOrNull(motion?.lastMotionAtMs ?? undefined),
  updated_at: toIsoOrNull(s?.updatedAtMs),
});

export const segmentOut = (s: Segment) => ({
  id: s.id,
  camera_id: s.cameraId,
  path: s.path,
  start: toIso(s.startMs),
  end: toIso(s.endMs),
  duration_ms: s.durationMs,
  size_bytes: s.sizeBytes,
  codec: s.codec,
  width: s.width,
  height: s.height,
  source: s.source,
  locked: s.locked,
  evidence_locked: s.evidenceLocked,
  incident_id: s.incidentId,
  sha256: s.sha256,
  chain_seq: s.chainSeq,
  chain_hash: s.chainHash,
  media_offset_ms: s.mediaOffsetMs,
});

export const gapOut = (g: Gap) => ({
  id: g.id,
  camera_id: g.cameraId,
  gap_start: toIso(g.gapStartMs),
  gap_end: toIso(g.gapEndMs),
  seconds: (g.gapEndMs - g.gapStartMs) / 1000,
  fill_state: g.fillState,
  fill_attempts: g.fillAttempts,
  last_error: g.lastError === null ? null : redactUrl(g.lastError),
  detected_at: toIso(g.detectedAtMs),
  next_attempt_at: toIsoOrNull(g.nextAttemptAtMs),
});

export const rangeHoldOut = (h: RangeHold) => ({
  camera_id: h.cameraId,
  from: toIso(h.fromMs),
  to: toIso(h.toMs),
  segments: h.segments,
  bytes: h.bytes,
  incident_id: h.incidentId,
});

export const incidentOut = (i: Incident) => ({
  id: i.id,
  segments: i.segments,
  bytes: i.bytes,
  first: toIso(i.firstMs),
  last: toIso(i.lastMs),
  cameras: i.cameraIds,
});

export const eventOut = (e: EventRow) => ({
  id: e.id,
  ts: toIso(e.tsMs),
  type: e.type,
  severity: e.severity,
  camera_id: e.cameraId,
  payload: e.payload,
  request_id: e.requestId,
});
