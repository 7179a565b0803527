import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexSegment } from '../../src/db/segment.repo.js';
import { readCatalog } from '../support/footage.js';
import { injectVigil, type InjectVigil } from '../support/http-inject.js';

// Moved from test/integration/: no camera here records (all are disabled), so the real app is reached
// through inject() instead of a listening server started with ffmpeg checks.

type Json = Record<string, unknown>;

const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);
const S = 1000;
const iso = (ms: number) => new Date(ms).toISOString();

let vigil: InjectVigil;

/** Sends JSON (or a raw body) with an optional X-Request-ID; parses the JSON answer. */
async function send(method: string, path: string, opts: { body?: unknown; raw?: string; requestId?: string } = {}) {
  const res = await vigil.api(method, path, opts);
  return { status: res.status, body: (res.text ? JSON.parse(res.text) : {}) as Json };
}

/** Indexes `count` contiguous 10 s segments from `startMs` straight into the running Vigil's catalog. */
async function addSegments(cameraId: string, startMs: number, count: number, sizeBytes = (i: number) => (i + 1) * 1000): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = startMs + i * 10 * S;
    const r = await indexSegment(
      vigil.app.db,
      { cameraId, path: `recordings/${cameraId}/${s}.mp4`, startMs: s, endMs: s + 10 * S, sizeBytes: sizeBytes(i), codec: 'avc1.64001f', width: 1280, height: 720, source: 'live', fps: 25 },
      Date.now(),
    );
    if (!r.segment) throw new Error('segment not indexed');
    ids.push(r.segment.id);
  }
  return ids;
}

function row(id: number) {
  const r = (readCatalog(vigil.dataDir).segments as unknown as Array<Record<string, unknown>>).find((s) => s['id'] === id);
  if (!r) throw new Error(`no row ${id}`);
  return { evidence_locked: r['evidence_locked'], incident_id: r['incident_id'] };
}

function eventsWith(requestId: string) {
  return readCatalog(vigil.dataDir)
    .events.filter((e) => e.request_id === requestId)
    .map((e) => ({ type: e.type, camera_id: e.camera_id, payload: JSON.parse(e.payload) as Json }));
}

beforeAll(async () => {
  vigil = await injectVigil({
    cameras: [
      { id: 'cam-a', main_url: 'rtsp://127.0.0.1:9/a', enabled: false },
      { id: 'cam-b', main_url: 'rtsp://127.0.0.1:9/b', enabled: false },
      { id: 'cam-c', main_url: 'rtsp://127.0.0.1:9/c', enabled: false },
    ],
  });
});
afterAll(async () => {
  await vigil.close();
});

