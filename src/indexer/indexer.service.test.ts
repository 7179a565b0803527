import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../test/support/harness.js';
import { getStatus } from '../db/camera-status.repo.js';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type OpenedDb } from '../db/connection.js';
import { listEvents } from '../db/event.repo.js';
import { listGaps } from '../db/gap.repo.js';
import { listAllSegments } from '../db/segment.repo.js';
import { CatalogUnavailableError, DatabaseWriteHealth } from '../db/write-errors.js';
import { EventLog } from '../events/event-log.js';
import { scanFmp4 } from '../media/fmp4/scan.js';
import type { Clock } from '../shared/clock.js';
import { systemClock } from '../shared/clock.js';
import { Indexer, type ClosedFile } from './indexer.service.js';
import { reconcileCamera } from './reconcile.js';
import { segmentFileName } from '../storage/segment-names.js';
import { FootageStore } from '../storage/footage-store.js';

const run = promisify(execFile);
const T0 = Date.parse('2026-11-25T10:00:00Z');

/** 2 s of 15 fps H.264 with a keyframe every second, as the recorder writes it: ftyp+moov, then 2 fragments. */
let fixture: Buffer;
let leapFixture: Buffer;
/** Offset of the first moof: the file cut here has an init and no fragment. */
let initEnd: number;
let fixtureDir: string;

beforeAll(async () => {
  fixtureDir = await mkdtemp(join(tmpdir(), 'vigil-indexer-fixture-'));
  const file = join(fixtureDir, 'seg.mp4');
  await run('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=15', '-t', '2',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-pix_fmt', 'yuv420p',
    '-movflags', '+frag_keyframe+empty_moov+default_base_moof', file,
  ]);
  fixture = await readFile(file);
  // The same, from a camera whose media clock leaps 10 s forward after 20 frames (153 600 ticks of 1/15 360 s).
  const jumped = join(fixtureDir, 'jump.mp4');
  await run('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=15', '-t', '2',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-pix_fmt', 'yuv420p', '-bsf:v', 'setts=ts=TS+if(gte(N\\,20)\\,153600\\,0)',
    '-movflags', '+frag_keyframe+empty_moov+default_base_moof', jumped,
  ]);
  leapFixture = await readFile(jumped);
  const scan = await scanFmp4(file);
  expect(scan.fragmentCount).toBe(2);
  initEnd = scan.initEndOffset;
}, 30_000);

afterAll(async () => {
  await rm(fixtureDir, { recursive: true, force: true });
});

let dir: string;
let opened: OpenedDb;
let events: EventLog;
let health: DatabaseWriteHealth;

function indexer(clock: Clock = systemClock): Indexer {
  const { log } = memoryLogger();
  return new Indexer({ db: opened.db, store: new FootageStore(dir), clock, events, log, dbHealth: health });
}

/** A closed file of camera cam1 at `name`, its bytes `bytes` (the fixture by default). */
async function file(name: string, bytes: Buffer = fixture): Promise<string> {
  const path = join(dir, 'recordings', 'cam1', name);
  await writeFile(path, bytes);
  return path;
}

const closed = (absPath: string, startMs: number, endMs: number, extra: Partial<ClosedFile> = {}): ClosedFile => ({
  cameraId: 'cam1', absPath, startMs, endMs, source: 'live', ...extra,
});

const exists = (p: string) => access(p).then(() => true, () => false);
const rows = () => listAllSegments(opened.db, 'cam1', 0, Number.MAX_SAFE_INTEGER);
const eventsOf = async (type: string) => (await listEvents(opened.db, { limit: 1000 })).filter((e) => e.type === type);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-indexer-'));
  await mkdir(join(dir, 'recordings', 'cam1'), { recursive: true });
  opened = await openDatabase(join(dir, 'vigil.db'));
  events = new EventLog(opened.db, systemClock, memoryLogger().log);
  health = new DatabaseWriteHealth();
  await upsertDeclaredCamera(opened.db, { id: 'cam1', name: 'cam1', mainUrl: 'rtsp://127.0.0.1:9/x', subUrl: null, segmentSeconds: 2, retentionHours: null, storageQuotaBytes: null, enabled: true }, 'config', T0);
});

