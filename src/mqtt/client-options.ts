import { readFile } from 'node:fs/promises';
import type { IClientOptions } from 'mqtt';
import type { MqttConfig } from '../config/mqtt-config.js';
import { VigilError } from '../shared/errors.js';

/** First wait before reconnecting to a broker that went away; it doubles up to the cap. */
export const RECONNECT_INITIAL_MS = 1000;
export const RECONNECT_MAX_MS = 30_000;
/** A broker that accepts the TCP connection but never answers CONNECT is given up on after this. */
export const CONNECT_TIMEOUT_MS = 10_000;

/**
 * mqtt.js options from the config: credentials, TLS (PEM files read now, so that a missing file stops
 * start-up naming its field), keepalive, the retained last will `offline` on the availability topic,
 * and reconnection by mqtt.js itself (the bridge grows `reconnectPeriod` while the broker stays away).
 */
export async function clientOptions(config: MqttConfig, availabilityTopic: string): Promise<IClientOptions> {
  const tls = config.tls;
  return {
    clientId: config.clientId,
    ...(config.username === null ? {} : { username: config.username }),
    ...(config.password === null ? {} : { password: config.password }),
    keepalive: config.keepaliveSeconds,
    clean: true,
    reconnectPeriod: RECONNECT_INITIAL_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // A broker that refuses the credentials (its user not made yet, an ACL being fixed) is retried like one that is down.
    reconnectOnConnackError: true,
    // The bridge queues (bounded) while disconnected; mqtt.js must not keep a second, unbounded queue.
    queueQoSZero: false,
    // The bridge subscribes again on every connection: retained messages then tell it what a past run left.
    resubscribe: false,
    will: { topic: availabilityTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
    ...(tls
      ? {
          rejectUnauthorized: tls.rejectUnauthorized,
          ...(tls.caPath === null ? {} : { ca: await readPem(tls.caPath, 'mqtt.tls.ca') }),
          ...(tls.certPath === null ? {} : { cert: await readPem(tls.certPath, 'mqtt.tls.cert') }),
          ...(tls.keyPath === null ? {} : { key: await readPem(tls.keyPath, 'mqtt.tls.key') }),
        }
      : {}),
  };
}

async function readPem(path: string, field: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new VigilError('invalid_argument', `${field}: cannot read ${path}: ${(err as Error).message}`, { field });
  }
}
