/**
 * Figures of clip export and snapshots, on synthesized footage: one 60-s 1080p segment of noisy
 * H.264 (~2 Mbit/s, 25 fps, 2-s GOP, fragmented MP4 as the recorder writes it: 500-ms fragments)
 * copied into `minutes` contiguous segment files and indexed with `indexSegment`, served by an in-process Vigil
 * and fetched with curl (a separate process, so the client does not share Vigil's event loop).
 *
 * - clip of all `minutes`: time to first byte; throughput ÷ `cat` of the same files into a pipe
 *   (both warm in the page cache, measured in the same run);
 * - clip exactness over random ranges: what a player that honours the edit list presents − the range;
 * - snapshot latency p50/p95 at random instants of a 1080p segment.
 *
 * Standalone: `node --import tsx bench/export.ts [--minutes 10] [--snapshots 40] [--quick]`.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { createApp, type VigilApp } from '../src/app.js';
import { buildConfig } from '../src/config/config.js';
import { upsertDeclaredCamera } from '../src/db/camera.repo.js';
import { openDatabase } from '../src/db/connection.js';
import { indexSegment } from '../src/db/segment.repo.js';
import { VIDEO_TRACK_TIMESCALE } from '../src/media/ffmpeg-common-args.js';
import { keyframeFragments, scanFmp4 } from '../src/media/fmp4/scan.js';
import { RECORD_FRAGMENT_US } from '../src/media/recorder-args.js';
import { benchCredentials } from './auth.js';
import { cleanupAll, defer, installSignalHandlers, tempDir } from './cleanup.js';
import { mean, percentile } from './proc.js';
import { check, fmt, goal, renderTable, type SectionResult } from './report.js';

const run = promisify(execFile);

export interface ExportBenchOptions {
  /** Minutes of footage the clip covers (one 60-s segment file per minute). */
  minutes: number;
  snapshots: number;
  /** Random ranges whose clip exactness is measured. */
  exactnessRanges: number;
  /** Clip downloads (and cat runs) measured; the median is reported. */
  repetitions: number;
  log: (msg: string) => void;
}

const CAMERA = 'bench';
const SEGMENT_S = 60;
const FPS = 25;
const GOP_FRAMES = 50;
const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

