import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCatalog } from '../support/footage.js';
import { waitFor } from '../support/harness.js';
import { injectVigil, type InjectVigil } from '../support/http-inject.js';

// Moved from test/integration/api-input.test.ts: none of these needs a recorder, so they run on
// inject() against the real app and catalog, without listening or ffmpeg.

describe('bad input gets a clear 4xx naming the field and changes nothing', () => {
  let vigil: InjectVigil;
  let before: { cameras: number; events: number };

  const snapshot = () => {
    const c = readCatalog(vigil.dataDir);
    return { cameras: c.status.length, events: c.events.length };
  };
  const send = (method: string, path: string, body?: unknown, raw?: string) =>
    vigil.api(method, path, { ...(body !== undefined ? { body } : {}), ...(raw !== undefined ? { raw } : {}) });

  beforeAll(async () => {
    vigil = await injectVigil({
      cameras: [{ id: 'known', main_url: 'rtsp://127.0.0.1:9/none', enabled: false }],
    });
  });
  afterAll(async () => {
    await vigil.close();
  });

  const cases: Array<[string, string, string, unknown, number, string | undefined]> = [
    ['unknown field', 'POST', '/cameras', { id: 'a1', main_url: 'rtsp://h/x', bogus: 1 }, 400, 'bogus'],
    ['bad slug', 'POST', '/cameras', { id: 'Front Door', main_url: 'rtsp://h/x' }, 400, 'id'],
    ['slug with path traversal', 'POST', '/cameras', { id: '../etc', main_url: 'rtsp://h/x' }, 400, 'id'],
    ['segment_seconds too small', 'POST', '/cameras', { id: 'a2', main_url: 'rtsp://h/x', segment_seconds: 1 }, 400, 'segment_seconds'],
    ['segment_seconds too large', 'POST', '/cameras', { id: 'a3', main_url: 'rtsp://h/x', segment_seconds: 3601 }, 400, 'segment_seconds'],
    ['segment_seconds as a string', 'POST', '/cameras', { id: 'a4', main_url: 'rtsp://h/x', segment_seconds: '60' }, 400, 'segment_seconds'],
    ['non-RTSP URL', 'POST', '/cameras', { id: 'a5', main_url: 'http://h/x' }, 400, 'main_url'],
    ['URL with a space', 'POST', '/cameras', { id: 'a6', main_url: 'rtsp://h/x y' }, 400, 'main_url'],
    ['missing main_url', 'POST', '/cameras', { id: 'a7' }, 400, 'main_url'],
    ['audio neither auto nor off', 'POST', '/cameras', { id: 'a8', main_url: 'rtsp://h/x', audio: 'on' }, 400, 'audio'],
    ['audio patched to a number', 'PATCH', '/cameras/known', { audio: 1 }, 400, 'audio'],
    ['duplicate id', 'POST', '/cameras', { id: 'known', main_url: 'rtsp://h/x' }, 409, 'id'],
    ['empty patch', 'PATCH', '/cameras/known', {}, 400, undefined],
    // A change whose body may be empty is malformed only through its query (found by the API fuzz storm).
    ['unknown query parameter on ONVIF discovery', 'POST', '/onvif/discover?constructor=1e309', {}, 400, 'constructor'],
    ['unknown query parameter on a webhook change', 'POST', '/webhooks?x=1', { url: 'https://hooks.example.com/v' }, 400, 'x'],
    ['patch unknown field', 'PATCH', '/cameras/known', { id: 'other' }, 400, 'id'],
    ['motion zone point outside 0–1', 'PATCH', '/cameras/known', { motion: { zones: [{ name: 'a', polygon: [[0, 0], [1, 0], [1, 1.2]] }] } }, 400, 'motion.zones[0].polygon[2][1]'],
    ['motion zone with an empty polygon', 'PATCH', '/cameras/known', { motion: { zones: [{ name: 'a', polygon: [] }] } }, 400, 'motion.zones[0].polygon'],
    ['motion zone enclosing no area', 'PATCH', '/cameras/known', { motion: { zones: [{ name: 'a', polygon: [[0, 0], [0.5, 0.5], [1, 1]] }] } }, 400, 'motion.zones[0].polygon'],
    ['motion zone names twice', 'PATCH', '/cameras/known', { motion: { zones: [{ name: 'a', polygon: [[0, 0], [1, 0], [1, 1]] }, { name: 'a', polygon: [[0, 0], [1, 0], [0, 1]] }] } }, 400, 'motion.zones[1].name'],
    ['motion zone name not a slug', 'PATCH', '/cameras/known', { motion: { zones: [{ name: 'Back Door', polygon: [[0, 0], [1, 0], [1, 1]] }] } }, 400, 'motion.zones[0].name'],
    ['motion unknown field', 'PATCH', '/cameras/known', { motion: { threshold: 3 } }, 400, 'motion.threshold'],
    ['motion sensitivity out of range', 'PATCH', '/cameras/known', { motion: { sensitivity: 101 } }, 400, 'motion.sensitivity'],
    ['motion mask enclosing no area', 'PATCH', '/cameras/known', { motion: { masks: [[[0.2, 0.2], [0.2, 0.2], [0.2, 0.2]]] } }, 400, 'motion.masks[0]'],
    ['retention_hours_motion without retention_hours', 'PATCH', '/cameras/known', { retention_hours_motion: 72 }, 400, 'retention_hours_motion'],
    ['retention_hours_motion shorter than retention_hours', 'PATCH', '/cameras/known', { retention_hours: 48, retention_hours_motion: 24 }, 400, 'retention_hours_motion'],
    ['patch enabled not boolean', 'PATCH', '/cameras/known', { enabled: 'yes' }, 400, 'enabled'],
    ['patch unknown camera', 'PATCH', '/cameras/nope', { name: 'x' }, 404, 'id'],
    ['delete unknown camera', 'DELETE', '/cameras/nope', undefined, 404, 'id'],
    ['get with bad id', 'GET', '/cameras/..%2F..%2Fetc', undefined, 400, 'id'],
    ['get unknown camera', 'GET', '/cameras/nope', undefined, 404, 'id'],
    ['status unknown camera', 'GET', '/cameras/nope/status', undefined, 404, 'id'],
    ['segments malformed from', 'GET', '/cameras/known/segments?from=yesterday', undefined, 400, 'from'],
    ['segments time without offset', 'GET', '/cameras/known/segments?from=2026-11-25T10:00:00', undefined, 400, 'from'],
    ['segments from after to', 'GET', '/cameras/known/segments?from=2026-11-25T11:00:00Z&to=2026-11-25T10:00:00Z', undefined, 400, 'from'],
    ['segments limit 0', 'GET', '/cameras/known/segments?limit=0', undefined, 400, 'limit'],
    ['segments limit too big', 'GET', '/cameras/known/segments?limit=1001', undefined, 400, 'limit'],
    ['segments limit not a number', 'GET', '/cameras/known/segments?limit=abc', undefined, 400, 'limit'],
    ['segments bad cursor', 'GET', '/cameras/known/segments?cursor=bm9wZQ', undefined, 400, 'cursor'],
    ['segments unknown parameter', 'GET', '/cameras/known/segments?sql=1;DROP%20TABLE%20segments', undefined, 400, 'sql'],
    ['segments unknown camera', 'GET', '/cameras/nope/segments', undefined, 404, 'id'],
    ['timeline longer than 31 days', 'GET', '/cameras/known/timeline?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z', undefined, 400, 'to'],
    ['timeline malformed to', 'GET', '/cameras/known/timeline?to=2026-13-45T99:00:00Z', undefined, 400, 'to'],
    ['gaps unknown camera', 'GET', '/cameras/nope/gaps', undefined, 404, 'id'],
    ['events bad since', 'GET', '/events?since=now', undefined, 400, 'since'],
    ['events bad camera id', 'GET', "/events?camera_id=x'%20OR%201=1", undefined, 400, 'camera_id'],
    ['events limit too big', 'GET', '/events?limit=5000', undefined, 400, 'limit'],
  ];

  it.each(cases)('%s: %s %s', async (_name, method, path, body, status, field) => {
    before = snapshot();
    const res = await send(method, path, body);
    expect(res.status).toBe(status);
    expect(res.json['error']).toEqual(expect.any(String));
    expect(res.json['message']).toEqual(expect.any(String));
    if (field !== undefined) expect(res.json['field']).toBe(field);
    expect(snapshot()).toEqual(before);
  });

  it('motion settings: a PATCH replaces only the fields it names; a refused one leaves them as they were', async () => {
    const zone = { name: 'porch', polygon: [[0.5, 0.5], [1, 0.5], [1, 1], [0.5, 1]] };
    const ok = await send('PATCH', '/cameras/known', { motion: { sensitivity: 70, zones: [zone] }, retention_hours: 24, retention_hours_motion: 72 });
    expect(ok.status).toBe(200);
    const want = { enabled: false, sensitivity: 70, min_area_percent: 0.5, fps: 5, masks: [], zones: [zone], post_roll_seconds: 5 };
    expect(ok.json['motion']).toEqual(want);
    const fps = await send('PATCH', '/cameras/known', { motion: { fps: 3 } });
    expect(fps.json['motion']).toEqual({ ...want, fps: 3 });
    const bad = await send('PATCH', '/cameras/known', { motion: { sensitivity: 10, zones: [zone, zone] } });
    expect(bad.status).toBe(400);
    const now = await send('GET', '/cameras/known');
    expect(now.json['motion']).toEqual({ ...want, fps: 3 });
    expect(now.json['retention_hours_motion']).toBe(72);
    // Put back as the other cases expect it.
    expect((await send('PATCH', '/cameras/known', { retention_hours_motion: null, retention_hours: null, motion: { zones: [], sensitivity: 50, fps: 5 } })).status).toBe(200);
  });

  it('refuses malformed JSON and oversized bodies without changing anything', async () => {
    before = snapshot();
    const bad = await send('POST', '/cameras', undefined, '{"id": "x",');
    expect(bad.status).toBe(400);
    const huge = await send('POST', '/cameras', { id: 'big', main_url: 'rtsp://h/x', name: 'x'.repeat(100_000) });
    expect(huge.status).toBe(413);
    expect(snapshot()).toEqual(before);
  });

  it('answers an unknown route with a JSON 404', async () => {
    const res = await send('GET', '/nothing-here');
    expect(res.status).toBe(404);
    expect(res.json['error']).toBe('not_found');
  });

  it('serves the OpenAPI document', async () => {
    const res = await vigil.call(null, 'GET', '/api/docs/json');
    expect(res.status).toBe(200);
    const doc = res.json as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/cameras', '/api/v1/cameras/{id}/segments', '/api/v1/cameras/{id}/timeline', '/api/v1/events']),
    );
  });

  // Added with the move: what the table above does not reach.
  it('names the field of a bad camera id in any route, and of a bad numeric id', async () => {
    before = snapshot();
    for (const path of ['/cameras/Bad%20Id/segments', '/cameras/Bad%20Id/timeline', '/cameras/Bad%20Id/gaps', '/cameras/Bad%20Id/status']) {
      const r = await send('GET', path);
      expect(r.status, path).toBe(400);
      expect(r.json, path).toMatchObject({ error: 'invalid_argument', field: 'id' });
    }
    for (const path of ['/segments/abc', '/segments/0', '/segments/1.5', '/segments/99999999999999999999']) {
      const r = await send('GET', path);
      expect(r.status, path).toBe(400);
      expect(r.json, path).toMatchObject({ error: 'invalid_argument', field: 'id' });
    }
    const gap = await send('POST', '/cameras/known/gaps/x/refill');
    expect(gap.status).toBe(400);
    expect(gap.json).toMatchObject({ error: 'invalid_argument', field: 'gapId' });
    expect(snapshot()).toEqual(before);
  });

  it('refuses bad evidence bodies naming the field, and holds nothing', async () => {
    const seg = await vigil.addSegment('known', 1_000_000, 1_002_000);
    const held = () => readCatalog(vigil.dataDir).segments.filter((s) => s.evidence_locked || s.incident_id !== null).length;
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', `/segments/${seg.id}/evidence-lock`, { incident_id: 5 }, 'incident_id'],
      ['POST', `/segments/${seg.id}/evidence-lock`, { incident: 'x' }, 'incident'],
      ['PATCH', `/segments/${seg.id}/incident`, {}, 'incident_id'],
      ['POST', '/cameras/known/evidence-lock', { from: '2026-01-01T00:00:00Z' }, 'to'],
      ['POST', '/cameras/known/evidence-lock', { from: 'yesterday', to: '2026-01-01T00:00:00Z' }, 'from'],
    ];
    for (const [method, path, body, field] of cases) {
      const r = await send(method, path, body);
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(r.json).toMatchObject({ error: 'invalid_argument', field });
    }
    expect(held()).toBe(0);
  });
});

