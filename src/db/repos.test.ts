import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import type { CameraConfig } from '../shared/camera-settings.js';
import { upsertDeclaredCamera } from './camera.repo.js';
import {
  bumpReconnect,
  getStatus,
  LAST_ERROR_MAX_CHARS,
  recordSegmentIndexed,
  setRunning,
  setState,
  type CameraStatus,
} from './camera-status.repo.js';
import { type Db, type OpenedDb } from './connection.js';
import { listEvents, logEvent, type NewEvent } from './event.repo.js';
import { listGaps, upsertRecordingGap } from './gap.repo.js';
import { failGapAttempt } from './refill.repo.js';
import type { CameraState } from './schema.js';
import { countSegments, indexSegment, listSegments, toSegment, type NewSegment, type Segment } from './segment.repo.js';
import { tempCatalog } from '../../test/support/temp-catalog.js';

const T0 = Date.UTC(2024, 2, 9, 7, 0, 0);

let opened: OpenedDb;
let db: Db;

tempCatalog('vigil-repos-', (c) => (opened = c.opened));

beforeEach(async () => {
  db = opened.db;
  await addCamera('front');
});


async function addCamera(id: string): Promise<void> {
  const c: CameraConfig = {
    id,
    name: id,
    mainUrl: `rtsp://cam.local/${id}`,
    subUrl: null,
    segmentSeconds: 10,
    retentionHours: null,
    storageQuotaBytes: null,
    enabled: true,
  };
  await upsertDeclaredCamera(db, c, 'config', T0);
}

async function status(cameraId = 'front'): Promise<CameraStatus> {
  const s = await getStatus(db, cameraId);
  if (!s) throw new Error(`no status row for ${cameraId}`);
  return s;
}

let pathSeq = 0;
function seg(startMs: number, endMs: number, over: Partial<NewSegment> = {}): NewSegment {
  return {
    cameraId: 'front',
    path: `recordings/front/${startMs}-${++pathSeq}.mp4`,
    startMs,
    endMs,
    sizeBytes: 1_000_000,
    codec: 'avc1.64001f',
    width: 1920,
    height: 1080,
    source: 'live',
    fps: 25,
    ...over,
  };
}

const counters = (s: CameraStatus) => ({ reconnectCount: s.reconnectCount, segmentsWritten: s.segmentsWritten });

