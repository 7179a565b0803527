import { beforeEach, describe, expect, it } from 'vitest';
import { upsertDeclaredCamera } from './camera.repo.js';
import { type Db, type OpenedDb } from './connection.js';
import {
  getSegment,
  incidentExists,
  listIncidents,
  listIncidentSegments,
  setEvidenceLocked,
  setEvidenceLockedRange,
  setIncident,
} from './evidence.repo.js';
import { deleteToTombstones } from './retention.repo.js';
import { indexSegment, type Segment } from './segment.repo.js';
import { tempCatalog } from '../../test/support/temp-catalog.js';

const T0 = Date.UTC(2024, 2, 9, 7, 0, 0);
const S = 1000;

let opened: OpenedDb;
let db: Db;

tempCatalog('vigil-evidence-', (c) => (opened = c.opened));

beforeEach(async () => {
  db = opened.db;
  for (const id of ['front', 'back']) {
    await upsertDeclaredCamera(
      db,
      { id, name: id, mainUrl: `rtsp://cam.local/${id}`, subUrl: null, segmentSeconds: 10, retentionHours: null, storageQuotaBytes: null, enabled: true },
      'config',
      T0,
    );
  }
});


async function addSegment(cameraId: string, startMs: number, endMs: number, sizeBytes = 1000): Promise<number> {
  const r = await indexSegment(
    db,
    { cameraId, path: `recordings/${cameraId}/${startMs}.mp4`, startMs, endMs, sizeBytes, codec: null, width: null, height: null, source: 'live', fps: null },
    T0,
  );
  if (!r.segment) throw new Error('segment not indexed');
  return r.segment.id;
}

async function seg(id: number): Promise<Segment> {
  const s = await getSegment(db, id);
  if (!s) throw new Error(`no segment ${id}`);
  return s;
}

const hold = (s: Segment) => ({ evidenceLocked: s.evidenceLocked, incidentId: s.incidentId });

describe('evidence repository: the incident tag survives lock and unlock (invariant 3)', () => {
  it('lock with a tag sets it; unlock and re-lock without a tag keep it; setIncident(null) clears it', async () => {
    const id = await addSegment('front', T0, T0 + 10 * S);
    expect(await setEvidenceLocked(db, id, true, 'case-1')).toBe(1);
    expect(hold(await seg(id))).toEqual({ evidenceLocked: true, incidentId: 'case-1' });

    expect(await setEvidenceLocked(db, id, false, undefined)).toBe(1);
    expect(hold(await seg(id))).toEqual({ evidenceLocked: false, incidentId: 'case-1' });

    expect(await setEvidenceLocked(db, id, true, undefined)).toBe(1);
    expect(hold(await seg(id))).toEqual({ evidenceLocked: true, incidentId: 'case-1' });

    expect(await setIncident(db, id, null)).toBe(1);
    expect(hold(await seg(id))).toEqual({ evidenceLocked: true, incidentId: null });
  });

  it('a tag given with lock or unlock replaces the old one; setIncident leaves the hold alone', async () => {
    const id = await addSegment('front', T0, T0 + 10 * S);
    await setEvidenceLocked(db, id, true, 'case-1');
    await setEvidenceLocked(db, id, false, 'case-2');
    expect(hold(await seg(id))).toEqual({ evidenceLocked: false, incidentId: 'case-2' });
    await setIncident(db, id, 'case-3');
    expect(hold(await seg(id))).toEqual({ evidenceLocked: false, incidentId: 'case-3' });
  });

  it('an unknown segment id affects 0 rows', async () => {
    await addSegment('front', T0, T0 + 10 * S);
    expect(await setEvidenceLocked(db, 9999, true, 'case-1')).toBe(0);
    expect(await setEvidenceLocked(db, 9999, false, undefined)).toBe(0);
    expect(await setIncident(db, 9999, null)).toBe(0);
    expect(await getSegment(db, 9999)).toBeUndefined();
    expect(await incidentExists(db, 'case-1')).toBe(false);
  });

  it('a held segment survives the retention delete statement', async () => {
    const id = await addSegment('front', T0, T0 + 10 * S);
    await setEvidenceLocked(db, id, true, undefined);
    expect(await deleteToTombstones(db, [id], 'age', T0)).toEqual([]);
    expect((await seg(id)).evidenceLocked).toBe(true);
  });
});

