import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createApp, type AppOptions, type VigilApp } from '../../src/app.js';
import type { CameraCreate } from '../../src/config/camera.schema.js';
import { buildConfig } from '../../src/config/config.js';
import type { Logger } from '../../src/shared/logger.js';
import { sleep } from '../../src/shared/sleep.js';

export async function tempDir(prefix = 'vigil-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Polls `fn` until it returns a truthy value; throws with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 30_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

/** A pino logger whose lines are kept in memory, so tests can search them (e.g. for leaked secrets). */
/** A debug-level logger into memory; with `tailBytes`, only about the last that many bytes are kept (long storms). */
export function memoryLogger(tailBytes = Infinity): { log: Logger; text: () => string } {
  const chunks: string[] = [];
  let bytes = 0;
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8');
      chunks.push(text);
      bytes += text.length;
      while (bytes > tailBytes && chunks.length > 1) bytes -= (chunks.shift() as string).length;
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), text: () => chunks.join('') };
}

export interface TestVigil {
  app: VigilApp;
  dataDir: string;
  logs: () => string;
  /** The admin user's credentials, for sign-in through the API or the web page. */
  admin: { username: string; password: string };
  /** Headers that authenticate as an admin (an API key); spread them into any request made without `api()`. */
  auth: Record<string, string>;
  /** `fetch` against the running API as an admin, path relative to /api/v1. */
  api(path: string, init?: RequestInit): Promise<Response>;
}

/** Starts a real Vigil (real SQLite file, real ffmpeg, real HTTP on a free port) in this process. */
export async function startVigil(
  opts: {
    dataDir?: string;
    cameras?: CameraCreate[];
    recorder?: Record<string, number | string>;
    retention?: Record<string, number | string | null>;
    anr?: Record<string, number>;
    /** ONVIF settings, e.g. `{ clock_check_interval_seconds: 1 }`. */
    onvif?: Record<string, number>;
    auth?: Record<string, number>;
    /** The `mqtt:` section of the config file (broker URL, topic prefix, …). */
    mqtt?: Record<string, unknown>;
    /** The `webhooks:` section (e.g. allow_private_networks for a receiver on loopback). */
    webhooks?: Record<string, unknown>;
    /** The `site:` section (its time zone). */
    site?: Record<string, string>;
    /** The `media:` section (e.g. clip_max_seconds). */
    media?: Record<string, number>;
    /** Live view tuning passed to createApp (e.g. a small viewer buffer bound). */
    live?: AppOptions['live'];
    /** Keep only about the last this many bytes of log (a storm of thousands of cycles); default all. */
    logTailBytes?: number;
    /** The recorders' ffmpeg launcher (e.g. the real one, watched); default the real one. */
    launcher?: AppOptions['launcher'];
    /** Runs beside app.start() (what the API says while start-up is still under way); both are awaited. */
    whileStarting?: (app: VigilApp) => Promise<unknown>;
  } = {},
): Promise<TestVigil> {
  const dataDir = opts.dataDir ?? (await tempDir());
  const config = buildConfig(
    {
      demo: false,
      listen: '127.0.0.1:0',
      recorder: { rtsp_timeout_seconds: 3, backoff_initial_ms: 500, backoff_max_ms: 2000, stop_timeout_ms: 5000, ...opts.recorder },
      // A test machine's disk may be nearly full; only retention tests set a floor.
      retention: { min_free_bytes: 0, ...opts.retention },
      ...(opts.anr ? { anr: opts.anr } : {}),
      ...(opts.onvif ? { onvif: opts.onvif } : {}),
      ...(opts.auth ? { auth: opts.auth } : {}),
      ...(opts.mqtt ? { mqtt: opts.mqtt } : {}),
      ...(opts.webhooks ? { webhooks: opts.webhooks } : {}),
      ...(opts.media ? { media: opts.media } : {}),
      // UTC unless a test names a zone: the pages' times then read the same on any machine.
      site: { time_zone: 'UTC', ...opts.site },
      cameras: opts.cameras ?? [],
    },
    { source: null, cwd: dataDir, env: {}, overrides: { dataDir } },
  );
  const { log, text } = memoryLogger(opts.logTailBytes);
  const app = await createApp(config, { log, ...(opts.live ? { live: opts.live } : {}), ...(opts.launcher ? { launcher: opts.launcher } : {}) });
  // A user exists before start-up, so no first admin is generated; the tests act through an admin API key.
  const admin = { username: 'admin', password: 'correct horse battery' };
  // A second start on the same data dir finds the admin there already.
  if (!(await app.auth.userByName(admin.username))) await app.auth.createUser({ ...admin, role: 'admin' });
  const { key } = await app.auth.createKey({ name: 'tests', role: 'admin' }, null);
  await Promise.all([app.start(), opts.whileStarting?.(app)]);
  const auth: Record<string, string> = { authorization: `Bearer ${key}` };
  return {
    app,
    dataDir,
    logs: text,
    auth,
    admin,
    api: (path, init) => fetch(`${app.url}/api/v1${path}`, { ...init, headers: { ...auth, ...(init?.headers as Record<string, string> | undefined) } }),
  };
}

/** Pids of running ffmpeg processes whose command line mentions `needle` (e.g. a data dir). */
export async function ffmpegPidsFor(needle: string): Promise<number[]> {
  const { readFile } = await import('node:fs/promises');
  const pids: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    const stat = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    if (/\) Z /.test(stat)) continue;
    const argv = cmd.split('\0');
    if (argv.some((a) => /(^|\/)ffmpeg$/.test(a)) && cmd.includes(needle)) pids.push(Number(e));
  }
  return pids;
}

export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
  }
  return out;
}

/** Children of this process that exited but were never waited for (zombies). */
export async function zombieChildren(): Promise<number[]> {
  const pids: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const m = /\) (\S) (\d+) /.exec(await readFile(`/proc/${e}/stat`, 'utf8').catch(() => ''));
    if (m && m[1] === 'Z' && Number(m[2]) === process.pid) pids.push(Number(e));
  }
  return pids;
}
