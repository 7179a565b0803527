/**
 * Edge refill (ANR) figures: time from a camera's reconnect to its gap being filled after one outage
 * (settle delay 0), and the CPU a refill costs against recording the same span live (both ffmpegs
 * measured over the same minutes, so load on the machine weighs on both alike).
 * Vigil runs in this process (createApp, as the integration tests do) so that its `anr` settings can
 * be set; every figure is of its ffmpeg children and of its catalog, none of its Node process.
 */
import { readFileSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { pino } from 'pino';
import { createApp, type VigilApp } from '../src/app.js';
import { benchCredentials } from './auth.js';
import { buildConfig } from '../src/config/config.js';
import { RtspServer, rtspServerAvailable } from '../src/demo/rtsp-server.js';
import { defer, tempDir } from './cleanup.js';
import { allStats, CpuTracker, sleep, waitUntil, type ProcStat } from './proc.js';
import { fmt, type Row, type SectionResult } from './report.js';

export interface RefillBenchOptions {
  outageSeconds: number;
  segmentSeconds: number;
  log: (msg: string) => void;
}

const MOUNT = { name: 'edge', pattern: 'snow', width: 1280, height: 720, fps: 15, bitrateKbps: 2000, shared: true, seek: false } as const;
const CAMERA = 'cam';
const SAMPLE_MS = 100;
/** The recorder retries a lost camera after 1, 2, 4 s …; capped here so the bench does not wait 30 s for it. */
const RECORDER = { backoff_max_ms: 4000 };

interface GapRow {
  id: number;
  gap_start_ms: number;
  gap_end_ms: number;
  fill_state: string;
  fill_attempts: number;
  last_error: string | null;
  detected_at_ms: number;
}

/** Vigil's ffmpeg children (setpriv execs ffmpeg in place, so their parent is this process), by role. */
class Children {
  /** pid:starttime → role; only ffmpegs are remembered (a fresh child may still be setpriv). */
  private readonly roles = new Map<string, 'refill' | 'live'>();
  refill: number[] = [];
  live: number[] = [];

  classify(stats: ProcStat[]): void {
    this.refill = [];
    this.live = [];
    for (const s of stats) {
      if (s.ppid !== process.pid) continue;
      const key = `${s.pid}:${s.starttime}`;
      let role = this.roles.get(key);
      if (!role) {
        let argv: string[];
        try {
          argv = readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').split('\0');
        } catch {
          continue;
        }
        if (!/(^|\/)ffmpeg$/.test(argv[0] ?? '')) continue;
        role = argv.some((a) => a.includes('.refill-')) ? 'refill' : 'live';
        this.roles.set(key, role);
      }
      this[role].push(s.pid);
    }
  }
}

export async function runRefill(o: RefillBenchOptions): Promise<SectionResult[]> {
  const avail = await rtspServerAvailable();
  if (!avail.ok) throw new Error(`RTSP server unavailable: ${avail.reason}`);
  // The camera's SD card holds everything since the bench began, across its own restart.
  const mounts = [{ ...MOUNT, edge: { sinceMs: Date.now() } }];
  let server = await RtspServer.start({ mounts });
  const port = server.port;
  const stopServer = defer('RTSP server', () => server.stop());
  const work = await tempDir('vigil-bench-refill-');
  let app: VigilApp | undefined;
  const stopApp = defer('in-process Vigil', () => app?.stop());
  let db: BetterSqlite3.Database | undefined;
  try {
    const config = buildConfig(
      {
        demo: false,
        listen: '127.0.0.1:0',
        recorder: RECORDER,
        retention: { min_free_bytes: 0 },
        anr: { settle_seconds: 0 },
        cameras: [{ id: CAMERA, main_url: server.url(MOUNT.name), segment_seconds: o.segmentSeconds, anr_enabled: true, anr_preset: 'hikvision' }],
      },
      { source: null, cwd: work.path, env: {}, overrides: { dataDir: work.path } },
    );
    app = await createApp(config, { log: pino({ level: 'silent' }) });
    await benchCredentials(app);
    await app.start();
    db = new BetterSqlite3(`${work.path}/vigil.db`, { readonly: true, fileMustExist: true });
    const rdb = db;
    const segments = () => (rdb.prepare('SELECT count(*) AS n FROM segments').get() as { n: number }).n;
    const gapQ = rdb.prepare<[string], GapRow>(
      'SELECT id, gap_start_ms, gap_end_ms, fill_state, fill_attempts, last_error, detected_at_ms FROM recording_gaps WHERE camera_id = ? ORDER BY gap_start_ms DESC LIMIT 1',
    );
    const eventsQ = rdb.prepare<[], { ts_ms: number; type: string; payload: string }>(
      "SELECT ts_ms, type, payload FROM events WHERE type LIKE 'gap_refill_%' ORDER BY id",
    );

    await waitUntil('2 live segments', () => segments() >= 2, 60_000 + 4 * o.segmentSeconds * 1000, 200);
    o.log(`  recording; camera offline for ${o.outageSeconds} s (its SD card keeps recording)`);
    await server.kill();
    await sleep(o.outageSeconds * 1000);
    server = await RtspServer.start({ port, mounts });
    const backAtMs = Date.now();
    const liveServer = server;
    const reconnected = new Promise<number>((resolve) => {
      const onPlay = (ev: { replay?: boolean; wall_ms: number }) => {
        if (ev.replay) return;
        liveServer.off('play', onPlay);
        resolve(ev.wall_ms);
      };
      liveServer.on('play', onPlay);
    });

    // Sample the ffmpegs until the gap leaves pending/filling. The refill process is born inside
    // the refill tracker's window, so it counts from zero; the live recorder is measured over the
    // refill's own lifetime.
    const children = new Children();
    const refillCpu = new CpuTracker(() => children.refill, false);
    const liveCpu = new CpuTracker(() => children.live, false);
    // The refill over exactly the live tracker's window: without its process start-up.
    const refillWindowCpu = new CpuTracker(() => children.refill, false);
    let stats = allStats();
    children.classify(stats);
    refillCpu.start(stats);
    let refillFirstSeenMs: number | undefined;
    let refillLastSeenMs: number | undefined;
    let liveStopped = false;
    let gap: GapRow | undefined;
    const deadline = Date.now() + (3 * o.outageSeconds + 180) * 1000;
    for (;;) {
      await sleep(SAMPLE_MS);
      stats = allStats();
      children.classify(stats);
      refillCpu.sample(stats);
      if (children.refill.length > 0) {
        if (refillFirstSeenMs === undefined) {
          refillFirstSeenMs = Date.now();
          liveCpu.start(stats);
          refillWindowCpu.start(stats);
          o.log('  refill running');
        } else {
          liveCpu.sample(stats);
          refillWindowCpu.sample(stats);
        }
        refillLastSeenMs = Date.now();
      } else if (refillFirstSeenMs !== undefined && !liveStopped) {
        liveCpu.stop(stats);
        refillWindowCpu.stop(stats);
        liveStopped = true;
      }
      gap = gapQ.get(CAMERA);
      if (gap && gap.fill_state !== 'pending' && gap.fill_state !== 'filling' && children.refill.length === 0) break;
      if (Date.now() > deadline) throw new Error(`gap not refilled in time: ${JSON.stringify(gap ?? null)}`);
    }
    refillCpu.stop(stats);
    if (!liveStopped) {
      liveCpu.stop(stats);
      refillWindowCpu.stop(stats);
    }
    const done = gap;
    if (done.fill_state === 'failed' || done.fill_attempts > 0 || refillFirstSeenMs === undefined) {
      throw new Error(`refill did not succeed at the first attempt: ${done.fill_state}, ${done.fill_attempts} attempts, ${done.last_error ?? ''}`);
    }
    const reconnectMs = await reconnected;
    const events = eventsQ.all().map((e) => ({ ...e, payload: JSON.parse(e.payload) as Record<string, unknown> }));
    const started = events.find((e) => e.type === 'gap_refill_started' && e.payload['gap_id'] === done.id);
    const succeeded = events.find((e) => e.type === 'gap_refill_succeeded' && e.payload['gap_id'] === done.id);
    if (!started || !succeeded) throw new Error('refill events missing');
    const replays = server.replayEvents(MOUNT.name);
    const replayStart = replays.find((e) => e.event === 'replay');
    const replayEnd = replays.find((e) => e.event === 'replay_end');

    const gapSeconds = (done.gap_end_ms - done.gap_start_ms) / 1000;
    const recoveredSeconds = Number(succeeded.payload['seconds_recovered']);
    const fillSeconds = (succeeded.ts_ms - reconnectMs) / 1000;
    const detectSeconds = (done.detected_at_ms - reconnectMs) / 1000;
    const queueSeconds = (started.ts_ms - done.detected_at_ms) / 1000;
    const pullSeconds = (succeeded.ts_ms - started.ts_ms) / 1000;
    // Live CPU for as many seconds of footage as the refill pulled.
    const livePerSecond = liveCpu.wallSeconds > 0 ? liveCpu.cpuSeconds / liveCpu.wallSeconds : NaN;
    const liveForSpan = livePerSecond * gapSeconds;
    const cpuRatio = refillCpu.cpuSeconds / liveForSpan;
    const s = (v: number, d = 1) => (Number.isFinite(v) ? `${v.toFixed(d)} s` : 'n/a');
    const rows: Row[] = [
      {
        figure: `Edge refill: camera reconnect → gap filled, ${o.outageSeconds} s outage (settle 0, ${o.segmentSeconds} s segments)`,
        value: s(fillSeconds),
        baseline: `${s(gapSeconds)} gap (real-time edge)`,
        ratio: fmt.ratio(fillSeconds / gapSeconds),
      },
      {
        figure: '  reconnect → gap recorded / → refill started / → filled',
        value: `${s(detectSeconds)} / ${s(queueSeconds, 2)} / ${s(pullSeconds)}`,
      },
      {
        figure: '  refill coverage (edge footage indexed ÷ gap)',
        value: `${s(recoveredSeconds)} of ${s(gapSeconds)}`,
        ratio: `${((100 * recoveredSeconds) / gapSeconds).toFixed(1)} %`,
      },
      {
        figure: `Refill CPU vs recording the same ${gapSeconds.toFixed(0)} s live (ffmpeg utime+stime)`,
        value: `${s(refillCpu.cpuSeconds, 2)} CPU (refill)`,
        baseline: `${s(liveForSpan, 2)} CPU (live recorder)`,
        ratio: fmt.ratio(cpuRatio),
      },
      {
        figure: '  the same two over the refill\'s run, its first 100 ms (process start) left out',
        value: `${s(refillWindowCpu.cpuSeconds, 2)} CPU (refill)`,
        baseline: `${s(liveCpu.cpuSeconds, 2)} CPU (live, ${liveCpu.wallSeconds.toFixed(0)} s)`,
        ratio: fmt.ratio(refillWindowCpu.cpuSeconds / liveCpu.cpuSeconds),
      },
    ];
    return [
      {
        name: 'refill',
        rows,
        data: {
          outageSeconds: o.outageSeconds,
          segmentSeconds: o.segmentSeconds,
          settleSeconds: 0,
          recorder: RECORDER,
          rtspMount: `${MOUNT.width}x${MOUNT.height} ${MOUNT.pattern} ${MOUNT.fps} fps ${MOUNT.bitrateKbps} kbps; edge replays at real time`,
          method:
            'reconnect = first live PLAY on the restarted fake camera; filled = ts of gap_refill_succeeded. CPU: /proc utime+stime of the refill ffmpeg over its whole life, against the live recorder ffmpeg over the same wall window, scaled to the gap length; sampled every 100 ms.',
          gap: { id: done.id, seconds: gapSeconds, state: done.fill_state, attempts: done.fill_attempts, recoveredSeconds },
          timesSeconds: {
            cameraBackToReconnect: (reconnectMs - backAtMs) / 1000,
            reconnectToFilled: fillSeconds,
            reconnectToGapRecorded: detectSeconds,
            gapRecordedToRefillStarted: queueSeconds,
            refillStartedToFilled: pullSeconds,
            edgeReplayStreamed: replayStart && replayEnd ? (replayEnd.wall_ms - replayStart.wall_ms) / 1000 : null,
            refillProcessSeen: refillFirstSeenMs !== undefined && refillLastSeenMs !== undefined ? (refillLastSeenMs - refillFirstSeenMs) / 1000 : null,
          },
          cpu: {
            refillCpuSeconds: refillCpu.cpuSeconds,
            liveCpuSeconds: liveCpu.cpuSeconds,
            liveWallSeconds: liveCpu.wallSeconds,
            liveCpuSecondsForGap: liveForSpan,
            refillCpuSecondsOverLiveWindow: refillWindowCpu.cpuSeconds,
            ratio: cpuRatio,
          },
        },
      },
    ];
  } finally {
    db?.close();
    await stopApp();
    await stopServer();
    await work.remove();
  }
}