describe('one segment through the API', () => {
  it('GET /segments/:id returns the same JSON as the camera listing, and 404 for an unknown id', async () => {
    const [id] = await addSegments('cam-a', T0, 1);
    const one = await send('GET', `/segments/${id}`);
    expect(one.status).toBe(200);
    const list = await send('GET', `/cameras/cam-a/segments?from=${iso(T0)}&to=${iso(T0 + 10 * S)}`);
    expect(list.body['segments']).toEqual([one.body]);
    expect(one.body).toMatchObject({ id, camera_id: 'cam-a', start: iso(T0), end: iso(T0 + 10 * S), evidence_locked: false, incident_id: null });
    const missing = await send('GET', '/segments/999999');
    expect(missing).toMatchObject({ status: 404, body: { error: 'not_found', field: 'id' } });
  });

  it('locking or unlocking never erases the incident tag; null or "" clears it (invariant 3)', async () => {
    const [id] = await addSegments('cam-a', T0 + 3600 * S, 1);
    const path = `/segments/${id}`;

    const locked = await send('POST', `${path}/evidence-lock`, { body: { incident_id: 'case-2026:11.a_b-1' } });
    expect(locked.status).toBe(200);
    expect(locked.body).toMatchObject({ id, evidence_locked: true, incident_id: 'case-2026:11.a_b-1' });
    expect(row(id!)).toEqual({ evidence_locked: 1, incident_id: 'case-2026:11.a_b-1' });

    const unlocked = await send('DELETE', `${path}/evidence-lock`);
    expect(unlocked.body).toMatchObject({ evidence_locked: false, incident_id: 'case-2026:11.a_b-1' });
    const relocked = await send('POST', `${path}/evidence-lock`);
    expect(relocked.body).toMatchObject({ evidence_locked: true, incident_id: 'case-2026:11.a_b-1' });
    const unlockedEmpty = await send('DELETE', `${path}/evidence-lock`, { body: {} });
    expect(unlockedEmpty.body).toMatchObject({ evidence_locked: false, incident_id: 'case-2026:11.a_b-1' });
    const relockedEmpty = await send('POST', `${path}/evidence-lock`, { body: {} });
    expect(relockedEmpty.body).toMatchObject({ evidence_locked: true, incident_id: 'case-2026:11.a_b-1' });
    expect(row(id!)).toEqual({ evidence_locked: 1, incident_id: 'case-2026:11.a_b-1' });

    const cleared = await send('PATCH', `${path}/incident`, { body: { incident_id: null } });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ evidence_locked: true, incident_id: null });
    const tagged = await send('PATCH', `${path}/incident`, { body: { incident_id: 'case-9' } });
    expect(tagged.body).toMatchObject({ evidence_locked: true, incident_id: 'case-9' });
    const blank = await send('PATCH', `${path}/incident`, { body: { incident_id: '' } });
    expect(blank.body).toMatchObject({ evidence_locked: true, incident_id: null });
    expect(row(id!)).toEqual({ evidence_locked: 1, incident_id: null });

    // Releasing with a tag records it (COALESCE takes a given value).
    const releasedTagged = await send('DELETE', `${path}/evidence-lock`, { body: { incident_id: 'case-10' } });
    expect(releasedTagged.body).toMatchObject({ evidence_locked: false, incident_id: 'case-10' });
  });

  it('every change is an event carrying the X-Request-ID that caused it', async () => {
    const [id] = await addSegments('cam-b', T0, 1, () => 4321);
    await send('POST', `/segments/${id}/evidence-lock`, { body: { incident_id: 'case-ev' }, requestId: 'req-lock-1' });
    await send('PATCH', `/segments/${id}/incident`, { body: { incident_id: 'case-ev2' }, requestId: 'req-tag-2' });
    await send('DELETE', `/segments/${id}/evidence-lock`, { requestId: 'req-unlock-3' });

    expect(eventsWith('req-lock-1')).toEqual([
      {
        type: 'evidence_locked',
        camera_id: 'cam-b',
        payload: { segment_id: id, segments: 1, bytes: 4321, incident_id: 'case-ev', previous_incident_id: null, was_locked: false },
      },
    ]);
    expect(eventsWith('req-tag-2')).toEqual([
      { type: 'incident_changed', camera_id: 'cam-b', payload: { segment_id: id, incident_id: 'case-ev2', previous_incident_id: 'case-ev' } },
    ]);
    expect(eventsWith('req-unlock-3')).toEqual([
      {
        type: 'evidence_unlocked',
        camera_id: 'cam-b',
        payload: { segment_id: id, segments: 1, bytes: 4321, incident_id: 'case-ev2', previous_incident_id: 'case-ev2', was_locked: true },
      },
    ]);
    // The events route shows them with the request id too.
    const listed = await send('GET', '/events?type=incident_changed');
    expect((listed.body['events'] as Json[]).find((e) => e['request_id'] === 'req-tag-2')).toBeDefined();
  });
});

