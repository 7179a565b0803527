import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { buildConfig, type Config } from '../config/config.js';
import { VigilError } from '../shared/errors.js';

const CWD = '/srv/vigil';
const build = (raw: unknown, env: NodeJS.ProcessEnv = {}): Config => buildConfig(raw, { source: null, cwd: CWD, env, overrides: {} });

function errorOf(fn: () => unknown): VigilError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VigilError);
    return err as VigilError;
  }
  throw new Error('expected a configuration error, got none');
}

const mqtt = (extra: Record<string, unknown> = {}) => ({ mqtt: { url: 'mqtt://broker.lan:1883', ...extra } });

describe('mqtt settings', () => {
  it('are off without an mqtt section', () => {
    expect(build({}).mqtt).toBeNull();
  });

  it('default to the topic prefix "vigil", Home Assistant discovery on "homeassistant", 30 s keepalive, state every 10 s, snapshots on request only', () => {
    const c = build(mqtt()).mqtt;
    expect(c).toEqual({
      url: 'mqtt://broker.lan:1883',
      username: null,
      password: null,
      clientId: expect.stringMatching(/^vigil-/),
      topicPrefix: 'vigil',
      discovery: { enabled: true, prefix: 'homeassistant' },
      tls: null,
      keepaliveSeconds: 30,
      publishIntervalSeconds: 10,
      snapshotIntervalSeconds: 0,
    });
    // Stable across restarts and distinct per prefix and host.
    expect(c?.clientId).toBe(`vigil-${hostname().toLowerCase()}`.replace(/[^a-z0-9_-]/g, '-').slice(0, 63));
    expect(build(mqtt({ topic_prefix: 'site/a' })).mqtt?.clientId).toMatch(/^site_a-/);
  });

  it('read every key; TLS paths resolve against the working directory and check the broker by default', () => {
    const c = build(
      mqtt({
        url: 'mqtts://broker.lan:8883',
        username: 'vigil',
        password: 'p@ss',
        client_id: 'nvr-1',
        topic_prefix: 'home/nvr',
        discovery: { enabled: false, prefix: 'ha' },
        tls: { ca: 'ca.pem', cert: '/etc/c.pem', key: 'k.pem' },
        keepalive_seconds: 60,
        publish_interval_seconds: 5,
        snapshot_interval_seconds: 30,
      }),
    ).mqtt;
    expect(c).toMatchObject({
      url: 'mqtts://broker.lan:8883',
      username: 'vigil',
      password: 'p@ss',
      clientId: 'nvr-1',
      topicPrefix: 'home/nvr',
      discovery: { enabled: false, prefix: 'ha' },
      tls: { caPath: '/srv/vigil/ca.pem', certPath: '/etc/c.pem', keyPath: '/srv/vigil/k.pem', rejectUnauthorized: true },
      keepaliveSeconds: 60,
      publishIntervalSeconds: 5,
      snapshotIntervalSeconds: 30,
    });
    expect(build(mqtt({ url: 'mqtts://b:8883', tls: { reject_unauthorized: false } })).mqtt?.tls).toEqual({ caPath: null, certPath: null, keyPath: null, rejectUnauthorized: false });
  });

  it('take the password from VIGIL_MQTT_PASSWORD over the file', () => {
    expect(build(mqtt({ username: 'u', password: 'file' }), { VIGIL_MQTT_PASSWORD: 'env' }).mqtt?.password).toBe('env');
  });

  it('refuse bad values naming the field', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ mqtt: {} }, 'mqtt.url'],
      [mqtt({ url: 'http://broker:1883' }), 'mqtt.url'],
      [mqtt({ url: 'mqtt://broker:1883/path' }), 'mqtt.url'],
      [mqtt({ url: 'mqtt://broker:99999' }), 'mqtt.url'],
      [mqtt({ password: 'x' }), 'mqtt.password'],
      [mqtt({ client_id: 'has space' }), 'mqtt.client_id'],
      [mqtt({ topic_prefix: 'a/+/b' }), 'mqtt.topic_prefix'],
      [mqtt({ topic_prefix: '/vigil' }), 'mqtt.topic_prefix'],
      [mqtt({ topic_prefix: 'vigil/#' }), 'mqtt.topic_prefix'],
      [mqtt({ discovery: { prefix: 'home assistant' } }), 'mqtt.discovery.prefix'],
      [mqtt({ discovery: { prefix: 'vigil' } }), 'mqtt.discovery.prefix'],
      [mqtt({ discovery: { enabled: 'yes' } }), 'mqtt.discovery.enabled'],
      [mqtt({ tls: { ca: 'ca.pem' } }), 'mqtt.tls'],
      [mqtt({ url: 'mqtts://b', tls: { cert: 'c.pem' } }), 'mqtt.tls.key'],
      [mqtt({ url: 'mqtts://b', tls: { key: 'k.pem' } }), 'mqtt.tls.cert'],
      [mqtt({ keepalive_seconds: 1 }), 'mqtt.keepalive_seconds'],
      [mqtt({ publish_interval_seconds: 0 }), 'mqtt.publish_interval_seconds'],
      [mqtt({ publish_interval_seconds: 1.5 }), 'mqtt.publish_interval_seconds'],
      [mqtt({ snapshot_interval_seconds: -1 }), 'mqtt.snapshot_interval_seconds'],
      [mqtt({ qos: 2 }), 'mqtt.qos'],
    ];
    for (const [raw, field] of cases) {
      const err = errorOf(() => build(raw));
      expect({ raw, field: err.field }).toEqual({ raw, field });
      expect(err.kind).toBe('invalid_argument');
      expect(err.message).toContain(field);
    }
  });

  it('never print a password, not even one written into the URL by mistake', () => {
    const err = errorOf(() => build(mqtt({ url: 'mqtt://vigil:Hunter2-secret@broker:1883' })));
    expect(err.field).toBe('mqtt.url');
    expect(err.message).not.toContain('Hunter2-secret');
    expect(err.message).toContain('mqtt.username');
    const tooLong = errorOf(() => build(mqtt({ username: 'u', password: 'Hunter2-secret'.repeat(100) })));
    expect(tooLong.field).toBe('mqtt.password');
    expect(tooLong.message).not.toContain('Hunter2-secret');
  });
});
