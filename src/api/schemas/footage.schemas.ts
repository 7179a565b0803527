import { Type, type Static } from '@sinclair/typebox';
import { IsoTime, IsoTimeOut, NullableOut } from './common.js';

export const RangeQuery = Type.Object(
  { from: Type.Optional(IsoTime), to: Type.Optional(IsoTime) },
  { additionalProperties: false },
);

export const SegmentsQuery = Type.Object(
  {
    from: Type.Optional(IsoTime),
    to: Type.Optional(IsoTime),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'next_cursor of the previous page' })),
  },
  { additionalProperties: false },
);
export type SegmentsQuery = Static<typeof SegmentsQuery>;

export const SegmentOut = Type.Object({
  id: Type.Integer(),
  camera_id: Type.String(),
  path: Type.String({ description: 'Relative to the data dir.' }),
  start: IsoTimeOut,
  end: IsoTimeOut,
  duration_ms: Type.Integer(),
  size_bytes: Type.Integer(),
  codec: NullableOut(Type.String()),
  width: NullableOut(Type.Integer()),
  height: NullableOut(Type.Integer()),
  source: Type.String({ description: 'live | recovered | edge' }),
  locked: Type.Integer({ description: 'Read-lock reference count.' }),
  evidence_locked: Type.Boolean(),
  incident_id: NullableOut(Type.String()),
  sha256: NullableOut(Type.String(), { description: 'Hex SHA-256 of the file, taken when it was indexed; null for footage indexed before Vigil hashed segments.' }),
  chain_seq: NullableOut(Type.Integer(), { description: "This segment's link in its camera's hash chain." }),
  chain_hash: NullableOut(Type.String(), { description: 'That link\'s chain_hash (docs/evidence.md).' }),
  media_offset_ms: Type.Integer({ description: 'Media time (ms) in the file at `start`: footage before it in the file belongs to an earlier segment.' }),
});

export const SegmentPage = Type.Object({
  segments: Type.Array(SegmentOut),
  next_cursor: NullableOut(Type.String()),
});

export const GapOut = Type.Object({
  id: Type.Integer(),
  camera_id: Type.String(),
  gap_start: IsoTimeOut,
  gap_end: IsoTimeOut,
  seconds: Type.Number(),
  fill_state: Type.String({ description: 'pending | filling | filled | partial (some of it refilled; last_error names what is still missing) | failed | not_applicable (the camera has no edge replay)' }),
  fill_attempts: Type.Integer(),
  last_error: NullableOut(Type.String()),
  detected_at: IsoTimeOut,
  next_attempt_at: NullableOut(IsoTimeOut, { description: 'Earliest next refill attempt (backoff after a failed or partial one); for a partial gap, null means no retry is coming.' }),
});

export const TimelineOut = Type.Object({
  camera_id: Type.String(),
  from: IsoTimeOut,
  to: IsoTimeOut,
  spans: Type.Array(Type.Object({ start: IsoTimeOut, end: IsoTimeOut, segments: Type.Integer() })),
  gaps: Type.Array(GapOut),
  recorded_seconds: Type.Number(),
  recording: NullableOut(Type.Object({ start: IsoTimeOut, end: IsoTimeOut }), {
    description: 'Footage being recorded now that has no segment row yet (first frame → newest frame): playable and snapshotted, not yet in spans or clips.',
  }),
});

export const EventsQuery = Type.Object(
  {
    camera_id: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' })),
    type: Type.Optional(Type.String({ pattern: '^[a-z0-9_]{1,64}$' })),
    since: Type.Optional(IsoTime),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);

export const EventOut = Type.Object({
  id: Type.Integer(),
  ts: IsoTimeOut,
  type: Type.String(),
  severity: Type.String(),
  camera_id: NullableOut(Type.String()),
  payload: Type.Record(Type.String(), Type.Unknown()),
  request_id: NullableOut(Type.String()),
});
