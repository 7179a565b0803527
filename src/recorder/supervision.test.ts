import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../config/config.js';
import { getCamera, upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type OpenedDb } from '../db/connection.js';
import { EventLog } from '../events/event-log.js';
import { Indexer } from '../indexer/indexer.service.js';
import type { ExitInfo, RecorderHandlers, RecorderLauncher } from '../media/ffmpeg-process.js';
import { systemClock } from '../shared/clock.js';
import { sleep } from '../shared/sleep.js';
import { memoryLogger } from '../../test/support/harness.js';
import { CameraRecorder } from './camera-recorder.js';
import { FootageStore } from '../storage/footage-store.js';

let dir: string;
let opened: OpenedDb;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-supervision-'));
  opened = await openDatabase(join(dir, 'vigil.db'));
});
afterEach(async () => {
  await opened.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * A camera `cam1` (its segment length, a URL nothing answers) and a recorder for it with these recorder
 * settings; `start` builds the recorder over the given launcher (call it after any trigger the test adds).
 */
async function setup(recorder: Record<string, number>, segmentSeconds: number) {
  const db = opened.db;
  const { log, text } = memoryLogger();
  const events = new EventLog(db, systemClock, log);
  const cfg = buildConfig({ recorder }, { source: null, cwd: dir, env: {}, overrides: { dataDir: dir } });
  await upsertDeclaredCamera(db, { id: 'cam1', name: 'cam1', mainUrl: 'rtsp://127.0.0.1:9/x', subUrl: null, segmentSeconds, retentionHours: null, storageQuotaBytes: null, enabled: true }, 'config', Date.now());
  const start = async (launcher: RecorderLauncher) => {
    const indexer = new Indexer({ db, store: new FootageStore(dir), clock: systemClock, events, log });
    return new CameraRecorder((await getCamera(db, 'cam1'))!, { db, clock: systemClock, events, indexer, launcher, config: cfg.recorder, log });
  };
  return { db, text, start };
}

describe('recorder supervision', () => {
  it('goes on restarting ffmpeg when the database refuses to record an exit (e.g. its disk is full)', async () => {
    const { db, text, start } = await setup({ backoff_initial_ms: 10, backoff_max_ms: 20 }, 2);
    // Real SQLite refusing exactly the write that counts a reconnect, as SQLITE_FULL would.
    await sql`CREATE TRIGGER refuse_reconnect BEFORE UPDATE OF reconnect_count ON camera_status BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`.execute(db);
    let launches = 0;
    const launcher: RecorderLauncher = () => {
      launches++;
      const exited: Promise<ExitInfo> = sleep(5).then(() => ({ code: 1, signal: null, stderrTail: 'Connection refused' }));
      return { pid: 0, exited, stop: () => exited, kill: () => exited };
    };
    const rec = await start(launcher);
    rec.start();
    try {
      const deadline = Date.now() + 10_000;
      while (launches < 3 && Date.now() < deadline) await sleep(10);
    } finally {
      await rec.stop();
    }
    expect(launches).toBeGreaterThanOrEqual(3);
    expect(text()).toContain('recording the exit failed');
    expect(text()).not.toContain('recorder loop failed');
  });

  it('never leaves a launched ffmpeg unsupervised when a status write after the launch throws', async () => {
    const { db, start } = await setup({ backoff_initial_ms: 10, backoff_max_ms: 20 }, 2);
    // Real SQLite refusing the write that records the new pid (as a full or failing disk would).
    await sql`CREATE TRIGGER refuse_pid_update BEFORE UPDATE OF pid ON camera_status WHEN NEW.pid IS NOT NULL BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`.execute(db);
    await sql`CREATE TRIGGER refuse_pid_insert BEFORE INSERT ON camera_status WHEN NEW.pid IS NOT NULL BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`.execute(db);
    // Fake ffmpegs that run until stopped or killed, as a connected recorder does.
    let launches = 0;
    let alive = 0;
    let maxAlive = 0;
    const launcher: RecorderLauncher = () => {
      launches++;
      alive++;
      maxAlive = Math.max(maxAlive, alive);
      let end!: (e: ExitInfo) => void;
      const exited = new Promise<ExitInfo>((resolve) => (end = resolve)).then((e) => {
        alive--;
        return e;
      });
      const finish = () => {
        end({ code: null, signal: 'SIGKILL', stderrTail: '' });
        return exited;
      };
      return { pid: 4242 + launches, exited, stop: finish, kill: finish };
    };
    const rec = await start(launcher);
    rec.start();
    try {
      await sleep(500);
    } finally {
      await rec.stop();
    }
    expect(launches).toBeGreaterThanOrEqual(1);
    expect(maxAlive).toBe(1);
    expect(alive).toBe(0);
  });

  it('stops a run gracefully when video stops (freeze_seconds) or never starts (rtsp_timeout_seconds), with a camera_silent event that says which', async () => {
    const { db, start } = await setup({ backoff_initial_ms: 10, backoff_max_ms: 20, freeze_seconds: 2, rtsp_timeout_seconds: 1 }, 60);
    // Run 1 sends video for ~1 s then falls silent; run 2 never sends any. Each ends only when stopped.
    let launches = 0;
    const how: string[] = [];
    const launcher: RecorderLauncher = (_p, _a, handlers) => {
      const run = ++launches;
      let end!: (e: ExitInfo) => void;
      const exited = new Promise<ExitInfo>((resolve) => (end = resolve));
      const started = Date.now();
      const feed = setInterval(() => {
        if (run === 1 && Date.now() - started < 1000) handlers.onProgress((Date.now() - started) * 1000, 1, Date.now());
      }, 100);
      void exited.then(() => clearInterval(feed));
      return {
        pid: 0,
        exited,
        stop: () => {
          how.push('stop');
          end({ code: 255, signal: null, stderrTail: 'Exiting normally, received signal 2.' });
          return exited;
        },
        kill: () => {
          how.push('kill');
          end({ code: null, signal: 'SIGKILL', stderrTail: '' });
          return exited;
        },
      };
    };
    const rec = await start(launcher);
    rec.start();
    try {
      const deadline = Date.now() + 20_000;
      while (launches < 3 && Date.now() < deadline) await sleep(20);
    } finally {
      await rec.stop();
    }
    const silent = (await sql<{ payload: string }>`SELECT payload FROM events WHERE type = 'camera_silent' ORDER BY id`.execute(db)).rows.map((r) => JSON.parse(r.payload) as Record<string, unknown>);
    expect(silent.length).toBeGreaterThanOrEqual(2);
    const [froze, never] = silent as [Record<string, unknown>, Record<string, unknown>];
    expect(froze.had_video).toBe(true);
    expect(froze.reason).toMatch(/^the camera stopped sending video: none for 2\.\d s while connected \(freeze_seconds 2\)/);
    expect(froze.silent_seconds as number).toBeGreaterThanOrEqual(2);
    expect(froze.silent_seconds as number).toBeLessThan(3);
    expect(typeof froze.last_video_at).toBe('string');
    expect(never.had_video).toBe(false);
    expect(never.reason).toMatch(/^the camera sent no video for 6\.\d s after the recorder started \(rtsp_timeout_seconds 1 \+ 5 s of stream analysis\)/);
    expect(never.last_video_at).toBeNull();
    // Graceful stops (the open segment is closed and listed), never a kill.
    expect(how.slice(0, 2)).toEqual(['stop', 'stop']);
    const cam = (await sql<{ state: string; last_error: string }>`SELECT state, last_error FROM camera_status WHERE camera_id = 'cam1'`.execute(db)).rows[0];
    expect(cam?.last_error).toMatch(/camera (stopped sending|sent no) video/);
  });

  /**
   * Runs the recorder over an ffmpeg whose first run fails with `firstStderr` and whose later runs find
   * no camera, until it has been started twice (a backoff of 2 s would keep the second start past the
   * 1.5 s waited: a second start in time is an immediate retry). Returns every run's argv and the first
   * recorder_exited event's reason.
   */
  async function failFirstRun(firstStderr: string): Promise<{ argvs: string[][]; reason: string }> {
    const { db, start } = await setup({ backoff_initial_ms: 2000, backoff_max_ms: 4000 }, 60);
    const argvs: string[][] = [];
    const launcher: RecorderLauncher = (_p, args) => {
      argvs.push(args);
      const exited: Promise<ExitInfo> = sleep(5).then(() => ({ code: 1, signal: null, stderrTail: argvs.length === 1 ? firstStderr : 'Connection refused' }));
      return { pid: 0, exited, stop: () => exited, kill: () => exited };
    };
    const rec = await start(launcher);
    rec.start();
    try {
      const deadline = Date.now() + 1500;
      while (argvs.length < 2 && Date.now() < deadline) await sleep(10);
    } finally {
      await rec.stop();
    }
    const ev = (await sql<{ payload: string }>`SELECT payload FROM events WHERE type = 'recorder_exited' ORDER BY id LIMIT 1`.execute(db)).rows[0];
    return { argvs, reason: String(JSON.parse(ev?.payload ?? '{}').reason) };
  }

  it('starts with a quick probe and, once ffmpeg cannot learn the stream from it (the SDP lacks its parameters), reconnects at once with the full analysis', async () => {
    const { argvs, reason } = await failFirstRun("[rtsp @ 0x1] Could not find codec parameters for stream 0 (Video: h264, none): unspecified size\nConsider increasing the value for the 'analyzeduration' (100000) and 'probesize' (32) options");
    // The retry came without the backoff's 2 s, and without the quick probe; later runs keep the full analysis.
    expect(argvs.length).toBeGreaterThanOrEqual(2);
    expect(argvs[0]).toContain('-probesize');
    expect(argvs[1]).not.toContain('-probesize');
    expect(reason).toMatch(/SDP lacks the stream's parameters.*full stream analysis/);
  });

  it('drops access unit delimiters and, once ffmpeg cannot start that filter (parameter sets it cannot read), reconnects at once recording the stream as sent', async () => {
    const { argvs, reason } = await failFirstRun('[filter_units @ 0x1] Failed to read extradata.\nError initializing bitstream filter: filter_units');
    // The retry came without the backoff's 2 s and without the filter; later runs stay without it.
    expect(argvs.length).toBeGreaterThanOrEqual(2);
    expect(argvs[0]?.[argvs[0].indexOf('-bsf:v') + 1]).toBe('filter_units=remove_types=9');
    for (const a of argvs.slice(1)) expect(a).not.toContain('-bsf:v');
    expect(reason).toMatch(/access unit delimiters; reconnecting to record the stream as sent/);
  });

  it('places the files of a run end to start when the segment list\'s end and next start differ by a tick (video timestamps jitter), without drifting from the media clock', async () => {
    const { start } = await setup({}, 2);
    const placed: { startMs: number; endMs: number }[] = [];
    let handlers!: RecorderHandlers;
    let end!: (e: ExitInfo) => void;
    const exited = new Promise<ExitInfo>((resolve) => (end = resolve));
    const launcher: RecorderLauncher = (_p, _a, h) => {
      handlers = h;
      return { pid: 0, exited, stop: () => (end({ code: 255, signal: null, stderrTail: '' }), exited), kill: () => (end({ code: null, signal: 'SIGKILL', stderrTail: '' }), exited) };
    };
    const rec = await start(launcher);
    // The rows as the indexer is asked for them (no files here).
    (rec as unknown as { d: { indexer: Indexer } }).d.indexer.indexClosedRetrying = async (f) => {
      placed.push({ startMs: f.startMs, endMs: f.endMs });
      return undefined;
    };
    rec.start();
    try {
      const deadline = Date.now() + 5_000;
      while (!handlers && Date.now() < deadline) await sleep(5);
      const anchor = Date.now() - 10_000;
      handlers.onProgress(0, 1, anchor + 0.495);
      // ffmpeg's segment list prints times with %f: one 90 kHz tick apart reads as 0.000011 s.
      const lines: [number, number][] = [[0, 2.000011], [2, 4.0], [4.000011, 6.000022], [6.000011, 8.0]];
      lines.forEach(([a, b], n) => handlers.onSegment({ fileName: `r-${String(n).padStart(6, '0')}.mp4`, startSeconds: a, endSeconds: b }, anchor + b * 1000 + 0.495));
      const wait = Date.now() + 2_000;
      while (placed.length < lines.length && Date.now() < wait) await sleep(5);
    } finally {
      await rec.stop();
    }
    expect(placed).toHaveLength(4);
    for (let n = 1; n < placed.length; n++) expect(placed[n]!.startMs, `file ${n}`).toBe(placed[n - 1]!.endMs);
    // Each end stays where the media clock puts it (the anchor + its end), within a millisecond.
    const first = placed[0]!.startMs;
    expect(placed.map((p) => p.endMs - first)).toEqual([2000, 4000, 6000, 8000]);
  });
});