describe('camera-status repository', () => {
  it('setState upserts the row and never changes reconnect_count or segments_written', async () => {
    await setState(db, 'front', 'connecting', null, T0);
    expect((await status()).state).toBe('connecting');
    for (let i = 0; i < 3; i++) await bumpReconnect(db, 'front', 'offline', 'connection refused', T0 + i);
    for (let i = 0; i < 2; i++) await recordSegmentIndexed(db, 'front', T0 + 10_000 * (i + 1), { bitrateBps: 800_000, fps: 25 }, T0 + i);
    const before = counters(await status());
    expect(before).toEqual({ reconnectCount: 3, segmentsWritten: 2 });
    const states: CameraState[] = ['connecting', 'recording', 'offline', 'error', 'disabled', 'recording'];
    for (const [i, state] of states.entries()) {
      await setState(db, 'front', state, i % 2 === 0 ? 'why' : undefined, T0 + 100 + i);
      const now = await status();
      expect(now.state).toBe(state);
      expect(counters(now)).toEqual(before);
    }
  });

  it('setState keeps the last error when given undefined and clears it when given null', async () => {
    await setState(db, 'front', 'error', 'first failure', T0);
    await setState(db, 'front', 'connecting', undefined, T0 + 1);
    expect((await status()).lastError).toBe('first failure');
    await setState(db, 'front', 'recording', null, T0 + 2);
    expect((await status()).lastError).toBeNull();
  });

  it('setRunning sets pid and last_started_at without touching the counters', async () => {
    await bumpReconnect(db, 'front', 'offline', 'x', T0);
    await recordSegmentIndexed(db, 'front', T0, { bitrateBps: 1000, fps: null }, T0);
    await setRunning(db, 'front', 'connecting', 4242, T0 + 5_000);
    const s = await status();
    expect(s.pid).toBe(4242);
    expect(s.lastStartedAtMs).toBe(T0 + 5_000);
    expect(s.state).toBe('connecting');
    expect(counters(s)).toEqual({ reconnectCount: 1, segmentsWritten: 1 });
  });

  it('setRunning on a camera without a status row starts the counters at zero', async () => {
    await setRunning(db, 'front', 'connecting', 7, T0);
    expect(counters(await status())).toEqual({ reconnectCount: 0, segmentsWritten: 0 });
  });

  it('bumpReconnect increments by exactly one, clears the pid and keeps the error', async () => {
    await setRunning(db, 'front', 'recording', 1234, T0);
    await bumpReconnect(db, 'front', 'offline', 'ffmpeg exited with code 1', T0 + 1);
    let s = await status();
    expect(s.reconnectCount).toBe(1);
    expect(s.pid).toBeNull();
    expect(s.state).toBe('offline');
    expect(s.lastError).toBe('ffmpeg exited with code 1');
    await setRunning(db, 'front', 'recording', 1235, T0 + 2);
    await bumpReconnect(db, 'front', 'offline', null, T0 + 3);
    s = await status();
    expect(s.reconnectCount).toBe(2);
    expect(s.pid).toBeNull();
  });

  it('bumpReconnect on a camera without a status row counts one', async () => {
    await bumpReconnect(db, 'front', 'error', 'boom', T0);
    expect((await status()).reconnectCount).toBe(1);
  });

  it('bumpReconnect stores at most 800 chars of the error, keeping its end', async () => {
    const stderr = `${'x'.repeat(4990)}LAST-WORDS`; // 5000 chars, the cause at the end
    await bumpReconnect(db, 'front', 'offline', stderr, T0);
    const err = (await status()).lastError ?? '';
    expect(err.length).toBeLessThanOrEqual(LAST_ERROR_MAX_CHARS);
    expect(err.length).toBeGreaterThan(700);
    expect(err.endsWith('LAST-WORDS')).toBe(true);
  });

  it('setState also stores at most 800 chars of a long error', async () => {
    await setState(db, 'front', 'error', `${'y'.repeat(4990)}END-OF-LOG`, T0);
    const err = (await status()).lastError ?? '';
    expect(err.length).toBeLessThanOrEqual(LAST_ERROR_MAX_CHARS);
    expect(err.endsWith('END-OF-LOG')).toBe(true);
  });

  it('recordSegmentIndexed increments segments_written and sets bitrate, fps and last segment time', async () => {
    await recordSegmentIndexed(db, 'front', T0 + 10_000, { bitrateBps: 2_000_000, fps: 25 }, T0 + 10_001);
    await recordSegmentIndexed(db, 'front', T0 + 20_000, { bitrateBps: 3_000_000, fps: 30 }, T0 + 20_001);
    const s = await status();
    expect(s.segmentsWritten).toBe(2);
    expect(s.bitrateBps).toBe(3_000_000);
    expect(s.fps).toBe(30);
    expect(s.lastSegmentAtMs).toBe(T0 + 20_000);
  });

  it('recordSegmentIndexed sends the same SQL text for every segment: its values are bound, not written into it', async () => {
    // A value written into the text makes each call a new statement: prepared again (each closed file
    // of every camera), and the catalog's statement cache filled with copies (native memory).
    const texts: string[] = [];
    const executor = db.getExecutor();
    const seen = db.withPlugin({
      transformQuery: ({ node, queryId }) => {
        texts.push(executor.compileQuery(node, queryId).sql);
        return node;
      },
      transformResult: ({ result }) => Promise.resolve(result),
    });
    for (let i = 0; i < 3; i++) await recordSegmentIndexed(seen, 'front', T0 + 10_000 * (i + 1), { bitrateBps: 800_000 + i, fps: 25 }, T0 + i);
    expect(texts).toHaveLength(3);
    expect(new Set(texts).size).toBe(1);
    for (let i = 0; i < 3; i++) expect(texts[0]).not.toContain(String(T0 + 10_000 * (i + 1)));
    expect((await status()).lastSegmentAtMs).toBe(T0 + 30_000);
  });

  it('counters never decrease through any sequence of status writes', async () => {
    let last = { reconnectCount: 0, segmentsWritten: 0 };
    const ops: Array<(i: number) => Promise<void>> = [
      (i) => setState(db, 'front', 'connecting', null, T0 + i),
      (i) => setRunning(db, 'front', 'recording', 100 + i, T0 + i),
      (i) => recordSegmentIndexed(db, 'front', T0 + i, { bitrateBps: 1000, fps: 25 }, T0 + i),
      (i) => bumpReconnect(db, 'front', 'offline', 'lost', T0 + i),
      (i) => setState(db, 'front', 'disabled', undefined, T0 + i),
    ];
    for (let i = 0; i < 25; i++) {
      await (ops[(i * 7) % ops.length] as (i: number) => Promise<void>)(i);
      const now = counters(await status());
      expect(now.reconnectCount).toBeGreaterThanOrEqual(last.reconnectCount);
      expect(now.segmentsWritten).toBeGreaterThanOrEqual(last.segmentsWritten);
      last = now;
    }
    expect(last.reconnectCount).toBeGreaterThan(0);
    expect(last.segmentsWritten).toBeGreaterThan(0);
  });
});