describe('range holds through the API', () => {
  const base = T0 + 24 * 3600 * S;

  it('POST holds exactly the overlapping segments and DELETE with the same body releases them, tags kept', async () => {
    const ids = await addSegments('cam-a', base, 6); // [base, base+60 s), 1000…6000 bytes
    const other = await addSegments('cam-b', base, 6);
    const body = { from: iso(base + 15 * S), to: iso(base + 35 * S), incident_id: 'case-range' };

    const held = await send('POST', '/cameras/cam-a/evidence-lock', { body, requestId: 'req-range-1' });
    expect(held.status).toBe(200);
    expect(held.body).toEqual({ camera_id: 'cam-a', from: body.from, to: body.to, segments: 3, bytes: 2000 + 3000 + 4000, incident_id: 'case-range' });
    expect(ids.map((id) => row(id))).toEqual([
      { evidence_locked: 0, incident_id: null },
      { evidence_locked: 1, incident_id: 'case-range' },
      { evidence_locked: 1, incident_id: 'case-range' },
      { evidence_locked: 1, incident_id: 'case-range' },
      { evidence_locked: 0, incident_id: null },
      { evidence_locked: 0, incident_id: null },
    ]);
    for (const id of other) expect(row(id)).toEqual({ evidence_locked: 0, incident_id: null });

    const released = await send('DELETE', '/cameras/cam-a/evidence-lock', { body: { from: body.from, to: body.to }, requestId: 'req-range-2' });
    expect(released.body).toEqual({ camera_id: 'cam-a', from: body.from, to: body.to, segments: 3, bytes: 9000, incident_id: null });
    for (const id of ids.slice(1, 4)) expect(row(id)).toEqual({ evidence_locked: 0, incident_id: 'case-range' });

    expect(eventsWith('req-range-1')).toEqual([
      {
        type: 'evidence_locked',
        camera_id: 'cam-a',
        payload: { from: body.from, to: body.to, segments: 3, bytes: 9000, incident_id: 'case-range', previous_incident_ids: [] },
      },
    ]);
    expect(eventsWith('req-range-2')).toEqual([
      {
        type: 'evidence_unlocked',
        camera_id: 'cam-a',
        payload: { from: body.from, to: body.to, segments: 3, bytes: 9000, incident_id: null, previous_incident_ids: [] },
      },
    ]);
  });

  it('accepts times with an offset; a segment ending exactly at from is not held', async () => {
    const ids = await addSegments('cam-c', base, 3);
    // base + 10 s written as 11:00:10+01:00 — same instant.
    const from = new Date(base + 10 * S + 3600 * S).toISOString().replace('Z', '+01:00').replace(/\.000/, '');
    const res = await send('POST', '/cameras/cam-c/evidence-lock', { body: { from, to: iso(base + 11 * S) } });
    expect(res.body).toMatchObject({ from: iso(base + 10 * S), segments: 1, bytes: 2000, incident_id: null });
    expect(ids.map((id) => row(id).evidence_locked)).toEqual([0, 1, 0]);
    await send('DELETE', '/cameras/cam-c/evidence-lock', { body: { from, to: iso(base + 11 * S) } });
  });

  it('a range with no footage answers 200 with segments 0 and logs nothing', async () => {
    const eventsBefore = readCatalog(vigil.dataDir).events.length;
    const body = { from: iso(base - 3600 * S), to: iso(base - 1800 * S), incident_id: 'case-empty' };
    const res = await send('POST', '/cameras/cam-a/evidence-lock', { body });
    expect(res).toEqual({ status: 200, body: { camera_id: 'cam-a', from: body.from, to: body.to, segments: 0, bytes: 0, incident_id: 'case-empty' } });
    expect(readCatalog(vigil.dataDir).events.length).toBe(eventsBefore);
  });

  it("a deleted camera's kept footage can still be held", async () => {
    const ids = await addSegments('cam-c', base + 3600 * S, 2);
    expect((await send('DELETE', '/cameras/cam-c')).status).toBe(204);
    const res = await send('POST', '/cameras/cam-c/evidence-lock', { body: { from: iso(base + 3600 * S), to: iso(base + 3620 * S), incident_id: 'case-gone' } });
    expect(res.body).toMatchObject({ segments: 2, bytes: 3000 });
    for (const id of ids) expect(row(id)).toEqual({ evidence_locked: 1, incident_id: 'case-gone' });
  });
});