describe('request ids', () => {
  let vigil: InjectVigil;

  beforeAll(async () => {
    vigil = await injectVigil();
  });
  afterAll(async () => {
    await vigil.close();
  });

  // Moved from test/integration/api-input.test.ts.
  it('echoes a plain client X-Request-ID and replaces a hostile one', async () => {
    const ok = await vigil.api('GET', '/healthz', { headers: { 'x-request-id': 'client-42.a_b' } });
    expect(ok.headers['x-request-id']).toBe('client-42.a_b');
    for (const bad of ['has space', 'x'.repeat(65), "'; DROP TABLE events; --"]) {
      const res = await vigil.api('GET', '/healthz', { headers: { 'x-request-id': bad } });
      const id = res.headers['x-request-id'];
      expect(id).not.toBe(bad);
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
    }
    const generated = await vigil.api('GET', '/cameras');
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sends the security headers on every answer: success, 404 and an unauthenticated 401', async () => {
    const answers = [await vigil.api('GET', '/healthz'), await vigil.api('GET', '/cameras/nope'), await vigil.api('GET', '/no-such-route'), await vigil.call(null, 'GET', '/cameras')];
    expect(answers.map((r) => r.status)).toEqual([200, 404, 404, 401]);
    for (const r of answers) {
      expect(String(r.headers['content-security-policy'])).toContain("script-src 'self'");
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(r.headers['strict-transport-security']).toBeUndefined();
    }
  });

  it('echoes the request id on error answers too', async () => {
    const res = await vigil.api('GET', '/cameras/nope', { requestId: 'req-404' });
    expect(res.status).toBe(404);
    expect(res.headers['x-request-id']).toBe('req-404');
  });

  it('puts the request id on every event a request causes, and NULL on what the recorder does meanwhile (invariant 9)', async () => {
    const create = await vigil.api('POST', '/cameras', { body: { id: 'cam1', main_url: 'rtsp://127.0.0.1:9/x' }, requestId: 'req-create-1' });
    expect(create.status).toBe(201);
    const run = await vigil.recorders.started('cam1');
    expect(vigil.recorders.running()).toEqual(['cam1']);
    // The recorder reports progress while a request is being served: its event is its own.
    const patch = vigil.api('PATCH', '/cameras/cam1', { body: { name: 'Renamed' }, requestId: 'req-rename-2' });
    run.handlers.onProgress(1_000_000, 15, vigil.clock.nowMs());
    expect((await patch).status).toBe(200);
    await waitFor('recording_started', () => readCatalog(vigil.dataDir).events.some((e) => e.type === 'recording_started'), 5_000, 10);
    const hold = await vigil.api('POST', '/cameras/cam1/evidence-lock', {
      body: { from: '2026-01-01T00:00:00Z', to: '2026-01-01T00:01:00Z' },
      requestId: 'req-hold-3',
    });
    expect(hold.status).toBe(200);
    await vigil.addSegment('cam1', Date.parse('2026-01-01T00:00:00Z'), Date.parse('2026-01-01T00:00:10Z'));
    const hold2 = await vigil.api('POST', '/cameras/cam1/evidence-lock', {
      body: { from: '2026-01-01T00:00:00Z', to: '2026-01-01T00:01:00Z', incident_id: 'case' },
      requestId: 'req-hold-4',
    });
    expect(hold2.status).toBe(200);
    const del = await vigil.api('DELETE', '/cameras/cam1', { requestId: 'req-delete-5' });
    expect(del.status).toBe(204);
    const { events } = readCatalog(vigil.dataDir);
    const byType = (t: string) => events.filter((e) => e.type === t);
    expect(byType('camera_created').map((e) => e.request_id)).toEqual(['req-create-1']);
    expect(byType('camera_updated').map((e) => e.request_id)).toEqual(['req-rename-2']);
    expect(byType('evidence_locked').map((e) => e.request_id)).toEqual(['req-hold-4']);
    expect(byType('camera_deleted').map((e) => e.request_id)).toEqual(['req-delete-5']);
    const background = events.filter((e) => ['recording_started', 'recorder_exited'].includes(e.type));
    expect(background.map((e) => e.type)).toContain('recording_started');
    for (const e of background) expect(e.request_id).toBeNull();
    // Nothing a request did went unlabelled.
    const requestEvents = events.filter((e) => e.type.startsWith('camera_') || e.type.startsWith('evidence_'));
    for (const e of requestEvents) expect(e.request_id, e.type).not.toBeNull();
  });
});