describe('gap repository', () => {
  it('ignores holes of 3000 ms or less', async () => {
    expect(await upsertRecordingGap(db, 'front', T0, T0 + 3000, T0)).toBeUndefined();
    expect(await upsertRecordingGap(db, 'front', T0 + 10_000, T0 + 10_001, T0)).toBeUndefined();
    expect(await listGaps(db, 'front')).toEqual([]);
  });

  it('records a hole longer than 3000 ms once per (camera, gap start)', async () => {
    const first = await upsertRecordingGap(db, 'front', T0, T0 + 3001, T0 + 5);
    expect(first).toMatchObject({ cameraId: 'front', gapStartMs: T0, gapEndMs: T0 + 3001, fillState: 'pending', fillAttempts: 0 });
    const again = await upsertRecordingGap(db, 'front', T0, T0 + 9000, T0 + 6);
    expect(again).toBeUndefined();
    const gaps = await listGaps(db, 'front');
    expect(gaps).toHaveLength(1);
    expect(gaps[0]?.gapEndMs).toBe(T0 + 3001);
  });

  it('the same gap start on another camera is a separate gap', async () => {
    await addCamera('back');
    expect(await upsertRecordingGap(db, 'front', T0, T0 + 5000, T0)).toBeDefined();
    expect(await upsertRecordingGap(db, 'back', T0, T0 + 5000, T0)).toBeDefined();
  });
});

