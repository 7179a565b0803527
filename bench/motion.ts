/**
 * Motion figures (issue 16): what a motion detector costs next to recording, at 1 and at N cameras,
 * how soon it sees an object start moving, how well its intervals match the truth, and motion search
 * on a catalog of many intervals (bench/motion-search.ts).
 *
 * One fake camera mount (`scene: 'still'`, 640×360 at 15 fps, ~800 kbps, shared, seek off so that
 * every client joins the running stream) with the object moving while costs are measured.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { RtspServer, rtspServerAvailable } from '../src/demo/rtsp-server.js';
import { spawnLiveStream, type LiveStreamLauncher } from '../src/media/live-process.js';
import { MOTION_HEIGHT, MOTION_WIDTH, yuv420pBytes } from '../src/media/motion-args.js';
import type { MotionInterval } from '../src/motion/motion-tracker.js';
import { MotionWatch } from '../src/motion/motion-watch.js';
import { DEFAULT_CHANNEL_OPTIONS, LiveChannel } from '../src/live/live-channel.js';
import type { MotionConfig, MotionPolygon } from '../src/shared/camera-settings.js';
import { systemClock } from '../src/shared/clock.js';
import { defer, tempDir } from './cleanup.js';
import { runMotionSearch } from './motion-search.js';
import { allStats, CpuTracker, percentile, sleep, waitUntil } from './proc.js';
import { spawnBareRecorder, startVigilChild, type VigilChild, type VigilEntry } from './processes.js';
import { check, fmt, goal, type SectionResult } from './report.js';

export interface MotionBenchOptions {
  /** Cameras of the Vigil run (motion on vs off). */
  cameras: number;
  /** Seconds measured for the one-camera detector cost, and for each Vigil phase. */
  seconds: number;
  warmupSeconds: number;
  segmentSeconds: number;
  trials: number;
  /** Motion intervals seeded for the search figures. */
  intervals: number;
  queries: number;
  entry: VigilEntry;
  log: (msg: string) => void;
}

const MOUNT = {
  name: 'motion',
  scene: 'still',
  width: 640,
  height: 360,
  fps: 15,
  bitrateKbps: 800,
  shared: true,
  seek: false,
} as const;

// The fake camera's clock OSD lies inside the top-left 30 % × 15 %: masked, as an operator would.
const CLOCK_MASK: MotionPolygon = [[0, 0], [0.34, 0], [0.34, 0.21], [0, 0.21]];
const SETTINGS: MotionConfig = {
  enabled: true,
  sensitivity: 50,
  minAreaPercent: 0.5,
  fps: 5,
  masks: [CLOCK_MASK],
  zones: [],
  // Short, so that a trial's interval is written soon after the object stops (its end is the last frame with motion either way).
  postRollSeconds: 2,
};
const SAMPLE_MS = 500;

interface WatchRun {
  watch: MotionWatch;
  /** Node CPU (µs) spent in what the detector's stdout feeds: frame splitting, detect(), tracking. */
  nodeCpuUs(): number;
  frames(): number;
  next<K extends 'started' | 'ended'>(kind: K, timeoutMs: number): Promise<K extends 'started' ? { atMs: number; seenAtMs: number } : MotionInterval>;
}

