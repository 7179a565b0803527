import { Type } from '@sinclair/typebox';
import { USERNAME_PATTERN } from '../../auth/names.js';
import { CAPABILITIES } from '../../auth/capabilities.js';
import { CAMERA_ID_PATTERN } from '../../config/camera.schema.js';
import { IsoTime, IsoTimeOut, NullableIsoTimeOut } from './common.js';

const Role = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('viewer')], {
  description: 'admin: everything; operator: view, export, snapshot, evidence holds, refills, events; viewer: live and playback.',
});
const Capability = Type.Union(CAPABILITIES.map((c) => Type.Literal(c)));
const CameraScope = Type.Union(
  [Type.Literal('all'), Type.Array(Type.String({ pattern: CAMERA_ID_PATTERN }), { maxItems: 1024, uniqueItems: true })],
  { description: '"all", or the camera ids this identity may see (others answer 404, as if they did not exist).' },
);
const Username = Type.String({ pattern: USERNAME_PATTERN, description: 'Letters, digits, . _ @ -; case-insensitive.' });
const Password = Type.String({ minLength: 10, maxLength: 1024 });

export const LoginBody = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);

export const UserOut = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  role: Role,
  cameras: CameraScope,
  disabled: Type.Boolean(),
  created_at: IsoTimeOut,
  updated_at: IsoTimeOut,
});

export const MeOut = Type.Object({
  kind: Type.Union([Type.Literal('user'), Type.Literal('api_key')]),
  user: Type.Object({ id: Type.Integer(), username: Type.String(), role: Role, cameras: CameraScope }),
  capabilities: Type.Array(Capability),
});

export const PasswordBody = Type.Object(
  { current_password: Type.String({ minLength: 1, maxLength: 1024 }), new_password: Password },
  { additionalProperties: false },
);

export const UserCreate = Type.Object(
  { username: Username, password: Password, role: Role, cameras: Type.Optional(CameraScope) },
  { additionalProperties: false },
);

export const UserPatch = Type.Object(
  { role: Type.Optional(Role), cameras: Type.Optional(CameraScope), password: Type.Optional(Password), disabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);

export const NumericIdParams = Type.Object(
  { id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) },
  { additionalProperties: false },
);

export const ApiKeyCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    role: Role,
    capabilities: Type.Optional(Type.Union([Type.Array(Capability, { minItems: 1, uniqueItems: true }), Type.Null()], {
      description: 'A subset of the role\'s capabilities; omitted or null = all of them.',
    })),
    cameras: Type.Optional(CameraScope),
    expires_at: Type.Optional(Type.Union([IsoTime, Type.Null()], { description: 'When the key stops working; null = never.' })),
  },
  { additionalProperties: false },
);

export const ApiKeyOut = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  prefix: Type.String({ description: 'The first characters of the key, to recognise it.' }),
  role: Role,
  capabilities: Type.Array(Capability),
  cameras: CameraScope,
  created_by: Type.Union([Type.Integer(), Type.Null()]),
  created_at: IsoTimeOut,
  expires_at: NullableIsoTimeOut,
  revoked_at: NullableIsoTimeOut,
  last_used_at: NullableIsoTimeOut,
});

export const ApiKeyCreated = Type.Composite([
  ApiKeyOut,
  Type.Object({ key: Type.String({ description: 'The key itself, shown this once: send it as `Authorization: Bearer <key>`.' }) }),
]);

export const AuditQuery = Type.Object(
  {
    from: Type.Optional(IsoTime),
    to: Type.Optional(IsoTime),
    actor_kind: Type.Optional(Type.Union(['user', 'api_key', 'anonymous', 'system'].map((k) => Type.Literal(k)))),
    actor_id: Type.Optional(Type.Integer({ minimum: 1 })),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    target: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    request_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    outcome: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('denied'), Type.Literal('failure')])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    cursor: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,15}$', description: 'next_cursor of the previous page.' })),
  },
  { additionalProperties: false },
);

export const AuditOut = Type.Object({
  id: Type.Integer(),
  ts: IsoTimeOut,
  actor_kind: Type.String(),
  actor_id: Type.Union([Type.Integer(), Type.Null()]),
  actor_name: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  request_id: Type.Union([Type.String(), Type.Null()]),
  client_addr: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.String(),
  status_code: Type.Union([Type.Integer(), Type.Null()]),
  detail: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
});