describe('incidents through the API', () => {
  const base = T0 + 48 * 3600 * S;

  it('lists each incident with summed segments and bytes, first/last time and cameras; pages its segments', async () => {
    const a = await addSegments('cam-a', base, 3, () => 100);
    const b = await addSegments('cam-b', base + 5 * S, 2, () => 1000);
    await send('POST', '/cameras/cam-a/evidence-lock', { body: { from: iso(base), to: iso(base + 30 * S), incident_id: 'inc-multi' } });
    await send('POST', `/segments/${b[1]}/evidence-lock`, { body: { incident_id: 'inc-multi' } });
    await send('PATCH', `/segments/${b[0]}/incident`, { body: { incident_id: 'inc-multi' } }); // tagged, not held

    const res = await send('GET', '/incidents');
    expect(res.status).toBe(200);
    const incidents = res.body['incidents'] as Json[];
    expect(incidents.map((i) => i['id'])).toEqual([...incidents.map((i) => i['id'] as string)].sort());
    expect(incidents.find((i) => i['id'] === 'inc-multi')).toEqual({
      id: 'inc-multi',
      segments: 5,
      bytes: 3 * 100 + 2 * 1000,
      first: iso(base),
      last: iso(base + 30 * S),
      cameras: ['cam-a', 'cam-b'],
    });

    const p1 = await send('GET', '/incidents/inc-multi/segments?limit=3');
    expect(p1.status).toBe(200);
    const s1 = p1.body['segments'] as Json[];
    expect(s1.map((s) => s['id'])).toEqual([a[0], b[0], a[1]]);
    expect(typeof p1.body['next_cursor']).toBe('string');
    const p2 = await send('GET', `/incidents/inc-multi/segments?limit=3&cursor=${p1.body['next_cursor'] as string}`);
    expect((p2.body['segments'] as Json[]).map((s) => s['id'])).toEqual([b[1], a[2]]);
    expect(p2.body['next_cursor']).toBeNull();
    expect(s1[0]).toEqual((await send('GET', `/segments/${a[0]}`)).body);
  });

  it('an unknown incident is a 404', async () => {
    const res = await send('GET', '/incidents/no-such-case/segments');
    expect(res).toMatchObject({ status: 404, body: { error: 'not_found', field: 'id' } });
  });
});

