import type { CameraStatus } from '../db/camera-status.repo.js';
import type { NewEvent } from '../db/event.repo.js';
import { redactDeep, redactUrl } from '../shared/redact.js';
import { toIso, toIsoOrNull } from '../shared/time.js';

/** What a camera's state message is built from: its row, its status row, the live stream's bitrate. */
export interface CameraStateInput {
  id: string;
  name: string;
  enabled: boolean;
  status: CameraStatus | undefined;
  liveBitrateBps: number | null;
}

/**
 * `<prefix>/cameras/<id>/state` (retained JSON). The same figures as `GET /cameras/:id/status`,
 * with the two Home Assistant reads as numbers: `bitrate_kbps` and `last_segment_age_seconds`.
 */
export function cameraState(c: CameraStateInput, nowMs: number) {
  const s = c.status;
  const state = s?.state ?? (c.enabled ? 'connecting' : 'disabled');
  // From the indexed segments; until the first one closes, from the live stream (as the status API).
  const bitrateBps = s?.bitrateBps ?? c.liveBitrateBps;
  const lastSegmentMs = s?.lastSegmentAtMs ?? null;
  return {
    camera_id: c.id,
    name: c.name,
    state,
    online: state === 'recording',
    bitrate_kbps: bitrateBps === null ? null : Math.round(bitrateBps / 100) / 10,
    fps: s?.fps ?? null,
    last_segment_at: toIsoOrNull(lastSegmentMs),
    last_segment_age_seconds: lastSegmentMs === null ? null : Math.max(0, Math.round((nowMs - lastSegmentMs) / 100) / 10),
    segments_written: s?.segmentsWritten ?? 0,
    reconnect_count: s?.reconnectCount ?? 0,
    last_error: s?.lastError ? redactUrl(s.lastError) : null,
    updated_at: toIso(nowMs),
  };
}

/** `<prefix>/events/<type>`: the event as `GET /events` shows it. */
export function eventMessage(e: NewEvent & { id: number }) {
  return {
    id: e.id,
    ts: toIso(e.tsMs),
    type: e.type,
    severity: e.severity,
    camera_id: e.cameraId,
    // Redacted when built; again here, since this leaves the machine.
    payload: redactDeep(e.payload),
    request_id: e.requestId,
  };
}