describe('segment repository: indexSegment', () => {
  it('inserts the row, bumps segments_written and computes the bitrate', async () => {
    const r = await indexSegment(db, seg(T0, T0 + 10_000, { sizeBytes: 2_500_000 }), T0 + 10_500);
    expect(r.clampedMs).toBe(0);
    expect(r.gap).toBeUndefined();
    expect(r.segment).toMatchObject({ cameraId: 'front', startMs: T0, endMs: T0 + 10_000, durationMs: 10_000, sizeBytes: 2_500_000 });
    expect(await countSegments(db, 'front')).toBe(1);
    const s = await status();
    expect(s.segmentsWritten).toBe(1);
    expect(s.bitrateBps).toBe(2_000_000); // 2.5 MB × 8 / 10 s
    expect(s.fps).toBe(25);
    expect(s.lastSegmentAtMs).toBe(T0 + 10_000);
  });

  it('clamps a segment overlapping the previous one so that prev.end <= next.start (invariant 4)', async () => {
    await indexSegment(db, seg(T0, T0 + 10_000), T0);
    const r = await indexSegment(db, seg(T0 + 9_700, T0 + 20_000), T0);
    expect(r.clampedMs).toBe(300);
    expect(r.segment).toMatchObject({ startMs: T0 + 10_000, endMs: T0 + 20_000, durationMs: 10_000 });
    const all = await listSegments(db, { cameraId: 'front', fromMs: T0 - 1, toMs: T0 + 60_000, limit: 100 });
    for (let i = 1; i < all.length; i++) expect((all[i - 1] as Segment).endMs).toBeLessThanOrEqual((all[i] as Segment).startMs);
  });

  it('a file that fills a hole is clamped at both ends and never deleted for overlapping the segment after it', async () => {
    await indexSegment(db, seg(T0, T0 + 10_000), T0);
    await indexSegment(db, seg(T0 + 30_000, T0 + 40_000), T0);
    const r = await indexSegment(db, { ...seg(T0 + 9_000, T0 + 31_000), path: 'recordings/front/fill.mp4' }, T0);
    expect(r.segment).toMatchObject({ startMs: T0 + 10_000, endMs: T0 + 30_000 });
    expect(r.clampedMs).toBe(2_000);
    const all = await listSegments(db, { cameraId: 'front', fromMs: T0 - 1, toMs: T0 + 60_000, limit: 100 });
    expect(all.map((x) => [x.startMs - T0, x.endMs - T0])).toEqual([[0, 10_000], [10_000, 30_000], [30_000, 40_000]]);
  });

  it('a segment wholly inside the previous one inserts nothing and counts nothing', async () => {
    await indexSegment(db, seg(T0, T0 + 10_000), T0);
    const r = await indexSegment(db, seg(T0 + 2_000, T0 + 8_000), T0);
    expect(r.segment).toBeUndefined();
    expect(await countSegments(db, 'front')).toBe(1);
    expect((await status()).segmentsWritten).toBe(1);
  });

  it('a 5 s hole before a segment records exactly one gap and returns it', async () => {
    await indexSegment(db, seg(T0, T0 + 10_000), T0);
    const r = await indexSegment(db, seg(T0 + 15_000, T0 + 25_000), T0);
    expect(r.gap).toMatchObject({ cameraId: 'front', gapStartMs: T0 + 10_000, gapEndMs: T0 + 15_000 });
    expect(await listGaps(db, 'front')).toHaveLength(1);
  });

  it('a 2 s hole before a segment records no gap', async () => {
    await indexSegment(db, seg(T0, T0 + 10_000), T0);
    const r = await indexSegment(db, seg(T0 + 12_000, T0 + 22_000), T0);
    expect(r.gap).toBeUndefined();
    expect(await listGaps(db, 'front')).toEqual([]);
  });

  it('a duplicate path throws and leaves rows, gaps and counters unchanged', async () => {
    const first = seg(T0, T0 + 10_000);
    await indexSegment(db, first, T0);
    const before = await status();
    await expect(indexSegment(db, seg(T0 + 20_000, T0 + 30_000, { path: first.path }), T0)).rejects.toThrow(/UNIQUE/);
    expect(await countSegments(db, 'front')).toBe(1);
    expect(await listGaps(db, 'front')).toEqual([]);
    expect(counters(await status())).toEqual(counters(before));
  });

  it('rolls back the inserted row when a later step of the same transaction fails', async () => {
    await indexSegment(db, seg(T0, T0 + 10_000), T0);
    // fps < 0 passes the segments table but fails camera_status's CHECK, after the segment row was inserted.
    await expect(indexSegment(db, seg(T0 + 20_000, T0 + 30_000, { fps: -1 }), T0)).rejects.toThrow(/CHECK/);
    expect(await countSegments(db, 'front')).toBe(1);
    expect(await listGaps(db, 'front')).toEqual([]);
    expect((await status()).segmentsWritten).toBe(1);
  });

  it('segments of different cameras do not clamp each other', async () => {
    await addCamera('back');
    await indexSegment(db, seg(T0, T0 + 10_000), T0);
    const r = await indexSegment(db, seg(T0 + 5_000, T0 + 15_000, { cameraId: 'back', path: 'recordings/back/a.mp4' }), T0);
    expect(r.clampedMs).toBe(0);
    expect(r.segment?.startMs).toBe(T0 + 5_000);
  });
});

