import { Type, type Static } from '@sinclair/typebox';
import { ONVIF_URL_PATTERN } from '../../config/camera.schema.js';
import { DISCOVERY_TIMEOUT_MAX_MS, DISCOVERY_TIMEOUT_MIN_MS } from '../../onvif/limits.js';
import { IsoTimeOut } from './common.js';

const NullableString = Type.Union([Type.String(), Type.Null()]);
const NullableNumber = Type.Union([Type.Number(), Type.Null()]);

export const DiscoverBody = Type.Object(
  {
    timeout_ms: Type.Optional(Type.Integer({
      minimum: DISCOVERY_TIMEOUT_MIN_MS,
      maximum: DISCOVERY_TIMEOUT_MAX_MS,
      description: 'How long to gather answers (default 3000).',
    })),
  },
  { additionalProperties: false },
);
export type DiscoverBody = Static<typeof DiscoverBody>;

export const DiscoveredDeviceOut = Type.Object({
  endpoint: Type.String({ description: 'WS-Addressing endpoint reference (urn:uuid:…); one entry per device.' }),
  xaddr: Type.String({ description: 'The device service address to inspect (the first http(s) one it announced).' }),
  xaddrs: Type.Array(Type.String()),
  name: NullableString,
  hardware: NullableString,
  location: NullableString,
  scopes: Type.Array(Type.String()),
  types: Type.Array(Type.String()),
});

export const DiscoverOut = Type.Object({
  timeout_ms: Type.Integer(),
  devices: Type.Array(DiscoveredDeviceOut),
});

export const InspectBody = Type.Object(
  {
    xaddr: Type.Optional(Type.String({
      maxLength: 2048,
      pattern: ONVIF_URL_PATTERN,
      description: 'Device service address, http(s)://host[:port]/onvif/device_service (from discovery).',
    })),
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:_\\[\\]-]+$', description: 'Instead of xaddr: a host name or address.' })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'With host (default 80).' })),
    // The onvif package writes the user name into the SOAP header as it is.
    username: Type.Optional(Type.String({ maxLength: 128, pattern: '^[^<>&\\x00-\\x1f\\x7f]*$' })),
    password: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
);
export type InspectBody = Static<typeof InspectBody>;

/** 502: the device failed; `reason` says how (and `field` names the password when it was refused). */
export const DeviceErrorOut = Type.Object({
  error: Type.Literal('bad_gateway'),
  message: Type.String(),
  reason: Type.String({ description: 'unreachable | timeout | auth_refused | not_onvif | too_large | device_error' }),
  field: Type.Optional(Type.String()),
});

export const InspectOut = Type.Object({
  xaddr: Type.String({ description: 'The device service used, without credentials.' }),
  device: Type.Object({
    manufacturer: NullableString,
    model: NullableString,
    firmware: NullableString,
    serial: NullableString,
    hardware_id: NullableString,
  }),
  profiles: Type.Array(Type.Object({
    token: Type.String(),
    name: NullableString,
    encoding: NullableString,
    width: NullableNumber,
    height: NullableNumber,
    fps: NullableNumber,
    bitrate_kbps: NullableNumber,
    stream_uri: Type.Union([Type.String(), Type.Null()], { description: 'RTSP URI as the device gave it (no credentials).' }),
  })),
  clock: Type.Union([
    Type.Object({
      camera_utc: IsoTimeOut,
      vigil_utc: IsoTimeOut,
      drift_ms: Type.Integer({ description: 'Camera minus Vigil; the camera reports whole seconds, so ±500 ms plus half the round trip.' }),
      drifting: Type.Boolean({ description: '|drift_ms| > 2000: edge refills would pull the wrong span.' }),
    }),
    Type.Null(),
  ]),
  clock_error: Type.Union([Type.String(), Type.Null()], { description: 'Why clock is null.' }),
  suggested: Type.Union([
    Type.Object({
      id: Type.String(),
      name: Type.String(),
      main_url: Type.String({ description: 'Highest-resolution profile, with the credentials sent (the body to POST /cameras).' }),
      sub_url: Type.Union([Type.String(), Type.Null()], { description: 'Lowest-resolution profile, when it is another stream.' }),
      onvif_url: Type.String(),
    }, { description: 'A body for POST /api/v1/cameras; null when no profile has an RTSP URI.' }),
    Type.Null(),
  ]),
});
export type InspectOut = Static<typeof InspectOut>;
