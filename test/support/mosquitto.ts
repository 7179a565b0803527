import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { sleep } from '../../src/shared/sleep.js';

/** Debian's broker (`scripts/install-deps.sh --test` installs the `mosquitto` package). */
export const MOSQUITTO = '/usr/sbin/mosquitto';

export interface MosquittoOptions {
  /** Folder for the config file (and whatever the test puts there: passwords, certificates). */
  dir: string;
  /** Default: a free port; pass the port of a broker that was stopped to start it again in its place. */
  port?: number;
  /** Server certificate and key (PEM): the listener speaks TLS only. */
  tls?: { certPath: string; keyPath: string };
  /** A `mosquitto_passwd` file: anonymous clients are refused. */
  passwordFile?: string;
}

export interface Mosquitto {
  port: number;
  /** mqtt:// or mqtts:// on 127.0.0.1. */
  url: string;
  proc: ChildProcess;
  output: () => string;
  /** SIGTERM, waited for. */
  stop(): Promise<void>;
  /** SIGKILL: the broker vanishes without closing anything (its retained messages too: no persistence). */
  kill(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts mosquitto on 127.0.0.1 with its own config file and waits until it accepts connections. */
export async function startMosquitto(opts: MosquittoOptions): Promise<Mosquitto> {
  const port = opts.port ?? (await freePort());
  const conf = join(opts.dir, `mosquitto-${port}.conf`);
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      opts.passwordFile ? `password_file ${opts.passwordFile}` : 'allow_anonymous true',
      ...(opts.passwordFile ? ['allow_anonymous false'] : []),
      ...(opts.tls ? [`certfile ${opts.tls.certPath}`, `keyfile ${opts.tls.keyPath}`] : []),
      'persistence false',
      // Started as root, mosquitto would switch to the user `mosquitto`, who cannot read the test's files.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      '',
    ].join('\n'),
  );
  const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; ; i++) {
    if (gone) throw new Error(`mosquitto exited at start:\n${out.slice(-2000)}`);
    if (await accepts(port)) break;
    if (i > 100) {
      proc.kill('SIGKILL');
      throw new Error(`mosquitto did not listen on ${port} within 10 s:\n${out.slice(-2000)}`);
    }
    await sleep(100);
  }
  const end = async (signal: NodeJS.Signals) => {
    if (!gone) proc.kill(signal);
    await exited;
  };
  return {
    port,
    url: `${opts.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    proc,
    output: () => out,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export interface ReceivedMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
  /** When it arrived (ms since the epoch). */
  atMs: number;
}

export interface TopicWatcher {
  client: MqttClient;
  messages: ReceivedMessage[];
  /** The first message (at or after index `from`) that `match` accepts; waits up to `timeoutMs`. */
  next(match: (m: ReceivedMessage) => boolean, timeoutMs?: number, from?: number): Promise<ReceivedMessage>;
  end(): Promise<void>;
}

/** A test's own client: subscribes to `filters` and keeps every message it receives, retained ones too. */
export async function watchTopics(url: string, filters: string[], options: IClientOptions = {}): Promise<TopicWatcher> {
  const client = await connectAsync(url, { reconnectPeriod: 200, connectTimeout: 5000, ...options });
  const messages: ReceivedMessage[] = [];
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload, retain: packet.retain, atMs: Date.now() }));
  await client.subscribeAsync(filters, { qos: 1 });
  return {
    client,
    messages,
    async next(match, timeoutMs = 30_000, from = 0) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.slice(from).find(match);
        if (found) return found;
        if (Date.now() > deadline) {
          const seen = messages.slice(from).map((m) => `${m.topic}${m.retain ? ' (retained)' : ''}: ${m.payload.toString().slice(0, 80)}`);
          throw new Error(`no matching MQTT message within ${timeoutMs} ms; saw:\n${seen.slice(-30).join('\n')}`);
        }
        await sleep(50);
      }
    },
    async end() {
      await client.endAsync(true);
    },
  };
}

/**
 * The retained messages a new subscriber to `filter` receives (what the broker keeps), topic → payload;
 * empty payloads (a removal) are not retained and so never appear.
 */
export async function retainedUnder(url: string, filter: string, options: IClientOptions = {}, settleMs = 400): Promise<Map<string, Buffer>> {
  const client = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  const found = new Map<string, Buffer>();
  try {
    client.on('message', (topic, payload, packet) => {
      if (packet.retain) found.set(topic, payload);
    });
    await client.subscribeAsync(filter, { qos: 1 });
    await sleep(settleMs);
    return found;
  } finally {
    await client.endAsync(true);
  }
}
