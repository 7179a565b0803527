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
import { gapCoverage, RefillService, type RefillLauncher, type RefillSpace } from './refill.service.js';
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


/**
 * The newest events once every type named is among them (5 s at most): a refill writes its event after
 * the gap's state, in a transaction of its own, so on PostgreSQL the event may land a moment after the
 * state a test waited for.
 */
async function eventsOnceThere(types: string[]) {
  for (let i = 0; ; i++) {
    const events = await listEvents(opened.db, { limit: 10 });
    if (i >= 250 || types.every((t) => events.some((e) => e.type === t))) return events;
    await sleep(20);
  }
}

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
    // The replay starts at the whole second a second before the gap's, t − 1 s: the row starts 1300 ms
    // into the file (time truth, defect 3).
    expect(rows[0]).toMatchObject({ start_ms: t + 300, end_ms: t + 8300, media_offset_ms: 1300 });
    expect(rows[0]!.path).toMatch(/^recordings\/edge\/\d{8}T\d{6}Z-e\d+t[a-z0-9]+\.mp4$/);
    const types = (await eventsOnceThere(['gap_refill_started', 'gap_refill_succeeded'])).map((e) => e.type);
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
    const failed = (await eventsOnceThere(['gap_refill_failed'])).find((e) => e.type === 'gap_refill_failed');
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
      const ok = (await eventsOnceThere(['gap_refill_succeeded'])).find((e) => e.type === 'gap_refill_succeeded');
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
    expect((await eventsOnceThere(['gap_refill_succeeded'])).find((e) => e.type === 'gap_refill_succeeded')?.payload).toMatchObject({ attempt: 1 });
  });
});

describe('gap coverage: what a refill still asks for', () => {
  it('names the uncovered parts of a gap, earliest first, leaving out slivers under a second', () => {
    const cov = gapCoverage(T0, T0 + 20_000, [[T0 + 8000, T0 + 12_000], [T0 - 5000, T0 + 500], [T0 + 12_000, T0 + 19_400]]);
    expect(cov.missing).toEqual([[T0 + 500, T0 + 8000]]);
    expect(cov.coveredMs).toBe(20_000 - 7500 - 600);
    expect(cov.filled).toBe(false);
    expect(cov.text).toBe(`indexed footage covers 11.9 s of the 20.0 s gap; still missing: ${iso(T0 + 500)}–${iso(T0 + 8000)} (7.5 s)`);
    const slivers = gapCoverage(T0, T0 + 5000, [[T0 + 600, T0 + 2000], [T0 + 2600, T0 + 4400]]);
    expect([slivers.missing, slivers.filled]).toEqual([[], false]);
    expect(slivers.text).toMatch(/still missing: only slivers under 1 s/);
    expect(gapCoverage(T0, T0 + 10_000, [[T0, T0 + 9000]]).filled).toBe(true);
  });
});

