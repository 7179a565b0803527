import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { createApp, type AppOptions, type VigilApp } from '../../src/app.js';
import type { CameraCreate } from '../../src/config/camera.schema.js';
import { buildConfig } from '../../src/config/config.js';
import { upsertDeclaredCamera } from '../../src/db/camera.repo.js';
import { indexSegment, type Segment } from '../../src/db/segment.repo.js';
import type { Clock } from '../../src/shared/clock.js';
import { FakeRecorders } from './fake-recorder.js';
import { memoryLogger, removeDir, tempDir } from './harness.js';

/** A clock the test moves by hand (key expiry, lockout windows) instead of sleeping. */
export class ManualClock implements Clock {
  constructor(private ms = Date.now()) {}
  nowMs(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface InjectResponse {
  status: number;
  headers: LightMyRequestResponse['headers'];
  text: string;
  /** The body parsed as JSON ({} when empty, undefined when not JSON). */
  json: Record<string, unknown>;
  bytes: number;
  /** The body as bytes (binary downloads). */
  rawPayload: Buffer;
}

export interface CallOptions {
  body?: unknown;
  /** Sent as is, with `content-type: application/json` (malformed JSON). */
  raw?: string;
  requestId?: string;
  headers?: Record<string, string>;
}

export interface InjectVigil {
  app: VigilApp;
  dataDir: string;
  clock: ManualClock;
  recorders: FakeRecorders;
  logs: () => string;
  admin: { username: string; password: string };
  /** The admin API key (role admin, every camera). */
  adminKey: string;
  /** What a same-origin page sends as `Origin` (inject's default host is localhost:80). */
  origin: string;
  /** One request through Fastify's `inject()`: `key` null is anonymous; path relative to /api/v1 unless it starts with `/api/`. */
  call(key: string | null, method: string, path: string, opts?: CallOptions): Promise<InjectResponse>;
  /** As the admin key. */
  api(method: string, path: string, opts?: CallOptions): Promise<InjectResponse>;
  /** A new API key through the API, as the admin. */
  createKey(body: Record<string, unknown>): Promise<string>;
  /** A segment row written by the indexer's own repository (no file behind it: for tests that never read footage). */
  addSegment(cameraId: string, startMs: number, endMs: number): Promise<Segment>;
  close(): Promise<void>;
}

/**
 * The real Vigil (createApp: every service, the HTTP server with its hooks, schemas and error mapper,
 * a real SQLite catalog file with its migrations) reached through `inject()`: nothing listens, no
 * ffmpeg starts (the recorder launcher is `FakeRecorders`), no RTSP server is needed. What `start()`
 * would do that routes depend on is done here: declared cameras upserted, recorders synced, live view
 * following camera changes.
 */
export async function injectVigil(opts: { cameras?: CameraCreate[]; auth?: Record<string, number>; app?: Partial<AppOptions> } = {}): Promise<InjectVigil> {
  const dataDir = await tempDir('vigil-inject-');
  const config = buildConfig(
    {
      demo: false,
      listen: '127.0.0.1:0',
      retention: { min_free_bytes: 0 },
      ...(opts.auth ? { auth: opts.auth } : {}),
      cameras: opts.cameras ?? [],
    },
    { source: null, cwd: dataDir, env: {}, overrides: { dataDir } },
  );
  const clock = new ManualClock();
  const recorders = new FakeRecorders();
  const { log, text } = memoryLogger();
  const app = await createApp(config, { clock, log, launcher: recorders.launcher, showSecret: () => undefined, ...opts.app });
  for (const c of config.cameras) await upsertDeclaredCamera(app.db, c, 'config', clock.nowMs());
  await app.cameras.syncRecorders();
  app.live.start();
  await app.http.ready();

  const admin = { username: 'admin', password: 'correct horse battery' };
  await app.auth.createUser({ ...admin, role: 'admin' });
  const adminKey = (await app.auth.createKey({ name: 'tests', role: 'admin' }, null)).key;

  async function call(key: string | null, method: string, path: string, o: CallOptions = {}): Promise<InjectResponse> {
    const headers: Record<string, string> = { ...o.headers };
    if (key !== null) headers.authorization = `Bearer ${key}`;
    if (o.body !== undefined || o.raw !== undefined) headers['content-type'] ??= 'application/json';
    if (o.requestId) headers['x-request-id'] = o.requestId;
    const req: InjectOptions = {
      method: method as InjectOptions['method'],
      url: path.startsWith('/api/') ? path : `/api/v1${path}`,
      headers,
      ...(o.raw !== undefined ? { payload: o.raw } : o.body !== undefined ? { payload: JSON.stringify(o.body) } : {}),
    };
    const res = await app.http.inject(req);
    let json: Record<string, unknown>;
    try {
      json = res.body ? (JSON.parse(res.body) as Record<string, unknown>) : {};
    } catch {
      json = undefined as unknown as Record<string, unknown>;
    }
    return { status: res.statusCode, headers: res.headers, text: res.body, json, bytes: res.rawPayload.length, rawPayload: res.rawPayload };
  }

  return {
    app,
    dataDir,
    clock,
    recorders,
    logs: text,
    admin,
    adminKey,
    origin: 'http://localhost:80',
    call,
    api: (method, path, o) => call(adminKey, method, path, o),
    async createKey(body) {
      const r = await call(adminKey, 'POST', '/api-keys', { body });
      if (r.status !== 201) throw new Error(`creating key ${JSON.stringify(body)}: ${r.status} ${r.text}`);
      return r.json.key as string;
    },
    async addSegment(cameraId, startMs, endMs) {
      const path = `recordings/${cameraId}/${new Date(startMs).toISOString().replace(/[-:.]/g, '')}.mp4`;
      const r = await indexSegment(app.db, { cameraId, path, startMs, endMs, sizeBytes: 1000, codec: 'h264', width: 320, height: 240, source: 'live', fps: 15 }, clock.nowMs());
      if (!r.segment) throw new Error(`segment ${cameraId} ${startMs}..${endMs} overlaps one already indexed`);
      return r.segment;
    },
    async close() {
      await app.stop();
      await removeDir(dataDir);
    },
  };
}
