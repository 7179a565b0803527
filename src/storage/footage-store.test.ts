import { mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../config/config.js';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type OpenedDb } from '../db/connection.js';
import { listTombstones, tombstoneOrphan } from '../db/retention.repo.js';
import { indexSegment } from '../db/segment.repo.js';
import { FootageStore } from './footage-store.js';
import { reclaimOrphans } from './orphan-files.js';

let dir: string;
let files: FootageStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-files-'));
  await mkdir(join(dir, 'data', 'recordings', 'cam'), { recursive: true });
  await writeFile(join(dir, 'data', 'recordings', 'cam', 'a.mp4'), 'x');
  await writeFile(join(dir, 'secret.txt'), 'secret');
  files = new FootageStore(join(dir, 'data'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FootageStore.resolve', () => {
  it('resolves a row path inside the recordings folder to its real absolute path', async () => {
    expect(await files.resolve('recordings/cam/a.mp4')).toBe(join(dir, 'data', 'recordings', 'cam', 'a.mp4'));
  });

  it('says undefined for a file that is gone (deleted between selection and lock)', async () => {
    expect(await files.resolve('recordings/cam/gone.mp4')).toBeUndefined();
  });

  it('refuses a path that climbs out of the recordings folder, or is absolute elsewhere', async () => {
    await expect(files.resolve('recordings/../../secret.txt')).rejects.toMatchObject({ kind: 'internal' });
    await expect(files.resolve('vigil.db')).rejects.toMatchObject({ kind: 'internal' });
    await expect(files.resolve(join(dir, 'secret.txt'))).rejects.toMatchObject({ kind: 'internal' });
    await expect(files.resolve('recordings')).rejects.toMatchObject({ kind: 'internal' });
  });

  it('refuses a symlink inside the folder that points outside it', async () => {
    await symlink(join(dir, 'secret.txt'), join(dir, 'data', 'recordings', 'cam', 'link.mp4'));
    await expect(files.resolve('recordings/cam/link.mp4')).rejects.toMatchObject({ kind: 'internal' });
  });
});

describe('the footage store: file operations in crash order (invariant 5)', () => {
  let db: OpenedDb;
  let store: FootageStore;
  const data = () => join(dir, 'data');
  beforeEach(async () => {
    db = await openDatabase(join(dir, 'vigil.db'));
    store = new FootageStore(data());
    await upsertDeclaredCamera(db.db, { id: 'cam', name: 'cam', mainUrl: 'rtsp://h/x', subUrl: null, segmentSeconds: 2, retentionHours: null, storageQuotaBytes: null, enabled: true }, 'config', 0);
  });
  afterEach(async () => {
    await db.close();
  });

  it('knows the layout: camera folders, catalog paths and their absolute paths', async () => {
    expect(store.cameraDir('cam')).toBe(join(data(), 'recordings', 'cam'));
    expect(store.catalogPath('cam', 'a.mp4')).toBe('recordings/cam/a.mp4');
    expect(store.relPath(join(data(), 'recordings', 'cam', 'a.mp4'))).toBe('recordings/cam/a.mp4');
    expect(store.absPath('recordings/cam/a.mp4')).toBe(join(data(), 'recordings', 'cam', 'a.mp4'));
    expect(await store.cameraIds()).toEqual(['cam']);
    expect(await store.fileNames('cam')).toEqual(['a.mp4']);
    expect(await store.fileNames('none')).toEqual([]);
  });

  it('renames and discards only inside the recordings folder', async () => {
    const from = join(store.cameraDir('cam'), 'a.mp4');
    const to = join(store.cameraDir('cam'), '20261126T101500Z-r1-000001.mp4');
    await store.rename(from, to);
    await store.makeDurable(to);
    expect(await store.fileNames('cam')).toEqual(['20261126T101500Z-r1-000001.mp4']);
    await expect(store.rename(to, join(dir, 'stolen.mp4'))).rejects.toMatchObject({ kind: 'internal' });
    await expect(store.discard(join(dir, 'secret.txt'))).rejects.toMatchObject({ kind: 'internal' });
    await expect(store.makeDurable(join(data(), 'vigil.db'))).rejects.toMatchObject({ kind: 'internal' });
    expect(await readFile(join(dir, 'secret.txt'), 'utf8')).toBe('secret');
  });

  it('deletes a tombstoned file, then its tombstone; finishes deletions a crash interrupted', async () => {
    await writeFile(join(store.cameraDir('cam'), 'b.mp4'), 'y');
    // Step 1 done (tombstones written), then a crash: files and tombstones are both still there.
    await tombstoneOrphan(db.db, 'recordings/cam/a.mp4', 'cam', 1, 0);
    await tombstoneOrphan(db.db, 'recordings/cam/b.mp4', 'cam', 1, 0);
    expect((await listTombstones(db.db)).length).toBe(2);
    expect(await store.finishDeletions(db.db, 1)).toBe(2);
    expect(await store.fileNames('cam')).toEqual([]);
    expect(await listTombstones(db.db)).toEqual([]);
    // A file already gone (an earlier attempt unlinked it) is fine.
    await tombstoneOrphan(db.db, 'recordings/cam/gone.mp4', 'cam', 1, 0);
    await store.deleteTombstoned(db.db, ['recordings/cam/gone.mp4']);
    expect(await listTombstones(db.db)).toEqual([]);
  });

  it('removes the temp files of interrupted refills and nothing else', async () => {
    await writeFile(store.refillTempPath('cam', 7), 'half');
    expect(await store.fileNames('cam')).toEqual(['.refill-7.part', 'a.mp4']);
    expect(await store.removeRefillTemps()).toBe(1);
    expect(await store.fileNames('cam')).toEqual(['a.mp4']);
  });

  it('reclaims orphan files older than the grace period, never an indexed or tombstoned one', async () => {
    const cam = store.cameraDir('cam');
    for (const n of ['old.mp4', 'young.mp4', 'indexed.mp4', 'dying.mp4']) await writeFile(join(cam, n), 'z');
    const hourAgo = new Date(Date.now() - 3600_000);
    for (const n of ['old.mp4', 'indexed.mp4', 'dying.mp4']) await utimes(join(cam, n), hourAgo, hourAgo);
    await indexSegment(db.db, { cameraId: 'cam', path: 'recordings/cam/indexed.mp4', startMs: 0, endMs: 2000, sizeBytes: 1, codec: null, width: null, height: null, source: 'live', fps: null }, 0);
    await tombstoneOrphan(db.db, 'recordings/cam/dying.mp4', 'cam', 1, 0);
    const config = buildConfig({}, { source: null, cwd: dir, env: {}, overrides: {} }).retention;
    const r = await reclaimOrphans({ db: db.db, store, config: { ...config, orphanGraceSeconds: 600 } }, Date.now());
    expect(r).toEqual({ segments: 1, bytes: 1 });
    expect(await store.fileNames('cam')).toEqual(['a.mp4', 'dying.mp4', 'indexed.mp4', 'young.mp4']);
  });
});
