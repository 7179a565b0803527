import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type Db, type OpenedDb } from '../db/connection.js';
import { readLockCounts } from '../db/read-lock.repo.js';
import { indexSegment } from '../db/segment.repo.js';
import type { ExitInfo } from '../media/ffmpeg-process.js';
import type { MediaJobLauncher, MediaJobProcess } from '../media/ffmpeg-job.js';
import { systemClock } from '../shared/clock.js';
import { ClipService } from './clip.service.js';
import { MediaJobs } from './media-jobs.js';
import { FootageStore } from '../storage/footage-store.js';

/**
 * The service's own logic (selection, locks, paths, stalls, failures) with a stand-in for ffmpeg;
 * the real ffmpeg is exercised end to end in test/integration/export.test.ts.
 */
const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);

interface FakeFfmpeg extends MediaJobProcess {
  readonly stdout: PassThrough;
  stdin: string;
  exit(info: Partial<ExitInfo>): void;
  killed: boolean;
}

let dir: string;
let opened: OpenedDb;
let db: Db;
let ids: number[];
let started: FakeFfmpeg[];

const launch: MediaJobLauncher = (_program, _args, opts) => {
  const stdout = new PassThrough();
  let resolveExit!: (e: ExitInfo) => void;
  const exited = new Promise<ExitInfo>((r) => (resolveExit = r));
  const fake: FakeFfmpeg = {
    pid: 1,
    stdout,
    exited,
    stdin: opts?.stdin ?? '',
    killed: false,
    exit(info) {
      stdout.end();
      resolveExit({ code: null, signal: null, stderrTail: '', ...info });
    },
    kill() {
      fake.killed = true;
      fake.exit({ signal: 'SIGKILL' });
      return exited;
    },
  };
  started.push(fake);
  return fake;
};

function service(over: { stallMs?: number; maxJobs?: number } = {}) {
  const jobs = new MediaJobs({ maxJobs: over.maxJobs ?? 2, waitMs: 100 });
  const clips = new ClipService({ db, clock: systemClock, store: new FootageStore(dir), log: pino({ level: 'silent' }), jobs, ffmpegPath: 'ffmpeg', clipMaxSeconds: 3600, launch, ...(over.stallMs ? { stallMs: over.stallMs } : {}) });
  return { jobs, clips };
}

const counts = async () => [...(await readLockCounts(db, ids)).values()];
/** Waits (up to 5 s, in 10 ms steps) until `ready()` holds: a loaded machine may take more than a tick. */
async function until(ready: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 10));
}
const launched = () => until(() => started[0] !== undefined);
const released = () => until(async () => (await counts()).every((n) => n === 0));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-clip-'));
  await mkdir(join(dir, 'recordings', 'cam'), { recursive: true });
  opened = await openDatabase(join(dir, 'vigil.db'));
  db = opened.db;
  started = [];
  await upsertDeclaredCamera(
    db,
    { id: 'cam', name: 'cam', mainUrl: 'rtsp://h/x', subUrl: null, segmentSeconds: 10, retentionHours: null, storageQuotaBytes: null, enabled: true },
    'config',
    T0,
  );
  ids = [];
  for (let i = 0; i < 3; i++) {
    const path = `recordings/cam/${i}.mp4`;
    await writeFile(join(dir, path), 'not read by the fake');
    const r = await indexSegment(
      db,
      { cameraId: 'cam', path, startMs: T0 + i * 10_000, endMs: T0 + (i + 1) * 10_000, sizeBytes: 20, codec: 'h264', width: 640, height: 360, source: 'live', fps: 15 },
      T0,
    );
    ids.push(r.segment!.id);
  }
});

afterEach(async () => {
  await opened.close();
  await rm(dir, { recursive: true, force: true });
});

