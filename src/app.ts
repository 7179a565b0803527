import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { RefillService } from './anr/refill.service.js';
import { buildHttpServer, type HttpDeps } from './api/server.js';
import { AuditLog } from './auth/audit.js';
import { AuthService } from './auth/auth.service.js';
import { newPassword } from './auth/secrets.js';
import { isLoopback, type Config } from './config/config.js';
import { clearPids } from './db/camera-status.repo.js';
import { cameraIdTaken, deleteCamera, getCamera, listCameras, upsertDeclaredCamera } from './db/camera.repo.js';
import { openDatabase, type OpenedDb } from './db/connection.js';
import { backupInWorker } from './db/backup.js';
import { DatabaseWriteHealth } from './db/write-errors.js';
import { clearReadLocks } from './db/read-lock.repo.js';
import { startDemo, type Demo } from './demo/demo-cameras.js';
import { EventLog } from './events/event-log.js';
import { ClipService } from './export/clip.service.js';
import { PreviewService } from './export/preview.service.js';
import { spawnPreview } from './media/preview-args.js';
import { PlaybackService, type Head } from './export/playback.service.js';
import { MediaJobs } from './export/media-jobs.js';
import { SnapshotService } from './export/snapshot.service.js';
import { WarmDecoderPool } from './export/warm-decoders.js';
import { FootageService } from './footage/footage.service.js';
import { MotionQueries } from './footage/motion-search.js';
import { Indexer } from './indexer/indexer.service.js';
import { reconcileCamera } from './indexer/reconcile.js';
import { LiveHub, type LiveHubOptions } from './live/live-hub.js';
import { ffmpegVersion } from './media/ffmpeg-check.js';
import { spawnRecorder, type RecorderLauncher } from './media/ffmpeg-process.js';
import { spawnSupervised } from './media/child.js';
import { spawnMediaJob } from './media/ffmpeg-job.js';
import { spawnLiveStream } from './media/live-process.js';
import { ffmpegThumbnailEncoder } from './media/thumbnail-jpeg.js';
import { MotionService } from './motion/motion.service.js';
import { FfmpegProcesses } from './metrics/ffmpeg-processes.js';
import { VigilMetrics } from './metrics/vigil-metrics.js';
import { buildWarmSnapshotArgs } from './media/snapshot-args.js';
import { spawnWarmDecoder } from './media/warm-decoder.js';
import { CameraService } from './cameras/camera.service.js';
import { ClusterNode } from './cluster/cluster-node.js';
import { cachedClusterSecret, PeerFiles } from './cluster/peer-files.js';
import { relayTargetFor } from './cluster/live-relay.js';
import type { Segment } from './db/segment.repo.js';
import { findOrphanRecorders, killAndWait } from './recorder/orphans.js';
import { RecorderManager } from './recorder/recorder-manager.js';
import { EvidenceService } from './footage/evidence.service.js';
import { floorBytes, RetentionService } from './retention/retention.service.js';
import { probeDisk } from './storage/disk.js';
import { StorageWatch } from './storage/storage-watch.js';
import { systemClock, type Clock } from './shared/clock.js';
import { createLogger, type Logger } from './shared/logger.js';
import { VigilError } from './shared/errors.js';
import { removePidFile, runningServer, writePidFile } from './shared/pid-file.js';
import { FootageStore } from './storage/footage-store.js';
import { SigningKey } from './evidence/signing-key.js';
import { ExportService } from './evidence/export.service.js';
import { VIGIL_VERSION } from './shared/version.js';
import { WebhookService } from './webhooks/webhook.service.js';
import { OnvifService } from './onvif/onvif.service.js';
import { CameraClockWatch } from './onvif/clock-watch.service.js';
import type { MqttBridge } from './mqtt/mqtt-bridge.js';
import { BackupService } from './backup/backup.service.js';

