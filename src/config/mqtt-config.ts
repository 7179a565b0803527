import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { VigilError } from '../shared/errors.js';
import { maskUrl } from '../shared/redact.js';
import type { ConfigFile } from './config.schema.js';

/** The `mqtt:` section, checked and with its defaults (docs/operations.md, "MQTT and Home Assistant"). */
export interface MqttConfig {
  /** `mqtt://host:port` or `mqtts://host:port`, never with credentials in it. */
  url: string;
  username: string | null;
  /** From `mqtt.password` or `VIGIL_MQTT_PASSWORD`; never logged, never in an error. */
  password: string | null;
  clientId: string;
  topicPrefix: string;
  discovery: { enabled: boolean; prefix: string };
  /** PEM paths resolved against the working directory; only with mqtts://. */
  tls: { caPath: string | null; certPath: string | null; keyPath: string | null; rejectUnauthorized: boolean } | null;
  keepaliveSeconds: number;
  publishIntervalSeconds: number;
  /** 0: snapshots only on request. */
  snapshotIntervalSeconds: number;
}

type MqttFile = NonNullable<ConfigFile['mqtt']>;

/** Topic levels of letters, digits, `_` and `-`, separated by `/`: no wildcard, no empty level. */
const TOPIC_PREFIX = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+){0,7}$/;
const BROKER_URL = /^(mqtts?):\/\/([^\s/?#@]+)\/?$/i;

/** Home Assistant's node id for this Vigil: its topic prefix as one level (`site/vigil` → `site_vigil`). */
export function nodeIdOf(topicPrefix: string): string {
  return topicPrefix.replace(/\//g, '_');
}

export function mqttConfigFrom(file: MqttFile | undefined, cwd: string, env: (name: string) => string | undefined): MqttConfig | null {
  if (!file) return null;
  const url = checkUrl(file.url);
  if (file.password !== undefined && file.username === undefined) {
    throw mqttError('mqtt.password', 'a password needs mqtt.username');
  }
  const topicPrefix = checkPrefix(file.topic_prefix ?? 'vigil', 'mqtt.topic_prefix');
  const discoveryPrefix = checkPrefix(file.discovery?.prefix ?? 'homeassistant', 'mqtt.discovery.prefix');
  if (discoveryPrefix === topicPrefix) throw mqttError('mqtt.discovery.prefix', 'must differ from mqtt.topic_prefix');
  const password = env('VIGIL_MQTT_PASSWORD') ?? file.password ?? null;
  return {
    url,
    username: file.username ?? null,
    password,
    clientId: file.client_id ?? defaultClientId(topicPrefix),
    topicPrefix,
    discovery: { enabled: file.discovery?.enabled ?? true, prefix: discoveryPrefix },
    tls: tlsFrom(file, url, cwd),
    keepaliveSeconds: file.keepalive_seconds ?? 30,
    publishIntervalSeconds: file.publish_interval_seconds ?? 10,
    snapshotIntervalSeconds: file.snapshot_interval_seconds ?? 0,
  };
}

function checkUrl(raw: string): string {
  // The URL is shown masked: a password written into it by mistake is not printed back.
  if (raw.includes('@')) throw mqttError('mqtt.url', `"${maskUrl(raw)}" holds credentials; put them in mqtt.username and mqtt.password`);
  const m = BROKER_URL.exec(raw.trim());
  const port = m ? /:(\d+)$/.exec(m[2] as string)?.[1] : undefined;
  if (!m || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
    throw mqttError('mqtt.url', `"${raw}" is not mqtt://host[:port] or mqtts://host[:port]`);
  }
  return `${(m[1] as string).toLowerCase()}://${m[2] as string}`;
}

function checkPrefix(value: string, field: string): string {
  if (!TOPIC_PREFIX.test(value)) {
    throw mqttError(field, 'must be up to 8 topic levels of letters, digits, _ and -, separated by / (no wildcards, no leading or trailing /)');
  }
  return value;
}

function tlsFrom(file: MqttFile, url: string, cwd: string): MqttConfig['tls'] {
  const secure = url.startsWith('mqtts://');
  const t = file.tls;
  if (!secure) {
    if (t) throw mqttError('mqtt.tls', 'TLS settings need an mqtts:// url');
    return null;
  }
  if (t?.cert !== undefined && t.key === undefined) throw mqttError('mqtt.tls.key', 'a client certificate needs its key');
  if (t?.key !== undefined && t.cert === undefined) throw mqttError('mqtt.tls.cert', 'a client key needs its certificate');
  const path = (p: string | undefined) => (p === undefined ? null : resolve(cwd, p));
  return { caPath: path(t?.ca), certPath: path(t?.cert), keyPath: path(t?.key), rejectUnauthorized: t?.reject_unauthorized ?? true };
}

/** Stable across restarts (broker ACLs name it) and distinct per Vigil: the node id and the host. */
function defaultClientId(topicPrefix: string): string {
  const host = hostname().toLowerCase().replace(/[^a-z0-9_-]+/g, '-');
  return `${nodeIdOf(topicPrefix)}-${host}`.toLowerCase().replace(/[^a-z0-9_-]/g, '-').slice(0, 63);
}

function mqttError(field: string, message: string): VigilError {
  return new VigilError('invalid_argument', `invalid configuration: ${field}: ${message}`, { field });
}
