import { Type, type Static } from '@sinclair/typebox';
import { CAMERA_ID_PATTERN, CameraCreate, NODE_ID_PATTERN } from './camera.schema.js';

/** The YAML file (`vigil.yml`). Every key is optional; defaults live in `config.ts`. */
export const ConfigFile = Type.Object(
  {
    data_dir: Type.Optional(Type.String({ minLength: 1 })),
    /** The catalog on PostgreSQL (docs/operations.md, "PostgreSQL catalog"); without it, SQLite in data_dir (the default). */
    catalog: Type.Optional(
      Type.Object({ url: Type.String({ pattern: '^postgres(ql)?://', maxLength: 2048 }) }, { additionalProperties: false }),
    ),
    /**
     * Several recording nodes on one PostgreSQL catalog (docs/operations.md, "Cluster"): this node's id and
     * the URL the other nodes reach it at. Needs `catalog.url`.
     */
    cluster: Type.Optional(
      Type.Object(
        {
          node_id: Type.String({ pattern: NODE_ID_PATTERN }),
          url: Type.String({ pattern: '^https?://[^\\s/]+(/.*)?$', maxLength: 2048 }),
          /** Cameras this node records at most (default 64). */
          capacity: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          /** A lease not renewed this long is free for another node (default 15). */
          lease_ttl_seconds: Type.Optional(Type.Integer({ minimum: 3, maximum: 300 })),
          /** Heartbeat and lease renewal period (default a third of the TTL); must be under the TTL. */
          heartbeat_seconds: Type.Optional(Type.Number({ minimum: 0.2, maximum: 100 })),
          /** MiB of other nodes' segment files kept after use (default 2048). */
          cache_mib: Type.Optional(Type.Integer({ minimum: 16, maximum: 1_048_576 })),
        },
        { additionalProperties: false },
      ),
    ),
    listen: Type.Optional(Type.String({ minLength: 1 })),
    log_level: Type.Optional(
      Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
    ),
    /** Built-in demo cameras when no camera is configured: auto (default), always on, or never. */
    demo: Type.Optional(Type.Union([Type.Literal('auto'), Type.Boolean()])),
    /** Serve HTTPS directly: PEM files (a reverse proxy terminating TLS is the other way; see trust_proxy). */
    tls: Type.Optional(
      Type.Object(
        { cert: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }) },
        { additionalProperties: false },
      ),
    ),
    /** Behind a reverse proxy: trust its X-Forwarded-For/-Proto (true, a hop count, or the proxy's addresses). */
    trust_proxy: Type.Optional(
      Type.Union([Type.Boolean(), Type.Integer({ minimum: 1, maximum: 10 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 32 })]),
    ),
    auth: Type.Optional(
      Type.Object(
        {
          /** A session ends after this long without a request. */
          session_idle_minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 * 24 * 60 })),
          /** ... and at the latest this long after sign-in. */
          session_max_hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 365 * 24 })),
          /** Failed logins of one username within lockout_minutes that lock it for lockout_minutes. */
          lockout_failures: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          lockout_minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 24 * 60 })),
          /** Login attempts per client address per minute. */
          login_rate_per_minute: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    recorder: Type.Optional(
      Type.Object(
        {
          ffmpeg_path: Type.Optional(Type.String({ minLength: 1 })),
          rtsp_timeout_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 300 })),
          backoff_initial_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 600_000 })),
          backoff_max_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000 })),
          healthy_run_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
          stall_floor_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
          freeze_seconds: Type.Optional(Type.Integer({ minimum: 2, maximum: 300 })),
          stop_timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    retention: Type.Optional(
      Type.Object(
        {
          interval_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
          /** Cap on all footage; evidence counts toward it but is never deleted. */
          max_bytes: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
          /** Keep at least this much free on the recordings disk (`<data>/recordings`): bytes, or a percentage like "10%". */
          min_free_bytes: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^\\d{1,2}(\\.\\d+)?%$' })])),
          /** A recording file without a row is reclaimed once it is this old (longer than any segment). */
          orphan_grace_seconds: Type.Optional(Type.Integer({ minimum: 3700, maximum: 30 * 86_400 })),
          batch_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    media: Type.Optional(
      Type.Object(
        {
          /** Concurrent clip/snapshot ffmpeg jobs; beyond it requests wait up to 10 s, then 503. */
          max_jobs: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
          /** ffmpeg snapshot decoders kept started and idle, so a snapshot skips ffmpeg's start-up; 0 disables. */
          warm_decoders: Type.Optional(Type.Integer({ minimum: 0, maximum: 8 })),
          clip_max_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
          /** Longest range one recorded-playback playlist may cover. */
          playback_max_seconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 7 * 86_400 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Edge-storage backfill (ANR): refilling recording gaps from the cameras' SD cards. */
    anr: Type.Optional(
      Type.Object(
        {
          max_concurrent: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
          max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          settle_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
          scan_interval_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
          backoff_initial_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 86_400_000 })),
          backoff_max_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 7 * 86_400_000 })),
          timeout_margin_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
          batch_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** The site: the IANA time zone the console shows and takes every time in (default: the server's). */
    site: Type.Optional(Type.Object({ time_zone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) }, { additionalProperties: false })),
    /** Prometheus `/metrics`: scraping needs an identity with the `metrics` capability unless `public` is true. */
    metrics: Type.Optional(Type.Object({ public: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
    /** Evidence: the signing key and export bundles (docs/evidence.md). */
    evidence: Type.Optional(
      Type.Object(
        {
          /** Ed25519 private key (PEM, mode 0600), generated at first start; default <data>/keys/signing-key.pem. */
          signing_key_path: Type.Optional(Type.String({ minLength: 1 })),
          /** Export bundles are built here; default <data>/exports. */
          exports_dir: Type.Optional(Type.String({ minLength: 1 })),
          /** Concurrent export jobs. */
          max_export_jobs: Type.Optional(Type.Integer({ minimum: 1, maximum: 8 })),
          /** Longest range one export may cover. */
          export_max_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86_400 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** MQTT to a broker, with Home Assistant discovery (docs/api.md, "MQTT"); off unless `url` is set. */
    mqtt: Type.Optional(
      Type.Object(
        {
          /** mqtt://host[:port] or mqtts://host[:port]; credentials go in username/password, never in the URL. */
          url: Type.String({ minLength: 1, maxLength: 1024 }),
          username: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
          password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
          client_id: Type.Optional(Type.String({ pattern: CAMERA_ID_PATTERN })),
          /** Every Vigil topic starts with it; one prefix per Vigil on a broker (it also names the discovery node). */
          topic_prefix: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
          discovery: Type.Optional(
            Type.Object(
              {
                enabled: Type.Optional(Type.Boolean()),
                prefix: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
              },
              { additionalProperties: false },
            ),
          ),
          /** mqtts:// only: PEM files (CA to trust, client certificate and key), and whether to check the broker's certificate. */
          tls: Type.Optional(
            Type.Object(
              {
                ca: Type.Optional(Type.String({ minLength: 1 })),
                cert: Type.Optional(Type.String({ minLength: 1 })),
                key: Type.Optional(Type.String({ minLength: 1 })),
                reject_unauthorized: Type.Optional(Type.Boolean()),
              },
              { additionalProperties: false },
            ),
          ),
          keepalive_seconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 3600 })),
          /** Camera state (bitrate, last segment age) is published at least this often. */
          publish_interval_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
          /** Each camera's snapshot is also published this often; 0 (default): only on request. */
          snapshot_interval_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Signed webhooks driven from the event log (docs/operations.md, "Webhooks"). */
    webhooks: Type.Optional(
      Type.Object(
        {
          /** Receivers on loopback, link-local, private, CGNAT or multicast addresses are refused unless allowed: true, or CIDRs. */
          allow_private_networks: Type.Optional(Type.Union([Type.Boolean(), Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 64 })])),
          /** One attempt (connect, send, answer) is cut off after this long. */
          timeout_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 120 })),
          /** Attempts per delivery before it is abandoned (a redelivery gives a fresh budget). */
          max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })),
          /** Waits between attempts grow geometrically from the first to the last. */
          backoff_initial_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000 })),
          backoff_max_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 7 * 86_400_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Scheduled catalog backups with rotation (docs/operations.md, "Backups"); none unless set. */
    backup: Type.Optional(
      Type.Object(
        {
          /** Folder that receives one `vigil-<UTC stamp>/` per backup. */
          dir: Type.String({ minLength: 1 }),
          /** Hours between backups (default 24). */
          every_hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 720 })),
          /** Backups kept, newest first (default 7). */
          keep: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** ONVIF: how often the clocks of cameras with an onvif_url are read (0 = never). */
    onvif: Type.Optional(
      Type.Object(
        { clock_check_interval_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 86_400 })) },
        { additionalProperties: false },
      ),
    ),
    cameras: Type.Optional(Type.Array(CameraCreate, { maxItems: 1024 })),
  },
  { additionalProperties: false },
);
export type ConfigFile = Static<typeof ConfigFile>;