/** 20261125T101500Z → ms since the epoch. */
function hikTimeMs(v: string): number {
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(v);
  if (!m) throw new Error(`not a Hikvision time: ${v}`);
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * An edge whose SD card holds footage up to `edge.untilMs` only (its last minutes not written yet):
 * asked for a span, it sends what it holds of it from the whole second asked for (synthetic H.264,
 * 10 fps) and ends early; a span it holds nothing of, or any span while `edge.refuse`, gets 404.
 * With `edge.shortMs` every replay ends that much early (a replay one frame short). Each replay URL's
 * [starttime, endtime] is recorded in `edge.asked`.
 */
function edgeHoldingUntil(edge: { untilMs: number; refuse?: boolean; shortMs?: number; asked: Array<[number, number]> }): RefillLauncher {
  return (program, args) => {
    const url = new URL((args[args.indexOf('-i') + 1] as string).replace(/^rtsp:/, 'http:'));
    const startMs = hikTimeMs(url.searchParams.get('starttime') ?? '');
    edge.asked.push([startMs, hikTimeMs(url.searchParams.get('endtime') ?? '')]);
    const seconds = Math.min(Number(args[args.indexOf('-t') + 1]) - (edge.shortMs ?? 0) / 1000, (edge.untilMs - startMs) / 1000);
    if (edge.refuse || seconds <= 0) return spawnSupervised('/bin/sh', ['-c', 'echo "404 Not Found" >&2; exit 1'], ['ignore', 'ignore', 'pipe']);
    const out = args.at(-1) as string;
    return spawnSupervised(program, [
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', String(seconds),
      '-c:v', 'libx264', '-g', '10', '-f', 'mp4', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-y', out,
    ], ['ignore', 'ignore', 'pipe']);
  };
}

describe('partial gaps retried for their missing part only (issue: partial gaps retried; attempts and errors consistent)', () => {
  let now: number;
  let t: number;
  let gapId: number;
  let edge: { untilMs: number; refuse?: boolean; shortMs?: number; asked: Array<[number, number]> };
  const clock = { nowMs: () => now };

  /** A service on the test's clock; the scans are driven by hand (`scanOnce`). */
  function partialService(anr: Record<string, number>): RefillService {
    const config = buildConfig({ anr: { settle_seconds: 0, ...anr } }, { source: null, cwd: dir, env: {}, overrides: {} });
    const log = pino({ level: 'silent' });
    const events = new EventLog(opened.db, systemClock, log);
    return new RefillService({
      db: opened.db, clock, events, log, config: config.anr, ffmpegPath: 'ffmpeg', launch: edgeHoldingUntil(edge),
      indexer: new Indexer({ db: opened.db, store: new FootageStore(dir), clock: systemClock, events, log }),
    });
  }

  const gapNow = async () => (await listGaps(opened.db, 'edge')).find((g) => g.id === gapId)!;
  const refillEvents = async (type: string) =>
    (await listEvents(opened.db, { type, limit: 100 })).reverse().map((e) => e.payload).filter((p) => p['gap_id'] === gapId);
  /** Waits until `n` attempts have ended (their outcome event written, after the gap row). */
  async function attemptsEnded(n: number): Promise<void> {
    const started = Date.now();
    for (;;) {
      const ended = (await refillEvents('gap_refill_succeeded')).length + (await refillEvents('gap_refill_failed')).length;
      if (ended >= n) return;
      if (Date.now() - started > 20_000) throw new Error(`only ${ended} of ${n} attempts ended`);
      await sleep(20);
    }
  }
  const edgeRows = async () =>
    (await opened.db.selectFrom('segments').select(['start_ms', 'end_ms', 'media_offset_ms', 'path']).where('source', '=', 'edge').orderBy('start_ms').execute());

  beforeEach(async () => {
    now = Date.now();
    t = Math.floor(now / 1000) * 1000 - 120_000;
    edge = { untilMs: t + 5500, asked: [] };
    const seg = (startMs: number, endMs: number, name: string) =>
      indexSegment(opened.db, { cameraId: 'edge', path: `recordings/edge/${name}`, startMs, endMs, sizeBytes: 1, codec: null, width: null, height: null, source: 'live', fps: null }, t);
    await seg(t - 2000, t + 300, 'a.mp4');
    await seg(t + 10_300, t + 12_000, 'c.mp4'); // records the gap [t+300, t+10300)
    gapId = (await listGaps(opened.db, 'edge'))[0]!.id;
  });

  it('asks for a second past the gap, so a replay that ends a frame short still reaches the footage after it (no sliver left)', async () => {
    // A gap ending 20 ms before a whole second, and an edge whose replays end 100 ms (one frame) short:
    // asked only up to that whole second, the file would stop 80 ms before the live footage resumes.
    await opened.db.deleteFrom('recording_gaps').execute();
    await opened.db.deleteFrom('segments').where('path', '=', 'recordings/edge/c.mp4').execute();
    await indexSegment(opened.db, { cameraId: 'edge', path: 'recordings/edge/d.mp4', startMs: t + 10_980, endMs: t + 12_000, sizeBytes: 1, codec: null, width: null, height: null, source: 'live', fps: null }, t);
    gapId = (await listGaps(opened.db, 'edge'))[0]!.id;
    edge.untilMs = t + 60_000;
    edge.shortMs = 100;
    const svc = partialService({});
    try {
      expect(await svc.scanOnce()).toBe(1);
      await attemptsEnded(1);
      expect(edge.asked).toEqual([[t - 1000, t + 12_000]]);
      expect(await gapNow()).toMatchObject({ fillState: 'filled', fillAttempts: 1 });
      // The edge footage runs up to the live footage after the gap: clamped there, not short of it.
      expect((await edgeRows()).map((r) => [r.start_ms, r.end_ms])).toEqual([[t + 300, t + 10_980]]);
    } finally {
      await svc.stop();
    }
  });

  it('a partial gap is retried when its backoff ends, asking only for what is missing, and ends filled without duplicate footage', async () => {
    const svc = partialService({ backoff_initial_ms: 1000 });
    try {
      expect(await svc.scanOnce()).toBe(1);
      await attemptsEnded(1);
      // The first attempt asks for the whole gap (from the whole second at least a second before it, to a
      // second past it); the edge held 5.5 s of it.
      expect(edge.asked).toEqual([[t - 1000, t + 12_000]]);
      const partial = await gapNow();
      expect(partial).toMatchObject({ fillState: 'partial', fillAttempts: 1, nextAttemptAtMs: now + 1000 });
      expect(partial.lastError).toBe(`indexed footage covers 5.2 s of the 10.0 s gap; still missing: ${iso(t + 5500)}–${iso(t + 10_300)} (4.8 s)`);
      now += 999;
      expect(await svc.scanOnce(), 'not before its backoff ends').toBe(0);
      // The camera has written the rest of its SD file meanwhile.
      edge.untilMs = t + 60_000;
      now += 1;
      expect(await svc.scanOnce(), 'retried once due').toBe(1);
      await attemptsEnded(2);
      // Only the missing part, from the whole second at least a second before it.
      expect(edge.asked[1]).toEqual([t + 4000, t + 12_000]);
      expect(await gapNow()).toMatchObject({ fillState: 'filled', fillAttempts: 2, lastError: null, nextAttemptAtMs: null });
      // The second file starts 1500 ms before the missing part: its row starts there, 1500 ms into it.
      const rows = await edgeRows();
      expect(rows.map((r) => [r.start_ms, r.end_ms, r.media_offset_ms])).toEqual([
        [t + 300, t + 5500, 1300],
        [t + 5500, t + 10_300, 1500],
      ]);
      expect((await readdir(join(dir, 'recordings', 'edge'))).sort()).toEqual(rows.map((r) => r.path.split('/').at(-1)).sort());
      expect((await refillEvents('gap_refill_started')).map((p) => [p['attempt'], p['span_start'], p['span_end']])).toEqual([
        [1, iso(t + 300), iso(t + 10_300)],
        [2, iso(t + 5500), iso(t + 10_300)],
      ]);
      expect(await refillEvents('gap_refill_succeeded')).toMatchObject([
        { attempt: 1, state: 'partial', seconds_added: 5.2, span_start: iso(t + 300), next_attempt_at: iso(now - 1000 + 1000) },
        { attempt: 2, state: 'filled', seconds_added: 4.8, seconds_recovered: 10, coverage: 1, span_start: iso(t + 5500), span_end: iso(t + 10_300), next_attempt_at: null },
      ]);
      expect(await svc.scanOnce()).toBe(0);
    } finally {
      await svc.stop();
    }
  });

  it('retries back off like failures, count every attempt (one that adds nothing or fails too) and, once the budget is used, stay partial saying what is missing', async () => {
    const svc = partialService({ backoff_initial_ms: 1000, backoff_max_ms: 1500, max_attempts: 3 });
    try {
      expect(await svc.scanOnce()).toBe(1);
      await attemptsEnded(1);
      expect(await gapNow()).toMatchObject({ fillState: 'partial', fillAttempts: 1, nextAttemptAtMs: now + 1000 });
      // The edge still holds nothing after t+5.5 s: the retry adds nothing, counts, and backs off (capped).
      now += 1000;
      expect(await svc.scanOnce()).toBe(1);
      await attemptsEnded(2);
      expect(edge.asked[1]).toEqual([t + 4000, t + 12_000]);
      const second = await gapNow();
      expect(second).toMatchObject({ fillState: 'partial', fillAttempts: 2, nextAttemptAtMs: now + 1500 });
      expect(second.lastError).toContain(`still missing: ${iso(t + 5500)}–${iso(t + 10_300)}`);
      // The third and last attempt fails outright: still partial (never failed: part of it is filled), nothing scheduled.
      edge.refuse = true;
      now += 1500;
      expect(await svc.scanOnce()).toBe(1);
      await attemptsEnded(3);
      expect(edge.asked[2]).toEqual([t + 4000, t + 12_000]);
      const last = await gapNow();
      expect(last).toMatchObject({ fillState: 'partial', fillAttempts: 3, nextAttemptAtMs: null });
      expect(last.lastError).toContain(`indexed footage covers 5.2 s of the 10.0 s gap; still missing: ${iso(t + 5500)}–${iso(t + 10_300)} (4.8 s)`);
      expect(last.lastError).toMatch(/last attempt: ffmpeg exited with 1: 404 Not Found/);
      now += 3_600_000;
      expect(await listRefillCandidates(opened.db, now, now, 10)).toEqual([]);
      expect(await svc.scanOnce()).toBe(0);
      // Attempts, events and the row agree.
      expect((await refillEvents('gap_refill_started')).map((p) => p['attempt'])).toEqual([1, 2, 3]);
      expect(await refillEvents('gap_refill_succeeded')).toMatchObject([
        { attempt: 1, state: 'partial' },
        { attempt: 2, state: 'partial', seconds_added: 0, span_start: iso(t + 5500), span_end: iso(t + 10_300) },
      ]);
      expect(await refillEvents('gap_refill_failed')).toMatchObject([
        { attempt: 3, state: 'partial', next_attempt_at: null, span_start: iso(t + 5500), span_end: iso(t + 10_300), reason: 'ffmpeg exited with 1: 404 Not Found' },
      ]);
      // The retry that added nothing left no row and no file behind.
      const rows = await edgeRows();
      expect(rows.map((r) => [r.start_ms, r.end_ms])).toEqual([[t + 300, t + 5500]]);
      expect(await readdir(join(dir, 'recordings', 'edge'))).toEqual([rows[0]!.path.split('/').at(-1)]);
    } finally {
      await svc.stop();
    }
  });

  it('a manual refill of a partial gap gives it a fresh budget and pulls only the missing part', async () => {
    const svc = partialService({ backoff_initial_ms: 1000, max_attempts: 1 });
    try {
      expect(await svc.scanOnce()).toBe(1);
      await attemptsEnded(1);
      expect(await gapNow()).toMatchObject({ fillState: 'partial', fillAttempts: 1, nextAttemptAtMs: null });
      now += 60_000;
      expect(await svc.scanOnce(), 'the budget is used').toBe(0);
      edge.untilMs = t + 60_000;
      const requeued = await svc.requeue('edge', gapId, { requestId: 'req-partial' });
      expect(requeued).toMatchObject({ fillState: 'partial', fillAttempts: 0, nextAttemptAtMs: now });
      expect(requeued.lastError).toContain('still missing');
      expect((await refillEvents('gap_refill_requested'))[0]).toMatchObject({ previous_state: 'partial', previous_attempts: 1 });
      expect(await svc.scanOnce()).toBe(1);
      await attemptsEnded(2);
      expect(edge.asked).toEqual([
        [t - 1000, t + 12_000],
        [t + 4000, t + 12_000],
      ]);
      expect(await gapNow()).toMatchObject({ fillState: 'filled', fillAttempts: 1 });
      expect((await edgeRows()).map((r) => [r.start_ms, r.end_ms])).toEqual([
        [t + 300, t + 5500],
        [t + 5500, t + 10_300],
      ]);
      await expect(svc.requeue('edge', gapId, { requestId: null })).rejects.toThrow(/already filled/);
    } finally {
      await svc.stop();
    }
  });
});

describe('partial gaps: crash recovery and manual refill bookkeeping', () => {
  /** A gap [T0, T0+10 s) between live footage, with edge footage indexed over [T0, T0+4 s), marked partial. */
  async function partialGap(nextAttemptAtMs: number | null, edgeSpans: Array<[number, number]> = [[T0, T0 + 4000]]) {
    const seg = (startMs: number, endMs: number, name: string, source: 'live' | 'edge') =>
      indexSegment(opened.db, { cameraId: 'edge', path: `recordings/edge/${name}`, startMs, endMs, sizeBytes: 1, codec: null, width: null, height: null, source, fps: null }, T0);
    await seg(T0 - 2000, T0, 'a.mp4', 'live');
    await seg(T0 + 10_000, T0 + 12_000, 'c.mp4', 'live');
    for (const [i, [s, e]] of edgeSpans.entries()) await seg(s, e, `e${i}.mp4`, 'edge');
    const gap = (await listGaps(opened.db, 'edge'))[0]!;
    await opened.db.updateTable('recording_gaps').set({ fill_state: 'partial', fill_attempts: 1, next_attempt_at_ms: nextAttemptAtMs, last_error: 'partly' }).where('id', '=', gap.id).execute();
    return gap;
  }

  it('a partial gap interrupted by a crash stays partial, the attempt counted, due at once; at the budget it stays partial with nothing scheduled', async () => {
    const gap = await partialGap(T0);
    const max = buildConfig({}, { source: null, cwd: dir, env: {}, overrides: {} }).anr.maxAttempts;
    expect(await claimGap(opened.db, gap.id)).toBe(true);
    expect(await service.recover()).toEqual({ tempFiles: 0, gaps: 1 });
    const after = (await listGaps(opened.db, 'edge'))[0]!;
    expect(after).toMatchObject({ fillState: 'partial', fillAttempts: 2 });
    expect(after.nextAttemptAtMs).toBeGreaterThanOrEqual(T0);
    expect(after.lastError).toBe(`indexed footage covers 4.0 s of the 10.0 s gap; still missing: ${iso(T0 + 4000)}–${iso(T0 + 10_000)} (6.0 s); last attempt ${INTERRUPTED_REFILL_ERROR}`);
    expect(await listRefillCandidates(opened.db, Date.now(), Date.now(), 10)).toHaveLength(1);
    for (let i = 3; i <= max; i++) {
      expect(await claimGap(opened.db, gap.id)).toBe(true);
      await service.recover();
    }
    expect((await listGaps(opened.db, 'edge'))[0]).toMatchObject({ fillState: 'partial', fillAttempts: max, nextAttemptAtMs: null });
    expect(await claimGap(opened.db, gap.id), 'nothing scheduled: not claimable').toBe(false);
    expect(await listRefillCandidates(opened.db, Date.now(), Date.now(), 10)).toEqual([]);
  });

  it('a manual refill of a partial gap with only slivers under a second missing is refused: nothing a replay could ask for', async () => {
    const gap = await partialGap(null, [[T0 + 600, T0 + 4000], [T0 + 4600, T0 + 9400]]);
    await expect(service.requeue('edge', gap.id, { requestId: null })).rejects.toThrow(/nothing left a refill could ask for.*only slivers/);
    expect((await listGaps(opened.db, 'edge'))[0]).toMatchObject({ fillState: 'partial', fillAttempts: 1 });
  });
});