export async function runExport(o: ExportBenchOptions): Promise<SectionResult[]> {
  const work = await tempDir('vigil-bench-export-');
  const dataDir = join(work.path, 'data');
  const camDir = join(dataDir, 'recordings', CAMERA);
  await mkdir(camDir, { recursive: true });

  o.log(`  synthesizing a ${SEGMENT_S}-s 1080p segment (noise, ~2 Mbit/s, ${FPS} fps, GOP ${GOP_FRAMES}) …`);
  const source = join(work.path, 'source.mp4');
  await run('ffmpeg', [
    '-hide_banner', '-v', 'error',
    '-f', 'lavfi', '-i', `testsrc2=size=1920x1080:rate=${FPS},noise=alls=12:allf=t`,
    '-t', String(SEGMENT_S),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency',
    '-b:v', '2M', '-maxrate', '2M', '-bufsize', '2M', '-g', String(GOP_FRAMES), '-pix_fmt', 'yuv420p',
    // The recorder's fragment layout: a fragment at every keyframe and at most every RECORD_FRAGMENT_US
    // between them (four a GOP here), so a clip's plan reads as many moofs as it would of a recording.
    '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-frag_duration', String(RECORD_FRAGMENT_US),
    '-video_track_timescale', String(VIDEO_TRACK_TIMESCALE), '-f', 'mp4', source,
  ]);

  // Contiguous segments, as one recorder run writes them; each its own file (cat reads the same bytes).
  const files: string[] = [];
  // What the indexer stores of each file it indexes (`segments.keyframe_fragments`): every copy is the same file.
  const keyframes = keyframeFragments(await scanFmp4(source));
  const opened = await openDatabase(join(dataDir, 'vigil.db'));
  try {
    await upsertDeclaredCamera(
      opened.db,
      { id: CAMERA, name: CAMERA, mainUrl: 'rtsp://127.0.0.1:9/none', subUrl: null, segmentSeconds: SEGMENT_S, retentionHours: null, storageQuotaBytes: null, enabled: false },
      'config',
      T0,
    );
    for (let i = 0; i < o.minutes; i++) {
      const startMs = T0 + i * SEGMENT_S * 1000;
      const name = `${iso(startMs).replace(/[-:]/g, '').replace(/\.000Z$/, 'Z')}-bench.mp4`;
      const file = join(camDir, name);
      await copyFile(source, file);
      files.push(file);
      await indexSegment(
        opened.db,
        { cameraId: CAMERA, path: `recordings/${CAMERA}/${name}`, startMs, endMs: startMs + SEGMENT_S * 1000, sizeBytes: (await stat(file)).size, codec: 'h264', width: 1920, height: 1080, source: 'live', fps: FPS, keyframeFragments: keyframes },
        T0,
      );
    }
  } finally {
    await opened.close();
  }
  const totalBytes = (await stat(source)).size * o.minutes;

  const app = await startApp(dataDir);
  const stopApp = defer('in-process Vigil', () => app.stop());
  try {
    const base = `${app.url}/api/v1/cameras/${CAMERA}`;
    const clipUrl = (fromMs: number, toMs: number) => `${base}/clip.mp4?from=${iso(fromMs)}&to=${iso(toMs)}`;
    const endMs = T0 + o.minutes * SEGMENT_S * 1000;

    // Warm the page cache for both sides, then alternate so drift hits both alike.
    await catThroughPipe(files);
    await curl(clipUrl(T0, endMs));
    const cats: number[] = [];
    const clips: Array<{ ttfbMs: number; totalMs: number; bytes: number }> = [];
    for (let r = 0; r < o.repetitions; r++) {
      cats.push(await catThroughPipe(files));
      clips.push(await curl(clipUrl(T0, endMs)));
      o.log(`  run ${r + 1}/${o.repetitions}: cat ${fmt.ms(cats.at(-1) as number)}, clip ${fmt.ms(clips.at(-1)?.totalMs ?? NaN)} (first byte ${fmt.ms(clips.at(-1)?.ttfbMs ?? NaN, 1)})`);
    }
    const catMs = percentile(cats, 50);
    const clipMs = percentile(clips.map((c) => c.totalMs), 50);
    const ttfbMs = percentile(clips.map((c) => c.ttfbMs), 50);
    const catMBps = totalBytes / 1e6 / (catMs / 1000);
    const clipMBps = totalBytes / 1e6 / (clipMs / 1000);
    const ratio = clipMBps / catMBps;
    // The same downloads from their first byte on: the transfer alone, without the plan (every part's
    // moofs read and the clip's boxes made) that the first byte waits for.
    const bodyMs = percentile(clips.map((c) => c.totalMs - c.ttfbMs), 50);
    const bodyMBps = totalBytes / 1e6 / (bodyMs / 1000);
    // ffmpeg alone (same argv, stdout into a pipe): separates the remux from the HTTP path.
    const ffmpegMs = await ffmpegAlone(files);

    const rng = mulberry32(42);
    const errorsMs: number[] = [];
    const prerollsMs: number[] = [];
    for (let i = 0; i < o.exactnessRanges; i++) {
      const from = T0 + Math.round(rng() * (endMs - T0 - 40_000));
      const to = from + 2000 + Math.round(rng() * 30_000);
      const m = await exactness(clipUrl(from, to), join(work.path, 'exact.mp4'), (to - from) / 1000);
      errorsMs.push(m.errorMs);
      prerollsMs.push(m.prerollMs);
    }

    // The same random instants for both paths: warm decoders (the default), then a Vigil restarted
    // with media.warm_decoders 0 (ffmpeg started per request), as the baseline of the same run.
    const instants = Array.from({ length: o.snapshots }, () => T0 + Math.round(rng() * (SEGMENT_S * 1000 - 1)));
    const latencies = await snapshotLatencies(base, instants, true);
    const backToBack = await snapshotLatencies(base, instants, false);
    await stopApp();
    const coldApp = await startApp(dataDir, 0);
    const stopCold = defer('in-process Vigil (cold snapshots)', () => coldApp.stop());
    const coldLatencies = await snapshotLatencies(`${coldApp.url}/api/v1/cameras/${CAMERA}`, instants, true);
    await stopCold();
    const ffmpegStartMs = await timeIt(() => run('ffmpeg', ['-hide_banner', '-version']));

    const p50 = percentile(latencies, 50);
    const p95 = percentile(latencies, 95);
    const coldP50 = percentile(coldLatencies, 50);
    const coldP95 = percentile(coldLatencies, 95);
    const b2bP50 = percentile(backToBack, 50);
    const b2bP95 = percentile(backToBack, 95);
    const maxErr = Math.max(...errorsMs.map(Math.abs));
    return [
      {
        name: 'export',
        rows: [
          { figure: `Clip of ${o.minutes} min (1080p, 2 Mbit/s, ${o.minutes} segment files): time to first byte`, value: fmt.ms(ttfbMs, 1), goal: goal('≤ 300 ms', check(ttfbMs, (v) => v <= 300)) },
          {
            figure: `Clip of ${o.minutes} min: throughput (HTTP, curl) vs cat of the same files into a pipe (warm cache)`,
            value: `${fmt.num(clipMBps)} MB/s`,
            baseline: `${fmt.num(catMBps)} MB/s`,
            ratio: fmt.ratio(ratio),
            goal: goal('≥ 0.9× (issue 17)', check(ratio, (v) => v >= 0.9)),
          },
          {
            figure: `Clip of ${o.minutes} min: rate from the first byte on (the transfer alone, without the plan the first byte waits for) vs cat`,
            value: `${fmt.num(bodyMBps)} MB/s`,
            baseline: `${fmt.num(catMBps)} MB/s`,
            ratio: fmt.ratio(bodyMBps / catMBps),
          },
          { figure: 'Clip export path taken (join = fMP4 fragments joined in Node, ffmpeg = remux)', value: Object.entries(clipPaths).map(([p, n]) => `${p} ×${n}`).join(', ') || 'none logged' },
          { figure: 'Joined clips\' read windows: made / handed out again once written (HTTP responses only)', value: `${clipWindows.made} / ${clipWindows.reused}` },
          { figure: `Clip of ${o.minutes} min: ffmpeg remux alone (same argv, stdout into a pipe)`, value: `${fmt.num(totalBytes / 1e6 / (ffmpegMs / 1000))} MB/s`, baseline: `${fmt.num(catMBps)} MB/s`, ratio: fmt.ratio(catMs / ffmpegMs) },
          {
            figure: `Clip exactness (${o.exactnessRanges} random ranges): presented duration − range, max |error| (pre-roll cut by the edit list: mean/max)`,
            value: fmt.ms(maxErr, 1),
            baseline: `${fmt.ms(mean(prerollsMs))} / ${fmt.ms(Math.max(...prerollsMs))}`,
            goal: goal(`≤ 1 frame (${fmt.ms(1000 / FPS)})`, check(maxErr, (v) => v <= 1000 / FPS + 1)),
          },
          {
            figure: `Snapshot latency, 1080p, GOP ${GOP_FRAMES} (${o.snapshots} random instants, one at a time): p50 / p95, warm decoder vs ffmpeg started per request (ffmpeg start ${fmt.ms(ffmpegStartMs)})`,
            value: `${fmt.ms(p50)} / ${fmt.ms(p95)}`,
            baseline: `${fmt.ms(coldP50)} / ${fmt.ms(coldP95)}`,
            ratio: fmt.ratio(p50 / coldP50),
            goal: goal('p50 ≤ 200 ms (issue 17)', check(p50, (v) => v <= 200)),
          },
          {
            figure: 'Snapshot latency back to back (the used decoder\'s replacement starts during the next request): p50 / p95 vs ffmpeg started per request',
            value: `${fmt.ms(b2bP50)} / ${fmt.ms(b2bP95)}`,
            baseline: `${fmt.ms(coldP50)} / ${fmt.ms(coldP95)}`,
            ratio: fmt.ratio(b2bP50 / coldP50),
          },
        ],
        data: {
          minutes: o.minutes,
          totalBytes,
          segment: { seconds: SEGMENT_S, width: 1920, height: 1080, fps: FPS, gopFrames: GOP_FRAMES, bitrate: '2M' },
          catMs: cats,
          clipRuns: clips,
          ffmpegAloneMs: ffmpegMs,
          ratio,
          bodyMs,
          exactness: { errorsMs, prerollsMs, maxAbsErrorMs: maxErr },
          snapshotMs: latencies,
          snapshotP50Ms: p50,
          snapshotP95Ms: p95,
          coldSnapshotMs: coldLatencies,
          coldSnapshotP50Ms: coldP50,
          coldSnapshotP95Ms: coldP95,
          backToBackSnapshotMs: backToBack,
          ffmpegStartMs,
          clipPaths,
          clipWindows,
          method: 'in-process Vigil (tsx), curl client; throughput = footage bytes / wall time, median of repetitions',
        },
      },
    ];
  } finally {
    await stopApp();
    await work.remove();
  }
}

