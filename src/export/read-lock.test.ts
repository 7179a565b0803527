import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type Db, type OpenedDb } from '../db/connection.js';
import { readLockCounts } from '../db/read-lock.repo.js';
import { indexSegment } from '../db/segment.repo.js';
import { withSegmentsReadLocked } from './read-lock.js';

const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);
const log = pino({ level: 'silent' });

let dir: string;
let opened: OpenedDb;
let db: Db;
let ids: number[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-readlock-'));
  opened = await openDatabase(join(dir, 'vigil.db'));
  db = opened.db;
  await upsertDeclaredCamera(
    db,
    { id: 'cam', name: 'cam', mainUrl: 'rtsp://h/x', subUrl: null, segmentSeconds: 10, retentionHours: null, storageQuotaBytes: null, enabled: true },
    'config',
    T0,
  );
  ids = [];
  for (let i = 0; i < 3; i++) {
    const r = await indexSegment(
      db,
      {
        cameraId: 'cam',
        path: `recordings/cam/${i}.mp4`,
        startMs: T0 + i * 10_000,
        endMs: T0 + (i + 1) * 10_000,
        sizeBytes: 1000,
        codec: 'h264',
        width: 640,
        height: 360,
        source: 'live',
        fps: 15,
      },
      T0,
    );
    ids.push(r.segment!.id);
  }
});

afterEach(async () => {
  await opened.close();
  await rm(dir, { recursive: true, force: true });
});

const counts = async (which = ids) => [...(await readLockCounts(db, which)).values()];

describe('withSegmentsReadLocked', () => {
  it('holds one reference per reader while it reads, and none after', async () => {
    const during = await withSegmentsReadLocked({ db, log }, ids, undefined, async () => counts());
    expect(during).toEqual([1, 1, 1]);
    expect(await counts()).toEqual([0, 0, 0]);
  });

  it('a reader that throws releases its locks', async () => {
    await expect(
      withSegmentsReadLocked({ db, log }, ids, undefined, async () => {
        throw new Error('reader failed');
      }),
    ).rejects.toThrow('reader failed');
    expect(await counts()).toEqual([0, 0, 0]);
  });

  it('a reader ended by a timeout signal releases its locks', async () => {
    const signal = AbortSignal.timeout(50);
    const err = await withSegmentsReadLocked({ db, log }, ids, signal, (s) =>
      new Promise((_, reject) => s?.addEventListener('abort', () => reject(s.reason))),
    ).catch((e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');
    expect(await counts()).toEqual([0, 0, 0]);
  });

  it('a reader whose signal already aborted does not read, and releases', async () => {
    let ran = false;
    const c = new AbortController();
    c.abort(new Error('client gone'));
    await expect(
      withSegmentsReadLocked({ db, log }, ids, c.signal, async () => {
        ran = true;
      }),
    ).rejects.toThrow('client gone');
    expect(ran).toBe(false);
    expect(await counts()).toEqual([0, 0, 0]);
  });

  it('two overlapping readers: the first to finish does not unpin the other\'s segments', async () => {
    let finishA!: () => void;
    const aDone = new Promise<void>((r) => (finishA = r));
    const a = withSegmentsReadLocked({ db, log }, ids.slice(0, 2), undefined, () => aDone);
    let finishB!: () => void;
    const bDone = new Promise<void>((r) => (finishB = r));
    const b = withSegmentsReadLocked({ db, log }, ids.slice(1), undefined, () => bDone);
    await new Promise((r) => setTimeout(r, 10));
    expect(await counts()).toEqual([1, 2, 1]);
    finishA();
    await a;
    expect(await counts()).toEqual([0, 1, 1]);
    finishB();
    await b;
    expect(await counts()).toEqual([0, 0, 0]);
  });

  it('a failure to lock is logged and the read still runs (best-effort)', async () => {
    await sql`CREATE TRIGGER refuse_lock BEFORE UPDATE OF locked ON segments BEGIN SELECT RAISE(ABORT, 'locks unavailable'); END`.execute(db);
    const lines: string[] = [];
    const memLog = pino({ level: 'error' }, { write: (l: string) => void lines.push(l) });
    const result = await withSegmentsReadLocked({ db, log: memLog }, ids, undefined, async () => 'read anyway');
    expect(result).toBe('read anyway');
    expect(lines.join('')).toContain('read-lock failed');
    expect(await counts()).toEqual([0, 0, 0]);
  });
});
