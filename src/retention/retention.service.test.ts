import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildConfig, type RetentionConfig } from '../config/config.js';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type OpenedDb } from '../db/connection.js';
import { listEvents } from '../db/event.repo.js';
import { addReadLocks } from '../db/read-lock.repo.js';
import { deleteToTombstones, listDeletable, listTombstones } from '../db/retention.repo.js';
import { countSegments, indexSegment } from '../db/segment.repo.js';
import { EventLog } from '../events/event-log.js';
import { Indexer } from '../indexer/indexer.service.js';
import { reconcileCamera } from '../indexer/reconcile.js';
import type { Clock } from '../shared/clock.js';
import type { DiskProbe } from '../storage/disk.js';
import { RetentionService } from './retention.service.js';
import { FootageStore } from '../storage/footage-store.js';

const HOUR = 3600_000;
const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
/** The sweeper's clock: NOW unless a test moves it (put back before each test). */
let clockMs = NOW;
const clock: Clock = { nowMs: () => clockMs };
const log = pino({ level: 'silent' });

let dir: string;
let opened: OpenedDb;

beforeEach(async () => {
  clockMs = NOW;
  dir = await mkdtemp(join(tmpdir(), 'vigil-retention-'));
  opened = await openDatabase(join(dir, 'vigil.db'));
});
afterEach(async () => {
  await opened.close();
  await rm(dir, { recursive: true, force: true });
});

async function camera(id: string, policy: { retentionHours?: number; quota?: number } = {}) {
  await upsertDeclaredCamera(
    opened.db,
    { id, name: id, mainUrl: 'rtsp://h/x', subUrl: null, segmentSeconds: 60, retentionHours: policy.retentionHours ?? null, storageQuotaBytes: policy.quota ?? null, enabled: false },
    'config',
    NOW,
  );
}

/** One real file and its row: `startMs`, 60 s long, `size` bytes. */
async function segment(cameraId: string, startMs: number, size = 1000): Promise<number> {
  const stamp = new Date(startMs).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const path = `recordings/${cameraId}/${stamp}-t.mp4`;
  await mkdir(join(dir, 'recordings', cameraId), { recursive: true });
  await writeFile(join(dir, path), Buffer.alloc(size, 1));
  const r = await indexSegment(opened.db, { cameraId, path, startMs, endMs: startMs + 60_000, sizeBytes: size, codec: null, width: null, height: null, source: 'live', fps: null }, NOW);
  return r.segment!.id;
}

async function evidence(id: number) {
  await opened.db.updateTable('segments').set({ evidence_locked: 1, incident_id: 'case-1' }).where('id', '=', id).execute();
}

/** A faithful small disk: capacity minus what the data dir really holds. */
function smallDisk(capacity: number): DiskProbe {
  return async () => {
    let used = 0;
    for (const e of await readdir(join(dir, 'recordings'), { recursive: true, withFileTypes: true })) {
      if (e.isFile()) used += (await stat(join(e.parentPath, e.name))).size;
    }
    return { freeBytes: capacity - used, totalBytes: capacity };
  };
}

function service(overrides: Partial<RetentionConfig> = {}, disk: DiskProbe = async () => ({ freeBytes: 1e15, totalBytes: 1e15 })) {
  const base = buildConfig({}, { source: null, cwd: dir, env: {}, overrides: { dataDir: dir } }).retention;
  const events = new EventLog(opened.db, clock, log);
  return new RetentionService({ db: opened.db, store: new FootageStore(dir), clock, events, log, config: { ...base, batchSize: 3, ...overrides }, disk });
}

const ids = async () => (await opened.db.selectFrom('segments').select('id').orderBy('id').execute()).map((r) => r.id);

