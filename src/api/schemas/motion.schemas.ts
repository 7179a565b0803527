import { Type } from '@sinclair/typebox';
import { CAMERA_ID_PATTERN, ZONE_NAME_PATTERN } from '../../config/camera.schema.js';
import { IsoTime, IsoTimeOut } from './common.js';

const Zone = Type.String({ pattern: ZONE_NAME_PATTERN, description: 'Only intervals whose motion touched this zone.' });

export const CameraMotionQuery = Type.Object(
  {
    from: Type.Optional(IsoTime),
    to: Type.Optional(IsoTime),
    zone: Type.Optional(Zone),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 10_000, description: 'Intervals per page (oldest first); `next_cursor` continues.' })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'next_cursor of the previous page' })),
    bucket_seconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 86_400,
        description: 'Answer with `buckets` (motion counted per bucket of this length, from `from`) instead of the intervals: what a timeline draws at a wide window.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const MotionSearchQuery = Type.Object(
  {
    camera_id: Type.Optional(Type.String({ pattern: CAMERA_ID_PATTERN, description: 'One camera; default every camera the caller may see.' })),
    from: Type.Optional(IsoTime),
    to: Type.Optional(IsoTime),
    zone: Type.Optional(Zone),
    min_score: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: 'Only intervals whose peak changed at least this % of the picture.' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'next_cursor of the previous page' })),
  },
  { additionalProperties: false },
);

export const MotionIdParams = Type.Object(
  { id: Type.String({ pattern: '^[1-9][0-9]{0,15}$', description: 'Motion interval id.' }) },
  { additionalProperties: false },
);

export const MotionOut = Type.Object({
  id: Type.Integer(),
  camera_id: Type.String(),
  start: IsoTimeOut,
  end: IsoTimeOut,
  peak_score: Type.Number({ description: '% of the unmasked picture that changed at the peak (0..100).' }),
  peak_at: IsoTimeOut,
  zones: Type.Array(Type.String(), { description: 'Zones the motion touched.' }),
  thumbnail_url: Type.Union([Type.String(), Type.Null()], { description: 'JPEG of the peak frame.' }),
});

export const MotionBucketOut = Type.Object({
  bucket_start: IsoTimeOut,
  start: IsoTimeOut,
  end: IsoTimeOut,
  count: Type.Integer(),
  peak_score: Type.Number(),
  zones: Type.Array(Type.String()),
});

export const CameraMotionOut = Type.Object({
  camera_id: Type.String(),
  from: IsoTimeOut,
  to: IsoTimeOut,
  intervals: Type.Optional(Type.Array(MotionOut, { description: 'Without bucket_seconds: the intervals, oldest first.' })),
  next_cursor: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Without bucket_seconds: the next page, or null.' })),
  bucket_seconds: Type.Optional(Type.Integer()),
  buckets: Type.Optional(Type.Array(MotionBucketOut, { description: 'With bucket_seconds: buckets holding motion, in time order (empty ones left out).' })),
});

export const MotionPage = Type.Object({
  intervals: Type.Array(MotionOut),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
});
