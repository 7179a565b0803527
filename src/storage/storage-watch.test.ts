import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type OpenedDb } from '../db/connection.js';
import { listEvents } from '../db/event.repo.js';
import { EventLog } from '../events/event-log.js';
import type { Clock } from '../shared/clock.js';
import type { DiskProbe } from './disk.js';
import { FULL_BELOW_BYTES, StorageWatch } from './storage-watch.js';

const MiB = 1024 * 1024;
const TOTAL = 100 * MiB;
const FLOOR = 10 * MiB;
const log = pino({ level: 'silent' });

let dir: string;
let opened: OpenedDb;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-storage-'));
  opened = await openDatabase(join(dir, 'vigil.db'));
});
afterEach(async () => {
  await opened.close();
  await rm(dir, { recursive: true, force: true });
});

/** A watch on a disk whose free space the test sets; sweeps free what `onSweep` says. */
function setup(opts: { freeBytes: number; onSweep?: () => number }) {
  let nowMs = Date.UTC(2026, 10, 25, 12, 0, 0);
  const clock: Clock = { nowMs: () => nowMs };
  const disk = { free: opts.freeBytes, probed: [] as string[] };
  const probe: DiskProbe = async (path) => {
    disk.probed.push(path);
    return { freeBytes: disk.free, totalBytes: TOTAL };
  };
  let sweeps = 0;
  const watch = new StorageWatch({
    recordingsDir: join(dir, 'recordings'),
    clock,
    events: new EventLog(opened.db, clock, log),
    log,
    floorBytes: () => FLOOR,
    sweep: async () => {
      sweeps++;
      return opts.onSweep?.() ?? 0;
    },
    disk: probe,
  });
  return {
    watch,
    disk,
    sweeps: () => sweeps,
    advance: (ms: number) => (nowMs += ms),
    events: async (type: string) => listEvents(opened.db, { type, limit: 100 }),
  };
}

/** Lets a sweep the watch started (not awaited by it) finish. */
const settle = () => new Promise((r) => setTimeout(r, 10));

