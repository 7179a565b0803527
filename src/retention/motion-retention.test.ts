import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../config/config.js';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type OpenedDb } from '../db/connection.js';
import { insertMotionInterval, listMotion } from '../db/motion.repo.js';
import { indexSegment } from '../db/segment.repo.js';
import { EventLog } from '../events/event-log.js';
import { MOTION_DEFAULTS } from '../shared/camera-settings.js';
import type { Clock } from '../shared/clock.js';
import { FootageStore } from '../storage/footage-store.js';
import { RetentionService } from './retention.service.js';

const HOUR = 3600_000;
const MIN = 60_000;
const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);
const clock: Clock = { nowMs: () => NOW };
const log = pino({ level: 'silent' });

let dir: string;
let opened: OpenedDb;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-motion-retention-'));
  opened = await openDatabase(join(dir, 'vigil.db'));
  // Still footage 24 h, footage with motion 72 h; post-roll 5 s.
  await upsertDeclaredCamera(
    opened.db,
    {
      id: 'door', name: 'door', mainUrl: 'rtsp://h/x', subUrl: null, segmentSeconds: 60, retentionHours: 24, storageQuotaBytes: null, enabled: false,
      motion: { ...MOTION_DEFAULTS, enabled: true, postRollSeconds: 5 }, retentionHoursMotion: 72,
    },
    'config',
    NOW,
  );
});
afterEach(async () => {
  await opened.close();
  await rm(dir, { recursive: true, force: true });
});

/** One real file and its row, one minute long from `startMs`. */
async function segment(startMs: number): Promise<{ id: number; path: string }> {
  const stamp = new Date(startMs).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const path = `recordings/door/${stamp}-t.mp4`;
  await mkdir(join(dir, 'recordings', 'door'), { recursive: true });
  await writeFile(join(dir, path), Buffer.alloc(1000, 1));
  const r = await indexSegment(opened.db, { cameraId: 'door', path, startMs, endMs: startMs + MIN, sizeBytes: 1000, codec: null, width: null, height: null, source: 'live', fps: null }, NOW);
  return { id: r.segment!.id, path };
}

const motion = (startMs: number, endMs: number) =>
  insertMotionInterval(opened.db, { cameraId: 'door', startMs, endMs, peakScore: 12, peakAtMs: startMs, zones: ['porch'], jpeg: Buffer.from([0xff, 0xd8, 0xff, 0xd9]) }, NOW);

function service() {
  const base = buildConfig({}, { source: null, cwd: dir, env: {}, overrides: { dataDir: dir } }).retention;
  return new RetentionService({ db: opened.db, store: new FootageStore(dir), clock, events: new EventLog(opened.db, clock, log), log, config: { ...base, batchSize: 2 }, disk: async () => ({ freeBytes: 1e15, totalBytes: 1e15 }) });
}

const segmentIds = async () => (await opened.db.selectFrom('segments').select('id').orderBy('start_ms').execute()).map((r) => r.id);

describe('motion-aware retention (retention_hours for still footage, retention_hours_motion for footage with motion)', () => {
  it('deletes still footage after retention_hours and keeps footage with motion (and its rolls) until retention_hours_motion', async () => {
    const t0 = NOW - 30 * HOUR; // older than 24 h, younger than 72 h
    const a = await segment(t0); // still: goes (motion 1 starts 10 s after its end, outside the pre-roll)
    const b = await segment(t0 + MIN); // motion 1 inside it
    const c = await segment(t0 + 2 * MIN); // still, but motion 2 starts 5 s after its end: kept by the pre-roll
    const d = await segment(t0 + 3 * MIN); // motion 2 inside it
    const e = await segment(t0 + 4 * MIN); // starts 3 s after motion 2 ended: kept by the 5 s post-roll
    const f = await segment(t0 + 5 * MIN); // still: goes
    await motion(t0 + MIN + 10_000, t0 + MIN + 20_000);
    await motion(t0 + 3 * MIN + 5000, t0 + 3 * MIN + 57_000);
    const old = await segment(NOW - 80 * HOUR); // older than 72 h: goes, motion or not
    await motion(NOW - 80 * HOUR + 5000, NOW - 80 * HOUR + 9000);
    const recent = await segment(NOW - 2 * HOUR);

    const report = await service().sweepOnce({ dryRun: false });

    expect(await segmentIds()).toEqual([b.id, c.id, d.id, e.id, recent.id]);
    expect(report.byReason.age?.segments).toBe(3);
    for (const gone of [a, f, old]) expect(existsSync(join(dir, gone.path))).toBe(false);
    expect(existsSync(join(dir, b.path))).toBe(true);
    // The interval whose footage went is gone with it (zones and thumbnail by cascade); the others stay.
    const left = await listMotion(opened.db, { cameraId: 'door', fromMs: 0, toMs: NOW, limit: 100, order: 'asc' });
    expect(left.map((m) => [m.startMs, m.zones, m.hasThumbnail])).toEqual([
      [t0 + MIN + 10_000, ['porch'], true],
      [t0 + 3 * MIN + 5000, ['porch'], true],
    ]);
    expect((await opened.db.selectFrom('motion_zones').select('zone').execute()).length).toBe(2);
    expect((await opened.db.selectFrom('motion_thumbnails').select('interval_id').execute()).length).toBe(2);
  });

  it('without retention_hours_motion, motion does not keep footage past retention_hours', async () => {
    await opened.db.updateTable('cameras').set({ retention_hours_motion: null }).execute();
    const t0 = NOW - 30 * HOUR;
    await segment(t0);
    await motion(t0 + 1000, t0 + 5000);
    await service().sweepOnce({ dryRun: false });
    expect(await segmentIds()).toEqual([]);
  });

  it('evidence holds and read-locks still win over both limits', async () => {
    const held = await segment(NOW - 100 * HOUR);
    const locked = await segment(NOW - 30 * HOUR);
    await opened.db.updateTable('segments').set({ evidence_locked: 1 }).where('id', '=', held.id).execute();
    await opened.db.updateTable('segments').set({ locked: 1 }).where('id', '=', locked.id).execute();
    await service().sweepOnce({ dryRun: false });
    expect(await segmentIds()).toEqual([held.id, locked.id]);
  });
});
