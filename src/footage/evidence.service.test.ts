import { beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../test/support/harness.js';
import { deleteCamera, upsertDeclaredCamera } from '../db/camera.repo.js';
import { type OpenedDb } from '../db/connection.js';
import { listEvents } from '../db/event.repo.js';
import { indexSegment } from '../db/segment.repo.js';
import { systemClock } from '../shared/clock.js';
import { EventLog } from '../events/event-log.js';
import type { VigilError } from '../shared/errors.js';
import { EvidenceService } from './evidence.service.js';
import { tempCatalog } from '../../test/support/temp-catalog.js';

const T0 = Date.parse('2026-11-25T10:00:00Z');
const S = 1000;

let opened: OpenedDb;
let evidence: EvidenceService;

tempCatalog('vigil-evidence-', (c) => (opened = c.opened));

beforeEach(async () => {
  evidence = new EvidenceService({ db: opened.db, events: new EventLog(opened.db, systemClock, memoryLogger().log) });
  for (const id of ['cam-a', 'cam-b']) {
    await upsertDeclaredCamera(opened.db, { id, name: id, mainUrl: 'rtsp://127.0.0.1:9/x', subUrl: null, segmentSeconds: 10, retentionHours: null, storageQuotaBytes: null, enabled: false }, 'config', T0);
  }
});


/** `count` contiguous 10 s segments of `cameraId` from `startMs`, of 1000, 2000, … bytes. */
async function segments(cameraId: string, startMs: number, count: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = startMs + i * 10 * S;
    const r = await indexSegment(opened.db, { cameraId, path: `recordings/${cameraId}/${s}.mp4`, startMs: s, endMs: s + 10 * S, sizeBytes: (i + 1) * 1000, codec: null, width: null, height: null, source: 'live', fps: null }, T0);
    ids.push(r.segment?.id ?? -1);
  }
  return ids;
}

const events = async () => (await listEvents(opened.db, { limit: 1000 })).reverse();
const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as VigilError);
const actor = (requestId: string) => ({ requestId });

