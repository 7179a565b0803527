import { Type, type Static } from '@sinclair/typebox';
import { IsoTime, IsoTimeOut } from './common.js';

/** An incident (case) tag: 1–64 characters of A–Z a–z 0–9 . _ : - */
export const INCIDENT_ID_PATTERN = '^[A-Za-z0-9._:-]{1,64}$';

const incidentId = (description: string) => Type.String({ pattern: INCIDENT_ID_PATTERN, description });

/** Positive integer, as text in the path; a strict pattern so `1e3`, `0x10` or ` 1` are refused. */
export const SegmentIdParams = Type.Object(
  { id: Type.String({ pattern: '^[1-9][0-9]{0,14}$', description: 'Segment id (positive integer).' }) },
  { additionalProperties: false },
);

export const IncidentIdParams = Type.Object(
  { id: incidentId('Incident (case) tag: 1–64 of A–Z a–z 0–9 . _ : -') },
  { additionalProperties: false },
);

export const HoldBody = Type.Object(
  {
    incident_id: Type.Optional(
      incidentId('Tag to record. Omitted: the segment keeps the tag it has (locking or unlocking never erases it).'),
    ),
  },
  { additionalProperties: false },
);
export type HoldBody = Static<typeof HoldBody>;

export const IncidentBody = Type.Object(
  {
    incident_id: Type.Union([Type.String({ pattern: '^[A-Za-z0-9._:-]{0,64}$' }), Type.Null()], {
      description: 'The tag to set; null or "" clears it.',
    }),
  },
  { additionalProperties: false },
);
export type IncidentBody = Static<typeof IncidentBody>;

export const RangeHoldBody = Type.Object(
  {
    from: IsoTime,
    to: IsoTime,
    incident_id: Type.Optional(incidentId('Tag to record on every segment; omitted: each keeps its own.')),
  },
  { additionalProperties: false },
);
export type RangeHoldBody = Static<typeof RangeHoldBody>;

/** Releasing a range may say why (the operator page always asks): the reason is kept in the audit row. */
export const RangeReleaseBody = Type.Composite(
  [RangeHoldBody, Type.Object({ reason: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, description: 'Why the hold is released; recorded in the audit trail.' })) })],
  { additionalProperties: false },
);

export const RangeHoldOut = Type.Object({
  camera_id: Type.String(),
  from: IsoTimeOut,
  to: IsoTimeOut,
  segments: Type.Integer({ description: 'Segments overlapping [from, to) now held (or released); 0 when the range has none.' }),
  bytes: Type.Integer(),
  incident_id: Type.Union([Type.String(), Type.Null()], { description: 'The tag applied; null when none was given.' }),
});

export const IncidentOut = Type.Object({
  id: Type.String(),
  segments: Type.Integer({ description: 'Tagged segments, held or not.' }),
  bytes: Type.Integer(),
  first: IsoTimeOut,
  last: IsoTimeOut,
  cameras: Type.Array(Type.String()),
});

export const IncidentSegmentsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'next_cursor of the previous page' })),
  },
  { additionalProperties: false },
);
