import fastJsonStringify from 'fast-json-stringify';
import { beforeEach, describe, expect, it } from 'vitest';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import type { Db, OpenedDb } from '../db/connection.js';
import { indexSegment, listSegments, listSegmentsJson, SQL_ISO_MAX_MS, type NewSegment, type SegmentPageQuery } from '../db/segment.repo.js';
import { toIso } from '../shared/time.js';
import { tempCatalog } from '../../test/support/temp-catalog.js';
import { SEGMENT_OUT, segmentOut } from './mappers.js';
import { SegmentPage } from './schemas/footage.schemas.js';

const T0 = Date.UTC(2024, 2, 9, 7, 0, 0);
let opened: OpenedDb;
let db: Db;
tempCatalog('vigil-segment-json-', (c) => (opened = c.opened));

beforeEach(async () => {
  db = opened.db;
  await upsertDeclaredCamera(db, { id: 'front', name: 'front', mainUrl: 'rtsp://cam.local/front', subUrl: null, segmentSeconds: 10, retentionHours: null, storageQuotaBytes: null, enabled: true }, 'config', T0);
});

let seq = 0;
const seg = (startMs: number, endMs: number, over: Partial<NewSegment> = {}): NewSegment => ({
  cameraId: 'front', path: `recordings/front/${startMs}-${++seq}.mp4`, startMs, endMs, sizeBytes: 1_000_000, codec: 'avc1.64001f', width: 1920, height: 1080, source: 'live', fps: 25, ...over,
});

/** What the route would send for `q` from objects, by the serializer Fastify compiles from the response schema. */
const serialize = fastJsonStringify(SegmentPage as never);

async function both(q: SegmentPageQuery) {
  return { json: await listSegmentsJson(db, q, SEGMENT_OUT), objects: await listSegments(db, q) };
}

describe('a page of segments written as JSON by the catalog', () => {
  it('is, byte for byte, what the serializer makes of segmentOut (quotes, control characters, emoji, nulls, 2^53 - 1, evidence flags)', async () => {
    await indexSegment(db, seg(T0, T0 + 10_000, { path: 'recordings/front/"quoted" \\ back\u0001slash\u001f – ünïcode 📷.mp4', codec: null, width: null, height: null }), T0);
    await indexSegment(db, seg(T0 + 10_000, T0 + 20_999, { sizeBytes: 2 ** 53 - 1, source: 'edge' }), T0 + 5);
    await indexSegment(db, seg(T0 + 20_999, T0 + 30_001), T0 + 6);
    await db
      .updateTable('segments')
      .set({ locked: 3, evidence_locked: 1, incident_id: 'case "7"\n\t/<script>', sha256: 'ab'.repeat(32), chain_seq: 41, chain_hash: 'cd'.repeat(32), media_offset_ms: 1234, node_id: 'node-ä' })
      .where('start_ms', '=', T0 + 10_000)
      .execute();
    const q = { cameraId: 'front', fromMs: T0, toMs: T0 + 40_000, limit: 10 };
    const { json, objects } = await both(q);
    if (opened.engine === 'postgres') {
      // PostgreSQL's JSON text is laid out otherwise: Node makes the objects there.
      expect(json).toBeUndefined();
      return;
    }
    expect(objects).toHaveLength(3);
    expect(json?.map((r) => r.json)).toEqual(objects.map((s) => JSON.stringify(segmentOut(s))));
    expect(json?.map((r) => [r.startMs, r.endMs, r.id])).toEqual(objects.map((s) => [s.startMs, s.endMs, s.id]));
    // The route's page text against the serializer's, with and without a cursor.
    for (const cursor of [null, 'abc"d']) {
      const text = `{"segments":[${json?.map((r) => r.json).join(',')}],"next_cursor":${JSON.stringify(cursor)}}`;
      expect(text).toBe(serialize({ segments: objects.map(segmentOut), next_cursor: cursor }));
    }
  });

  it('writes instants exactly at the ends of the range SQLite prints as toIso does, and leaves the rest to Node', async () => {
    if (opened.engine === 'postgres') return;
    await indexSegment(db, seg(T0, T0 + 10_000), T0);
    // Instants SQLite's text must match: the epoch's first millisecond and the last one of year 9999.
    await db.updateTable('segments').set({ start_ms: 0, end_ms: 999, duration_ms: 999 }).where('start_ms', '=', T0).execute();
    const low = await both({ cameraId: 'front', fromMs: 0, toMs: 1_000, limit: 10 });
    expect(low.json?.map((r) => r.json)).toEqual(low.objects.map((s) => JSON.stringify(segmentOut(s))));
    expect(JSON.parse(low.json?.[0]?.json ?? '{}')).toMatchObject({ start: '1970-01-01T00:00:00.000Z', end: '1970-01-01T00:00:00.999Z' });

    await db.updateTable('segments').set({ start_ms: SQL_ISO_MAX_MS - 1_000, end_ms: SQL_ISO_MAX_MS, duration_ms: 1_000 }).execute();
    const high = await both({ cameraId: 'front', fromMs: SQL_ISO_MAX_MS - 1_000, toMs: SQL_ISO_MAX_MS, limit: 10 });
    expect(high.json?.map((r) => r.json)).toEqual(high.objects.map((s) => JSON.stringify(segmentOut(s))));
    expect(toIso(SQL_ISO_MAX_MS)).toBe('9999-12-31T23:59:59.999Z');

    // Beyond them (a camera's clock gone wrong): the page is not written by SQL.
    await db.updateTable('segments').set({ start_ms: -5_000, end_ms: -1, duration_ms: 4_999 }).execute();
    expect(await listSegmentsJson(db, { cameraId: 'front', fromMs: -10_000, toMs: 0, limit: 10 }, SEGMENT_OUT)).toBeUndefined();
    await db.updateTable('segments').set({ start_ms: SQL_ISO_MAX_MS - 500, end_ms: SQL_ISO_MAX_MS + 1, duration_ms: 501 }).execute();
    expect(await listSegmentsJson(db, { cameraId: 'front', fromMs: SQL_ISO_MAX_MS - 600, toMs: SQL_ISO_MAX_MS + 10, limit: 10 }, SEGMENT_OUT)).toBeUndefined();
  });

  it('segmentOut shows exactly the fields SEGMENT_OUT lists, in its order', async () => {
    await indexSegment(db, seg(T0 + 123, T0 + 10_456, { source: 'recovered' }), T0);
    const [s] = await listSegments(db, { cameraId: 'front', fromMs: T0, toMs: T0 + 20_000, limit: 1 });
    if (!s) throw new Error('no row');
    const out = segmentOut(s) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(SEGMENT_OUT.map(([key]) => key));
    for (const [key, field, kind] of SEGMENT_OUT) expect(out[key]).toEqual(kind === 'iso' ? toIso(s[field] as number) : s[field]);
  });
});
