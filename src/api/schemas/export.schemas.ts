import { Type, type Static } from '@sinclair/typebox';
import { SNAPSHOT_MAX_WIDTH, SNAPSHOT_MIN_WIDTH } from '../../media/snapshot-args.js';
import { IsoTime, IsoTimeOut } from './common.js';

export const ClipQuery = Type.Object(
  { from: IsoTime, to: IsoTime },
  { additionalProperties: false },
);
export type ClipQuery = Static<typeof ClipQuery>;

export const SnapshotQuery = Type.Object(
  {
    at: IsoTime,
    width: Type.Optional(
      Type.Integer({ minimum: SNAPSHOT_MIN_WIDTH, maximum: SNAPSHOT_MAX_WIDTH, description: 'Output width in pixels; height keeps the aspect ratio.' }),
    ),
  },
  { additionalProperties: false },
);
export type SnapshotQuery = Static<typeof SnapshotQuery>;

export const TimeSpanOut = Type.Object({ start: IsoTimeOut, end: IsoTimeOut });

/** 404 of a clip: the error, and for a range with no footage the holes it consists of. */
export const ClipNotFound = Type.Object(
  {
    error: Type.String(),
    message: Type.String(),
    field: Type.Optional(Type.String()),
    gaps: Type.Optional(Type.Array(TimeSpanOut, { description: 'Holes inside [from, to) (the whole range when nothing was recorded).' })),
  },
  { description: 'Unknown camera (field "id"), or no footage in the range (field "from", with gaps).' },
);

/** A binary 200 body for the OpenAPI document; the handlers stream it, so nothing is serialised. */
export function binaryResponse(contentType: string, description: string, headers: Record<string, { type: string; description: string }> = {}) {
  return {
    description,
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    content: { [contentType]: { schema: { type: 'string', format: 'binary' } } },
  };
}

export const CLIP_HEADERS = {
  'Content-Disposition': { type: 'string', description: 'attachment; filename="<camera>_<fromUTC>_<toUTC>.mp4"' },
  'X-Vigil-Covered-Seconds': { type: 'string', description: 'Seconds of [from, to) the clip holds footage for.' },
  'X-Vigil-Gaps': {
    type: 'string',
    description: 'JSON array of {start, end} (ISO-8601): the holes inside [from, to), which the clip jumps over (at most 100; see X-Vigil-Gap-Count).',
  },
  'X-Vigil-Gap-Count': { type: 'string', description: 'How many holes the range has.' },
  'Content-Length': {
    type: 'string',
    description: 'The clip\'s size when known before its first byte (footage joined as recorded); absent when the clip is remuxed by ffmpeg (chunked).',
  },
};

export const SNAPSHOT_HEADERS = {
  'X-Vigil-Frame-Time': { type: 'string', description: 'ISO-8601 instant the returned frame starts (at or before `at`).' },
};

export const BUSY_DESCRIPTION = 'Every media job slot (media.max_jobs) stayed busy for 10 s; retry after the Retry-After seconds.';