describe('evidence repository: range holds', () => {
  /** front: four contiguous 10 s segments from T0, 1000/2000/3000/4000 bytes; back: one at T0. */
  async function fourSegments(): Promise<number[]> {
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push(await addSegment('front', T0 + i * 10 * S, T0 + (i + 1) * 10 * S, (i + 1) * 1000));
    await addSegment('back', T0, T0 + 40 * S, 99_000);
    return ids;
  }

  it('holds exactly the segments overlapping [from, to): one straddling from is in, one ending at from is out', async () => {
    const ids = await fourSegments();
    // [T0+15 s, T0+25 s): straddles segments 1 and 2.
    const r = await setEvidenceLockedRange(db, 'front', T0 + 15 * S, T0 + 25 * S, true, undefined);
    expect(r).toEqual({ segments: 2, bytes: 5000, previousIncidentIds: [] });
    expect(await Promise.all(ids.map(async (id) => (await seg(id)).evidenceLocked))).toEqual([false, true, true, false]);

    // [T0+10 s, T0+30 s): segment 0 ends exactly at from, segment 3 starts exactly at to — both out.
    const r2 = await setEvidenceLockedRange(db, 'front', T0 + 10 * S, T0 + 30 * S, false, undefined);
    expect(r2.segments).toBe(2);
    expect(await Promise.all(ids.map(async (id) => (await seg(id)).evidenceLocked))).toEqual([false, false, false, false]);
  });

  it('never touches another camera, and counts an empty range as 0', async () => {
    await fourSegments();
    const r = await setEvidenceLockedRange(db, 'front', T0, T0 + 40 * S, true, 'case-9');
    expect(r).toEqual({ segments: 4, bytes: 10_000, previousIncidentIds: [] });
    const back = (await listIncidentSegments(db, 'case-9', 100)).filter((s) => s.cameraId === 'back');
    expect(back).toEqual([]);
    expect(await setEvidenceLockedRange(db, 'front', T0 + 100 * S, T0 + 200 * S, true, 'case-9')).toEqual({ segments: 0, bytes: 0, previousIncidentIds: [] });
  });

  it('works in batches, keeps tags when none is given, and reports the tags a new one replaced', async () => {
    const ids = await fourSegments();
    await setEvidenceLocked(db, ids[0]!, false, 'old-a');
    await setEvidenceLocked(db, ids[1]!, false, 'old-b');
    const locked = await setEvidenceLockedRange(db, 'front', T0, T0 + 40 * S, true, undefined, 3);
    expect(locked).toEqual({ segments: 4, bytes: 10_000, previousIncidentIds: [] });
    expect((await seg(ids[0]!)).incidentId).toBe('old-a');
    const released = await setEvidenceLockedRange(db, 'front', T0, T0 + 40 * S, false, undefined, 2);
    expect(released.segments).toBe(4);
    expect((await seg(ids[1]!)).incidentId).toBe('old-b');
    const retagged = await setEvidenceLockedRange(db, 'front', T0, T0 + 40 * S, true, 'case-new', 1);
    expect(retagged).toEqual({ segments: 4, bytes: 10_000, previousIncidentIds: ['old-a', 'old-b'] });
    for (const id of ids) expect(hold(await seg(id))).toEqual({ evidenceLocked: true, incidentId: 'case-new' });
  });
});

describe('evidence repository: incidents', () => {
  it('lists each incident with its segments, bytes, first start, last end and cameras', async () => {
    const a = await addSegment('front', T0, T0 + 10 * S, 100);
    const b = await addSegment('front', T0 + 10 * S, T0 + 20 * S, 200);
    const c = await addSegment('back', T0 + 5 * S, T0 + 25 * S, 400);
    await addSegment('back', T0 + 30 * S, T0 + 40 * S, 800);
    await setEvidenceLocked(db, a, true, 'case-1');
    await setEvidenceLocked(db, b, true, 'case-1');
    await setEvidenceLocked(db, c, false, 'case-1');
    await setIncident(db, b, 'case-1');
    const other = await addSegment('front', T0 + 50 * S, T0 + 60 * S, 50);
    await setIncident(db, other, 'case-0');

    expect(await listIncidents(db)).toEqual([
      { id: 'case-0', segments: 1, bytes: 50, firstMs: T0 + 50 * S, lastMs: T0 + 60 * S, cameraIds: ['front'] },
      { id: 'case-1', segments: 3, bytes: 700, firstMs: T0, lastMs: T0 + 25 * S, cameraIds: ['back', 'front'] },
    ]);
    expect(await incidentExists(db, 'case-1')).toBe(true);

    const page1 = await listIncidentSegments(db, 'case-1', 2);
    expect(page1.map((s) => s.id)).toEqual([a, c]);
    const last = page1.at(-1)!;
    const page2 = await listIncidentSegments(db, 'case-1', 2, { startMs: last.startMs, id: last.id });
    expect(page2.map((s) => s.id)).toEqual([b]);
  });

  it('an incident whose last tag is cleared is gone from the list', async () => {
    const a = await addSegment('front', T0, T0 + 10 * S);
    await setEvidenceLocked(db, a, true, 'case-1');
    await setIncident(db, a, null);
    expect(await listIncidents(db)).toEqual([]);
    expect(await incidentExists(db, 'case-1')).toBe(false);
  });
});