describe('segment repository: footage indexed out of order', () => {
  const S = 1000;
  const gapEvent = (g: { id: number; gapStartMs: number; gapEndMs: number }): NewEvent => ({
    tsMs: T0,
    type: 'recording_gap',
    severity: 'warning',
    cameraId: 'front',
    payload: { gap_id: g.id, seconds: (g.gapEndMs - g.gapStartMs) / 1000 },
    requestId: null,
  });
  const gapRows = async () => (await listGaps(db, 'front')).map((g) => [(g.gapStartMs - T0) / S, (g.gapEndMs - T0) / S]);

  it('a live segment landing inside an earlier gap splits it: 0-10, 60-70, then 30-40 leaves [10,30] and [40,60]', async () => {
    await indexSegment(db, seg(T0, T0 + 10 * S), T0);
    await indexSegment(db, seg(T0 + 60 * S, T0 + 70 * S), T0);
    expect(await gapRows()).toEqual([[10, 60]]);
    await indexSegment(db, seg(T0 + 30 * S, T0 + 40 * S), T0);
    expect(await gapRows()).toEqual([
      [10, 30],
      [40, 60],
    ]);
    // A hole that shrinks to 3 s or less is no gap any more.
    await indexSegment(db, seg(T0 + 12 * S, T0 + 28 * S), T0);
    expect(await gapRows()).toEqual([[40, 60]]);
  });

  it('an edge-refilled segment leaves the gap it fills to the refill, and a gap being filled is not split', async () => {
    await indexSegment(db, seg(T0, T0 + 10 * S), T0);
    await indexSegment(db, seg(T0 + 60 * S, T0 + 70 * S), T0);
    await indexSegment(db, seg(T0 + 20 * S, T0 + 30 * S, { source: 'edge' }), T0);
    expect(await gapRows()).toEqual([[10, 60]]);
    await indexSegment(db, seg(T0 + 100 * S, T0 + 110 * S), T0);
    await indexSegment(db, seg(T0 + 160 * S, T0 + 170 * S), T0);
    await db.updateTable('recording_gaps').set({ fill_state: 'filling' }).where('gap_start_ms', '=', T0 + 110 * S).execute();
    await indexSegment(db, seg(T0 + 130 * S, T0 + 140 * S), T0);
    expect(await gapRows()).toEqual([
      [10, 60],
      [70, 100],
      [110, 160],
    ]);
  });

  it('the recording_gap event is stored in the same transaction as its gap: once, and never without it', async () => {
    await indexSegment(db, seg(T0, T0 + 10 * S), T0, gapEvent);
    const r = await indexSegment(db, seg(T0 + 60 * S, T0 + 70 * S), T0, gapEvent);
    expect(r.gap).toBeDefined();
    expect(r.gapEvent).toMatchObject({ type: 'recording_gap', payload: { gap_id: r.gap?.id, seconds: 50 } });
    const stored = await listEvents(db, { type: 'recording_gap', limit: 10 });
    expect(stored.map((e) => e.id)).toEqual([r.gapEvent?.id]);
    // The same hole seen again (a re-scan) records no second gap and no second event.
    const again = await indexSegment(db, seg(T0 + 60 * S, T0 + 70 * S), T0, gapEvent);
    expect(again.gapEvent).toBeUndefined();
    expect(await listEvents(db, { type: 'recording_gap', limit: 10 })).toHaveLength(1);
    // A row whose transaction fails takes its gap and its event with it.
    await expect(indexSegment(db, { ...seg(T0 + 100 * S, T0 + 110 * S), path: r.segment!.path }, T0, gapEvent)).rejects.toThrow();
    expect(await gapRows()).toEqual([[10, 60]]);
    expect(await listEvents(db, { type: 'recording_gap', limit: 10 })).toHaveLength(1);
  });

  it('an edge-refilled segment never moves last_segment_at back, nor replaces the live bitrate and fps', async () => {
    await indexSegment(db, seg(T0 + 60 * S, T0 + 70 * S, { fps: 25, sizeBytes: 2_500_000 }), T0);
    const live = await status();
    await indexSegment(db, seg(T0 + 20 * S, T0 + 30 * S, { source: 'edge', fps: 12, sizeBytes: 100 }), T0);
    const after = await status();
    expect(after.lastSegmentAtMs).toBe(T0 + 70 * S);
    expect(after.bitrateBps).toBe(live.bitrateBps);
    expect(after.fps).toBe(25);
    expect(after.segmentsWritten).toBe(live.segmentsWritten + 1);
  });
});

