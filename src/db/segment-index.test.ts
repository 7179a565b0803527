import { CompiledQuery, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { tempCatalog } from '../../test/support/temp-catalog.js';
import type { OpenedDb } from './connection.js';
import { spansQuery } from './segment.repo.js';

describe('the index segments are found by (migration 0013)', () => {
  let cat: { opened: OpenedDb };
  tempCatalog('vigil-segidx-', (c) => (cat = c));

  it('is (camera_id, start_ms, end_ms), and the narrower (camera_id, start_ms) is gone', async () => {
    const { db, engine } = cat.opened;
    if (engine === 'sqlite') {
      const cols = await sql<{ name: string }>`SELECT name FROM pragma_index_info('segments_camera_start_end') ORDER BY seqno`.execute(db);
      expect(cols.rows.map((r) => r.name)).toEqual(['camera_id', 'start_ms', 'end_ms']);
      const old = await sql<{ n: number }>`SELECT count(*) AS n FROM sqlite_master WHERE type = 'index' AND name = 'segments_camera_start'`.execute(db);
      expect(Number(old.rows[0]!.n)).toBe(0);
    } else {
      const defs = await sql<{ indexname: string; indexdef: string }>`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'segments'`.execute(db);
      const byName = new Map(defs.rows.map((r) => [r.indexname, r.indexdef]));
      expect(byName.get('segments_camera_start_end')).toMatch(/\(camera_id, start_ms, end_ms\)$/);
      expect(byName.has('segments_camera_start')).toBe(false);
    }
  });

  it('answers the timeline\'s spans from the index alone (SQLite plan)', async () => {
    const { db, engine } = cat.opened;
    if (engine !== 'sqlite') return;
    const q = spansQuery(db, 'cam', 1_000_000, 2_000_000).compile();
    const plan = await db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${q.sql}`, [...q.parameters]));
    expect(plan.rows.map((r) => r.detail).join('; ')).toMatch(/USING COVERING INDEX segments_camera_start_end/);
  });
});
