import { Type, type Static } from '@sinclair/typebox';

/**
 * One schema for a camera as a person writes it, in `vigil.yml` or in an API body.
 * Field names are the product's public contract (snake_case, as in the YAML file).
 */
export const CAMERA_ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,62}$';
/** A cluster node's id: the same rule as a camera's. */
export const NODE_ID_PATTERN = CAMERA_ID_PATTERN;
/** rtsp:// or rtsps:// with no whitespace or control characters; anything else reaches ffmpeg as one argv element. */
export const RTSP_URL_PATTERN = '^rtsps?://[^\\s\\x00-\\x1f\\x7f]+$';

export const SEGMENT_SECONDS_MIN = 2;
export const SEGMENT_SECONDS_MAX = 3600;

/** The scheme and placeholders of a replay template are checked by `src/anr/replay-template.ts`, with clearer messages than a regex. */
export const ANR_TEMPLATE_MAX_CHARS = 2048;
/** http:// or https:// with no whitespace or control characters: the ONVIF device service. */
export const ONVIF_URL_PATTERN = '^https?://[^\\s\\x00-\\x1f\\x7f]+$';

export const ZONE_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,39}$';
export const MOTION_FPS_MAX = 15;
export const POLYGON_POINTS_MAX = 64;
export const MOTION_REGIONS_MAX = 16;

const RelativeCoordinate = Type.Number({ minimum: 0, maximum: 1 });
const Polygon = Type.Array(Type.Tuple([RelativeCoordinate, RelativeCoordinate]), {
  minItems: 3,
  maxItems: POLYGON_POINTS_MAX,
  description: 'Points [x, y] relative to the picture (0..1, x right, y down), at least 3, enclosing some area.',
});

/** Every field optional: defaults on create, the current value on a PATCH (masks and zones replaced whole). */
const MotionInput = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ description: 'Detect motion on this camera (default false).' })),
    sensitivity: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: '1..100 (default 50): higher counts smaller changes of a pixel.' })),
    min_area_percent: Type.Optional(Type.Number({ minimum: 0.01, maximum: 100, description: 'Share of the unmasked picture that must change, in percent (default 0.5).' })),
    fps: Type.Optional(Type.Integer({ minimum: 1, maximum: MOTION_FPS_MAX, description: 'Pictures compared per second (default 5).' })),
    masks: Type.Optional(Type.Array(Polygon, { maxItems: MOTION_REGIONS_MAX, description: 'Regions never looked at (a burned-in clock, a tree).' })),
    zones: Type.Optional(
      Type.Array(
        Type.Object(
          { name: Type.String({ pattern: ZONE_NAME_PATTERN, description: 'a-z, 0-9, _ and -, at most 40; unique per camera.' }), polygon: Polygon },
          { additionalProperties: false },
        ),
        { maxItems: MOTION_REGIONS_MAX, description: 'Named regions: each motion interval lists the zones it touched.' },
      ),
    ),
    post_roll_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 120, description: 'Motion that pauses for less than this is one interval (default 5).' })),
  },
  { additionalProperties: false, description: 'Motion detection on a small grey picture of the sub-stream (else the main stream).' },
);
export type MotionInput = Static<typeof MotionInput>;

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
  motion: MotionInput,
  retention_hours_motion: Type.Union([Type.Integer({ minimum: 1, maximum: 876_000 }), Type.Null()], {
    description: 'Keep footage with motion (and its pre/post roll) this many hours; retention_hours then applies to footage without motion. Needs retention_hours, and at least as long.',
  }),
  audio: Type.Union([Type.Literal('auto'), Type.Literal('off')], {
    description: "Record the camera's audio with the video (auto, the default: AAC as sent, G.711 and other codecs MP4 does not take transcoded to AAC; a camera without audio, or whose audio fails, records video only) or not (off).",
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
  motion: Type.Optional(CameraFields.motion),
  retention_hours_motion: Type.Optional(CameraFields.retention_hours_motion),
  audio: Type.Optional(CameraFields.audio),
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
  retention_hours_motion: null,
  audio: 'auto',
} as const;
