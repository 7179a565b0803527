import { describe, expect, it } from 'vitest';
import { tempCatalog } from '../../test/support/temp-catalog.js';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import type { OpenedDb } from '../db/connection.js';
import { encodeCursor } from '../shared/cursor.js';
import { FootageService } from './footage.service.js';

describe('the segment list through its cursor', () => {
  let cat: { opened: OpenedDb };
  tempCatalog('vigil-footage-', (c) => (cat = c));

  /** Five rows, two of them sharing a start (as an older catalog can hold). */
  async function seed(): Promise<number[]> {
    const { db } = cat.opened;
    await upsertDeclaredCamera(db, { id: 'cam', name: 'cam', mainUrl: 'rtsp://127.0.0.1:9/x', subUrl: null, segmentSeconds: 60, retentionHours: null, storageQuotaBytes: null, enabled: true }, 'config', Date.now());
    const t0 = 1_800_000_000_000;
    const rows: Array<[number, number]> = [[0, 60_000], [60_000, 120_000], [60_000, 90_000], [120_000, 180_000], [180_000, 240_000]];
    const ids: number[] = [];
    for (const [i, [s, e]] of rows.entries()) {
      const r = await db.insertInto('segments').values({ camera_id: 'cam', path: `recordings/cam/${i}.mp4`, start_ms: t0 + s, end_ms: t0 + e, duration_ms: e - s, size_bytes: 1, source: 'live', indexed_at_ms: t0 + e }).returning('id').executeTakeFirstOrThrow();
      ids.push(r.id);
    }
    return ids;
  }

  it('pages through every segment once, oldest first, pages of 2; a cursor of the older (start, id) form still reads', async () => {
    const ids = await seed();
    const footage = new FootageService(cat.opened.db);
    const range = { fromMs: 0, toMs: 2_000_000_000_000 };
    const seen: number[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < 10; n++) {
      const page = await footage.segments('cam', range, 2, cursor);
      seen.push(...page.segments.map((s) => s.id));
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    // Equal starts ordered by their ends: the 30 s row before the 60 s one.
    expect(seen).toEqual([ids[0], ids[2], ids[1], ids[3], ids[4]]);
    // An older cursor, after the first row: the rest follows.
    const old = await footage.segments('cam', range, 10, encodeCursor(1_800_000_000_000, ids[0]!));
    expect(old.segments.map((s) => s.id)).toEqual([ids[2], ids[1], ids[3], ids[4]]);
    await expect(footage.segments('cam', range, 2, 'bm9wZQ')).rejects.toMatchObject({ field: 'cursor' });
  });
});