/** curl's flags that authenticate as the bench's admin key (set by `startApp`). */
let authArgs: string[] = [];
/** How many clips each export path made (from the service's debug line `clip export path`). */
const clipPaths: Record<string, number> = {};
/** The joined clips' read windows: made new, and handed out again once written (`clip read windows`). */
const clipWindows = { made: 0, reused: 0 };

/**
 * Vigil's log at debug level, of which only the clip path lines are kept (counted) and warnings or
 * worse are passed to stderr: the table says which path the figures measure.
 */
function benchLog() {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        const entry = JSON.parse(line) as { msg?: string; level?: number; path?: string; windowsMade?: number; windowsReused?: number };
        if (entry.msg === 'clip export path' && entry.path) clipPaths[entry.path] = (clipPaths[entry.path] ?? 0) + 1;
        else if (entry.msg === 'clip read windows') {
          clipWindows.made += entry.windowsMade ?? 0;
          clipWindows.reused += entry.windowsReused ?? 0;
        }
        else if ((entry.level ?? 0) >= 40) process.stderr.write(`${line}\n`);
      }
      done();
    },
  });
  return pino({ level: 'debug' }, sink);
}

async function startApp(dataDir: string, warmDecoders?: number): Promise<VigilApp> {
  const config = buildConfig(
    {
      demo: false,
      listen: '127.0.0.1:0',
      log_level: 'warn',
      retention: { min_free_bytes: 0 },
      ...(warmDecoders === undefined ? {} : { media: { warm_decoders: warmDecoders } }),
      cameras: [{ id: CAMERA, main_url: 'rtsp://127.0.0.1:9/none', enabled: false }],
    },
    { source: null, cwd: dataDir, env: {}, overrides: { dataDir } },
  );
  const app = await createApp(config, { log: benchLog() });
  // A restart on the same data dir (the cold-snapshot baseline) finds the bench admin there already.
  const authorization = (await app.auth.userByName('bench'))
    ? `Bearer ${(await app.auth.createKey({ name: 'bench', role: 'admin' }, null)).key}`
    : (await benchCredentials(app)).headers.authorization;
  authArgs = ['-H', `authorization: ${authorization}`];
  await app.start();
  return app;
}