afterEach(async () => {
  await opened.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * Another writer holds the catalog (a second connection in a write transaction), so this one's writes
 * fail with SQLITE_BUSY once its busy timeout (shortened here from 5 s) runs out: the catalog cannot
 * take the row for a reason that passes. Returns what releases it.
 */
async function catalogBusy(): Promise<() => void> {
  await sql.raw('PRAGMA busy_timeout = 20').execute(opened.db);
  const other = new Database(join(dir, 'vigil.db'));
  other.exec('BEGIN IMMEDIATE');
  return () => {
    other.exec('ROLLBACK');
    other.close();
  };
}

describe('Indexer.indexClosed', () => {
  it('writes the row, the camera counters and the gap before it, with its event (NULL request id)', async () => {
    const ix = indexer();
    const a = await ix.indexClosed(closed(await file('a.mp4'), T0, T0 + 2000));
    const b = await ix.indexClosed(closed(await file('b.mp4'), T0 + 10_000, T0 + 12_000));
    expect(a?.segment).toMatchObject({ path: 'recordings/cam1/a.mp4', startMs: T0, endMs: T0 + 2000, durationMs: 2000, sizeBytes: fixture.length, codec: expect.stringMatching(/^avc1/), width: 160, height: 120 });
    expect(b?.gap).toMatchObject({ gapStartMs: T0 + 2000, gapEndMs: T0 + 10_000 });
    expect((await listGaps(opened.db, 'cam1')).map((g) => [g.gapStartMs, g.gapEndMs])).toEqual([[T0 + 2000, T0 + 10_000]]);
    const status = await getStatus(opened.db, 'cam1');
    expect(status).toMatchObject({ segmentsWritten: 2, lastSegmentAtMs: T0 + 12_000, fps: 15, bitrateBps: Math.round((fixture.length * 8 * 1000) / 2000) });
    const gapEvents = await eventsOf('recording_gap');
    expect(gapEvents).toHaveLength(1);
    expect(gapEvents[0]).toMatchObject({ cameraId: 'cam1', requestId: null, severity: 'warning' });
    expect(gapEvents[0]?.payload).toMatchObject({ gap_id: b?.gap?.id, seconds: 8 });
  });

  it('indexes a recorder file whose media clock leaps up to its last true frame, with an event, and tells the recorder', async () => {
    const ix = indexer();
    const told: string[] = [];
    // ffmpeg's segment list spans the leap: 2 s of frames and 10 s that never happened.
    const r = await ix.indexClosed(closed(await file('leap.mp4', leapFixture), T0, T0 + 12_000, { onTimeJump: (j) => told.push(j.direction) }));
    // 20 frames at 15 fps: the row ends where the 20th frame's interval does, 1 333 ms in.
    expect(r?.segment).toMatchObject({ startMs: T0, endMs: T0 + 1333 });
    expect(told).toEqual(['forward']);
    const cut = await eventsOf('segment_cut_at_time_jump');
    expect(cut).toHaveLength(1);
    expect(cut[0]).toMatchObject({ cameraId: 'cam1', severity: 'warning' });
    expect(cut[0]?.payload).toMatchObject({ file: 'leap.mp4', direction: 'forward', jump_seconds: 10, frames_left_out: 10, kept_until: new Date(T0 + 1333).toISOString() });
    // A file whose clock runs true is left as it is.
    const ok = await ix.indexClosed(closed(await file('ok.mp4'), T0 + 20_000, T0 + 22_000, { onTimeJump: (j) => told.push(j.direction) }));
    expect(ok?.segment).toMatchObject({ startMs: T0 + 20_000, endMs: T0 + 22_000 });
    expect(told).toEqual(['forward']);
  });

  it('recovers a file whose media clock leaps (found without a row at start-up) up to its last true frame too', async () => {
    const ix = indexer();
    await file(segmentFileName(T0, 'run1', '000000'), leapFixture);
    const report = await reconcileCamera({ db: opened.db, indexer: ix, events }, 'cam1');
    expect(report.recovered).toBe(1);
    expect((await rows()).map((r) => [r.startMs, r.endMs, r.source])).toEqual([[T0, T0 + 1333, 'recovered']]);
    expect((await eventsOf('segment_cut_at_time_jump'))[0]?.payload).toMatchObject({ direction: 'forward', frames_left_out: 10 });
  });

  it('records no gap for a hole of 3 s or less', async () => {
    const ix = indexer();
    await ix.indexClosed(closed(await file('a.mp4'), T0, T0 + 2000));
    await ix.indexClosed(closed(await file('b.mp4'), T0 + 5000, T0 + 7000));
    expect(await listGaps(opened.db, 'cam1')).toEqual([]);
  });

  it('clamps a segment between its neighbours so none overlap (invariant 4), and discards one wholly inside indexed footage', async () => {
    const ix = indexer();
    await ix.indexClosed(closed(await file('a.mp4'), T0, T0 + 2000));
    await ix.indexClosed(closed(await file('c.mp4'), T0 + 5000, T0 + 7000));
    // Overlaps the end of a and the start of c.
    const b = await ix.indexClosed(closed(await file('b.mp4'), T0 + 1500, T0 + 5500));
    expect(b?.segment).toMatchObject({ startMs: T0 + 2000, endMs: T0 + 5000, durationMs: 3000 });
    expect(b?.clampedMs).toBe(1000);
    const inside = await file('inside.mp4');
    const none = await ix.indexClosed(closed(inside, T0 + 2500, T0 + 4500));
    expect(none?.segment).toBeUndefined();
    expect(await exists(inside)).toBe(false);
    expect((await eventsOf('segment_discarded')).map((e) => e.payload)).toEqual([{ file: 'inside.mp4', reason: 'overlaps footage already indexed' }]);
    const all = await rows();
    expect(all.map((s) => [s.startMs - T0, s.endMs - T0])).toEqual([[0, 2000], [2000, 5000], [5000, 7000]]);
    for (let i = 1; i < all.length; i++) expect((all[i - 1]?.endMs ?? 0) <= (all[i]?.startMs ?? 0)).toBe(true);
    expect((await getStatus(opened.db, 'cam1'))?.segmentsWritten).toBe(3);
  });

  it('removes a file with no complete fragment, or none readable, with an event, and writes no row', async () => {
    const jump = { t: T0, nowMs: () => (jump.t += 1000) };
    const ix = indexer(jump);
    const initOnly = await file('init-only.mp4', fixture.subarray(0, initEnd));
    const garbage = await file('garbage.mp4', Buffer.from('not an mp4 at all, just text'));
    expect(await ix.indexClosed(closed(initOnly, T0, T0 + 2000))).toBeUndefined();
    expect(await ix.indexClosed(closed(garbage, T0 + 2000, T0 + 4000))).toBeUndefined();
    expect(await exists(initOnly)).toBe(false);
    expect(await exists(garbage)).toBe(false);
    expect(await rows()).toEqual([]);
    expect((await eventsOf('segment_discarded')).map((e) => [e.payload, e.requestId]).reverse()).toEqual([
      [{ file: 'init-only.mp4', reason: 'no complete fragment' }, null],
      [{ file: 'garbage.mp4', reason: 'not a readable MP4' }, null],
    ]);
    expect((await getStatus(opened.db, 'cam1'))?.segmentsWritten ?? 0).toBe(0);
  });

  it('waits for the last bytes of a file reported closed before they reached it (invariant 6)', async () => {
    const ix = indexer();
    const path = await file('late.mp4', fixture.subarray(0, fixture.length - 100));
    const indexing = ix.indexClosed(closed(path, T0, T0 + 2000));
    setTimeout(() => void appendFile(path, fixture.subarray(fixture.length - 100)), 50);
    const r = await indexing;
    expect(r?.segment?.sizeBytes).toBe(fixture.length);
  });

  it('indexes a file whose tail never comes up to its last complete fragment', async () => {
    const jump = { t: T0, nowMs: () => (jump.t += 1000) };
    const ix = indexer(jump);
    const path = await file('cut.mp4', fixture.subarray(0, fixture.length - 100));
    const r = await ix.indexClosed(closed(path, T0, T0 + 2000));
    expect(r?.segment).toMatchObject({ startMs: T0, endMs: T0 + 2000 });
  });

  it('renames the file to its final name before writing the row, so a row never names the temporary file', async () => {
    const ix = indexer();
    const tmp = await file('run1-000001.mp4');
    const finalPath = join(dir, 'recordings', 'cam1', '20261125T100000Z-run1-000001.mp4');
    const r = await ix.indexClosed(closed(tmp, T0, T0 + 2000, { finalPath }));
    expect(r?.segment?.path).toBe('recordings/cam1/20261125T100000Z-run1-000001.mp4');
    expect(await exists(tmp)).toBe(false);
    expect(await readFile(finalPath)).toEqual(fixture);
  });

  it('leaves the file under its final name and no row when the catalog cannot take the row', async () => {
    const ix = indexer();
    await ix.indexClosed(closed(await file('a.mp4'), T0 - 2000, T0));
    const tmp = await file('run1-000002.mp4');
    const finalPath = join(dir, 'recordings', 'cam1', 'final-2.mp4');
    const release = await catalogBusy();
    const err = await ix.indexClosed(closed(tmp, T0, T0 + 2000, { finalPath })).catch((e: unknown) => e);
    release();
    expect(err).toBeInstanceOf(CatalogUnavailableError);
    expect((err as CatalogUnavailableError).reason).toBe('busy');
    // The transaction is whole or nothing: neither row nor counter moved.
    expect((await rows()).map((s) => s.path)).toEqual(['recordings/cam1/a.mp4']);
    expect((await getStatus(opened.db, 'cam1'))?.segmentsWritten).toBe(1);
    // Where start-up reconciliation will find it (a crash now loses nothing: invariant 5).
    expect(await exists(tmp)).toBe(false);
    expect(await exists(finalPath)).toBe(true);
  });
});

describe('Indexer.indexClosedRetrying', () => {
  it('retries a row the catalog refused until it is written, once, under its final name', async () => {
    const ix = indexer();
    const tmp = await file('run1-000003.mp4');
    const finalPath = join(dir, 'recordings', 'cam1', 'final-3.mp4');
    const release = await catalogBusy();
    const indexing = ix.indexClosedRetrying(closed(tmp, T0, T0 + 2000, { finalPath }), new AbortController().signal);
    // The first attempt fails within the busy timeout; the retry comes 1 s later, by when the lock is gone.
    setTimeout(release, 300);
    const r = await indexing;
    // Busy is not full: readiness is not told the catalog's disk is full.
    expect(health.fullSince).toBeUndefined();
    expect(r?.segment?.path).toBe('recordings/cam1/final-3.mp4');
    expect((await rows()).map((s) => s.path)).toEqual(['recordings/cam1/final-3.mp4']);
    expect((await getStatus(opened.db, 'cam1'))?.segmentsWritten).toBe(1);
    expect(await exists(finalPath)).toBe(true);
    expect(await eventsOf('segment_discarded')).toEqual([]);
  });

  it('gives up on abort (Vigil stopping) with the file kept for start-up, and no row', async () => {
    const ix = indexer();
    const tmp = await file('run1-000004.mp4');
    const finalPath = join(dir, 'recordings', 'cam1', 'final-4.mp4');
    const release = await catalogBusy();
    const stop = new AbortController();
    const indexing = ix.indexClosedRetrying(closed(tmp, T0, T0 + 2000, { finalPath }), stop.signal).catch((e: unknown) => e);
    setTimeout(() => stop.abort(), 100);
    expect(await indexing).toBeInstanceOf(CatalogUnavailableError);
    release();
    expect(await rows()).toEqual([]);
    expect(await exists(finalPath)).toBe(true);
  });

  it('does not retry an error that will not pass', async () => {
    const ix = indexer();
    const tmp = await file('a.mp4');
    await ix.indexClosed(closed(tmp, T0, T0 + 2000));
    // The same path again: the unique path constraint, a bug and not a full disk.
    await writeFile(tmp, fixture);
    const started = Date.now();
    await expect(ix.indexClosedRetrying(closed(tmp, T0 + 4000, T0 + 6000), new AbortController().signal)).rejects.toThrow(/UNIQUE/);
    expect(Date.now() - started).toBeLessThan(900);
    expect(await rows()).toHaveLength(1);
  });
});

describe('Indexer: every segment is hashed (invariant 10)', () => {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it('hashes the file in its one read when it closes, and hashes files the refill and recovery insert with a scan of their own', async () => {
    const ix = indexer();
    const live = await ix.indexClosed(closed(await file('a.mp4'), T0, T0 + 2000));
    expect(live?.segment?.sha256).toBe(sha(fixture));
    // What an edge refill or start-up recovery does: scan the file themselves, then insert it.
    const edgeBytes = Buffer.concat([fixture, Buffer.from([0, 0, 0, 8, 0x66, 0x72, 0x65, 0x65])]);
    const edgePath = await file('edge.mp4', edgeBytes);
    const edge = await ix.insert(closed(edgePath, T0 - 60_000, T0 - 58_000, { source: 'edge' }), await scanFmp4(edgePath));
    expect(edge?.segment).toMatchObject({ source: 'edge', sha256: sha(edgeBytes), chainSeq: 2 });
  });

  it('hashes the bytes as stored when the file grew after its scan', async () => {
    const path = await file('grown.mp4');
    const scan = await scanFmp4(path);
    const stale = { sha256: sha(fixture), sizeBytes: fixture.length };
    const grown = Buffer.concat([fixture, Buffer.from([0, 0, 0, 8, 0x66, 0x72, 0x65, 0x65])]);
    await writeFile(path, grown);
    const r = await indexer().insert(closed(path, T0, T0 + 2000), scan, stale);
    expect(r?.segment).toMatchObject({ sha256: sha(grown), sizeBytes: grown.length });
  });
});

describe('Indexer: a row counts its file\'s random access points (migration 0015)', () => {
  it('stores how many fragments start with a keyframe, fragments cut between keyframes not counted', async () => {
    // 2 s at 15 fps, a keyframe every second, fragments of at most 250 ms: 8 fragments, 2 keyframes.
    const path = join(fixtureDir, 'subgop.mp4');
    await run('ffmpeg', [
      '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=15', '-t', '2',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-keyint_min', '15', '-sc_threshold', '0', '-pix_fmt', 'yuv420p',
      '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-frag_duration', '250000', path,
    ]);
    const scan = await scanFmp4(path);
    expect(scan.fragments.length).toBeGreaterThan(2);
    const r = await indexer().indexClosed(closed(await file('subgop.mp4', await readFile(path)), T0, T0 + 2000));
    expect(r?.segment?.keyframeFragments).toBe(2);
    expect((await rows())[0]?.keyframeFragments).toBe(2);
  });
});
