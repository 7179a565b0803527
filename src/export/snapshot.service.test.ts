import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type Db, type OpenedDb } from '../db/connection.js';
import { readLockCounts } from '../db/read-lock.repo.js';
import { indexSegment } from '../db/segment.repo.js';
import { buildWarmSnapshotArgs } from '../media/snapshot-args.js';
import { spawnWarmDecoder, type WarmDecoderProcess } from '../media/warm-decoder.js';
import { MediaJobs } from './media-jobs.js';
import { SnapshotService } from './snapshot.service.js';
import { zombieChildren } from '../../test/support/harness.js';
import { WarmDecoderPool } from './warm-decoders.js';
import { systemClock } from '../shared/clock.js';
import { FootageStore } from '../storage/footage-store.js';

/** The service with real ffmpeg, real SQLite and a real segment file: the warm path against the cold one. */
const run = promisify(execFile);
const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);
const FPS = 25;

let footage: Buffer;
let work: string;
let dir: string;
let opened: OpenedDb;
let db: Db;
let segmentId: number;
let pools: WarmDecoderPool[];

function service(opts: { warm?: number; onFeed?: (proc: WarmDecoderProcess) => void; args?: string[] } = {}) {
  const spawned: WarmDecoderProcess[] = [];
  const log = pino({ level: 'silent' });
  const pool = new WarmDecoderPool({
    size: opts.warm ?? 0,
    log,
    clock: systemClock,
    spawn: () => {
      const real = spawnWarmDecoder('ffmpeg', opts.args ?? buildWarmSnapshotArgs());
      spawned.push(real);
      if (!opts.onFeed) return real;
      // Sees the first bytes the service writes, then passes everything on.
      const stdin = new PassThrough();
      stdin.once('data', () => opts.onFeed?.(real));
      stdin.pipe(real.stdin);
      return { ...real, stdin, kill: () => real.kill() };
    },
  });
  pools.push(pool);
  pool.start();
  const jobs = new MediaJobs({ maxJobs: 2, waitMs: 100 });
  const snapshots = new SnapshotService({ db, store: new FootageStore(dir), log, jobs, ffmpegPath: 'ffmpeg', warm: pool });
  return { snapshots, pool, spawned, jobs };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vigil-snapshot-footage-'));
  const file = join(work, 'seg.mp4');
  await run('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=${FPS}`, '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '0',
    '-g', String(FPS), '-pix_fmt', 'yuv420p', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', file,
  ]);
  footage = await readFile(file);
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-snapshot-'));
  await mkdir(join(dir, 'recordings', 'cam'), { recursive: true });
  opened = await openDatabase(join(dir, 'vigil.db'));
  db = opened.db;
  pools = [];
  await upsertDeclaredCamera(
    db,
    { id: 'cam', name: 'cam', mainUrl: 'rtsp://h/x', subUrl: null, segmentSeconds: 4, retentionHours: null, storageQuotaBytes: null, enabled: true },
    'config',
    T0,
  );
  const path = 'recordings/cam/seg.mp4';
  await writeFile(join(dir, path), footage);
  const r = await indexSegment(
    db,
    { cameraId: 'cam', path, startMs: T0, endMs: T0 + 4000, sizeBytes: (await stat(join(dir, path))).size, codec: 'h264', width: 320, height: 240, source: 'live', fps: FPS },
    T0,
  );
  segmentId = r.segment?.id ?? -1;
});

afterEach(async () => {
  await Promise.all(pools.map((p) => p.stop()));
  await opened.close();
  await rm(dir, { recursive: true, force: true });
});

