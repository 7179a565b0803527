import { Type, type Static } from '@sinclair/typebox';
import { CAMERA_ID_PATTERN } from '../../config/camera.schema.js';
import { IsoTimeOut, NullableIsoTimeOut } from './common.js';

const Severity = Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')], {
  description: 'Events of this severity or higher are sent (info < warning < critical).',
});
const EventTypes = Type.Union(
  [Type.Literal('all'), Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }), { minItems: 1, maxItems: 100, uniqueItems: true })],
  { description: '"all", or the event types to send (e.g. recording_gap, camera_silent).' },
);
const Cameras = Type.Union(
  [Type.Literal('all'), Type.Array(Type.String({ pattern: CAMERA_ID_PATTERN }), { minItems: 1, maxItems: 1024, uniqueItems: true })],
  { description: '"all" (every event, with a camera or not), or only events of these cameras.' },
);
const Url = Type.String({ minLength: 1, maxLength: 2048, description: 'http:// or https:// receiver; private, loopback and link-local addresses only where the config allows them.' });
const Secret = Type.String({ pattern: '^[\\x21-\\x7e]{16,256}$', description: 'HMAC-SHA256 key of X-Vigil-Signature: 16–256 printable characters, no spaces.' });
const Name = Type.String({ minLength: 1, maxLength: 100 });
const DeliveryStatus = Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed'), Type.Literal('abandoned')], {
  description: 'pending: not attempted yet (or an attempt runs); failed: a retry is due at next_attempt_at; delivered: a 2xx answer; abandoned: every attempt failed.',
});

export const WebhookCreate = Type.Object(
  {
    name: Type.Optional(Name),
    url: Url,
    secret: Type.Optional(Secret),
    event_types: Type.Optional(EventTypes),
    min_severity: Type.Optional(Severity),
    cameras: Type.Optional(Cameras),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const WebhookPatch = Type.Object(
  {
    name: Type.Optional(Name),
    url: Type.Optional(Url),
    secret: Type.Optional(Secret),
    event_types: Type.Optional(EventTypes),
    min_severity: Type.Optional(Severity),
    cameras: Type.Optional(Cameras),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const WebhookOut = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  url: Type.String(),
  event_types: EventTypes,
  min_severity: Severity,
  cameras: Cameras,
  enabled: Type.Boolean(),
  created_at: IsoTimeOut,
  updated_at: IsoTimeOut,
  deliveries: Type.Object(
    { pending: Type.Integer(), delivered: Type.Integer(), failed: Type.Integer(), abandoned: Type.Integer() },
    { description: 'Ledger rows per status.' },
  ),
});
export type WebhookOut = Static<typeof WebhookOut>;

export const WebhookCreated = Type.Composite([
  WebhookOut,
  Type.Object({ secret: Type.String({ description: 'The signing secret, shown this once.' }) }),
]);

export const DeliveryOut = Type.Object({
  id: Type.String({ description: 'The delivery id: X-Vigil-Delivery and Idempotency-Key of every attempt.' }),
  webhook_id: Type.Integer(),
  event_id: Type.Integer(),
  event_type: Type.String(),
  status: DeliveryStatus,
  attempts: Type.Integer(),
  next_attempt_at: NullableIsoTimeOut,
  last_attempt_at: NullableIsoTimeOut,
  last_error: Type.Union([Type.String(), Type.Null()]),
  response_code: Type.Union([Type.Integer(), Type.Null()]),
  created_at: IsoTimeOut,
  updated_at: IsoTimeOut,
  delivered_at: NullableIsoTimeOut,
});
export type DeliveryOut = Static<typeof DeliveryOut>;

export const DeliveryQuery = Type.Object(
  {
    status: Type.Optional(DeliveryStatus),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
    cursor: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,15}$', description: 'next_cursor of the previous page.' })),
  },
  { additionalProperties: false },
);

export const DeliveryParams = Type.Object(
  {
    id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    delivery_id: Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', description: 'A delivery id (UUID).' }),
  },
  { additionalProperties: false },
);