export interface AppOptions {
  clock?: Clock;
  launcher?: RecorderLauncher;
  log?: Logger;
  /** Live view tuning (viewer buffer bound, sub-stream linger); the defaults suit production. */
  live?: Partial<LiveHubOptions>;
  /** Where the first admin's generated password is shown (default: stderr, never the log). */
  showSecret?: (text: string) => void;
  /** Tests: scheduled backups this often instead of every `backup.every_hours` (which no test can wait for). */
  backupEveryMs?: number;
}

/** Holds the generated password of the first admin until that admin changes it. */
export const INITIAL_PASSWORD_FILE = 'initial-admin-password';
const BOOTSTRAP_ADMIN = 'admin';
/** After a write failed for want of space, the catalog counts as writable again with this much free. */
const DB_ROOM_BYTES = 8 * 1024 * 1024;
/** The idle snapshot decoders start this long after the recorders (see start()). */
const WARM_DECODERS_AFTER_MS = 3000;
/** Start-up reconciliation waits for the recorders' first ffmpegs at most this long (see start()). */
const RECONCILE_AFTER_LAUNCHES_MAX_MS = 10_000;

export interface VigilApp {
  readonly config: Config;
  readonly db: OpenedDb['db'];
  readonly http: FastifyInstance;
  /** What the HTTP server was built from (benchmarks build a second one beside it). */
  readonly httpDeps: HttpDeps;
  readonly events: EventLog;
  readonly cameras: CameraService;
  readonly recorders: RecorderManager;
  /** Motion detectors of the cameras with motion enabled. */
  readonly motion: MotionService;
  readonly retention: RetentionService;
  /** The recordings disk: full or not (readiness, recorders waiting for room). */
  readonly storage: StorageWatch;
  readonly refills: RefillService;
  readonly live: LiveHub;
  readonly auth: AuthService;
  readonly audit: AuditLog;
  readonly demo: Demo;
  /** Signed webhooks driven from the event log. */
  readonly webhooks: WebhookService;
  /** Vigil on an MQTT broker, when `mqtt.url` is configured. */
  readonly mqtt: MqttBridge | undefined;
  /** The address the HTTP server listens on, once `start()` resolved. */
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Composition root. Start-up order: data dir → database (migrations) → kill orphan recorders a crash
 * left → cameras from the file (and the demo) → reset interrupted gap refills → recorders (each first
 * reconciles its folder's leftovers in its indexing queue, beside ffmpeg) → HTTP → retention and gap
 * refill loops → the other folders reconciled → ready.
 * Shutdown is the reverse, and stops every ffmpeg so that its last segment is closed and indexed.
 */
export async function createApp(config: Config, opts: AppOptions = {}): Promise<VigilApp> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? createLogger(config.logLevel);
  const running = await runningServer(config.dataDir);
  if (running !== undefined) {
    throw new VigilError('failed_precondition', `another Vigil (pid ${running}) is using ${config.dataDir}`, { field: 'data_dir' });
  }
  const core = await buildCore(config, clock, log);
  const { db, events, indexer, retention, opened, store } = core;
  // Asked now, answered while the rest is built (ffmpeg takes ~0.15 s to load its libraries): start()
  // waits for both before anything records. A failure is start()'s to report.
  const preflight = Promise.all([ffmpegVersion(config.recorder.ffmpegPath), findOrphanRecorders(store.root)]);
  preflight.catch(() => undefined);
  // Every ffmpeg launcher below is counted for /metrics (vigil_ffmpeg_processes).
  const processes = new FfmpegProcesses();
  // Reads the segment files the recorders write, while watched: live view opens no second camera connection.
  const live = new LiveHub({
    openSegment: (absPath) => store.openGrowing(absPath),
    launcher: processes.counted('substream', spawnLiveStream),
    clock,
    log: log.child({ component: 'live' }),
    events,
    lookup: (id) => getCamera(db, id),
    ffmpegPath: config.recorder.ffmpegPath,
    rtspTimeoutSeconds: config.recorder.rtspTimeoutSeconds,
    ...(opts.live ? { options: opts.live } : {}),
  });
  const storage = new StorageWatch({
    recordingsDir: store.root,
    clock,
    events,
    log: log.child({ component: 'storage' }),
    floorBytes: (totalBytes) => floorBytes(retention.config, totalBytes),
    sweep: async () => Object.values((await retention.sweepOnce({ dryRun: false })).byReason).reduce((a, t) => a + t.bytes, 0),
  });
  const recorders = new RecorderManager({
    space: storage,
    db,
    clock,
    events,
    indexer,
    live,
    launcher: processes.counted('recorder', opts.launcher ?? spawnRecorder),
    firstIndexJob: (cameraId) => reconcileAtStart(cameraId),
    config: config.recorder,
    log: log.child({ component: 'recorder' }),
  });
  const motion = new MotionService({
    db,
    clock,
    events,
    log: log.child({ component: 'motion' }),
    launcher: processes.counted('motion', spawnLiveStream),
    ffmpegPath: config.recorder.ffmpegPath,
    rtspTimeoutSeconds: config.recorder.rtspTimeoutSeconds,
    backoffInitialMs: config.recorder.backoffInitialMs,
    backoffMaxMs: config.recorder.backoffMaxMs,
    stallMs: 10_000,
    subFeed: (cameraId, url) => live.subFeed(cameraId, url),
    encodeThumbnail: ffmpegThumbnailEncoder(config.recorder.ffmpegPath, (launch) => processes.counted('motion', launch)()),
  });
  // A node of a cluster records only the cameras it holds a lease on (docs/design.md, "Cluster").
  const cluster: ClusterNode | undefined = config.cluster
    ? new ClusterNode({ db, clock, events, log: log.child({ component: 'cluster' }), config: config.cluster, apply: (): Promise<void> => cameras.syncRecorders() })
    : undefined;
  const cameras: CameraService = new CameraService({ db, clock, events, recorders, motion, ...(cluster ? { placement: cluster } : {}) });
  const footage = new FootageService(db, (cameraId) => {
    const first = recorders.unindexedFiles(cameraId).find((f) => f.startMs !== undefined)?.startMs;
    const last = recorders.frames(cameraId)?.lastFrameAtMs;
    return first !== undefined && last !== undefined && last > first ? [first, last] : undefined;
  });
  const motionQueries = new MotionQueries(db);
  const evidence = new EvidenceService({ db, events });
  const mediaJobs = new MediaJobs({ maxJobs: config.media.maxJobs });
  const exportDeps = { db, clock, store, log: log.child({ component: 'export' }), jobs: mediaJobs, ffmpegPath: config.recorder.ffmpegPath };
  const clipLaunch = processes.counted('clip', spawnMediaJob);
  const clips = new ClipService({ ...exportDeps, launch: clipLaunch, clipMaxSeconds: config.media.clipMaxSeconds });
  const warmDecoders = new WarmDecoderPool({
    size: config.media.warmDecoders,
    spawn: processes.counted('warm_decoder', () => spawnWarmDecoder(config.recorder.ffmpegPath, buildWarmSnapshotArgs())),
    log: log.child({ component: 'export' }),
    clock,
  });
  // Previews share the viewers' media job slots: a transcode never runs beyond media.max_jobs.
  const previews = new PreviewService({ ...exportDeps, live, launch: processes.counted('preview', spawnPreview) });
  const snapshots = new SnapshotService({ ...exportDeps, launch: processes.counted('snapshot', spawnMediaJob), warm: warmDecoders, unindexed: (cameraId) => recorders.unindexedFiles(cameraId) });
  // Evidence exports cut clips exactly as the clip route does, on job slots of their own (a bundle
  // never takes a slot a viewer is waiting for) and with the export range limit.
  const exportJobs = new MediaJobs({ maxJobs: config.evidence.maxExportJobs, waitMs: 24 * 3600_000 });
  const exports = new ExportService({
    db,
    store,
    clock,
    events,
    log: log.child({ component: 'evidence' }),
    clips: new ClipService({ ...exportDeps, launch: clipLaunch, jobs: exportJobs, clipMaxSeconds: config.evidence.exportMaxSeconds }),
    key: core.signingKey,
    dir: config.evidence.exportsDir,
    maxJobs: config.evidence.maxExportJobs,
    maxSeconds: config.evidence.exportMaxSeconds,
    vigilVersion: VIGIL_VERSION,
  });
  // Footage other nodes hold is fetched from them (signed requests, checked against the row's hash).
  const clusterSecret = cachedClusterSecret(db, clock);
  const peers = config.cluster
    ? new PeerFiles({ db, clock, log: log.child({ component: 'cluster' }), nodeId: config.cluster.nodeId, secret: clusterSecret, cacheDir: join(config.dataDir, 'cache', 'peers'), maxCacheBytes: config.cluster.cacheBytes })
    : undefined;
  store.peers = peers;
  const playback = new PlaybackService({
    ...(peers ? { remoteHead: (s: Segment) => peers.ask<Head>({ ...s, nodeId: s.nodeId! }, 'head') } : {}),
    db,
    clock,
    store,
    log: log.child({ component: 'playback' }),
    maxRangeSeconds: config.media.playbackMaxSeconds,
    unindexed: (cameraId) => recorders.unindexedFiles(cameraId),
  });
  const refills = new RefillService({
    db,
    clock,
    events,
    indexer,
    config: config.anr,
    ffmpegPath: config.recorder.ffmpegPath,
    log: log.child({ component: 'anr' }),
    space: storage,
    ...(cluster ? { fenceOf: (cameraId: string) => cluster.fenceOf(cameraId) } : {}),
    // RefillService's own launcher (stderr kept for the reason of a failure), counted.
    launch: processes.counted('refill', (program: string, args: string[]) => spawnSupervised(program, args, ['ignore', 'ignore', 'pipe'])),
  });
  const auth = new AuthService({ db, clock, config: config.auth });
  const audit = new AuditLog({ db, clock });
  const webhooks = new WebhookService({ db, clock, events, log: log.child({ component: 'webhooks' }), config: config.webhooks });
  const onvif = new OnvifService({ clock, log: log.child({ component: 'onvif' }) });
  const cameraClocks = new CameraClockWatch({
    clock,
    events,
    log: log.child({ component: 'onvif' }),
    cameras: () => cameras.list(),
    readClock: (onvifUrl, mainUrl) => onvif.readClock(onvifUrl, mainUrl),
    intervalSeconds: config.onvif.clockCheckIntervalSeconds,
  });
  // Loaded only when configured: the MQTT client is a sizeable part of start-up otherwise.
  const mqtt = config.mqtt
    ? new (await import('./mqtt/mqtt-bridge.js')).MqttBridge({ config: config.mqtt, db, clock, events, snapshots, audit, live, motion, log: log.child({ component: 'mqtt' }), vigilVersion: VIGIL_VERSION })
    : undefined;
  const metrics = new VigilMetrics({
    db,
    clock,
    events,
    log: log.child({ component: 'metrics' }),
    version: VIGIL_VERSION,
    liveBitrateBps: (cameraId) => live.stats(cameraId).bitrateBps,
    indexLatency: (listener) => indexer.onIndexLatency(listener),
    indexed: (listener) => indexer.onIndexed(listener),
    motion,
    disk: probeDisk,
    recordingsDir: store.root,
    dataDir: config.dataDir,
    floorBytes: (totalBytes) => floorBytes(retention.config, totalBytes),
    recordingsFull: () => storage.isFull,
    retentionBlocked: () => retention.blocked,
    jobs: { media: mediaJobs, export: exportJobs },
    processes,
  });
  // Scheduled catalog backups, copied on a worker thread with a connection of its own (indexing never waits).
  const backups = config.backup
    ? new BackupService({
        clock,
        events,
        log: log.child({ component: 'backup' }),
        sources: { dataDir: config.dataDir, configPath: config.source, signingKeyPath: config.evidence.signingKeyPath, copyCatalog: (dest) =>
            config.catalogUrl !== undefined
              ? Promise.reject(new VigilError('failed_precondition', 'the catalog is on PostgreSQL: scheduled backups copy the SQLite catalog only; back PostgreSQL up with pg_dump (docs/operations.md, "PostgreSQL catalog")'))
              : backupInWorker(join(config.dataDir, 'vigil.db'), dest) },
        dir: config.backup.dir,
        everyMs: opts.backupEveryMs ?? config.backup.everyHours * 3600_000,
        keep: config.backup.keep,
      })
    : undefined;
  const initialPasswordFile = join(config.dataDir, INITIAL_PASSWORD_FILE);
  const tls = config.tls ? { cert: await readPem(config.tls.certPath, 'tls.cert'), key: await readPem(config.tls.keyPath, 'tls.key') } : undefined;
  let ready = false;
  let warmDecodersTimer: NodeJS.Timeout | undefined;
  /** Camera folders start-up reconciliation has still to look at (see reconcileAtStart). */
  let startupReconcile: Set<string> | undefined;
  /** Folders not reconciled yet, those being reconciled included. */
  let reconcilesLeft = 0;
  const reconciling = oneShot();
  /** The recorders started with Vigil have spawned their first ffmpegs: start-up reconciliation may begin. */
  const launched = oneShot();
  let reconciled: Promise<void> = Promise.resolve();
  let demo: Demo = { server: undefined, stop: async () => undefined };

  const httpDeps: HttpDeps = {
    ...(cluster
      ? {
          cluster: { nodeId: cluster.nodeId, leaseTtlMs: config.cluster!.leaseTtlMs, secret: clusterSecret, kick: () => cluster.kick() },
          liveRelay: (cameraId: string, stream: 'main' | 'sub', wantsClock: boolean) =>
            relayTargetFor({ db, clock, nodeId: cluster.nodeId, leaseTtlMs: config.cluster!.leaseTtlMs, secret: clusterSecret }, cameraId, stream, wantsClock),
        }
      : {}),
    cameras,
    footage,
    motion: motionQueries,
    evidence,
    exports,
    signingKey: core.signingKey,
    clips,
    snapshots,
    previews,
    playback,
    live,
    refills,
    auth,
    audit,
    webhooks,
    onvif,
    cameraClocks,
    recorders,
    motionDetectors: motion,
    siteTimeZone: config.site.timeZone,
    metrics,
    db,
    clock,
    log,
    http: {
      tls,
      trustProxy: config.trustProxy,
      metricsPublic: config.metrics.public,
      loginRatePerMinute: config.auth.loginRatePerMinute,
      async onPasswordChanged(username) {
        if (username === BOOTSTRAP_ADMIN) await rm(initialPasswordFile, { force: true });
      },
    },
    health: {
      async ready() {
        let dbOk = true;
        try {
          await cameras.list();
        } catch {
          dbOk = false;
        }
        // Rows could not be written for want of space: full until a write succeeds or the disk has room.
        let dbFull = core.dbHealth.fullSince !== undefined;
        if (dbFull) {
          const free = await probeDisk(config.dataDir).then((d) => d.freeBytes, () => 0);
          if (free >= DB_ROOM_BYTES) core.dbHealth.noteSuccess();
          dbFull = free < DB_ROOM_BYTES;
        }
        const blocked = retention.blocked;
        const recordings = storage.status();
        return {
          ready: ready && dbOk && !dbFull && !blocked && !recordings.full,
          detail: {
            started: ready,
            reconciliation: reconciling.fired ? 'done' : 'running',
            database: !dbOk ? 'unreachable' : dbFull ? 'full' : 'ok',
            recorders: recorders.runningIds().length,
            retention: blocked ? { blocked: blocked.reason, detail: blocked.detail } : 'ok',
            recordings,
          },
        };
      },
    },
  };
  const http = await buildHttpServer(httpDeps);

  const app: VigilApp = {
    config,
    db,
    http,
    httpDeps,
    events,
    cameras,
    recorders,
    motion,
    retention,
    storage,
    refills,
    live,
    auth,
    audit,
    get demo() {
      return demo;
    },
    webhooks,
    mqtt,
    url: '',
    async start() {
      await checkExposure();
      await writePidFile(config.dataDir);
      // Both before anything records: ffmpeg must run, and no writer a crash left may share a camera's folder.
      const [ffmpeg, orphans] = await preflight;
      log.info({ ffmpeg }, 'ffmpeg found');
      if (orphans.length > 0) {
        await killAndWait(orphans, clock);
        await events.emit({ type: 'orphan_recorders_killed', severity: 'warning', requestId: null, payload: { pids: orphans } });
      }
      await clearPids(db, clock.nowMs(), cluster?.nodeId);
      // No reader exists before start-up ends: every read-lock left in the table is stale (in a cluster,
      // on this node's footage: the other nodes' readers hold theirs).
      const staleLocks = await clearReadLocks(db, cluster?.nodeId);
      if (staleLocks > 0) log.warn({ segments: staleLocks }, 'cleared stale read-locks');
      for (const c of config.cameras) await upsertDeclaredCamera(db, c, 'config', clock.nowMs());
      // A camera taken out of the file while Vigil was stopped goes as a reload would take it (its footage
      // and rows stay). Only with a file: a start without one declares nothing and removes nothing.
      if (config.source !== null) {
        const declared = new Set(config.cameras.map((c) => c.id));
        for (const c of await listCameras(db)) {
          if (c.origin !== 'config' || declared.has(c.id)) continue;
          if ((await deleteCamera(db, c.id, clock.nowMs())) === 0) continue;
          await events.emit({ type: 'camera_deleted', cameraId: c.id, requestId: null, payload: { origin: 'config' } });
        }
      }
      // Demo cameras are one box's: a cluster node starts them only when told to (demo: true).
      demo = await startDemo(db, cluster && config.demo === 'auto' ? false : config.demo, clock.nowMs(), log.child({ component: 'demo' }));
      // Deletions a crash interrupted are finished before reconciliation looks at the files.
      const finished = await retention.finishTombstones();
      if (finished > 0) log.info({ files: finished }, 'finished interrupted deletions');
      // A refill a crash interrupted leaves a temp file (never indexed) and its gap `filling`.
      const interrupted = await refills.recover();
      if (interrupted.tempFiles + interrupted.gaps > 0) log.info(interrupted, 'reset interrupted gap refills');
      // Files a crash left are indexed beside recording, never before it (a large data dir must not delay
      // recording): each recorder queues its camera's before its own first rows (time order kept), and
      // the folders no recorder takes are done in the background; readiness waits for both.
      startupReconcile = new Set(await store.cameraIds());
      reconcilesLeft = startupReconcile.size;
      // Recording first (kill -9 → recording again in seconds), then the API and the rest.
      live.start();
      // Connects in the background (a broker that is down delays nothing); before the recorders, so it sees them start.
      await mqtt?.start();
      // In a cluster: register, take this node's share of the leases, and record those.
      await peers?.start();
      if (cluster) await cluster.start();
      else await cameras.syncRecorders();
      // Start-up reconciliation reads a camera's whole listing of indexed paths, one synchronous call of
      // up to a second for a camera-month on SQLite: begun beside the spawns (one per turn of the event
      // loop), sixteen such calls held the later cameras' spawns back by as much. It waits for the first
      // spawns (invariant 6); each recorder's own rows still queue behind its camera's.
      const launchCap = setTimeout(() => launched.done(), RECONCILE_AFTER_LAUNCHES_MAX_MS);
      launchCap.unref();
      void recorders.firstLaunches().finally(() => {
        clearTimeout(launchCap);
        launched.done();
      });
      const address = await http.listen({ host: config.listen.host, port: config.listen.port });
      app.url = address;
      metrics.start();
      // The idle snapshot decoders wait until the recorders' ffmpegs have started: loading ffmpeg's
      // libraries costs ~0.1 s of CPU each, and the cameras come first after a restart.
      warmDecodersTimer = setTimeout(() => warmDecoders.start(), WARM_DECODERS_AFTER_MS);
      warmDecodersTimer.unref();
      // Orphans (files with no row) wait for reconciliation: until then a crash's leftovers have no row either.
      retention.start({ reclaimOrphansAfter: reconciling.promise });
      storage.start();
      refills.start();
      // Events emitted before this point are in the log already: the cursors find them.
      webhooks.start();
      cameraClocks.start();
      await exports.start();
      backups?.start();
      // Recording and serving: ready. The files a crash left are indexed meanwhile (readyz's
      // detail.reconciliation says when that is done); start() resolves, and the start-up log line is
      // written, once they are.
      ready = true;
      reconciled = reconcileRest();
      await reconciled;
      await events.emit({ type: 'vigil_started', requestId: null, payload: { listen: address, recorders: recorders.runningIds().length } });
    },
    async stop() {
      ready = false;
      // A reconciliation still waiting for the first spawns runs now: the recorders' stops wait for it.
      launched.done();
      clearTimeout(warmDecodersTimer);
      // A download in flight would keep http.close() waiting: its ffmpeg is killed first.
      mediaJobs.stop();
      // An export being built stays `running`: the next start builds it again. Its own abort comes
      // first, so that the clip it was cutting ends as a stop, not as a failure of the job.
      await exports.stop();
      exportJobs.stop();
      await warmDecoders.stop();
      // Likewise a recorded-playback download to a client that stopped reading.
      playback.stop();
      // Live viewers are closed (1001) and sub-stream ffmpegs killed; an open socket would hold http.close().
      await live.stop();
      await http.close();
      // Before retention: the watch may ask for a sweep.
      await storage.stop();
      await retention.stop();
      await refills.stop();
      // Attempts in flight are cut short and due again at the next start; events of the shutdown are sent then.
      await webhooks.stop();
      await cameraClocks.stop();
      // A backup under way finishes (its copy is whole or removed) before the catalog closes.
      await backups?.stop();
      // Open motion intervals are closed and written while the catalog is open.
      await motion.stopAll();
      // No lease is taken or handed off from here on; released once the last segments are indexed.
      await cluster?.halt();
      await recorders.stopAll();
      await cluster?.leave();
      await reconciled;
      await demo.stop();
      await events.emit({ type: 'vigil_stopped', requestId: null, payload: {} });
      // Last: it publishes the events of the shutdown, then `offline`.
      await mqtt?.stop();
      metrics.stop();
      await opened.close();
      await removePidFile(config.dataDir);
    },
  };

  /**
   * Without any user Vigil listens on loopback only, and then creates the first admin with a generated
   * password, shown once (stderr and a 0600 file in the data dir, never the log).
   */
  async function checkExposure(): Promise<void> {
    if ((await auth.userCount()) > 0) return;
    if (!isLoopback(config.listen.host)) {
      throw new VigilError(
        'failed_precondition',
        `refusing to listen on ${config.listen.host}: no user exists yet, so anyone could reach the footage. ` +
          `Create one first (vigil users add <name> --role admin), or listen on 127.0.0.1`,
        { field: 'listen' },
      );
    }
    const password = newPassword();
    await auth.createUser({ username: BOOTSTRAP_ADMIN, password, role: 'admin' });
    await writeFile(initialPasswordFile, `${password}\n`, { mode: 0o600 });
    await audit.write({ principal: null, system: true, actorName: 'vigil', action: 'user.create', target: `user:${BOOTSTRAP_ADMIN}`, requestId: null, clientAddr: null, outcome: 'success', statusCode: null, detail: { bootstrap: true, role: 'admin' } });
    (opts.showSecret ?? ((t) => process.stderr.write(t)))(
      `\n  No user existed: created "${BOOTSTRAP_ADMIN}" (role admin) with the password\n\n      ${password}\n\n` +
        `  It is shown only now (and kept in ${initialPasswordFile} until you change it).\n` +
        `  Sign in at the web page, then change it there: your name in the menu → Account (#/account), or POST /api/v1/auth/password.\n\n`,
    );
  }

  /**
   * Start-up reconciliation of one camera's folder, once (the first to ask does it): files a crash left
   * without a row are indexed, rows whose file is gone reported. The runs of this process are left alone.
   */
  async function reconcileAtStart(cameraId: string): Promise<void> {
    if (!startupReconcile?.delete(cameraId)) return;
    try {
      await launched.promise;
      log.debug({ cameraId }, 'start-up reconciliation of the folder begins');
      const taken = await cameraIdTaken(db, cameraId);
      if (!taken.live && !taken.deleted) {
        log.warn({ dir: cameraId }, 'recordings folder of an unknown camera left alone');
        return;
      }
      const report = await reconcileCamera({ db, indexer, events }, cameraId, { reportMissing: true, skipRun: (runId) => recorders.ownsRun(runId) });
      if (report.recovered + report.discarded + report.missing > 0) log.info({ cameraId, ...report }, 'reconciled recordings');
    } finally {
      if (--reconcilesLeft === 0) reconciling.done();
    }
  }

  /** The folders no recorder took (disabled, deleted or unknown cameras), then the recorders' own. */
  async function reconcileRest(): Promise<void> {
    const recording = new Set(recorders.runningIds());
    for (const cameraId of [...(startupReconcile ?? [])]) {
      // A recording camera's folder is its recorder's to reconcile, before that recorder's first rows.
      if (recording.has(cameraId)) continue;
      await reconcileAtStart(cameraId).catch((err: unknown) => log.error({ err, cameraId }, 'start-up reconciliation failed'));
    }
    if (reconcilesLeft === 0) reconciling.done();
    await reconciling.promise;
  }

  return app;
}

export interface Core {
  opened: OpenedDb;
  db: OpenedDb['db'];
  events: EventLog;
  /** The footage store: the recordings folder and every file operation on footage. */
  store: FootageStore;
  indexer: Indexer;
  retention: RetentionService;
  /** Whether the catalog's last writes failed for want of disk space. */
  dbHealth: DatabaseWriteHealth;
  /** Vigil's Ed25519 evidence key: signs chain links and export manifests. */
  signingKey: SigningKey;
  close(): Promise<void>;
}

/** Where the catalog is: the PostgreSQL URL when one is configured, else the SQLite file in the data dir. */
export function catalogTarget(config: Pick<Config, 'catalogUrl' | 'dataDir'>): string {
  return config.catalogUrl ?? join(config.dataDir, 'vigil.db');
}

/** What every command needs, with or without recorders and HTTP: the catalog and the footage services. */
export async function buildCore(config: Config, clock: Clock, log: Logger): Promise<Core> {
  const store = new FootageStore(config.dataDir, config.cluster?.nodeId);
  await store.ensureRoot();
  const opened = await openDatabase(catalogTarget(config));
  const db = opened.db;
  const events = new EventLog(db, clock, log.child({ component: 'events' }));
  const dbHealth = new DatabaseWriteHealth();
  const signingKey = await SigningKey.open(config.evidence.signingKeyPath, db, clock);
  const indexer = new Indexer({ db, store, clock, events, log, dbHealth, signer: signingKey, nodeId: config.cluster?.nodeId });
  const retention = new RetentionService({ db, store, clock, events, config: config.retention, log: log.child({ component: 'retention' }), signer: signingKey });
  return { opened, db, events, store, indexer, retention, dbHealth, signingKey, close: () => opened.close() };
}

async function readPem(path: string, field: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new VigilError('invalid_argument', `${field}: cannot read ${path}: ${(err as Error).message}`, { field });
  }
}

/** A flag that is set once, with a promise of it. */
function oneShot(): { readonly fired: boolean; promise: Promise<void>; done(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  const shot = {
    fired: false,
    promise,
    done() {
      shot.fired = true;
      resolve();
    },
  };
  return shot;
}