describe('the recordings disk watch', () => {
  it('a recorder reporting no space raises one critical disk_full event, fails readiness and asks for a sweep', async () => {
    const t = setup({ freeBytes: 200 * 1024 });
    await t.watch.noSpace('cam1', '[error] av_interleaved_write_frame(): No space left on device');
    await t.watch.noSpace('cam2', '[error] av_interleaved_write_frame(): No space left on device');
    const full = await t.events('disk_full');
    expect(full).toHaveLength(1);
    expect(full[0]?.severity).toBe('critical');
    expect(full[0]?.cameraId).toBe('cam1');
    expect(full[0]?.requestId).toBeNull();
    expect(full[0]?.payload).toMatchObject({ free_bytes: 200 * 1024, total_bytes: TOTAL, detected_by: 'recorder' });
    const s = t.watch.status();
    expect(s).toMatchObject({ full: true, free_bytes: 200 * 1024, total_bytes: TOTAL });
    expect(JSON.stringify(s)).not.toContain('cam1');
    expect(s.reason).toMatch(/disk is full/);
    expect(t.sweeps()).toBe(1);
    // It measures the recordings folder, which may be a disk of its own.
    expect(t.disk.probed.every((p) => p === join(dir, 'recordings'))).toBe(true);
  });

  it('statfs alone notices a disk with less than a fragment free', async () => {
    const t = setup({ freeBytes: FULL_BELOW_BYTES - 1 });
    await t.watch.check();
    expect(t.watch.isFull).toBe(true);
    expect((await t.events('disk_full'))[0]?.payload['detected_by']).toBe('statfs');
  });

  it('recorders wait while full and are let go once free space is back above the floor, with an event', async () => {
    const t = setup({ freeBytes: 0 });
    await t.watch.noSpace('cam1', 'No space left on device');
    let writable = false;
    const waiting = t.watch.whenWritable(new AbortController().signal, 60_000).then(() => (writable = true));
    // Some room, but under the floor: recording would only fill it again at once.
    t.disk.free = FLOOR - 1;
    await t.watch.check();
    await settle();
    expect(writable).toBe(false);
    expect(t.watch.isFull).toBe(true);
    t.disk.free = FLOOR;
    t.advance(12_500);
    await t.watch.check();
    await waiting;
    expect(t.watch.isFull).toBe(false);
    expect(t.watch.status()).toEqual({ full: false, free_bytes: FLOOR, total_bytes: TOTAL });
    const recovered = await t.events('disk_space_recovered');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]?.payload).toMatchObject({ free_bytes: FLOOR, full_seconds: 12.5 });
    await expect(t.watch.whenWritable(new AbortController().signal, 60_000)).resolves.toBeUndefined();
  });

  it('a floor larger than half the disk does not keep recording stopped once half is free', async () => {
    const t = setup({ freeBytes: 0 });
    const huge = new StorageWatch({
      recordingsDir: join(dir, 'recordings'),
      clock: { nowMs: () => 0 },
      events: new EventLog(opened.db, { nowMs: () => 0 }, log),
      log,
      floorBytes: () => 5_000_000_000,
      sweep: async () => 0,
      disk: async () => ({ freeBytes: t.disk.free, totalBytes: TOTAL }),
    });
    await huge.noSpace('cam1', 'No space left on device');
    t.disk.free = TOTAL / 2;
    await huge.check();
    expect(huge.isFull).toBe(false);
    await huge.stop();
  });

  it('a waiting recorder is released by its stop (abort) and by the longest wait', async () => {
    const t = setup({ freeBytes: 0 });
    await t.watch.noSpace('cam1', 'No space left on device');
    const ac = new AbortController();
    const aborted = t.watch.whenWritable(ac.signal, 60_000);
    ac.abort();
    await expect(aborted).resolves.toBeUndefined();
    await expect(t.watch.whenWritable(new AbortController().signal, 20)).resolves.toBeUndefined();
    expect(t.watch.isFull).toBe(true);
  });

  it('a disk under the floor between sweeps gets a sweep at once; sweeps that free nothing back off', async () => {
    const t = setup({ freeBytes: FLOOR - 1 });
    await t.watch.check();
    await settle();
    expect(t.sweeps()).toBe(1);
    expect(t.watch.isFull).toBe(false);
    // Nothing was freed (all held): the next sweep waits 4 s, then 8 s.
    t.advance(2_000);
    await t.watch.check();
    await settle();
    expect(t.sweeps()).toBe(1);
    t.advance(2_000);
    await t.watch.check();
    await settle();
    expect(t.sweeps()).toBe(2);
    t.advance(4_000);
    await t.watch.check();
    await settle();
    expect(t.sweeps()).toBe(2);
    // Above the floor: no sweep is asked for.
    t.disk.free = FLOOR + 1;
    t.advance(60_000);
    await t.watch.check();
    await settle();
    expect(t.sweeps()).toBe(2);
  });

  it('a full disk resets the backoff: the sweep is asked for at once', async () => {
    const t = setup({ freeBytes: FLOOR - 1 });
    await t.watch.check();
    await settle();
    t.advance(1_000);
    await t.watch.noSpace('cam1', 'No space left on device');
    await settle();
    expect(t.sweeps()).toBe(2);
  });

  it('once started, looks at the disk at once and about once a second, finds it full without being told, and stops looking at stop', async () => {
    const t = setup({ freeBytes: 50 * MiB });
    t.watch.start();
    t.watch.start(); // a second start is no second series of looks
    await settle();
    expect(t.disk.probed).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 2_200));
    // The look at start, then one a second on the quarter-second tick: two or three in 2.2 s, not eight.
    expect(t.disk.probed.length).toBeGreaterThanOrEqual(2);
    expect(t.disk.probed.length).toBeLessThanOrEqual(4);
    t.disk.free = FULL_BELOW_BYTES - 1;
    const deadline = Date.now() + 3_000;
    while (!t.watch.isFull && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(t.watch.isFull).toBe(true);
    expect(await t.events('disk_full')).toHaveLength(1);
    await t.watch.stop();
    const looks = t.disk.probed.length;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(t.disk.probed).toHaveLength(looks);
    t.watch.start(); // stopped for good
    await settle();
    expect(t.disk.probed).toHaveLength(looks);
  });
});
