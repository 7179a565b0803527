import { CompiledQuery, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { tempCatalog } from '../../test/support/temp-catalog.js';
import type { OpenedDb } from './connection.js';
import { listPathsUnder, listSegments, nodeIdsOfPaths, pathsUnderQuery, segmentPageQuery, spansQuery } from './segment.repo.js';
import { upsertDeclaredCamera } from './camera.repo.js';

describe('the index segments are found by (migrations 0013, 0014)', () => {
  let cat: { opened: OpenedDb };
  tempCatalog('vigil-segidx-', (c) => (cat = c));

  it('are (camera_id, start_ms, end_ms) and, on SQLite, one holding every column with (camera_id, start_ms, end_ms, id) first', async () => {
    const { db, engine } = cat.opened;
    if (engine === 'sqlite') {
      const columnsOf = async (index: string) => (await sql<{ name: string }>`SELECT name FROM pragma_index_info(${index}) ORDER BY seqno`.execute(db)).rows.map((r) => r.name);
      expect(await columnsOf('segments_camera_start_end')).toEqual(['camera_id', 'start_ms', 'end_ms']);
      const rows = await columnsOf('segments_camera_rows');
      expect(rows.slice(0, 4)).toEqual(['camera_id', 'start_ms', 'end_ms', 'id']);
      // A column added to segments later must be added to this index too, or every page reads the table again.
      const table = (await sql<{ name: string }>`SELECT name FROM pragma_table_info('segments')`.execute(db)).rows.map((r) => r.name);
      expect([...rows].sort()).toEqual([...table].sort());
      const old = await sql<{ n: number }>`SELECT count(*) AS n FROM sqlite_master WHERE type = 'index' AND name = 'segments_camera_start'`.execute(db);
      expect(Number(old.rows[0]!.n)).toBe(0);
    } else {
      const defs = await sql<{ indexname: string; indexdef: string }>`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'segments'`.execute(db);
      const byName = new Map(defs.rows.map((r) => [r.indexname, r.indexdef]));
      expect(byName.get('segments_camera_start_end')).toMatch(/\(camera_id, start_ms, end_ms\)$/);
      expect(byName.get('segments_camera_rows')).toMatch(/\(camera_id, start_ms, end_ms, id\)$/);
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

  it('reads a page of segments from the index alone, in its order, with no sort of its own (SQLite plan), first page and next', async () => {
    const { db, engine } = cat.opened;
    if (engine !== 'sqlite') return;
    for (const after of [undefined, { startMs: 1_500_000, endMs: 1_560_000, id: 7 }]) {
      const q = segmentPageQuery(db, { cameraId: 'cam', fromMs: 1_000_000, toMs: 2_000_000, limit: 101, after }).compile();
      const plan = await db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${q.sql}`, [...q.parameters]));
      const detail = plan.rows.map((r) => r.detail).join('; ');
      expect(detail).toMatch(/USING COVERING INDEX segments_camera_rows/);
      expect(detail).not.toMatch(/TEMP B-TREE/);
    }
  });

  it('pages through segments that share a start without skipping or repeating one', async () => {
    const { db } = cat.opened;
    await upsertDeclaredCamera(db, { id: 'tie', name: 'tie', mainUrl: 'rtsp://127.0.0.1:9/x', subUrl: null, segmentSeconds: 60, retentionHours: null, storageQuotaBytes: null, enabled: true }, 'config', Date.now());
    const t0 = 1_800_000_000_000;
    // Rows sharing a start, as a catalog written before overlaps were trimmed can hold (indexSegment no longer writes them).
    const want: number[] = [];
    for (let i = 0; i < 6; i++) {
      const startMs = t0 + Math.floor(i / 3) * 60_000;
      const endMs = startMs + 10_000 * (3 - (i % 3));
      const r = await db.insertInto('segments').values({ camera_id: 'tie', path: `recordings/tie/${i}.mp4`, start_ms: startMs, end_ms: endMs, duration_ms: endMs - startMs, size_bytes: 1, source: 'live', indexed_at_ms: endMs }).returning('id').executeTakeFirstOrThrow();
      want.push(r.id);
    }
    const seen: number[] = [];
    let after: { startMs: number; endMs: number; id: number } | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await listSegments(db, { cameraId: 'tie', fromMs: t0 - 1, toMs: t0 + 3_600_000, limit: 2, after });
      seen.push(...page.map((s) => s.id));
      const last = page.at(-1);
      if (page.length < 2 || !last) break;
      after = { startMs: last.startMs, endMs: last.endMs, id: last.id };
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([...want].sort((a, b) => a - b));
  });

  it('lists a folder\'s indexed paths from the path index alone, and the node of the few asked for', async () => {
    const { db, engine } = cat.opened;
    for (const id of ['pa', 'pb']) {
      await upsertDeclaredCamera(db, { id, name: id, mainUrl: 'rtsp://127.0.0.1:9/x', subUrl: null, segmentSeconds: 60, retentionHours: null, storageQuotaBytes: null, enabled: true }, 'config', Date.now());
    }
    const row = (camera: string, name: string, node: string | null) =>
      db.insertInto('segments').values({ camera_id: camera, path: `recordings/${camera}/${name}`, start_ms: 1, end_ms: 2, duration_ms: 1, size_bytes: 1, source: 'live', indexed_at_ms: 2, node_id: node }).execute();
    await row('pa', 'a.mp4', null);
    await row('pa', 'b.mp4', 'node-2');
    await row('pb', 'a.mp4', null);
    // A folder whose name starts with another's is not under it.
    expect([...(await listPathsUnder(db, 'recordings/pa/'))].sort()).toEqual(['recordings/pa/a.mp4', 'recordings/pa/b.mp4']);
    expect(await listPathsUnder(db, 'recordings/p/')).toEqual(new Set());
    expect(await nodeIdsOfPaths(db, ['recordings/pa/b.mp4', 'recordings/pa/a.mp4', 'recordings/pa/gone.mp4'])).toEqual(new Map([['recordings/pa/a.mp4', null], ['recordings/pa/b.mp4', 'node-2']]));
    expect(await nodeIdsOfPaths(db, [])).toEqual(new Map());
    if (engine === 'sqlite') {
      const q = pathsUnderQuery(db, 'recordings/pa/').compile();
      const plan = await db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${q.sql}`, [...q.parameters]));
      expect(plan.rows.map((r) => r.detail).join('; ')).toMatch(/USING COVERING INDEX/);
    }
  });
});
