import { Type, type Static } from '@sinclair/typebox';
import { IsoTimeOut, NullableIsoTimeOut } from './common.js';

const Polygon = Type.Array(Type.Tuple([Type.Number(), Type.Number()]), { description: 'Points [x, y], relative 0..1, x right, y down.' });

export const CameraOut = Type.Object({
  id: Type.String(),
  name: Type.String(),
  main_url: Type.String({ description: 'Credentials masked: rtsp://user:***@host/…' }),
  sub_url: Type.Union([Type.String(), Type.Null()]),
  segment_seconds: Type.Integer(),
  retention_hours: Type.Union([Type.Integer(), Type.Null()]),
  storage_quota_bytes: Type.Union([Type.Integer(), Type.Null()]),
  enabled: Type.Boolean(),
  anr_enabled: Type.Boolean({ description: 'Gaps are refilled from the camera\'s edge storage.' }),
  anr_replay_url_template: Type.Union([Type.String({ description: 'Credentials masked.' }), Type.Null()]),
  anr_timezone: Type.String(),
  anr_preset: Type.Union([Type.String({ description: 'hikvision | dahua | generic' }), Type.Null()]),
  anr_replay_url_effective: Type.Union([Type.String(), Type.Null()], {
    description: 'The replay URL template refills use: the written template, else the preset filled from main_url; {user} {password} {host} {port} {start:…} {end:…} are filled at each refill. Credentials masked.',
  }),
  onvif_url: Type.Union([Type.String({ description: 'Credentials masked.' }), Type.Null()], {
    description: 'ONVIF device service whose clock Vigil watches (status: clock_drift_ms).',
  }),
  motion: Type.Object({
    enabled: Type.Boolean(),
    sensitivity: Type.Integer({ description: '1..100: higher counts smaller changes of a pixel.' }),
    min_area_percent: Type.Number({ description: 'Share of the unmasked picture that must change, in percent.' }),
    fps: Type.Integer({ description: 'Pictures compared per second.' }),
    masks: Type.Array(Polygon, { description: 'Regions never looked at.' }),
    zones: Type.Array(Type.Object({ name: Type.String(), polygon: Polygon })),
    post_roll_seconds: Type.Integer({ description: 'Motion pausing for less than this stays one interval.' }),
  }),
  retention_hours_motion: Type.Union([Type.Integer(), Type.Null()], { description: 'Footage with motion kept this long; retention_hours then applies to footage without.' }),
  audio: Type.Union([Type.Literal('auto'), Type.Literal('off')], { description: "Record the camera's audio with its video (auto) or not (off)." }),
  origin: Type.String({ description: 'config (declared in vigil.yml, re-applied at start), api, or demo' }),
  pinned_node: Type.Union([Type.String(), Type.Null()], { description: 'Cluster: the node an admin pinned the camera to (PUT /cameras/{id}/node); null = any.' }),
  recording_node: Type.Union([Type.String(), Type.Null()], { description: 'Cluster: the node holding the camera\'s lease (the one that records it); null on a single Vigil or while no node holds it.' }),
  created_at: IsoTimeOut,
  updated_at: IsoTimeOut,
});
export type CameraOut = Static<typeof CameraOut>;

export const CameraStatusOut = Type.Object({
  camera_id: Type.String(),
  state: Type.String({ description: 'disabled | connecting | recording | stalled (connected, media time standing still for 3 s) | offline | error' }),
  /** Wall-clock time of the newest frame the recorder received (its time mapping); null before the first since Vigil started. */
  last_frame_at: NullableIsoTimeOut,
  recording_node: Type.Union([Type.String(), Type.Null()], { description: 'Cluster: the node that records the camera (holds its lease); null on a single Vigil or while no node holds it. `pid` is a process of that node.' }),
  pid: Type.Union([Type.Integer(), Type.Null()]),
  last_error: Type.Union([Type.String(), Type.Null()]),
  last_started_at: NullableIsoTimeOut,
  reconnect_count: Type.Integer(),
  segments_written: Type.Integer(),
  last_segment_at: NullableIsoTimeOut,
  bitrate_bps: Type.Union([Type.Integer(), Type.Null()]),
  fps: Type.Union([Type.Number(), Type.Null()]),
  live_viewers: Type.Integer({ description: 'WebSocket live viewers now (main and sub stream).' }),
  live_bitrate_bps: Type.Union([Type.Integer(), Type.Null()], { description: 'Main stream bitrate of the fragments read for live viewers in the last 5 s: their bytes over their media duration, over whole GOPs when the 5 s hold two keyframes; null while nobody watches.' }),
  live_dropped_fragments: Type.Integer({ description: 'Fragments not sent to backed-up live viewers since start (they resume at the next keyframe).' }),
  clock_drift_ms: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Camera clock minus Vigil\'s at the last ONVIF check (cameras with an onvif_url); more than ±2000 makes edge refills pull the wrong span. Null: not read yet.',
  }),
  clock_checked_at: NullableIsoTimeOut,
  motion_state: Type.String({ description: 'off | starting (connecting its detector) | watching (no motion now) | motion | error (restarting after a failure; motion_error says why)' }),
  motion_error: Type.Union([Type.String(), Type.Null()]),
  last_motion_at: Type.Union([IsoTimeOut, Type.Null()], { description: 'Start of the newest motion since Vigil started.' }),
  updated_at: NullableIsoTimeOut,
});
export type CameraStatusOut = Static<typeof CameraStatusOut>;
