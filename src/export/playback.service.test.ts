import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type Db, type OpenedDb } from '../db/connection.js';
import { readLockCounts } from '../db/read-lock.repo.js';
import { indexSegment } from '../db/segment.repo.js';
import { systemClock } from '../shared/clock.js';
import { gopParts, ownFragments, PlaybackService } from './playback.service.js';
import { buildPlaylist } from './playback-playlist.js';
import { scanFmp4 } from '../media/fmp4/scan.js';
import { FootageStore } from '../storage/footage-store.js';

/**
 * The media side's lifecycle against a real database and file: a response that stops moving, or a
 * shutdown, ends the body and releases the read-lock. Byte ranges, playlists and real footage are
 * proven end to end in test/integration/playback.test.ts.
 */
const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);
const SIZE = 4 * 1024 * 1024;

let dir: string;
let opened: OpenedDb;
let db: Db;
let id: number;

const lockCount = async () => (await readLockCounts(db, [id])).get(id);
const service = (stallMs = 60_000) => new PlaybackService({ db, clock: systemClock, store: new FootageStore(dir), log: pino({ level: 'silent' }), maxRangeSeconds: 86_400, stallMs });

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-playback-'));
  await mkdir(join(dir, 'recordings', 'cam'), { recursive: true });
  opened = await openDatabase(join(dir, 'vigil.db'));
  db = opened.db;
  await upsertDeclaredCamera(
    db,
    { id: 'cam', name: 'cam', mainUrl: 'rtsp://h/x', subUrl: null, segmentSeconds: 10, retentionHours: null, storageQuotaBytes: null, enabled: true },
    'config',
    T0,
  );
  const path = 'recordings/cam/20261125T100000Z-run1.mp4';
  await writeFile(join(dir, path), Buffer.alloc(SIZE, 1));
  const r = await indexSegment(
    db,
    { cameraId: 'cam', path, startMs: T0, endMs: T0 + 10_000, sizeBytes: SIZE, codec: 'h264', width: 640, height: 360, source: 'live', fps: 15 },
    T0,
  );
  id = r.segment!.id;
});

afterEach(async () => {
  await opened.close();
  await rm(dir, { recursive: true, force: true });
});

describe('PlaybackService media', () => {
  it('a body nobody reads is ended after the stall time, and its read-lock released', async () => {
    const media = await service(200).openMedia(id, { rangeHeader: undefined, head: false });
    expect(media.kind).toBe('bytes');
    const body = media.kind === 'bytes' ? media.body : undefined;
    expect(body).toBeDefined();
    expect(await lockCount()).toBe(1);
    await until('the stalled body to be ended', async () => body!.destroyed && (await lockCount()) === 0);
  });

  it('a body that is read to its end releases the lock; HEAD and 416 release theirs at once', async () => {
    const svc = service();
    const media = await svc.openMedia(id, { rangeHeader: 'bytes=100-199', head: false });
    if (media.kind !== 'bytes' || !media.body) throw new Error('expected a body');
    expect(media.range).toEqual({ start: 100, end: 199 });
    let bytes = 0;
    for await (const chunk of media.body) bytes += (chunk as Buffer).length;
    expect(bytes).toBe(100);
    await until('the lock to be released', async () => (await lockCount()) === 0);
    expect(await svc.openMedia(id, { rangeHeader: undefined, head: true })).toEqual({ kind: 'bytes', totalBytes: SIZE, range: undefined, body: undefined });
    expect(await svc.openMedia(id, { rangeHeader: `bytes=${SIZE}-`, head: false })).toEqual({ kind: 'unsatisfiable', totalBytes: SIZE });
    await until('the last lock to be released', async () => (await lockCount()) === 0);
  });

  it('stop() ends every body in flight and releases their locks; an aborted request releases its own', async () => {
    const svc = service();
    const a = await svc.openMedia(id, { rangeHeader: undefined, head: false });
    const b = await svc.openMedia(id, { rangeHeader: undefined, head: false });
    expect(await lockCount()).toBe(2);
    svc.stop();
    await until('both locks to be released', async () => (await lockCount()) === 0);
    expect([a, b].every((m) => m.kind === 'bytes' && m.body?.destroyed)).toBe(true);

    const client = new AbortController();
    const c = await svc.openMedia(id, { rangeHeader: undefined, head: false }, client.signal);
    expect(await lockCount()).toBe(1);
    client.abort();
    await until('the aborted request\'s lock to be released', async () => (await lockCount()) === 0);
    expect(c.kind === 'bytes' && c.body?.destroyed).toBe(true);
  });

  it('an unknown segment is not_found on field id', async () => {
    await expect(service().openMedia(id + 1000, { rangeHeader: undefined, head: false })).rejects.toMatchObject({ kind: 'not_found', field: 'id' });
  });
});

