import { Type, type Static } from '@sinclair/typebox';
import { CAMERA_ID_PATTERN } from '../../config/camera.schema.js';
import { IsoTime, IsoTimeOut, NullableIsoTimeOut } from './common.js';

export const ExportCreateBody = Type.Object(
  {
    camera_ids: Type.Array(Type.String({ pattern: CAMERA_ID_PATTERN }), { minItems: 1, maxItems: 64, description: 'Cameras to export (each in your scope).' }),
    from: IsoTime,
    to: IsoTime,
    incident_id: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 100 }), Type.Null()])),
    reason: Type.String({ minLength: 1, maxLength: 1000, description: 'Why this footage is exported (in the manifest and the audit log).' }),
    include_segments: Type.Optional(Type.Boolean({ description: 'Also put the original segment files in the bundle (default false).' })),
  },
  { additionalProperties: false },
);
export type ExportCreateBody = Static<typeof ExportCreateBody>;

/** A route that takes no query parameters refuses any (a typo must not pass for a no-op). */
export const NoQuery = Type.Object({}, { additionalProperties: false });

export const ExportIdParams = Type.Object({ id: Type.String({ pattern: '^exp_[A-Za-z0-9_-]{1,64}$' }) }, { additionalProperties: false });

export const ExportsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    incident_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
);

export const ExportOut = Type.Object({
  id: Type.String(),
  state: Type.String({ description: 'queued | running | done | failed | deleted' }),
  camera_ids: Type.Array(Type.String()),
  from: IsoTimeOut,
  to: IsoTimeOut,
  incident_id: Type.Union([Type.String(), Type.Null()]),
  reason: Type.String(),
  include_segments: Type.Boolean(),
  requested_by: Type.String(),
  request_id: Type.Union([Type.String(), Type.Null()]),
  progress: Type.Number({ description: 'Percent done (0–100).' }),
  size_bytes: Type.Union([Type.Integer(), Type.Null()]),
  sha256: Type.Union([Type.String(), Type.Null()], { description: 'SHA-256 of bundle.zip, once done.' }),
  manifest_sha256: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Integer(),
  created_at: IsoTimeOut,
  started_at: NullableIsoTimeOut,
  finished_at: NullableIsoTimeOut,
  deleted_at: NullableIsoTimeOut,
  bundle_url: Type.Union([Type.String(), Type.Null()], { description: 'Where to download the bundle, once done.' }),
});

export const ExportPage = Type.Object({ exports: Type.Array(ExportOut), next_cursor: Type.Union([Type.String(), Type.Null()]) });

export const SigningKeyOut = Type.Object({
  algorithm: Type.Literal('Ed25519'),
  fingerprint: Type.String({ description: 'Hex SHA-256 of the raw 32-byte public key.' }),
  public_key_pem: Type.String(),
  created_at: IsoTimeOut,
  retired: Type.Array(
    Type.Object({ fingerprint: Type.String(), public_key_pem: Type.String(), created_at: IsoTimeOut, retired_at: IsoTimeOut }),
    { description: 'Keys Vigil signed with before, still valid for what they signed then.' },
  ),
});