describe('bad input gets a clear 4xx naming the field and changes nothing', () => {
  const base = T0 + 72 * 3600 * S;
  let seg = 0;
  const range = { from: iso(base), to: iso(base + 60 * S) };

  beforeAll(async () => {
    const ids = await addSegments('cam-a', base, 2);
    seg = ids[0]!;
    // Held with a tag: anything that slipped through would show in the snapshot.
    await send('PATCH', `/segments/${ids[1]}/incident`, { body: { incident_id: 'keep-me' } });
    await send('POST', `/segments/${ids[1]}/evidence-lock`);
  });

  const snapshot = () => {
    const c = readCatalog(vigil.dataDir);
    return { segments: c.segments, events: c.events.length };
  };

  type Case = [name: string, method: string, path: () => string, body: unknown, status: number, field: string | undefined];
  const s = () => `/segments/${seg}`;
  const cases: Case[] = [
    // GET /segments/:id
    ['segment id not a number', 'GET', () => '/segments/abc', undefined, 400, 'id'],
    ['segment id zero', 'GET', () => '/segments/0', undefined, 400, 'id'],
    ['segment id negative', 'GET', () => '/segments/-1', undefined, 400, 'id'],
    ['segment id fractional', 'GET', () => '/segments/1.5', undefined, 400, 'id'],
    ['segment id in exponent form', 'GET', () => '/segments/1e3', undefined, 400, 'id'],
    ['segment id too large', 'GET', () => '/segments/12345678901234567890', undefined, 400, 'id'],
    ['segment id with SQL', 'GET', () => "/segments/1%20OR%201=1", undefined, 400, 'id'],
    // POST /segments/:id/evidence-lock
    ['lock: bad segment id', 'POST', () => '/segments/x/evidence-lock', {}, 400, 'id'],
    ['lock: unknown segment', 'POST', () => '/segments/999999/evidence-lock', { incident_id: 'case-1' }, 404, 'id'],
    ['lock: incident_id with a space', 'POST', () => `${s()}/evidence-lock`, { incident_id: 'case 1' }, 400, 'incident_id'],
    ['lock: incident_id with a slash', 'POST', () => `${s()}/evidence-lock`, { incident_id: '../case' }, 400, 'incident_id'],
    ['lock: incident_id with SQL', 'POST', () => `${s()}/evidence-lock`, { incident_id: "x'; DROP TABLE segments;--" }, 400, 'incident_id'],
    ['lock: incident_id 65 chars', 'POST', () => `${s()}/evidence-lock`, { incident_id: 'x'.repeat(65) }, 400, 'incident_id'],
    ['lock: incident_id empty', 'POST', () => `${s()}/evidence-lock`, { incident_id: '' }, 400, 'incident_id'],
    ['lock: incident_id null', 'POST', () => `${s()}/evidence-lock`, { incident_id: null }, 400, 'incident_id'],
    ['lock: incident_id a number', 'POST', () => `${s()}/evidence-lock`, { incident_id: 7 }, 400, 'incident_id'],
    ['lock: unknown field', 'POST', () => `${s()}/evidence-lock`, { locked: false }, 400, 'locked'],
    ['lock: body not an object', 'POST', () => `${s()}/evidence-lock`, ['case-1'], 400, undefined],
    // DELETE /segments/:id/evidence-lock
    ['unlock: bad segment id', 'DELETE', () => '/segments/-5/evidence-lock', undefined, 400, 'id'],
    ['unlock: unknown segment', 'DELETE', () => '/segments/999999/evidence-lock', undefined, 404, 'id'],
    ['unlock: incident_id with a space', 'DELETE', () => `${s()}/evidence-lock`, { incident_id: 'a b' }, 400, 'incident_id'],
    ['unlock: unknown field', 'DELETE', () => `${s()}/evidence-lock`, { force: true }, 400, 'force'],
    // PATCH /segments/:id/incident
    ['tag: missing incident_id', 'PATCH', () => `${s()}/incident`, {}, 400, 'incident_id'],
    ['tag: incident_id with a space', 'PATCH', () => `${s()}/incident`, { incident_id: 'a b' }, 400, 'incident_id'],
    ['tag: incident_id blank with spaces', 'PATCH', () => `${s()}/incident`, { incident_id: '   ' }, 400, 'incident_id'],
    ['tag: incident_id 65 chars', 'PATCH', () => `${s()}/incident`, { incident_id: 'y'.repeat(65) }, 400, 'incident_id'],
    ['tag: incident_id a number', 'PATCH', () => `${s()}/incident`, { incident_id: 12 }, 400, 'incident_id'],
    ['tag: unknown field', 'PATCH', () => `${s()}/incident`, { incident_id: 'ok', evidence_locked: false }, 400, 'evidence_locked'],
    ['tag: bad segment id', 'PATCH', () => '/segments/1.0/incident', { incident_id: 'ok' }, 400, 'id'],
    ['tag: unknown segment', 'PATCH', () => '/segments/999999/incident', { incident_id: 'ok' }, 404, 'id'],
    ['tag: no body', 'PATCH', () => `${s()}/incident`, undefined, 400, undefined],
    // POST and DELETE /cameras/:id/evidence-lock
    ...(['POST', 'DELETE'] as const).flatMap((m): Case[] => [
      [`${m} range: missing from`, m, () => '/cameras/cam-a/evidence-lock', { to: range.to }, 400, 'from'],
      [`${m} range: missing to`, m, () => '/cameras/cam-a/evidence-lock', { from: range.from }, 400, 'to'],
      [`${m} range: no body`, m, () => '/cameras/cam-a/evidence-lock', undefined, 400, undefined],
      [`${m} range: malformed from`, m, () => '/cameras/cam-a/evidence-lock', { ...range, from: 'yesterday' }, 400, 'from'],
      [`${m} range: from without offset`, m, () => '/cameras/cam-a/evidence-lock', { ...range, from: '2026-11-28T10:00:00' }, 400, 'from'],
      [`${m} range: impossible to`, m, () => '/cameras/cam-a/evidence-lock', { ...range, to: '2026-13-45T99:00:00Z' }, 400, 'to'],
      [`${m} range: from as a number`, m, () => '/cameras/cam-a/evidence-lock', { ...range, from: base }, 400, 'from'],
      [`${m} range: from equals to`, m, () => '/cameras/cam-a/evidence-lock', { from: range.from, to: range.from }, 400, 'from'],
      [`${m} range: from after to`, m, () => '/cameras/cam-a/evidence-lock', { from: range.to, to: range.from }, 400, 'from'],
      [`${m} range: bad incident_id`, m, () => '/cameras/cam-a/evidence-lock', { ...range, incident_id: 'no spaces please' }, 400, 'incident_id'],
      [`${m} range: unknown field`, m, () => '/cameras/cam-a/evidence-lock', { ...range, camera_id: 'cam-b' }, 400, 'camera_id'],
      [`${m} range: bad camera id`, m, () => '/cameras/..%2Fetc/evidence-lock', range, 400, 'id'],
      [`${m} range: unknown camera`, m, () => '/cameras/nope/evidence-lock', range, 404, 'id'],
    ]),
    // GET /incidents/:id/segments
    ['incident id with a space', 'GET', () => '/incidents/a%20b/segments', undefined, 400, 'id'],
    ['incident id 65 chars', 'GET', () => `/incidents/${'z'.repeat(65)}/segments`, undefined, 400, 'id'],
    ['incident unknown', 'GET', () => '/incidents/nobody/segments', undefined, 404, 'id'],
    ['incident segments limit 0', 'GET', () => '/incidents/keep-me/segments?limit=0', undefined, 400, 'limit'],
    ['incident segments limit too big', 'GET', () => '/incidents/keep-me/segments?limit=1001', undefined, 400, 'limit'],
    ['incident segments limit not a number', 'GET', () => '/incidents/keep-me/segments?limit=abc', undefined, 400, 'limit'],
    ['incident segments bad cursor', 'GET', () => '/incidents/keep-me/segments?cursor=bm9wZQ', undefined, 400, 'cursor'],
    ['incident segments unknown parameter', 'GET', () => '/incidents/keep-me/segments?camera_id=cam-a', undefined, 400, 'camera_id'],
  ];

  it.each(cases)('%s', async (_name, method, path, body, status, field) => {
    const before = snapshot();
    const res = await send(method, path(), { body });
    expect(res.status).toBe(status);
    expect(res.body['error']).toEqual(expect.any(String));
    expect(res.body['message']).toEqual(expect.any(String));
    if (field !== undefined) expect(res.body['field']).toBe(field);
    expect(snapshot()).toEqual(before);
  });

  it('refuses malformed JSON and a non-JSON body without changing anything', async () => {
    const before = snapshot();
    expect((await send('POST', `${s()}/evidence-lock`, { raw: '{"incident_id": "x",' })).status).toBe(400);
    expect((await send('PATCH', `${s()}/incident`, { raw: '' })).status).toBe(400);
    const text = await vigil.api('POST', `${s()}/evidence-lock`, { headers: { 'content-type': 'text/plain' }, raw: 'case-1' });
    expect(text.status).toBe(400);
    expect(snapshot()).toEqual(before);
  });

  it('publishes every route in the OpenAPI document', async () => {
    const res = await vigil.call(null, 'GET', '/api/docs/json');
    const doc = res.json as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths['/api/v1/segments/{id}/evidence-lock'] ?? {})).toEqual(expect.arrayContaining(['post', 'delete']));
    expect(Object.keys(doc.paths['/api/v1/cameras/{id}/evidence-lock'] ?? {})).toEqual(expect.arrayContaining(['post', 'delete']));
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/segments/{id}', '/api/v1/segments/{id}/incident', '/api/v1/incidents', '/api/v1/incidents/{id}/segments']),
    );
  });
});