describe('ClipService', () => {
  it('hands out the body at ffmpeg\'s first byte, with the segments locked until ffmpeg exits', async () => {
    const { clips, jobs } = service();
    const pending = clips.open('cam', { fromMs: T0 + 5000, toMs: T0 + 25_000 });
    await launched();
    const ff = started[0]!;
    expect(ff.stdin).toContain('inpoint 5.000');
    expect(ff.stdin).toContain('outpoint 5.000');
    ff.stdout.write(Buffer.from('ftyp'));
    const dl = await pending;
    expect(dl.coveredMs).toBe(20_000);
    expect(dl.gaps).toEqual([]);
    expect(await counts()).toEqual([1, 1, 1]);
    const chunks: Buffer[] = [];
    dl.body.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((r) => dl.body.once('end', r));
    ff.exit({ code: 0 });
    await ended;
    expect(Buffer.concat(chunks).toString()).toBe('ftyp');
    await released();
    expect(await counts()).toEqual([0, 0, 0]);
    expect(jobs.active).toBe(0);
  });

  it('a download in which no byte moves for the stall time is ended: ffmpeg killed, locks and slot released', async () => {
    const { clips, jobs } = service({ stallMs: 150 });
    const pending = clips.open('cam', { fromMs: T0, toMs: T0 + 30_000 });
    await launched();
    started[0]!.stdout.write(Buffer.from('x'));
    const dl = await pending;
    const failed = new Promise<Error>((r) => dl.body.once('error', r));
    dl.body.resume();
    expect((await failed).message).toMatch(/exited/);
    expect(started[0]!.killed).toBe(true);
    await released();
    expect(await counts()).toEqual([0, 0, 0]);
    expect(jobs.active).toBe(0);
  });

  it('ffmpeg failing before its first byte is an error of open(), not a body', async () => {
    const { clips, jobs } = service();
    const pending = clips.open('cam', { fromMs: T0, toMs: T0 + 30_000 });
    await launched();
    started[0]!.exit({ code: 1, stderrTail: 'moov atom not found' });
    await expect(pending).rejects.toMatchObject({ kind: 'internal' });
    expect(await counts()).toEqual([0, 0, 0]);
    expect(jobs.active).toBe(0);
  });

  it('a segment whose file is gone is left out of the clip, and its span is reported as a gap', async () => {
    await rm(join(dir, 'recordings/cam/1.mp4'));
    const { clips } = service();
    const pending = clips.open('cam', { fromMs: T0, toMs: T0 + 30_000 });
    await launched();
    expect(started[0]!.stdin).not.toContain('1.mp4');
    started[0]!.stdout.write(Buffer.from('x'));
    const dl = await pending;
    expect(dl.coveredMs).toBe(20_000);
    expect(dl.gaps).toEqual([{ startMs: T0 + 10_000, endMs: T0 + 20_000 }]);
    started[0]!.exit({ code: 0 });
    dl.body.resume();
  });

  it('a row whose path leads outside the recordings folder is refused before ffmpeg starts', async () => {
    await writeFile(join(dir, 'outside.mp4'), 'secret');
    await indexSegment(
      db,
      { cameraId: 'cam', path: 'recordings/cam/../../outside.mp4', startMs: T0 + 40_000, endMs: T0 + 50_000, sizeBytes: 6, codec: 'h264', width: 640, height: 360, source: 'live', fps: 15 },
      T0,
    );
    const { clips } = service();
    await expect(clips.open('cam', { fromMs: T0 + 40_000, toMs: T0 + 45_000 })).rejects.toMatchObject({ kind: 'internal' });
    expect(started).toHaveLength(0);
  });

  it('refuses from ≥ to, a span over clip_max_seconds and an unknown camera, starting nothing', async () => {
    const { clips } = service();
    await expect(clips.open('cam', { fromMs: T0, toMs: T0 })).rejects.toMatchObject({ kind: 'invalid_argument', field: 'from' });
    await expect(clips.open('cam', { fromMs: T0, toMs: T0 + 3_600_001 })).rejects.toMatchObject({ kind: 'invalid_argument', field: 'to' });
    await expect(clips.open('nope', { fromMs: T0, toMs: T0 + 1000 })).rejects.toMatchObject({ kind: 'not_found', field: 'id' });
    await expect(clips.open('cam', { fromMs: T0 - 60_000, toMs: T0 - 1000 })).rejects.toMatchObject({
      kind: 'not_found',
      field: 'from',
      details: { gaps: [{ start: new Date(T0 - 60_000).toISOString(), end: new Date(T0 - 1000).toISOString() }] },
    });
    expect(started).toHaveLength(0);
    expect(await counts()).toEqual([0, 0, 0]);
  });
});
