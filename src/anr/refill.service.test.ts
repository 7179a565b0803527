import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../config/config.js';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type OpenedDb } from '../db/connection.js';
import { listGaps, upsertRecordingGap } from '../db/gap.repo.js';
import { claimGap, failGapAttempt, INTERRUPTED_REFILL_ERROR, listRefillCandidates } from '../db/refill.repo.js';
import { EventLog } from '../events/event-log.js';
import { Indexer } from '../indexer/indexer.service.js';
import { systemClock } from '../shared/clock.js';
import { spawnSupervised } from '../media/child.js';
import { indexSegment } from '../db/segment.repo.js';
import { listEvents } from '../db/event.repo.js';
import { sleep } from '../shared/sleep.js';
import { RefillService, type RefillLauncher, type RefillSpace } from './refill.service.js';
import { FootageStore } from '../storage/footage-store.js';

const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);
let dir: string;
let opened: OpenedDb;
let service: RefillService;
let makeService: (launch: RefillLauncher, space?: RefillSpace) => RefillService;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-refill-'));
  opened = await openDatabase(join(dir, 'vigil.db'));
  const log = pino({ level: 'silent' });
  const events = new EventLog(opened.db, systemClock, log);
  const indexer = new Indexer({ db: opened.db, store: new FootageStore(dir), clock: systemClock, events, log });
  const config = buildConfig({ anr: { settle_seconds: 0 } }, { source: null, cwd: dir, env: {}, overrides: {} });
  makeService = (launch, space) =>
    new RefillService({ db: opened.db, clock: systemClock, events, indexer, log, config: config.anr, ffmpegPath: 'ffmpeg', launch, ...(space ? { space } : {}) });
  service = makeService(syntheticEdge);
  for (const [id, enabled] of [['edge', true], ['plain', false]] as const) {
    await upsertDeclaredCamera(
      opened.db,
      {
        id, name: id, mainUrl: 'rtsp://h/x', subUrl: null, segmentSeconds: 10, retentionHours: null, storageQuotaBytes: null, enabled: true,
        anr: { enabled, replayUrlTemplate: null, timezone: 'UTC', preset: enabled ? 'hikvision' : null },
      },
      'config',
      T0,
    );
  }
});

afterEach(async () => {
  await opened.close();
  await rm(dir, { recursive: true, force: true });
});

describe('refill bookkeeping', () => {
  it('after a crash mid-refill, start-up deletes temp files (never indexing them) and puts filling gaps back to pending', async () => {
    const gap = await upsertRecordingGap(opened.db, 'edge', T0, T0 + 20_000, T0);
    expect(await claimGap(opened.db, gap!.id)).toBe(true);
    const camDir = join(dir, 'recordings', 'edge');
    await mkdir(camDir, { recursive: true });
    await writeFile(join(camDir, `.refill-${gap!.id}.part`), 'half a file');
    await writeFile(join(camDir, '20261125T100000Z-abc.mp4'), 'a segment');
    expect(await service.recover()).toEqual({ tempFiles: 1, gaps: 1 });
    expect(await readdir(camDir)).toEqual(['20261125T100000Z-abc.mp4']);
    // The interrupted attempt counts: a refill that took Vigil down every time would otherwise loop forever.
    expect((await listGaps(opened.db, 'edge'))[0]).toMatchObject({ fillState: 'pending', fillAttempts: 1, lastError: INTERRUPTED_REFILL_ERROR });
  });

  it('a gap whose refills were interrupted by crashes up to the maximum is failed, not retried', async () => {
    const gap = await upsertRecordingGap(opened.db, 'edge', T0, T0 + 20_000, T0);
    const max = buildConfig({}, { source: null, cwd: dir, env: {}, overrides: {} }).anr.maxAttempts;
    for (let i = 1; i <= max; i++) {
      expect(await claimGap(opened.db, gap!.id)).toBe(true);
      expect(await service.recover()).toEqual({ tempFiles: 0, gaps: 1 });
    }
    expect((await listGaps(opened.db, 'edge'))[0]).toMatchObject({ fillState: 'failed', fillAttempts: max });
    expect(await listRefillCandidates(opened.db, Date.now(), Date.now(), 10)).toEqual([]);
  });

  it('picks due pending gaps of cameras with edge replay only, oldest first, after the settle delay', async () => {
    await upsertRecordingGap(opened.db, 'edge', T0 + 60_000, T0 + 70_000, T0 + 70_000);
    await upsertRecordingGap(opened.db, 'edge', T0, T0 + 10_000, T0 + 10_000);
    await upsertRecordingGap(opened.db, 'plain', T0, T0 + 10_000, T0 + 10_000);
    const now = T0 + 100_000;
    expect((await listRefillCandidates(opened.db, now, now, 10)).map((g) => [g.cameraId, g.gapStartMs])).toEqual([
      ['edge', T0],
      ['edge', T0 + 60_000],
    ]);
    // Settle: only gaps detected before the cut-off.
    expect(await listRefillCandidates(opened.db, now, T0 + 20_000, 10)).toHaveLength(1);
  });

  it('a failed attempt backs off, and the last allowed one marks the gap failed', async () => {
    const gap = (await upsertRecordingGap(opened.db, 'edge', T0, T0 + 10_000, T0))!;
    await claimGap(opened.db, gap.id);
    const first = await failGapAttempt(opened.db, gap.id, 'ffmpeg exited with 1: 404 Not Found', T0 + 60_000, 2);
    expect(first).toMatchObject({ fillState: 'pending', fillAttempts: 1, nextAttemptAtMs: T0 + 60_000 });
    expect(await listRefillCandidates(opened.db, T0 + 59_000, T0 + 59_000, 10)).toHaveLength(0);
    expect(await listRefillCandidates(opened.db, T0 + 60_000, T0 + 60_000, 10)).toHaveLength(1);
    await claimGap(opened.db, gap.id);
    const second = await failGapAttempt(opened.db, gap.id, 'x'.repeat(2000), T0 + 180_000, 2);
    expect(second).toMatchObject({ fillState: 'failed', fillAttempts: 2, nextAttemptAtMs: null });
    expect(second.lastError).toHaveLength(800);
  });
});

