import { copyFile, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSegmentFiles } from '../../test/support/evidence-footage.js';
import { removeDir, tempDir } from '../../test/support/harness.js';
import { tempCore } from '../../test/support/temp-core.js';
import type { Core } from '../app.js';
import { deleteRowWithoutFile } from '../db/check.repo.js';
import { indexSegment } from '../db/segment.repo.js';
import { checkCatalog } from './check.js';
import { edgeSegmentFileName } from './segment-names.js';

const T0 = Date.UTC(2026, 10, 26, 9, 0, 0);
let dataDir: string;
let core: Core;
tempCore((c) => ({ dataDir, core } = c), T0);

async function segment(i: number): Promise<{ id: number; path: string }> {
  const path = `recordings/cam1/20261126T0900${String(i * 10).padStart(2, '0')}Z-r1-00000${i}.mp4`;
  await mkdir(join(dataDir, 'recordings', 'cam1'), { recursive: true });
  await writeFile(join(dataDir, path), Buffer.alloc(100));
  const r = await indexSegment(core.db, { cameraId: 'cam1', path, startMs: T0 + i * 10_000, endMs: T0 + (i + 1) * 10_000, sizeBytes: 100, codec: null, width: null, height: null, source: 'live', fps: null }, T0);
  return { id: r.segment?.id ?? -1, path };
}

/** What the check needs, with `statFile` as given (a seam to race a deletion or rename against the check). */
function checkDeps(statFile?: (absPath: string) => Promise<{ size: number; mtimeMs: number } | undefined>) {
  return { db: core.db, store: core.store, events: core.events, batchSize: 10, reindex: async () => ({ recovered: 0, discarded: 0 }), ...(statFile ? { statFile } : {}) };
}

describe('vigil check while Vigil runs', () => {
  it('does not report a row that retention deleted, with its file, between reading the rows and the stat', async () => {
    await segment(0);
    const doomed = await segment(1);
    // The sweeper deletes the row and the file just as the check gets to that file.
    const deps = checkDeps(async (absPath) => {
      if (absPath.endsWith(doomed.path)) {
        await deleteRowWithoutFile(core.db, doomed.id, Date.now());
        await rm(absPath);
        return undefined;
      }
      return { size: 100, mtimeMs: T0 };
    });
    const online = await checkCatalog(deps, { repair: false, online: true, nowMs: T0 + 10 * 3600_000 });
    expect(online.problems).toEqual([]);
    expect(online.rows).toBe(1);
  });

  it('still reports a row whose file is gone while the row stays', async () => {
    const lost = await segment(0);
    await rm(join(dataDir, lost.path));
    const deps = checkDeps();
    for (const online of [true, false]) {
      const r = await checkCatalog(deps, { repair: false, online, nowMs: T0 + 10 * 3600_000 });
      expect(r.problems.map((p) => [p.kind, p.segmentId])).toEqual([['missing_file', lost.id]]);
    }
  });

  it('does not report a file the indexer renamed to its indexed name between listing the folder and the stat', async () => {
    await segment(0);
    // ffmpeg's name for a segment that has just closed; the indexer renames it as the check reaches it.
    const open = join(dataDir, 'recordings', 'cam1', 'mx93n8sy-000000.mp4');
    await writeFile(open, Buffer.alloc(100));
    const deps = checkDeps(async (absPath) => {
      if (absPath === open) {
        await rm(absPath);
        return undefined;
      }
      return { size: 100, mtimeMs: T0 };
    });
    const online = await checkCatalog(deps, { repair: false, online: true, nowMs: T0 + 10 * 3600_000 });
    expect(online.problems).toEqual([]);
  });
});