describe('segment repository: listSegments', () => {
  async function seed(count: number, lengthMs = 10_000): Promise<void> {
    for (let i = 0; i < count; i++) await indexSegment(db, seg(T0 + i * lengthMs, T0 + (i + 1) * lengthMs), T0);
  }

  it('keyset pagination returns every segment in range exactly once, oldest first', async () => {
    await seed(23);
    await addCamera('back');
    await indexSegment(db, seg(T0 + 1_000, T0 + 2_000, { cameraId: 'back', path: 'recordings/back/x.mp4' }), T0);
    const seen: Segment[] = [];
    let after: { startMs: number; id: number } | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const page = await listSegments(db, { cameraId: 'front', fromMs: T0, toMs: T0 + 230_000, limit: 4, after });
      if (page.length === 0) break;
      expect(page.length).toBeLessThanOrEqual(4);
      seen.push(...page);
      const last = page.at(-1) as Segment;
      after = { startMs: last.startMs, id: last.id };
    }
    expect(seen).toHaveLength(23);
    expect(new Set(seen.map((s) => s.id)).size).toBe(23);
    expect(seen.every((s) => s.cameraId === 'front')).toBe(true);
    expect(seen.map((s) => s.startMs)).toEqual([...seen.map((s) => s.startMs)].sort((a, b) => a - b));
  });

  it('reads every column of a row as the row itself holds it (SQLite reads a page as JSON text)', async () => {
    await indexSegment(db, seg(T0, T0 + 10_000, { path: 'recordings/front/"quoted" \\ back\u0001slash – ünïcode 📷.mp4', codec: null, width: null, height: null }), T0);
    await indexSegment(db, seg(T0 + 10_000, T0 + 20_000, { sizeBytes: 2 ** 53 - 1, source: 'edge' }), T0 + 5);
    await db
      .updateTable('segments')
      .set({ locked: 3, evidence_locked: 1, incident_id: 'case "7"', sha256: 'ab'.repeat(32), chain_seq: 41, chain_hash: 'cd'.repeat(32), media_offset_ms: 1234, node_id: 'node-ä' })
      .where('start_ms', '=', T0 + 10_000)
      .execute();
    const rows = await db.selectFrom('segments').selectAll().where('camera_id', '=', 'front').orderBy('start_ms').execute();
    const expected = rows.map(toSegment);
    expect(expected[0]?.path).toContain('📷');
    expect(expected[1]).toMatchObject({ sizeBytes: 2 ** 53 - 1, evidenceLocked: true, locked: 3, nodeId: 'node-ä', chainSeq: 41 });
    expect(await listSegments(db, { cameraId: 'front', fromMs: T0, toMs: T0 + 20_000, limit: 10 })).toStrictEqual(expected);
  });

  it('includes a segment that starts before from but ends after it, and excludes ones that only touch the range', async () => {
    await seed(5); // [T0, T0+10s), [T0+10s, T0+20s), … , [T0+40s, T0+50s)
    const from = T0 + 15_000;
    const to = T0 + 30_000;
    const got = await listSegments(db, { cameraId: 'front', fromMs: from, toMs: to, limit: 100 });
    expect(got.map((s) => [s.startMs - T0, s.endMs - T0])).toEqual([
      [10_000, 20_000], // straddles from
      [20_000, 30_000], // ends exactly at to
    ]);
    const edge = await listSegments(db, { cameraId: 'front', fromMs: T0 + 20_000, toMs: T0 + 30_000, limit: 100 });
    // [10s,20s) ends exactly at from and [30s,40s) starts exactly at to: neither overlaps.
    expect(edge.map((s) => s.startMs - T0)).toEqual([20_000]);
  });

  it('finds a long segment that started well before from', async () => {
    await indexSegment(db, seg(T0, T0 + 3_600_000), T0);
    const got = await listSegments(db, { cameraId: 'front', fromMs: T0 + 3_500_000, toMs: T0 + 3_700_000, limit: 10 });
    expect(got).toHaveLength(1);
  });
});

describe('event repository', () => {
  const ev = (over: Partial<NewEvent>): NewEvent => ({
    tsMs: T0,
    type: 'recorder_exited',
    severity: 'info',
    cameraId: 'front',
    payload: {},
    requestId: null,
    ...over,
  });

  it('logEvent stores every field and listEvents reads them back', async () => {
    const id = await logEvent(db, ev({ payload: { code: 1, why: 'eof' }, requestId: 'req-7', severity: 'warning' }));
    const [got] = await listEvents(db, { limit: 10 });
    expect(got).toEqual({
      id,
      tsMs: T0,
      type: 'recorder_exited',
      severity: 'warning',
      cameraId: 'front',
      payload: { code: 1, why: 'eof' },
      requestId: 'req-7',
    });
  });

  it('lists newest first and honours the limit', async () => {
    for (let i = 0; i < 5; i++) await logEvent(db, ev({ tsMs: T0 + i, payload: { i } }));
    const got = await listEvents(db, { limit: 3 });
    expect(got.map((e) => e.payload['i'])).toEqual([4, 3, 2]);
  });

  it('filters by camera, type and since, alone and together', async () => {
    await logEvent(db, ev({ tsMs: T0, cameraId: 'front', type: 'recording_gap' }));
    await logEvent(db, ev({ tsMs: T0 + 10, cameraId: 'back', type: 'recording_gap' }));
    await logEvent(db, ev({ tsMs: T0 + 20, cameraId: 'front', type: 'recorder_exited' }));
    await logEvent(db, ev({ tsMs: T0 + 30, cameraId: null, type: 'startup' }));
    const pick = async (q: Parameters<typeof listEvents>[1]) => (await listEvents(db, q)).map((e) => e.tsMs - T0);
    expect(await pick({ limit: 10, cameraId: 'front' })).toEqual([20, 0]);
    expect(await pick({ limit: 10, type: 'recording_gap' })).toEqual([10, 0]);
    expect(await pick({ limit: 10, sinceMs: T0 + 10 })).toEqual([30, 20, 10]);
    expect(await pick({ limit: 10, cameraId: 'front', type: 'recording_gap', sinceMs: T0 })).toEqual([0]);
    expect(await pick({ limit: 10, cameraId: 'front', sinceMs: T0 + 21 })).toEqual([]);
  });

  it('an event may name a camera that does not exist (the log outlives cameras)', async () => {
    await logEvent(db, ev({ cameraId: 'long-gone' }));
    expect(await listEvents(db, { limit: 10, cameraId: 'long-gone' })).toHaveLength(1);
  });
});

