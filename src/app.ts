import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildHttpServer } from './api/server.js';
import type { Config } from './config/config.js';
import { clearPids } from './db/camera-status.repo.js';
import { cameraIdTaken, upsertDeclaredCamera } from './db/camera.repo.js';
import { openDatabase, type OpenedDb } from './db/connection.js';
import { clearReadLocks } from './db/read-lock.repo.js';
import { startDemo, type Demo } from './demo/demo-cameras.js';
import { EventLog } from './events/event-log.js';
import { FootageService } from './indexer/footage.service.js';
import { Indexer } from './indexer/indexer.service.js';
import { reconcileCamera } from './indexer/reconcile.js';
import { ffmpegVersion } from './media/ffmpeg-check.js';
import { spawnRecorder, type RecorderLauncher } from './media/ffmpeg-process.js';
import { CameraService } from './recorder/camera.service.js';
import { findOrphanRecorders, killAndWait } from './recorder/orphans.js';
import { RecorderManager } from './recorder/recorder-manager.js';
import { systemClock, type Clock } from './shared/clock.js';
import { createLogger, type Logger } from './shared/logger.js';

export interface AppOptions {
  clock?: Clock;
  launcher?: RecorderLauncher;
  log?: Logger;
}

export interface VigilApp {
  readonly config: Config;
  readonly db: OpenedDb['db'];
  readonly http: FastifyInstance;
  readonly events: EventLog;
  readonly cameras: CameraService;
  readonly recorders: RecorderManager;
  readonly demo: Demo;
  /** The address the HTTP server listens on, once `start()` resolved. */
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Composition root. Start-up order: data dir → database (migrations) → kill orphan recorders a crash
 * left → cameras from the file (and the demo) → reconcile files with rows → HTTP → recorders.
 * Shutdown is the reverse, and stops every ffmpeg so that its last segment is closed and indexed.
 */
export async function createApp(config: Config, opts: AppOptions = {}): Promise<VigilApp> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? createLogger(config.logLevel);
  const recordingsDir = join(config.dataDir, 'recordings');
  await mkdir(recordingsDir, { recursive: true });
  const opened = await openDatabase(join(config.dataDir, 'vigil.db'));
  const db = opened.db;

  const events = new EventLog(db, clock, log.child({ component: 'events' }));
  const indexer = new Indexer({ db, dataDir: config.dataDir, clock, events, log });
  const recorders = new RecorderManager({
    db,
    clock,
    events,
    indexer,
    launcher: opts.launcher ?? spawnRecorder,
    config: config.recorder,
    log: log.child({ component: 'recorder' }),
  });
  const cameras = new CameraService({ db, clock, events, recorders });
  const footage = new FootageService(db);
  let ready = false;
  let demo: Demo = { server: undefined, stop: async () => undefined };

  const http = await buildHttpServer({
    cameras,
    footage,
    clock,
    log,
    health: {
      async ready() {
        let dbOk = true;
        try {
          await cameras.list();
        } catch {
          dbOk = false;
        }
        return { ready: ready && dbOk, detail: { started: ready, database: dbOk ? 'ok' : 'unreachable', recorders: recorders.runningIds().length } };
      },
    },
  });

  const app: VigilApp = {
    config,
    db,
    http,
    events,
    cameras,
    recorders,
    get demo() {
      return demo;
    },
    url: '',
    async start() {
      const ffmpeg = await ffmpegVersion(config.recorder.ffmpegPath);
      log.info({ ffmpeg }, 'ffmpeg found');
      const orphans = await findOrphanRecorders(recordingsDir);
      if (orphans.length > 0) {
        await killAndWait(orphans);
        await events.emit({ type: 'orphan_recorders_killed', severity: 'warning', requestId: null, payload: { pids: orphans } });
      }
      await clearPids(db, clock.nowMs());
      // No reader exists before start-up ends: every read-lock left in the table is stale.
      const staleLocks = await clearReadLocks(db);
      if (staleLocks > 0) log.warn({ segments: staleLocks }, 'cleared stale read-locks');
      for (const c of config.cameras) await upsertDeclaredCamera(db, c, 'config', clock.nowMs());
      demo = await startDemo(db, config.demo, clock.nowMs(), log.child({ component: 'demo' }));
      await reconcileAll();
      const address = await http.listen({ host: config.listen.host, port: config.listen.port });
      app.url = address;
      await cameras.syncRecorders();
      ready = true;
      await events.emit({ type: 'vigil_started', requestId: null, payload: { listen: address, recorders: recorders.runningIds().length } });
    },
    async stop() {
      ready = false;
      await http.close();
      await recorders.stopAll();
      await demo.stop();
      await events.emit({ type: 'vigil_stopped', requestId: null, payload: {} });
      await opened.close();
    },
  };

  /** Files a crash left without a row are indexed; rows whose file is gone are reported. */
  async function reconcileAll(): Promise<void> {
    const dirs = await readdir(recordingsDir, { withFileTypes: true });
    for (const d of dirs) {
      if (!d.isDirectory()) continue;
      const taken = await cameraIdTaken(db, d.name);
      if (!taken.live && !taken.deleted) {
        log.warn({ dir: d.name }, 'recordings folder of an unknown camera left alone');
        continue;
      }
      const report = await reconcileCamera({ db, indexer, events }, d.name, { reportMissing: true });
      if (report.recovered + report.discarded + report.missing > 0) log.info({ cameraId: d.name, ...report }, 'reconciled recordings');
    }
  }

  return app;
}