/** A real MotionWatch in this process, its ffmpeg from the real launcher, with the Node side of each chunk timed by process.cpuUsage. */
function startWatch(url: string, feedLive = false): WatchRun {
  let cpuUs = 0;
  let bytes = 0;
  const timed = (fn: (chunk: Buffer) => void) => (chunk: Buffer) => {
    const c0 = process.cpuUsage();
    fn(chunk);
    const d = process.cpuUsage(c0);
    cpuUs += d.user + d.system;
  };
  const launcher: LiveStreamLauncher = (program, args, onData, onFd3) =>
    spawnLiveStream(
      program,
      args,
      timed((chunk) => {
        onData(chunk);
        bytes += chunk.length;
      }),
      onFd3 && timed(onFd3),
    );
  // As Vigil does on a camera with a sub-stream: the detector's session also feeds the sub-stream's live
  // channel (split into init and fragments, kept for joiners), here with nobody watching.
  const channel = new LiveChannel('bench', 'sub', { clock: systemClock, log: pino({ level: 'silent' }), options: DEFAULT_CHANNEL_OPTIONS });
  let run = 0;
  const feed = feedLive ? { begin: () => void (run = channel.begin()), push: (c: Buffer) => channel.push(run, c), end: () => channel.end(run) } : undefined;
  const waiters: { started: Array<(v: { atMs: number; seenAtMs: number }) => void>; ended: Array<(v: MotionInterval) => void> } = { started: [], ended: [] };
  const watch = new MotionWatch(
    'bench',
    url,
    SETTINGS,
    {
      clock: systemClock,
      log: pino({ level: 'silent' }),
      launcher,
      ffmpegPath: 'ffmpeg',
      rtspTimeoutSeconds: 10,
      backoffInitialMs: 500,
      backoffMaxMs: 5000,
      stallMs: 10_000,
    },
    {
      started: (_id, atMs) => waiters.started.splice(0).forEach((f) => f({ atMs, seenAtMs: Date.now() })),
      ended: (_id, interval) => waiters.ended.splice(0).forEach((f) => f(interval)),
      state: () => undefined,
    },
    feed,
  );
  watch.start();
  const frameBytes = yuv420pBytes(MOTION_WIDTH, MOTION_HEIGHT);
  return {
    watch,
    nodeCpuUs: () => cpuUs,
    frames: () => Math.floor(bytes / frameBytes),
    next: (kind, timeoutMs) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no motion ${kind} within ${timeoutMs} ms`)), timeoutMs);
        (waiters[kind] as Array<(v: unknown) => void>).push((v) => {
          clearTimeout(timer);
          resolve(v as never);
        });
      }),
  };
}

async function measureCpu(trackers: CpuTracker[], seconds: number): Promise<void> {
  let stats = allStats();
  for (const t of trackers) t.start(stats);
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    await sleep(Math.min(SAMPLE_MS, Math.max(0, end - performance.now())));
    stats = allStats();
    for (const t of trackers) t.sample(stats);
  }
  stats = allStats();
  for (const t of trackers) t.stop(stats);
}

/** Figures 1 and 3: one camera's detector against its recorder, then show/hide trials. */
async function oneCamera(o: MotionBenchOptions, server: RtspServer) {
  const dir = await tempDir('vigil-bench-motion-rec-');
  const out = join(dir.path, 'rec');
  mkdirSync(out, { recursive: true });
  const recorder = spawnBareRecorder(server.url(MOUNT.name), out, o.segmentSeconds);
  const run = startWatch(server.url(MOUNT.name));
  const stopWatch = defer('motion watch', () => run.watch.stop());
  try {
    await recorder.recording;
    await waitUntil('the detector watching', () => run.watch.state === 'watching', 30_000, 100);
    await server.moveObject(MOUNT.name, true);
    await run.next('started', 10_000);
    o.log(`  detector and recorder of one camera, object moving; warm-up ${o.warmupSeconds} s, then ${o.seconds} s measured`);
    await sleep(o.warmupSeconds * 1000);
    const watchPid = run.watch.pid;
    if (watchPid === undefined) throw new Error('the detector has no ffmpeg running');
    const det = new CpuTracker(() => [watchPid]);
    const rec = new CpuTracker(() => [recorder.pid]);
    const node0 = run.nodeCpuUs();
    const frames0 = run.frames();
    await measureCpu([det, rec], o.seconds);
    const nodeSeconds = (run.nodeCpuUs() - node0) / 1e6;
    const frames = run.frames() - frames0;
    const stateAtEnd = run.watch.state;
    const costEnded = run.next('ended', 15_000);
    await server.moveObject(MOUNT.name, false);
    await costEnded;

    o.log(`  detection latency: ${o.trials} trials of the object shown 3 s, then hidden`);
    const trials: Array<{ eventAtMs: number; emittedMs: number; startErrMs: number; endErrMs: number }> = [];
    for (let i = 0; i < o.trials; i++) {
      await waitUntil('the picture still', () => run.watch.state === 'watching', 15_000, 50);
      await sleep(1500);
      const started = run.next('started', 10_000);
      const shownAt = await server.moveObject(MOUNT.name, true);
      const s = await started;
      await sleep(3000);
      const ended = run.next('ended', 15_000);
      const hiddenAt = await server.moveObject(MOUNT.name, false);
      const interval = await ended;
      trials.push({ eventAtMs: s.atMs - shownAt, emittedMs: s.seenAtMs - shownAt, startErrMs: interval.startMs - shownAt, endErrMs: interval.endMs - hiddenAt });
    }
    return {
      detectorFfmpegPct: det.percentOfCore,
      nodePct: (100 * nodeSeconds) / det.wallSeconds,
      recorderPct: rec.percentOfCore,
      wallSeconds: det.wallSeconds,
      frames,
      stateAtEnd,
      trials,
    };
  } finally {
    await stopWatch();
    await recorder.stop();
    await dir.remove();
  }
}

/** The detector again, its session also feeding the sub-stream's live view (nobody watching): what that adds. */
async function oneCameraFeeding(o: MotionBenchOptions, server: RtspServer) {
  const run = startWatch(server.url(MOUNT.name), true);
  const stopWatch = defer('motion watch (feeding live)', () => run.watch.stop());
  try {
    await waitUntil('the detector watching', () => run.watch.state === 'watching', 30_000, 100);
    await server.moveObject(MOUNT.name, true);
    await sleep(o.warmupSeconds * 1000);
    const watchPid = run.watch.pid;
    if (watchPid === undefined) throw new Error('the detector has no ffmpeg running');
    const det = new CpuTracker(() => [watchPid]);
    const node0 = run.nodeCpuUs();
    await measureCpu([det], o.seconds);
    const nodeSeconds = (run.nodeCpuUs() - node0) / 1e6;
    await server.moveObject(MOUNT.name, false);
    return { detectorFfmpegPct: det.percentOfCore, nodePct: (100 * nodeSeconds) / det.wallSeconds };
  } finally {
    await stopWatch();
  }
}

type Status = { state: string; motion_state: string };

/** Figure 2: Vigil recording N cameras of the shared mount, motion off, then on (PATCH), total CPU. */
async function manyCameras(o: MotionBenchOptions, server: RtspServer) {
  const work = await tempDir('vigil-bench-motion-vigil-');
  let vigil: VigilChild | undefined;
  try {
    const ids = Array.from({ length: o.cameras }, (_, i) => `cam${String(i + 1).padStart(2, '0')}`);
    vigil = await startVigilChild(work.path, ids.map((id) => ({ id, url: server.url(MOUNT.name), segmentSeconds: o.segmentSeconds })), o.entry);
    const v = vigil;
    const statuses = async () => Promise.all(ids.map(async (id) => (await (await v.api(`/cameras/${id}/status`)).json()) as Status));
    await waitUntil('every camera recording', async () => (await statuses()).every((s) => s.state === 'recording'), 60_000, 250);
    await server.moveObject(MOUNT.name, true);
    const phase = async (label: string) => {
      o.log(`  Vigil, ${o.cameras} cameras, motion ${label}; warm-up ${o.warmupSeconds} s, then ${o.seconds} s measured`);
      await sleep(o.warmupSeconds * 1000);
      const all = new CpuTracker(() => [v.pid]);
      const own = new CpuTracker(() => [v.pid], false);
      const srv = new CpuTracker(() => [server.pid]);
      await measureCpu([all, own, srv], o.seconds);
      return { pct: all.percentOfCore, nodePct: own.percentOfCore, processes: all.processes, serverPct: srv.percentOfCore };
    };
    const off = await phase('off');
    for (const id of ids) {
      const res = await fetch(`${v.url}/api/v1/cameras/${id}`, {
        method: 'PATCH',
        headers: { ...v.headers, 'content-type': 'application/json' },
        body: JSON.stringify({ motion: { enabled: true, fps: SETTINGS.fps, masks: [CLOCK_MASK] } }),
      });
      if (!res.ok) throw new Error(`enabling motion on ${id}: ${res.status} ${await res.text()}`);
    }
    await waitUntil('every detector running', async () => (await statuses()).every((s) => s.motion_state === 'watching' || s.motion_state === 'motion'), 60_000, 250);
    const on = await phase('on');
    const final = await statuses();
    return { off, on, recordingAtEnd: final.filter((s) => s.state === 'recording').length, motionAtEnd: final.filter((s) => s.motion_state === 'motion').length };
  } finally {
    await server.moveObject(MOUNT.name, false).catch(() => undefined);
    await vigil?.stop();
    await work.remove();
  }
}

const ms = (v: number) => fmt.ms(v);
const absMax = (xs: number[]) => (xs.length ? Math.max(...xs.map(Math.abs)) : NaN);

export async function runMotion(o: MotionBenchOptions): Promise<SectionResult[]> {
  const avail = await rtspServerAvailable();
  if (!avail.ok) throw new Error(`RTSP server unavailable: ${avail.reason}`);
  const server = await RtspServer.start({ mounts: [MOUNT] });
  const stopServer = defer('RTSP server', () => server.stop());
  let one: Awaited<ReturnType<typeof oneCamera>>;
  let many: Awaited<ReturnType<typeof manyCameras>>;
  let feeding: Awaited<ReturnType<typeof oneCameraFeeding>>;
  try {
    one = await oneCamera(o, server);
    feeding = await oneCameraFeeding(o, server);
    many = await manyCameras(o, server);
  } finally {
    await stopServer();
  }
  const search = await runMotionSearch({ intervals: o.intervals, cameras: 16, days: 30, queries: o.queries, log: o.log });

  const detPct = one.detectorFfmpegPct + one.nodePct;
  const lat = one.trials.map((t) => t.eventAtMs);
  // Emitted on the second frame with motion (the tracker's start rule); the event's `at` is the first one's instant.
  const told = one.trials.map((t) => t.emittedMs);
  const startErr = one.trials.map((t) => t.startErrMs);
  const endErr = one.trials.map((t) => t.endErrMs);
  const n = o.cameras;
  const cam = `${MOUNT.width}×${MOUNT.height} ${MOUNT.fps} fps ${MOUNT.bitrateKbps} kbps`;
  const live: SectionResult = {
    name: 'motion',
    rows: [
      {
        figure: `Motion detector CPU, 1 cam ${cam}, object moving (ffmpeg + Node)`,
        value: fmt.pct(detPct),
        baseline: `${fmt.pct(one.recorderPct)} (its recorder ffmpeg)`,
        ratio: fmt.ratio(detPct / one.recorderPct),
        goal: goal('≤ 2 % core', check(detPct, (p) => p <= 2)),
      },
      {
        figure: `  of which the detector's ffmpeg / Node (split, detect, track; ${one.frames} frames)`,
        value: `${fmt.pct(one.detectorFfmpegPct)} / ${fmt.pct(one.nodePct)}`,
      },
      {
        figure: '  the same detector also feeding the sub-stream live view (one camera session; nobody watching)',
        value: fmt.pct(feeding.detectorFfmpegPct + feeding.nodePct),
        baseline: `ffmpeg ${fmt.pct(feeding.detectorFfmpegPct)} / Node ${fmt.pct(feeding.nodePct)}`,
        ratio: fmt.ratio((feeding.detectorFfmpegPct + feeding.nodePct) / detPct),
        goal: goal('≤ 2 % core', check(feeding.detectorFfmpegPct + feeding.nodePct, (p) => p <= 2)),
      },
      {
        figure: `Vigil recording ${n} cams (Vigil + its ffmpegs), motion on`,
        value: fmt.pct(many.on.pct),
        baseline: `${fmt.pct(many.off.pct)} (motion off)`,
        ratio: fmt.ratio(many.on.pct / many.off.pct),
      },
      {
        figure: '  of which the Vigil Node process, on / off',
        value: `${fmt.pct(many.on.nodePct)} / ${fmt.pct(many.off.nodePct)}`,
        baseline: `${fmt.pct((many.on.pct - many.off.pct) / n)} added per camera`,
      },
      {
        figure: `Object shown → motion_started emitted, ${one.trials.length} trials (p50 / max)`,
        value: `${ms(percentile(told, 50))} / ${ms(told.length ? Math.max(...told) : NaN)}`,
        goal: goal('≤ 1000 ms', check(told.length ? Math.max(...told) : NaN, (v) => v <= 1000)),
      },
      {
        figure: '  interval start − shown, end − hidden (p50 / max |error|)',
        value: `${ms(percentile(startErr, 50))} / ${ms(absMax(startErr))}; ${ms(percentile(endErr, 50))} / ${ms(absMax(endErr))}`,
        goal: goal('|error| ≤ 1000 ms', check(Math.max(absMax(startErr), absMax(endErr)), (e) => e <= 1000)),
      },
    ],
    data: {
      camera: { ...MOUNT },
      settings: SETTINGS,
      oneCamera: {
        method: 'a MotionWatch in the bench process (real launcher and ffmpeg) and a bare recorder ffmpeg on the same mount; ffmpeg CPU from /proc/<pid>/stat, Node CPU by process.cpuUsage() around each stdout chunk the detector gets',
        measuredSeconds: one.wallSeconds,
        detectorFfmpegPercentOfCore: one.detectorFfmpegPct,
        detectorNodePercentOfCore: one.nodePct,
        detectorPercentOfCore: detPct,
        recorderPercentOfCore: one.recorderPct,
        ratio: detPct / one.recorderPct,
        frames: one.frames,
        stateAtEnd: one.stateAtEnd,
        goalPercentOfCore: 2,
      },
      manyCameras: {
        cameras: n,
        measuredSeconds: o.seconds,
        warmupSeconds: o.warmupSeconds,
        vigilEntry: o.entry.kind,
        order: 'motion off first, then every camera enabled by PATCH in the same Vigil',
        off: many.off,
        on: many.on,
        ratio: many.on.pct / many.off.pct,
        addedPercentOfCorePerCamera: (many.on.pct - many.off.pct) / n,
        recordingAtEnd: many.recordingAtEnd,
        inMotionAtEnd: many.motionAtEnd,
      },
      latency: {
        method: 'moveObject() ack wall_ms (shown/hidden) against the MotionWatch started event (its frame instant) and the written interval start/end',
        trials: one.trials,
        emittedMs: { p50: percentile(told, 50), max: told.length ? Math.max(...told) : null },
        eventAtMs: { p50: percentile(lat, 50), max: lat.length ? Math.max(...lat) : null },
        startErrorMs: { p50: percentile(startErr, 50), maxAbs: absMax(startErr) },
        endErrorMs: { p50: percentile(endErr, 50), maxAbs: absMax(endErr) },
      },
    },
  };
  return [live, search];
}