describe('retention never deletes what is read-locked or held as evidence', () => {
  it('by age: deletes segments older than retention_hours, keeps newer, locked and held ones, and their files', async () => {
    await camera('c1', { retentionHours: 24 });
    const old = [];
    for (let i = 0; i < 8; i++) old.push(await segment('c1', NOW - 48 * HOUR + i * 60_000));
    const fresh = await segment('c1', NOW - HOUR);
    await addReadLocks(opened.db, [old[2]!]);
    await evidence(old[5]!);
    const report = await service().sweepOnce({ dryRun: false });
    expect(report.byReason.age).toEqual({ segments: 6, bytes: 6000 });
    expect(await ids()).toEqual([old[2], old[5], fresh]);
    expect((await readdir(join(dir, 'recordings', 'c1'))).length).toBe(3);
    expect(await listTombstones(opened.db)).toEqual([]);
    const ev = (await listEvents(opened.db, { type: 'retention_deleted', limit: 5 }))[0];
    expect(ev?.payload).toMatchObject({ segments: 6, bytes: 6000, by_reason: { age: { segments: 6, bytes: 6000 } } });
    expect(ev?.requestId).toBeNull();
  });

  it('a dry run reports the same plan and deletes nothing', async () => {
    await camera('c1', { retentionHours: 24 });
    for (let i = 0; i < 5; i++) await segment('c1', NOW - 48 * HOUR + i * 60_000);
    const report = await service().sweepOnce({ dryRun: true });
    expect(report.byReason.age).toEqual({ segments: 5, bytes: 5000 });
    expect(await countSegments(opened.db)).toBe(5);
  });

  it('by camera quota: deletes oldest first until under quota; held bytes count but stay', async () => {
    await camera('c1', { quota: 5000 });
    const s = [];
    for (let i = 0; i < 8; i++) s.push(await segment('c1', NOW - 10 * HOUR + i * 60_000));
    await evidence(s[0]!);
    await addReadLocks(opened.db, [s[1]!]);
    const report = await service().sweepOnce({ dryRun: false });
    expect(report.byReason.camera_quota).toEqual({ segments: 3, bytes: 3000 });
    expect(await ids()).toEqual([s[0], s[1], s[5], s[6], s[7]]);
    expect(report.blocked).toBeNull();
  });

  it('by global cap: deletes the oldest across cameras, never evidence', async () => {
    await camera('a');
    await camera('b');
    const a0 = await segment('a', NOW - 5 * HOUR);
    const b0 = await segment('b', NOW - 4 * HOUR);
    const a1 = await segment('a', NOW - 3 * HOUR);
    const b1 = await segment('b', NOW - 2 * HOUR);
    await evidence(a0);
    const report = await service({ maxBytes: 2500 }).sweepOnce({ dryRun: false });
    expect(report.byReason.global_cap).toEqual({ segments: 2, bytes: 2000 });
    // b0 and a1 were the oldest deletable ones, across both cameras.
    expect(await ids()).toEqual([a0, b1]);
    expect(await ids()).not.toContain(b0);
    expect(await ids()).not.toContain(a1);
  });

  it('by disk floor: frees space oldest first; when only held footage is left it blocks with a critical event', async () => {
    await camera('c1');
    const s = [];
    for (let i = 0; i < 6; i++) s.push(await segment('c1', NOW - 6 * HOUR + i * 60_000, 10_000));
    await evidence(s[4]!);
    await evidence(s[5]!);
    // 100 kB disk holding 60 kB: a 50 kB floor needs 10 kB freed.
    const svc = service({ minFree: { bytes: 50_000 } }, smallDisk(100_000));
    const first = await svc.sweepOnce({ dryRun: false });
    expect(first.byReason.disk_floor).toEqual({ segments: 1, bytes: 10_000 });
    expect(first.blocked).toBeNull();
    // A floor of 90 kB cannot be met without deleting evidence.
    const strict = service({ minFree: { bytes: 90_000 } }, smallDisk(100_000));
    const second = await strict.sweepOnce({ dryRun: false });
    expect(second.byReason.disk_floor?.segments).toBe(3);
    expect(await ids()).toEqual([s[4], s[5]]);
    expect(second.blocked?.reason).toBe('disk_floor');
    expect(strict.blocked?.reason).toBe('disk_floor');
    const blocked = await listEvents(opened.db, { type: 'retention_blocked', limit: 5 });
    expect(blocked).toHaveLength(1);
    expect(blocked[0]?.severity).toBe('critical');
  });

  it('by disk floor: a page whose first candidates looked enough is gone back to when the disk, measured again, is still short (the recorders write on)', async () => {
    await camera('c1');
    const s: number[] = [];
    for (let i = 0; i < 5; i++) s.push(await segment('c1', NOW - (5 - i) * HOUR, 10_000));
    // 100 kB disk holding 50 kB of footage, and recorders that write 8 kB more between two measures.
    const footage = smallDisk(100_000);
    let probes = 0;
    const writing: DiskProbe = async (path) => {
      const d = await footage(path);
      return { ...d, freeBytes: d.freeBytes - 8_000 * probes++ };
    };
    // Floor 55 kB: one segment looks enough (50 + 10 kB), but 8 kB were written meanwhile: two more go.
    const svc = service({ minFree: { bytes: 55_000 }, batchSize: 10 }, writing);
    const report = await svc.sweepOnce({ dryRun: false });
    expect(report.blocked).toBeNull();
    expect(report.byReason.disk_floor).toEqual({ segments: 3, bytes: 30_000 });
    expect(await ids()).toEqual([s[3], s[4]]);
  });

  it('by disk floor: measures the recordings folder, which may be a disk of its own, not the data dir', async () => {
    await camera('c1');
    const s = [await segment('c1', NOW - 3 * HOUR, 10_000), await segment('c1', NOW - 2 * HOUR, 10_000)];
    const recordings = smallDisk(100_000);
    // The data dir's own disk (database, config) has plenty of room; the recordings disk is short.
    const probe: DiskProbe = async (path) => (path === join(dir, 'recordings') ? recordings(path) : { freeBytes: 1e12, totalBytes: 1e12 });
    const svc = service({ minFree: { bytes: 85_000 } }, probe);
    const report = await svc.sweepOnce({ dryRun: false });
    expect(report.byReason.disk_floor).toEqual({ segments: 1, bytes: 10_000 });
    expect(await ids()).toEqual([s[1]]);
  });

  it('a read-lock taken between selection and delete wins (the delete statement carries the condition)', async () => {
    await camera('c1');
    const s = [await segment('c1', NOW - 3 * HOUR), await segment('c1', NOW - 2 * HOUR)];
    const selected = await listDeletable(opened.db, { limit: 10 });
    expect(selected.map((c) => c.id)).toEqual(s);
    await addReadLocks(opened.db, [s[0]!]); // a reader arrives after selection
    const deleted = await deleteToTombstones(opened.db, selected.map((c) => c.id), 'age', NOW);
    expect(deleted.map((d) => d.id)).toEqual([s[1]]);
    expect(await ids()).toEqual([s[0]]);
  });
});

