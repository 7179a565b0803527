import { Type, type Static } from '@sinclair/typebox';

/**
 * One schema for a camera as a person writes it, in `vigil.yml` or in an API body.
 * Field names are the product's public contract (snake_case, as in the YAML file).
 */
export const CAMERA_ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,62}$';
/** rtsp:// or rtsps:// with no whitespace or control characters; anything else reaches ffmpeg as one argv element. */
export const RTSP_URL_PATTERN = '^rtsps?://[^\\s\\x00-\\x1f\\x7f]+$';

export const SEGMENT_SECONDS_MIN = 2;
export const SEGMENT_SECONDS_MAX = 3600;

/** The scheme and placeholders of a replay template are checked by `src/anr/replay-template.ts`, with clearer messages than a regex. */
export const ANR_TEMPLATE_MAX_CHARS = 2048;
/** http:// or https:// with no whitespace or control characters: the ONVIF device service. */
export const ONVIF_URL_PATTERN = '^https?://[^\\s\\x00-\\x1f\\x7f]+$';

const CameraFields = {
  name: Type.String({ minLength: 1, maxLength: 200, description: 'Display name.' }),
  main_url: Type.String({
    pattern: RTSP_URL_PATTERN,
    maxLength: 2048,
    description: 'Main stream, rtsp:// or rtsps://, credentials allowed (never printed back).',
  }),
  sub_url: Type.Union([Type.String({ pattern: RTSP_URL_PATTERN, maxLength: 2048 }), Type.Null()], {
    description: 'Optional low-resolution sub-stream.',
  }),
  segment_seconds: Type.Integer({
    minimum: SEGMENT_SECONDS_MIN,
    maximum: SEGMENT_SECONDS_MAX,
    description: 'Target length of one recorded segment file, in seconds (cut at the next keyframe).',
  }),
  retention_hours: Type.Union([Type.Integer({ minimum: 1, maximum: 876_000 }), Type.Null()], {
    description: 'Keep footage this many hours; null = until a quota or the disk floor says otherwise.',
  }),
  storage_quota_bytes: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
    description: 'Most bytes of footage kept for this camera; null = no per-camera quota.',
  }),
  enabled: Type.Boolean({ description: 'Record this camera.' }),
  anr_enabled: Type.Boolean({ description: 'Refill recording gaps from the camera\'s edge storage (SD card).' }),
  anr_replay_url_template: Type.Union(
    [Type.String({ minLength: 1, maxLength: ANR_TEMPLATE_MAX_CHARS }), Type.Null()],
    { description: 'Replay URL with {start:FORMAT} {end:FORMAT} (iso_basic_z | dahua | unix), {user} {password} {host} {port}.' },
  ),
  anr_timezone: Type.String({
    minLength: 1,
    maxLength: 64,
    description: 'IANA time zone of the camera\'s clock (for the dahua time format), e.g. Europe/Berlin.',
  }),
  anr_preset: Type.Union([Type.Literal('hikvision'), Type.Literal('dahua'), Type.Literal('generic'), Type.Null()], {
    description: 'Fills the replay URL from the main URL; generic = use anr_replay_url_template as written.',
  }),
  onvif_url: Type.Union([Type.String({ pattern: ONVIF_URL_PATTERN, maxLength: 2048 }), Type.Null()], {
    description: 'ONVIF device service (http(s)://host/onvif/device_service) whose clock Vigil watches; credentials from this URL, else from main_url.',
  }),
};

/** Every field but `id`, optional: the body of a PATCH, and the optional part of a create. */
const OptionalFields = {
  name: Type.Optional(CameraFields.name),
  main_url: Type.Optional(CameraFields.main_url),
  sub_url: Type.Optional(CameraFields.sub_url),
  segment_seconds: Type.Optional(CameraFields.segment_seconds),
  retention_hours: Type.Optional(CameraFields.retention_hours),
  storage_quota_bytes: Type.Optional(CameraFields.storage_quota_bytes),
  enabled: Type.Optional(CameraFields.enabled),
  anr_enabled: Type.Optional(CameraFields.anr_enabled),
  anr_replay_url_template: Type.Optional(CameraFields.anr_replay_url_template),
  anr_timezone: Type.Optional(CameraFields.anr_timezone),
  anr_preset: Type.Optional(CameraFields.anr_preset),
  onvif_url: Type.Optional(CameraFields.onvif_url),
};

export const CameraCreate = Type.Object(
  {
    id: Type.String({ pattern: CAMERA_ID_PATTERN, description: 'Slug: a-z, 0-9, _ and -, at most 63.' }),
    ...OptionalFields,
    main_url: CameraFields.main_url,
  },
  { additionalProperties: false },
);
export type CameraCreate = Static<typeof CameraCreate>;

export const CameraPatch = Type.Object(OptionalFields, { additionalProperties: false, minProperties: 1 });
export type CameraPatch = Static<typeof CameraPatch>;

export const CAMERA_DEFAULTS = {
  segment_seconds: 60,
  retention_hours: null,
  storage_quota_bytes: null,
  enabled: true,
  sub_url: null,
  anr_enabled: false,
  anr_replay_url_template: null,
  anr_timezone: 'UTC',
  anr_preset: null,
  onvif_url: null,
} as const;