/** Stands in for the camera: real ffmpeg writes the asked-for length of synthetic H.264 where the refill asked. */
const syntheticEdge: RefillLauncher = (program, args) => {
  const out = args.at(-1) as string;
  const seconds = args[args.indexOf('-t') + 1] as string;
  return spawnSupervised(program, [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', seconds,
    '-c:v', 'libx264', '-g', '10', '-f', 'mp4', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-y', out,
  ], ['ignore', 'ignore', 'pipe']);
};

describe('a refill end to end with real ffmpeg (synthetic edge)', () => {
  it('fills a gap even when a short live segment starts inside the second the replay starts at', async () => {
    const t = Math.floor(Date.now() / 1000) * 1000 - 120_000;
    const seg = (startMs: number, endMs: number, name: string) =>
      indexSegment(opened.db, { cameraId: 'edge', path: `recordings/edge/${name}`, startMs, endMs, sizeBytes: 1, codec: null, width: null, height: null, source: 'live', fps: null }, t);
    await seg(t - 1900, t + 100, 'a.mp4');
    await seg(t + 100, t + 300, 'b.mp4'); // the short last segment before the outage
    await seg(t + 8300, t + 10_300, 'c.mp4'); // records the gap [t+300, t+8300]
    const svc = makeService(syntheticEdge);
    expect(await svc.scanOnce()).toBe(1);
    const gap = await (async () => {
      for (;;) {
        const g = (await listGaps(opened.db, 'edge'))[0];
        if (g && g.fillState !== 'filling') return g;
        await sleep(50);
      }
    })();
    expect(gap.fillState).toBe('filled');
    const rows = await opened.db.selectFrom('segments').selectAll().where('source', '=', 'edge').execute();
    expect(rows).toHaveLength(1);
    // The replay starts at the whole second t: the row starts 300 ms into the file (time truth, defect 3).
    expect(rows[0]).toMatchObject({ start_ms: t + 300, end_ms: t + 8300, media_offset_ms: 300 });
    expect(rows[0]!.path).toMatch(/^recordings\/edge\/\d{8}T\d{6}Z-e\d+t[a-z0-9]+\.mp4$/);
    const types = (await listEvents(opened.db, { limit: 10 })).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['gap_refill_started', 'gap_refill_succeeded']));
    await svc.stop();
  });
});