describe('crash-ordered deletion', () => {
  it('a crash after the row is gone but before the unlink: start-up finishes it, reconciliation never resurrects it', async () => {
    await camera('c1');
    const id = await segment('c1', NOW - 3 * HOUR);
    const [victim] = await deleteToTombstones(opened.db, [id], 'age', NOW); // …then the process dies
    expect(existsSync(join(dir, victim!.path))).toBe(true);
    const events = new EventLog(opened.db, clock, log);
    const indexer = new Indexer({ db: opened.db, store: new FootageStore(dir), clock, events, log });
    const r = await reconcileCamera({ db: opened.db, indexer, events }, 'c1');
    expect(r.recovered).toBe(0);
    expect(await countSegments(opened.db)).toBe(0);
    expect(await service().finishTombstones()).toBe(1);
    expect(existsSync(join(dir, victim!.path))).toBe(false);
    expect(await listTombstones(opened.db)).toEqual([]);
  });

  it('a crash after the unlink but before the tombstone is dropped: start-up drops it', async () => {
    await camera('c1');
    const id = await segment('c1', NOW - 3 * HOUR);
    const [victim] = await deleteToTombstones(opened.db, [id], 'age', NOW);
    await rm(join(dir, victim!.path));
    expect(await service().finishTombstones()).toBe(1);
    expect(await listTombstones(opened.db)).toEqual([]);
  });
});

describe('orphan files', () => {
  it('reclaims a file with no row once it is older than the grace period, and keeps a recent one', async () => {
    await camera('c1');
    await mkdir(join(dir, 'recordings', 'c1'), { recursive: true });
    const stale = join(dir, 'recordings', 'c1', 'stale.mp4');
    const recent = join(dir, 'recordings', 'c1', 'recent.mp4');
    await writeFile(stale, 'x'.repeat(100));
    await writeFile(recent, 'y');
    const old = new Date(NOW - 3 * HOUR);
    await utimes(stale, old, old);
    const recentTime = new Date(NOW - 60_000);
    await utimes(recent, recentTime, recentTime);
    const report = await service().sweepOnce({ dryRun: false });
    expect(report.byReason.orphan).toEqual({ segments: 1, bytes: 100 });
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(recent)).toBe(true);
  });

  it('looks for orphans every half grace period, not at every sweep (it reads every path of every camera)', async () => {
    await camera('c1');
    await mkdir(join(dir, 'recordings', 'c1'), { recursive: true });
    const s = service({ intervalSeconds: 300, orphanGraceSeconds: 7200 });
    expect((await s.sweepOnce({ dryRun: false })).byReason.orphan).toBeUndefined();
    const stale = join(dir, 'recordings', 'c1', 'stale.mp4');
    await writeFile(stale, 'x'.repeat(100));
    const old = new Date(NOW - 3 * HOUR);
    await utimes(stale, old, old);
    // The next sweeps within the hour leave it; the first one an hour after the last look takes it.
    clockMs = NOW + 300_000;
    expect((await s.sweepOnce({ dryRun: false })).byReason.orphan).toBeUndefined();
    expect(existsSync(stale)).toBe(true);
    clockMs = NOW + HOUR;
    expect((await s.sweepOnce({ dryRun: false })).byReason.orphan).toEqual({ segments: 1, bytes: 100 });
    expect(existsSync(stale)).toBe(false);
  });

  it('reclaims none before start-up reconciliation is done: a crash leftover has no row until then', async () => {
    await camera('c1');
    await mkdir(join(dir, 'recordings', 'c1'), { recursive: true });
    // The open file of a Vigil that stopped 3 h ago: older than the grace period, not yet reconciled.
    const leftover = join(dir, 'recordings', 'c1', 'k0-000000.mp4');
    await writeFile(leftover, 'x'.repeat(100));
    const old = new Date(NOW - 3 * HOUR);
    await utimes(leftover, old, old);
    let reconciled!: () => void;
    const reconciling = new Promise<void>((r) => (reconciled = r));
    const s = service();
    s.start({ reclaimOrphansAfter: reconciling });
    try {
      const before = await s.sweepOnce({ dryRun: false });
      expect(before.byReason.orphan).toBeUndefined();
      expect(existsSync(leftover)).toBe(true);
      reconciled();
      await reconciling;
      const after = await s.sweepOnce({ dryRun: false });
      expect(after.byReason.orphan).toEqual({ segments: 1, bytes: 100 });
      expect(existsSync(leftover)).toBe(false);
    } finally {
      await s.stop();
    }
  });
});