describe('SnapshotService with a warm decoder', () => {
  it('gives the same JPEG and frame time as the cold path: first frame, mid-GOP, last of a GOP, last of the segment', async () => {
    const cold = service();
    const warm = service({ warm: 1 });
    for (const offsetMs of [0, 500, 999, 2360, 3999]) {
      const before = warm.spawned.length;
      const a = await warm.snapshots.snapshot('cam', T0 + offsetMs, undefined);
      // The idle decoder was used: its replacement was started.
      expect(warm.spawned.length).toBe(before + 1);
      const b = await cold.snapshots.snapshot('cam', T0 + offsetMs, undefined);
      expect({ offsetMs, same: a.jpeg.equals(b.jpeg), frameMs: a.frameMs }).toEqual({ offsetMs, same: true, frameMs: b.frameMs });
      expect(a.jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    }
    expect(cold.spawned).toHaveLength(0);
    expect([...(await readLockCounts(db, [segmentId])).values()]).toEqual([0]);
  });

  it('a scaled snapshot is decoded the cold way; the idle decoder stays idle', async () => {
    const warm = service({ warm: 1 });
    const shot = await warm.snapshots.snapshot('cam', T0 + 1500, 160);
    expect(warm.spawned).toHaveLength(1);
    expect(warm.pool.idleCount).toBe(1);
    const file = join(dir, 'scaled.jpg');
    await writeFile(file, shot.jpeg);
    const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', file]);
    expect(stdout.trim()).toBe('160,120');
  });

  it('a client that goes away mid-decode: the decoder is killed and awaited, the read-lock released, a fresh decoder waits', async () => {
    const abort = new AbortController();
    let used: WarmDecoderProcess | undefined;
    const warm = service({
      warm: 1,
      onFeed: (proc) => {
        used = proc;
        abort.abort(new Error('client went away'));
      },
    });
    await expect(warm.snapshots.snapshot('cam', T0 + 3000, undefined, abort.signal)).rejects.toThrow('client went away');
    const exit = await used?.exited;
    expect(exit?.signal).toBe('SIGKILL');
    expect([...(await readLockCounts(db, [segmentId])).values()]).toEqual([0]);
    expect(warm.jobs.active).toBe(0);
    expect(warm.spawned).toHaveLength(2);
    expect(warm.pool.idleCount).toBe(1);
    expect(await zombieChildren()).toEqual([]);
  });

  it('a warm decoder that fails (exits non-zero, no image) is left behind: the snapshot is decoded the cold way', async () => {
    // A decoder whose filter does not exist: it takes the input, then exits with an error.
    const broken = buildWarmSnapshotArgs().map((a) => (a.startsWith('select=') ? 'nosuchfilter' : a));
    const warm = service({ warm: 1, args: broken });
    const cold = service();
    const shot = await warm.snapshots.snapshot('cam', T0 + 700, undefined);
    expect(warm.spawned).toHaveLength(2);
    expect((await warm.spawned[0]?.exited)?.code).not.toBe(0);
    expect(shot.jpeg.equals((await cold.snapshots.snapshot('cam', T0 + 700, undefined)).jpeg)).toBe(true);
    expect([...(await readLockCounts(db, [segmentId])).values()]).toEqual([0]);
  });

  it('no footage at the instant is a 404 as before, and uses no decoder', async () => {
    const warm = service({ warm: 1 });
    await expect(warm.snapshots.snapshot('cam', T0 + 60_000, undefined)).rejects.toMatchObject({ kind: 'not_found', field: 'at' });
    expect(warm.spawned).toHaveLength(1);
    expect(warm.pool.idleCount).toBe(1);
  });
});

describe('SnapshotService on a row that starts inside its file (time truth, defect 2)', () => {
  it('shows the frame of the file at instant − start + media offset, the same as the unclamped file shows at that file time', async () => {
    // The same footage again, indexed to start 1.5 s before the first row ends: the catalog clamps it
    // to start at T0 + 4 s, 2.5 s into the file (as a second refill over footage already indexed is).
    const path = 'recordings/cam/again.mp4';
    await writeFile(join(dir, path), footage);
    const r = await indexSegment(
      db,
      { cameraId: 'cam', path, startMs: T0 + 1500, endMs: T0 + 5500, sizeBytes: footage.length, codec: 'h264', width: 320, height: 240, source: 'edge', fps: FPS },
      T0,
    );
    expect(r.segment).toMatchObject({ startMs: T0 + 4000, endMs: T0 + 5500, mediaOffsetMs: 2500 });
    const cold = service();
    for (const fileMs of [2500, 2860, 3999]) {
      // File time t is at T0 + t in the first row, and at T0 + 1500 + t in the clamped one.
      const original = await cold.snapshots.snapshot('cam', T0 + fileMs, undefined);
      const clamped = await cold.snapshots.snapshot('cam', T0 + 1500 + fileMs, undefined);
      expect({ fileMs, same: clamped.jpeg.equals(original.jpeg), frameMs: clamped.frameMs }).toEqual({ fileMs, same: true, frameMs: original.frameMs + 1500 });
    }
  });
});