describe('a refill into a full recordings disk', () => {
  /** What ffmpeg does when its output's disk is full: a few bytes written, the error on stderr, exit 1. */
  const diskFullEdge: RefillLauncher = (_program, args) => {
    const out = args.at(-1) as string;
    return spawnSupervised('/bin/sh', ['-c', `printf 'ftyp' > "$1"; echo "[out#0/mp4] Error writing trailer of $1: No space left on device" >&2; exit 1`, 'sh', out], ['ignore', 'ignore', 'pipe']);
  };

  it('tells the disk watch, keeps the gap pending without counting an attempt, and starts no refill while the disk is full', async () => {
    const t = Math.floor(Date.now() / 1000) * 1000 - 120_000;
    const gap = await upsertRecordingGap(opened.db, 'edge', t, t + 20_000, t);
    const told: string[] = [];
    const space = { isFull: false, noSpace: async (cameraId: string) => void told.push(cameraId) };
    const svc = makeService(diskFullEdge, space);
    expect(await svc.scanOnce()).toBe(1);
    const after = await (async () => {
      for (;;) {
        const g = (await listGaps(opened.db, 'edge'))[0];
        if (g && g.fillState !== 'filling' && g.lastError) return g;
        await sleep(20);
      }
    })();
    expect(after.id).toBe(gap!.id);
    expect(after.fillState).toBe('pending');
    expect(after.fillAttempts).toBe(0);
    expect(after.lastError).toMatch(/recordings disk is full/);
    expect(after.lastError).toMatch(/No space left on device/);
    expect(told).toEqual(['edge']);
    // Nothing of the failed pull stays behind or is indexed.
    expect(await readdir(join(dir, 'recordings', 'edge'))).toEqual([]);
    expect(await opened.db.selectFrom('segments').selectAll().execute()).toEqual([]);
    const failed = (await listEvents(opened.db, { limit: 10 })).find((e) => e.type === 'gap_refill_failed');
    expect(failed?.payload).toMatchObject({ gap_id: gap!.id, attempt: 0, attempt_counted: false, state: 'pending' });
    // While the disk is full, no refill starts, however due the gap is.
    space.isFull = true;
    await sleep(50);
    await opened.db.updateTable('recording_gaps').set({ next_attempt_at_ms: 0 }).execute();
    expect(await svc.scanOnce()).toBe(0);
    space.isFull = false;
    expect(await svc.scanOnce()).toBe(1);
    await svc.stop();
  });
});

describe('refill scheduling and bookkeeping (issue: time truth, defect 5)', () => {
  it('retries a failed refill when its backoff ends, not at the next scan a minute later', async () => {
    let calls = 0;
    // The edge refuses the first pull (404), then serves it.
    const flaky: RefillLauncher = (program, args) => {
      calls++;
      if (calls === 1) return spawnSupervised('/bin/sh', ['-c', 'echo "404 Not Found" >&2; exit 1'], ['ignore', 'ignore', 'pipe']);
      return syntheticEdge(program, args);
    };
    const config = buildConfig({ anr: { settle_seconds: 0, backoff_initial_ms: 300, scan_interval_seconds: 600 } }, { source: null, cwd: dir, env: {}, overrides: {} });
    const log = pino({ level: 'silent' });
    const events = new EventLog(opened.db, systemClock, log);
    const svc = new RefillService({
      db: opened.db, clock: systemClock, events, log, config: config.anr, ffmpegPath: 'ffmpeg', launch: flaky,
      indexer: new Indexer({ db: opened.db, store: new FootageStore(dir), clock: systemClock, events, log }),
    });
    const t = Math.floor(Date.now() / 1000) * 1000 - 120_000;
    await upsertRecordingGap(opened.db, 'edge', t, t + 5000, t);
    const started = Date.now();
    svc.start();
    try {
      const gap = await (async () => {
        for (;;) {
          const g = (await listGaps(opened.db, 'edge'))[0];
          if (g?.fillState === 'filled' || Date.now() - started > 20_000) return g;
          await sleep(50);
        }
      })();
      expect(gap?.fillState, 'filled by the retry, well before the 600 s scan').toBe('filled');
      expect(calls).toBe(2);
      // Both attempts count, and the success's event says which attempt it was.
      expect(gap?.fillAttempts).toBe(2);
      const ok = (await listEvents(opened.db, { limit: 20 })).find((e) => e.type === 'gap_refill_succeeded');
      expect(ok?.payload).toMatchObject({ attempt: 2, state: 'filled' });
    } finally {
      await svc.stop();
    }
  });

  it('a gap filled at the first attempt says attempt 1 in its row and its event', async () => {
    const t = Math.floor(Date.now() / 1000) * 1000 - 120_000;
    await upsertRecordingGap(opened.db, 'edge', t, t + 5000, t);
    const svc = makeService(syntheticEdge);
    expect(await svc.scanOnce()).toBe(1);
    for (;;) {
      const g = (await listGaps(opened.db, 'edge'))[0];
      if (g && g.fillState !== 'filling') break;
      await sleep(50);
    }
    await svc.stop();
    expect((await listGaps(opened.db, 'edge'))[0]).toMatchObject({ fillState: 'filled', fillAttempts: 1, lastError: null });
    expect((await listEvents(opened.db, { limit: 20 })).find((e) => e.type === 'gap_refill_succeeded')?.payload).toMatchObject({ attempt: 1 });
  });
});