describe('the catalog never stores a camera password, whoever writes (defence in depth)', () => {
  it('last_error, event payloads and gap errors are masked by the repositories themselves', async () => {
    const url = 'rtsp://ops@example.com:Very5ecret/x@10.0.0.5/live';
    await setState(db, 'front', 'error', `could not open ${url}`, T0);
    await bumpReconnect(db, 'front', 'offline', `lost ${url}`, T0);
    await logEvent(db, { tsMs: T0, type: 'x', severity: 'info', cameraId: 'front', payload: { url, nested: [{ text: `at ${url}` }] }, requestId: null });
    await indexSegment(db, seg(T0, T0 + 10_000), T0);
    await indexSegment(db, seg(T0 + 60_000, T0 + 70_000), T0);
    const gap = (await listGaps(db, 'front'))[0]!;
    await failGapAttempt(db, gap.id, `refill from ${url} failed`, T0 + 1000, 5);
    const dump = JSON.stringify(await sql`SELECT * FROM camera_status`.execute(db)) + JSON.stringify(await sql`SELECT * FROM events`.execute(db)) + JSON.stringify(await sql`SELECT * FROM recording_gaps`.execute(db));
    expect(dump).toContain('ops@example.com:***@10.0.0.5');
    expect(dump).not.toContain('Very5ecret');
  });
});

describe('schema constraints', () => {
  it('camera_status refuses a state outside the known ones', async () => {
    await expect(
      sql`INSERT INTO camera_status (camera_id, state, updated_at_ms) VALUES (${'front'}, ${'bogus'}, ${T0})`.execute(db),
    ).rejects.toThrow(/CHECK/);
  });

  it('camera_status refuses a row for a camera that does not exist', async () => {
    await expect(setState(db, 'nobody', 'connecting', null, T0)).rejects.toThrow(/FOREIGN KEY/);
  });

  it('segments.locked cannot go negative', async () => {
    const r = await indexSegment(db, seg(T0, T0 + 10_000), T0);
    const id = r.segment?.id as number;
    await expect(sql`UPDATE segments SET locked = -1 WHERE id = ${id}`.execute(db)).rejects.toThrow(/CHECK/);
    const row = await sql<{ locked: number }>`SELECT locked FROM segments WHERE id = ${id}`.execute(db);
    expect(row.rows[0]?.locked).toBe(0);
  });

  it('a segment row must satisfy end = start + duration', async () => {
    await expect(
      sql`INSERT INTO segments (camera_id, path, start_ms, end_ms, duration_ms, size_bytes, indexed_at_ms)
          VALUES (${'front'}, ${'recordings/front/bad.mp4'}, ${T0}, ${T0 + 10_000}, ${9_000}, ${0}, ${T0})`.execute(db),
    ).rejects.toThrow(/CHECK/);
  });

  it('a gap of 3 s or less cannot be stored even bypassing the repository', async () => {
    await expect(
      sql`INSERT INTO recording_gaps (camera_id, gap_start_ms, gap_end_ms, detected_at_ms)
          VALUES (${'front'}, ${T0}, ${T0 + 3000}, ${T0})`.execute(db),
    ).rejects.toThrow(/CHECK/);
  });
});