describe('EvidenceService', () => {
  it('keeps the incident tag through lock and unlock without one (invariant 3)', async () => {
    const [id] = (await segments('cam-a', T0, 1)) as [number];
    expect(await evidence.lockSegment(id, 'case-1', actor('r1'))).toMatchObject({ evidenceLocked: true, incidentId: 'case-1' });
    expect(await evidence.unlockSegment(id, undefined, actor('r2'))).toMatchObject({ evidenceLocked: false, incidentId: 'case-1' });
    expect(await evidence.lockSegment(id, undefined, actor('r3'))).toMatchObject({ evidenceLocked: true, incidentId: 'case-1' });
    // A tag given with the hold replaces the old one.
    expect(await evidence.unlockSegment(id, 'case-2', actor('r4'))).toMatchObject({ evidenceLocked: false, incidentId: 'case-2' });
  });

  it('clears a tag only when told to, with null or a blank string, and leaves the hold alone', async () => {
    const [id] = (await segments('cam-a', T0, 1)) as [number];
    await evidence.lockSegment(id, 'case-1', actor('r1'));
    expect(await evidence.setIncident(id, null, actor('r2'))).toMatchObject({ evidenceLocked: true, incidentId: null });
    await evidence.setIncident(id, 'case-3', actor('r3'));
    expect(await evidence.setIncident(id, '   ', actor('r4'))).toMatchObject({ evidenceLocked: true, incidentId: null });
  });

  it('says what changed in events carrying the request id: the tag before and after, the hold before', async () => {
    const [id] = (await segments('cam-a', T0, 1)) as [number];
    await evidence.lockSegment(id, 'case-1', actor('r-lock'));
    await evidence.setIncident(id, null, actor('r-clear'));
    await evidence.unlockSegment(id, undefined, actor('r-unlock'));
    expect((await events()).map((e) => [e.type, e.cameraId, e.requestId, e.payload])).toEqual([
      ['evidence_locked', 'cam-a', 'r-lock', { segment_id: id, segments: 1, bytes: 1000, incident_id: 'case-1', previous_incident_id: null, was_locked: false }],
      ['incident_changed', 'cam-a', 'r-clear', { segment_id: id, incident_id: null, previous_incident_id: 'case-1' }],
      ['evidence_unlocked', 'cam-a', 'r-unlock', { segment_id: id, segments: 1, bytes: 1000, incident_id: null, previous_incident_id: null, was_locked: true }],
    ]);
  });

  it('refuses an unknown segment with not_found and writes no event', async () => {
    // Each call made only when the one before has been answered: a refusal nobody awaits yet is an unhandled rejection.
    for (const call of [() => evidence.lockSegment(999, 'x', actor('r')), () => evidence.unlockSegment(999, undefined, actor('r')), () => evidence.setIncident(999, 'x', actor('r')), () => evidence.segment(999)]) {
      expect(await refusal(call())).toMatchObject({ kind: 'not_found', field: 'id' });
    }
    expect(await events()).toEqual([]);
  });

  it('holds exactly the segments overlapping [from, to) of one camera, keeping tags when none is given', async () => {
    const a = await segments('cam-a', T0, 4);
    const b = await segments('cam-b', T0, 4);
    await evidence.setIncident(a[1] as number, 'old', actor('r0'));
    // From the middle of the first segment to exactly the start of the fourth: three segments.
    const hold = await evidence.lockRange('cam-a', T0 + 5 * S, T0 + 30 * S, undefined, actor('r-range'));
    expect(hold).toEqual({ cameraId: 'cam-a', fromMs: T0 + 5 * S, toMs: T0 + 30 * S, segments: 3, bytes: 6000, incidentId: null });
    const held = await Promise.all([...a, ...b].map((id) => evidence.segment(id)));
    expect(held.map((s) => [s.cameraId, s.evidenceLocked, s.incidentId])).toEqual([
      ['cam-a', true, null], ['cam-a', true, 'old'], ['cam-a', true, null], ['cam-a', false, null],
      ['cam-b', false, null], ['cam-b', false, null], ['cam-b', false, null], ['cam-b', false, null],
    ]);
    const released = await evidence.unlockRange('cam-a', T0, T0 + 40 * S, undefined, actor('r-release'));
    expect(released.segments).toBe(4);
    expect((await evidence.segment(a[1] as number)).incidentId).toBe('old');
    const e = (await events()).filter((x) => x.requestId === 'r-range');
    expect(e.map((x) => [x.type, x.cameraId, x.payload])).toEqual([
      ['evidence_locked', 'cam-a', { from: new Date(T0 + 5 * S).toISOString(), to: new Date(T0 + 30 * S).toISOString(), segments: 3, bytes: 6000, incident_id: null, previous_incident_ids: [] }],
    ]);
    // A tag given with a range replaces those it finds, and the event names them.
    await evidence.lockRange('cam-a', T0, T0 + 20 * S, 'new', actor('r-retag'));
    expect((await evidence.segment(a[1] as number)).incidentId).toBe('new');
    expect((await events()).find((x) => x.requestId === 'r-retag')?.payload).toMatchObject({ incident_id: 'new', previous_incident_ids: ['old'] });
  });

  it('answers an empty range with 0 segments and no event; refuses a backwards range and an unknown camera', async () => {
    await segments('cam-a', T0, 2);
    const before = (await events()).length;
    expect(await evidence.lockRange('cam-a', T0 + 3600 * S, T0 + 3700 * S, 'case', actor('r'))).toMatchObject({ segments: 0, bytes: 0, incidentId: 'case' });
    expect((await events()).length).toBe(before);
    expect(await refusal(evidence.lockRange('cam-a', T0 + 10 * S, T0 + 10 * S, undefined, actor('r')))).toMatchObject({ kind: 'invalid_argument', field: 'from' });
    expect(await refusal(evidence.lockRange('nope', T0, T0 + S, undefined, actor('r')))).toMatchObject({ kind: 'not_found', field: 'id' });
  });

  it("holds a deleted camera's kept footage", async () => {
    await segments('cam-b', T0, 2);
    await deleteCamera(opened.db, 'cam-b', T0);
    expect(await evidence.lockRange('cam-b', T0, T0 + 20 * S, 'case-gone', actor('r'))).toMatchObject({ segments: 2, bytes: 3000 });
  });

  it('lists incidents and pages their segments within the caller\'s cameras; another camera\'s incident is not found', async () => {
    const a = await segments('cam-a', T0, 3);
    const b = await segments('cam-b', T0, 1);
    await evidence.lockRange('cam-a', T0, T0 + 30 * S, 'case-a', actor('r'));
    await evidence.setIncident(b[0] as number, 'case-b', actor('r'));
    expect((await evidence.incidents()).map((i) => i.id).sort()).toEqual(['case-a', 'case-b']);
    expect((await evidence.incidents(['cam-a'])).map((i) => i.id)).toEqual(['case-a']);
    const first = await evidence.incidentSegments('case-a', 2, undefined, ['cam-a']);
    expect(first.segments.map((s) => s.id)).toEqual(a.slice(0, 2));
    expect(first.nextCursor).not.toBeNull();
    const second = await evidence.incidentSegments('case-a', 2, first.nextCursor ?? undefined);
    expect(second.segments.map((s) => s.id)).toEqual(a.slice(2));
    expect(second.nextCursor).toBeNull();
    expect(await refusal(evidence.incidentSegments('case-b', 10, undefined, ['cam-a']))).toMatchObject({ kind: 'not_found', field: 'id' });
    expect(await refusal(evidence.incidentSegments('case-zzz', 10, undefined))).toMatchObject({ kind: 'not_found', field: 'id' });
  });
});
