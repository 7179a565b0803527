import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { CAMERA_ID_PATTERN } from '../../config/camera.schema.js';

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'not_found | invalid_argument | conflict | failed_precondition | unavailable | internal' }),
    message: Type.String(),
    field: Type.Optional(Type.String({ description: 'The parameter or body field that was wrong.' })),
    request_id: Type.Optional(Type.String()),
  },
  { $id: 'Error' },
);
export type ErrorBody = Static<typeof ErrorBody>;

export const ErrorRef = Type.Ref('Error');

export const CameraIdParams = Type.Object(
  { id: Type.String({ pattern: CAMERA_ID_PATTERN, description: 'Camera id (slug).' }) },
  { additionalProperties: false },
);

/** ISO-8601 with an offset, e.g. 2026-11-25T10:15:00Z or 2026-11-25T11:15:00+01:00. */
export const IsoTime = Type.String({ maxLength: 40, description: 'ISO-8601 instant with offset (Z or ±hh:mm).' });
export const IsoTimeOut = Type.String({ format: 'date-time' });

/**
 * A response field that is `schema` or null, said as OpenAPI 3.0 says it (`nullable: true`) rather than
 * as an anyOf with null: the API docs are OpenAPI 3.0, which has no null type, and fast-json-stringify
 * writes a nullable field directly where it tries an anyOf's branches on every value (a page of 100
 * segments serialized in about two thirds of the time). Responses only: request bodies keep their
 * unions, which Ajv validates as they are.
 */
export function NullableOut<T extends TSchema>(schema: T, options: { description?: string } = {}) {
  return Type.Unsafe<Static<T> | null>({ ...schema, ...options, nullable: true });
}

export const NullableIsoTimeOut = NullableOut(IsoTimeOut);

export const errorResponses = {
  400: ErrorRef,
  404: ErrorRef,
} as const;
