import { execFile, spawn } from 'node:child_process';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCore, type Core } from '../../src/app.js';
import { buildConfig, cameraFromInput } from '../../src/config/config.js';
import { upsertDeclaredCamera } from '../../src/db/camera.repo.js';
import { indexSegment } from '../../src/db/segment.repo.js';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { ClipService } from '../../src/export/clip.service.js';
import { MediaJobs } from '../../src/export/media-jobs.js';
import { scanFmp4 } from '../../src/media/fmp4/scan.js';
import { buildSegmentRecorderArgs } from '../../src/media/recorder-args.js';
import { buildRefillArgs } from '../../src/media/refill-args.js';
import { systemClock } from '../../src/shared/clock.js';
import { removeDir, tempDir } from '../support/harness.js';

const run = promisify(execFile);
const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);
const FPS = 10;

/** Runs ffmpeg with these args to its end; the recorder's extra pipes (fd 1, 3) are drained. */
function ffmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    for (const s of [p.stdout, p.stdio[3]]) (s as NodeJS.ReadableStream | null)?.resume();
    // Its stderr's tail goes with a failure (CI saw one exit 1 here, not reproduced).
    let stderr = '';
    p.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited with ${code}: ${stderr}`))));
  });
}

/**
 * Time truth, defect 1: live segments (the recorder's argv) and edge refills (the refill's argv) of
 * the same camera must share a track timescale, or a clip across them comes out with broken timing.
 */
describe('live and edge footage of one camera', () => {
  let server: RtspServer;
  let dir: string;
  let core: Core;
  let live: string[];
  let edge: string;

  beforeAll(async () => {
    dir = await tempDir('vigil-timescale-');
    server = await RtspServer.start({ mounts: [{ name: 'cam', width: 320, height: 240, fps: FPS }] });
    const camDir = join(dir, 'recordings', 'cam');
    await mkdir(camDir, { recursive: true });
    const rec = buildSegmentRecorderArgs({ url: server.url('cam'), outputDir: camDir, fileNamePattern: 'live-%06d.mp4', segmentSeconds: 2, socketTimeoutSeconds: 10 });
    rec.splice(rec.length - 1, 0, '-t', '4.5');
    edge = join(camDir, 'edge.mp4');
    await Promise.all([ffmpeg(rec), ffmpeg(buildRefillArgs({ url: server.url('cam'), outputPath: edge, durationSeconds: 3, socketTimeoutSeconds: 10 }))]);
    live = (await readdir(camDir)).filter((n) => n.startsWith('live-')).sort().map((n) => join(camDir, n)).slice(0, 2);
    const config = buildConfig({ retention: { min_free_bytes: 0 } }, { source: null, cwd: dir, env: {}, overrides: { dataDir: dir } });
    core = await buildCore(config, systemClock, pino({ level: 'silent' }));
    await upsertDeclaredCamera(core.db, cameraFromInput({ id: 'cam', main_url: server.url('cam'), enabled: false }), 'config', T0);
  }, 60_000);

  afterAll(async () => {
    await core?.close();
    await server?.stop();
    await removeDir(dir);
  });

  it('are written at the same track timescale', async () => {
    const scales = await Promise.all([...live, edge].map(async (f) => (await scanFmp4(f)).tracks[0]?.timescale));
    expect(new Set(scales).size, `timescales ${scales.join(', ')}`).toBe(1);
  });

  it('make one clip across live → edge → live whose length is the range and whose frames are evenly spaced', async () => {
    // Placed back to back: live [0, 2), edge [2, 5), live [5, 7) seconds.
    const spans: Array<[string, number, number]> = [];
    let at = T0;
    for (const f of [live[0]!, edge, live[1]!]) {
      const seconds = (await scanFmp4(f)).videoDurationSeconds;
      spans.push([f, at, at + Math.round(seconds * 1000)]);
      at += Math.round(seconds * 1000);
    }
    for (const [f, s, e] of spans) {
      const r = await indexSegment(core.db, { cameraId: 'cam', path: `recordings/cam/${f.split('/').pop()!}`, startMs: s, endMs: e, sizeBytes: (await stat(f)).size, codec: 'avc1', width: 320, height: 240, source: f === edge ? 'edge' : 'live', fps: FPS }, T0);
      expect(r.segment).toBeDefined();
    }
    const clips = new ClipService({ db: core.db, clock: systemClock, store: core.store, log: pino({ level: 'silent' }), jobs: new MediaJobs({ maxJobs: 1 }), ffmpegPath: 'ffmpeg', clipMaxSeconds: 3600 });
    const fromMs = T0;
    const toMs = at;
    const clip = await clips.open('cam', { fromMs, toMs });
    const out = join(dir, 'clip.mp4');
    const { createWriteStream } = await import('node:fs');
    const { pipeline } = await import('node:stream/promises');
    await pipeline(clip.body, createWriteStream(out));
    const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time:format=duration', '-of', 'json', out]);
    const j = JSON.parse(stdout) as { packets: Array<{ pts_time: string }>; format: { duration: string } };
    const rangeS = (toMs - fromMs) / 1000;
    expect(Number(j.format.duration)).toBeGreaterThan(rangeS - 1 / FPS - 0.01);
    expect(Number(j.format.duration)).toBeLessThan(rangeS + 1 / FPS + 0.01);
    const pts = j.packets.map((p) => Number(p.pts_time)).sort((a, b) => a - b);
    const gaps = pts.slice(1).map((p, i) => p - pts[i]!);
    expect(Math.max(...gaps), 'no frame more than 1.5 intervals after the one before').toBeLessThan(1.5 / FPS);
    // Each file that starts a camera connection (the first live one, the edge one) begins with a
    // frame ffmpeg's RTSP reader stamps one tick before the next: shown for 11 µs, it is not a
    // timing fault of the join. Every other frame is one interval after the one before.
    expect(gaps.filter((g) => g < 0.5 / FPS).length).toBeLessThanOrEqual(2);
    expect(gaps.filter((g) => g >= 0.5 / FPS).every((g) => Math.abs(g - 1 / FPS) < 0.002)).toBe(true);
    expect(pts.length).toBeGreaterThanOrEqual(Math.round(rangeS * FPS) - 1);
  });
});