describe('recorded playback of a row that starts inside its file (time truth, defect 2)', () => {
  it('addresses only the whole fragments inside the row, at their own instants', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const file = join(dir, 'four.mp4');
    await promisify(execFile)('ffmpeg', [
      '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10',
      '-pix_fmt', 'yuv420p', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', file,
    ]);
    const scan = await scanFmp4(file);
    expect(scan.fragments).toHaveLength(4);
    // The row covers file time [1.5 s, 3.5 s): only the fragment [2 s, 3 s) lies wholly inside it.
    const own = ownFragments(scan, { startMs: T0 + 10_000, endMs: T0 + 12_000, mediaOffsetMs: 1500 });
    expect(own).toEqual({ startByte: scan.fragments[2]!.offset, endByte: scan.fragments[2]!.endOffset, startMs: T0 + 10_500, durationMs: 1000 });
    const text = buildPlaylist(
      [{ id: 7, startMs: own!.startMs, durationMs: own!.durationMs, fileSizeBytes: scan.fileSizeBytes, initLengthBytes: scan.initEndOffset, mediaStartByte: own!.startByte, mediaEndByte: own!.endByte, firstDecodeMs: 0, runId: undefined, source: 'edge' }],
      { mediaUri: (i) => `m/${i}` },
    );
    expect(text).toContain(`#EXT-X-BYTERANGE:${own!.endByte - own!.startByte}@${own!.startByte}`);
    expect(text).toContain(`#EXT-X-PROGRAM-DATE-TIME:${new Date(T0 + 10_500).toISOString()}`);
  });
});

describe('recorded playback of the recorder\'s layout (a GOP in several fragments)', () => {
  /** A file as the recorder writes it: 1 s GOPs at 10 fps, each cut into fragments of at most 0.5 s. */
  async function subGopFile(): Promise<string> {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const file = join(dir, 'sub.mp4');
    await promisify(execFile)('ffmpeg', [
      '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10',
      '-pix_fmt', 'yuv420p', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-frag_duration', '500000', '-f', 'mp4', file,
    ]);
    return file;
  }

  it('a row starting inside its file starts at a keyframe fragment, never in a GOP\'s later fragment', async () => {
    const scan = await scanFmp4(await subGopFile());
    expect(scan.fragments.map((f) => f.startsWithKeyframe)).toEqual([true, false, true, false, true, false, true, false]);
    // The row covers file time [0.5 s, 3.5 s): the fragment at 0.5 s is inside it but starts mid-GOP.
    const own = ownFragments(scan, { startMs: T0 + 10_000, endMs: T0 + 13_000, mediaOffsetMs: 500 });
    expect(own).toEqual({ startByte: scan.fragments[2]!.offset, endByte: scan.fragments[6]!.endOffset, startMs: T0 + 10_500, durationMs: 2500 });
  });

  it('an open file\'s playlist parts are whole GOPs: each starts on a keyframe and runs to the next', async () => {
    const scan = await scanFmp4(await subGopFile());
    const parts = gopParts(scan.fragments);
    expect(parts).toHaveLength(4);
    for (const [i, p] of parts.entries()) {
      expect(p.startByte).toBe(scan.fragments[2 * i]!.offset);
      expect(p.endByte).toBe(scan.fragments[2 * i + 1]!.endOffset);
      expect(p.decodeSeconds).toBeCloseTo(i, 6);
      expect(p.durationSeconds).toBeCloseTo(1, 6);
    }
    // A GOP still being written is listed as far as it is; fragments before any keyframe are not.
    expect(gopParts(scan.fragments.slice(0, 3)).map((p) => p.endByte)).toEqual([scan.fragments[1]!.endOffset, scan.fragments[2]!.endOffset]);
    expect(gopParts(scan.fragments.slice(1, 3)).map((p) => p.startByte)).toEqual([scan.fragments[2]!.offset]);
  });
});