describe('vigil check: each row placed where its file\'s footage is (time truth)', () => {
  let clips: string[];
  let clipDir: string;
  beforeAll(async () => {
    clipDir = await tempDir('vigil-placement-');
    // Real fragmented MP4s, 2 s each (30 frames at 15 fps): what the recorder and refills write.
    clips = await makeSegmentFiles(clipDir, 1);
  }, 60_000);
  afterAll(() => removeDir(clipDir));

  /** Copies the 2 s clip to `recordings/cam1/<name>` and indexes it as the indexer would (clamped, offset kept). */
  async function place(name: string, startMs: number, endMs: number, source: 'live' | 'edge', mediaOffsetMs?: number) {
    const path = `recordings/cam1/${name}`;
    await mkdir(join(dataDir, 'recordings', 'cam1'), { recursive: true });
    await copyFile(clips[0]!, join(dataDir, path));
    const sizeBytes = (await stat(join(dataDir, path))).size;
    const r = await indexSegment(core.db, { cameraId: 'cam1', path, startMs, endMs, sizeBytes, codec: 'avc1', width: 160, height: 120, source, fps: 15, ...(mediaOffsetMs !== undefined ? { mediaOffsetMs } : {}) }, T0);
    if (!r.segment) throw new Error(`${name} not indexed`);
    return r.segment;
  }
  const check = (repair = false) => checkCatalog(checkDeps(), { repair, online: false, nowMs: T0 + 10 * 3600_000 });
  const placements = async (repair = false) => (await check(repair)).problems.filter((p) => p.kind === 'placement_mismatch');

  it('flags a row clamped past footage its file holds but read as if the file began there (media_offset_ms 0), and --repair leaves it', async () => {
    // Live footage 09:00:10–12; a refill pulled from 09:00:11 lands on it and is clamped to start at 12.
    await place('20261126T090010Z-r1-000001.mp4', T0 + 10_000, T0 + 12_000, 'live');
    const edge = await place(edgeSegmentFileName(T0 + 11_000, 7, T0 + 3600_000), T0 + 11_000, T0 + 13_000, 'edge');
    expect(edge).toMatchObject({ startMs: T0 + 12_000, mediaOffsetMs: 1000 });
    expect(await placements()).toEqual([]);
    // The row as it was before media_offset_ms: the file's first second shown at 09:00:12–13, where 09:00:12's footage belongs.
    await core.db.updateTable('segments').set({ media_offset_ms: 0 }).where('id', '=', edge.id).execute();
    const found = await placements();
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ segmentId: edge.id, path: edge.path });
    expect(found[0]!.detail).toContain('cam1 2026-11-26T09:00:12.000Z – 2026-11-26T09:00:13.000Z');
    expect(found[0]!.detail).toContain('name puts its first frame at 2026-11-26T09:00:11.000Z, the row at 2026-11-26T09:00:12.000Z');
    expect(found[0]!.detail).toContain('placed 1000 ms later than recorded (media_offset_ms should be 1000)');
    // Report only: the footage is whole, its placement is in doubt; nothing is changed.
    const repaired = await check(true);
    expect(repaired.repaired).toEqual([]);
    expect(repaired.problems.map((p) => [p.kind, p.segmentId])).toEqual([['placement_mismatch', edge.id]]);
    expect((await core.db.selectFrom('segments').select('media_offset_ms').where('id', '=', edge.id).executeTakeFirstOrThrow()).media_offset_ms).toBe(0);
  });

  it('flags a recorder\'s row clamped into its file with media_offset_ms 0 when that moves its first frame out of the second its name records', async () => {
    // A reconnect: the new run's first segment (first frame 09:00:10.400) begins before the last one ends (09:00:11.600).
    await place('20261126T090009Z-r0-000003.mp4', T0 + 9_600, T0 + 11_600, 'live');
    const live = await place('20261126T090010Z-r1-000000.mp4', T0 + 10_400, T0 + 12_400, 'live');
    expect(live).toMatchObject({ startMs: T0 + 11_600, mediaOffsetMs: 1200 });
    expect(await placements()).toEqual([]);
    // Without its offset, its first frame would be at 09:00:11.600, outside the second 09:00:10 its name records.
    await core.db.updateTable('segments').set({ media_offset_ms: 0 }).where('id', '=', live.id).execute();
    const found = await placements();
    expect(found.map((p) => p.segmentId)).toEqual([live.id]);
    expect(found[0]!.detail).toContain('(to the second)');
    expect(found[0]!.detail).toContain('media_offset_ms should be 601–1600');
  });

  it('flags a row that claims footage its file does not hold, or starts past its last frame', async () => {
    const long = await place('20261126T090010Z-r1-000001.mp4', T0 + 10_000, T0 + 13_000, 'live');
    const past = await place('20261126T090020Z-r1-000002.mp4', T0 + 22_500, T0 + 23_000, 'live', 2500);
    const found = await placements();
    expect(found.map((p) => p.segmentId)).toEqual([long.id, past.id]);
    expect(found[0]!.detail).toContain('the row claims media 0–3000 ms of its file (media_offset_ms 0 + 3000 ms) but the file holds 2000 ms of video: 1000 ms past its last frame');
    expect(found[1]!.detail).toContain('starts 2500 ms into its file (media_offset_ms) but the file holds 2000 ms of video');
  });

  it('does not flag a refill that starts inside its file (non-zero offset) nor a row whose end is clamped before its file\'s', async () => {
    // A refill pulled from 09:00:10 for a gap from 09:00:10.300: the row starts 300 ms into the file.
    const edge = await place(edgeSegmentFileName(T0 + 10_000, 3, T0 + 3600_000), T0 + 10_300, T0 + 12_000, 'edge', 300);
    // A live segment whose next one was indexed first: its end is clamped, the file holds more than the row.
    const next = await place('20261126T090021Z-r2-000000.mp4', T0 + 21_000, T0 + 23_000, 'live');
    const clamped = await place('20261126T090020Z-r1-000005.mp4', T0 + 20_000, T0 + 22_000, 'live');
    expect([edge.mediaOffsetMs, clamped.endMs, next.startMs]).toEqual([300, T0 + 21_000, T0 + 21_000]);
    const r = await check();
    expect(r.problems).toEqual([]);
    expect(r.notPlaced).toBe(0);
  });
});