/**
 * Snapshot latency at each instant, one request at a time (after one untimed request). With
 * `spaced`, each request waits until no warm decoder is still starting (as when an operator asks for
 * snapshots seconds apart); without, they follow each other at once.
 */
async function snapshotLatencies(base: string, instants: number[], spaced: boolean): Promise<number[]> {
  await curl(`${base}/snapshot.jpg?at=${iso(T0 + 1000)}`);
  const out: number[] = [];
  for (const at of instants) {
    if (spaced) await warmDecodersIdle();
    out.push((await curl(`${base}/snapshot.jpg?at=${iso(at)}`)).totalMs);
  }
  return out;
}

/** Waits until every warm snapshot decoder of this process sleeps on its stdin (seen twice, 20 ms apart). */
async function warmDecodersIdle(timeoutMs = 10_000): Promise<void> {
  const states = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const e of await readdir('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      const m = /\) (\S) (\d+) /.exec(await readFile(`/proc/${e}/stat`, 'utf8').catch(() => ''));
      if (!m || Number(m[2]) !== process.pid) continue;
      const argv = (await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '')).split('\0');
      if (argv.includes('-copyts') && argv.includes('pipe:0')) out.push(m[1] as string);
    }
    return out;
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await states()).every((s) => s === 'S')) {
      await new Promise((r) => setTimeout(r, 20));
      if ((await states()).every((s) => s === 'S')) return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** `curl` to /dev/null: time to first byte and total, as curl measures them. */
async function curl(url: string): Promise<{ ttfbMs: number; totalMs: number; bytes: number }> {
  const { stdout } = await run('curl', [...authArgs, '-sS', '--fail', '-o', '/dev/null', '-w', '%{time_starttransfer} %{time_total} %{size_download}', url]);
  const [ttfb, total, bytes] = stdout.trim().split(' ').map(Number);
  return { ttfbMs: (ttfb ?? NaN) * 1000, totalMs: (total ?? NaN) * 1000, bytes: bytes ?? NaN };
}

/** `cat files` with its stdout drained from a pipe by this process, as ffmpeg's stdout is drained by Vigil. */
function catThroughPipe(files: string[]): Promise<number> {
  return drain('cat', files);
}

async function ffmpegAlone(files: string[]): Promise<number> {
  const { buildClipArgs, buildConcatList } = await import('../src/media/clip-args.js');
  return drain('ffmpeg', buildClipArgs(), buildConcatList(files.map((absPath) => ({ absPath }))));
}

function drain(program: string, args: string[], stdin?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(program, args, { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'ignore'] });
    if (stdin !== undefined) child.stdin?.end(stdin);
    child.stdout?.resume();
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${program} exited ${code}`))));
  });
}

/** Fetches a clip and measures what an edit-list-aware player presents against the range asked. */
async function exactness(url: string, file: string, rangeS: number): Promise<{ errorMs: number; prerollMs: number }> {
  await run('curl', [...authArgs, '-sS', '--fail', '-o', file, url]);
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=start_time,duration', '-of', 'default=noprint_wrappers=1', file]);
  const v = Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('=')));
  const start = Number(v['start_time']);
  const duration = Number(v['duration']);
  return { errorMs: (duration + start - rangeS) * 1000, prerollMs: -start * 1000 };
}

/** Deterministic random instants, so runs compare. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({ options: { minutes: { type: 'string' }, snapshots: { type: 'string' }, quick: { type: 'boolean', default: false } } });
  const quick = values.quick ?? false;
  installSignalHandlers();
  try {
    const sections = await runExport({
      minutes: Number(values.minutes ?? (quick ? 3 : 10)),
      snapshots: Number(values.snapshots ?? (quick ? 10 : 40)),
      exactnessRanges: quick ? 5 : 20,
      repetitions: quick ? 2 : 5,
      log: (m) => void process.stderr.write(`${m}\n`),
    });
    process.stdout.write(`${renderTable(sections)}\n`);
  } finally {
    await cleanupAll();
  }
}
