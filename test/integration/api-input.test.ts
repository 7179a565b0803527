import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { readCatalog } from '../support/footage.js';
import { removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';

type Json = Record<string, unknown>;

describe('bad input gets a clear 4xx naming the field and changes nothing', () => {
  let vigil: TestVigil;
  let before: { cameras: number; events: number };

  const snapshot = () => {
    const c = readCatalog(vigil.dataDir);
    return { cameras: c.status.length, events: c.events.length };
  };
  const send = async (method: string, path: string, body?: unknown, raw?: string) => {
    const res = await vigil.api(path, {
      method,
      headers: body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : {},
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json, headers: res.headers };
  };

  beforeAll(async () => {
    vigil = await startVigil({
      cameras: [{ id: 'known', main_url: 'rtsp://127.0.0.1:9/none', enabled: false }],
    });
  });
  afterAll(async () => {
    await vigil.app.stop();
    await removeDir(vigil.dataDir);
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
    ['duplicate id', 'POST', '/cameras', { id: 'known', main_url: 'rtsp://h/x' }, 409, 'id'],
    ['empty patch', 'PATCH', '/cameras/known', {}, 400, undefined],
    ['patch unknown field', 'PATCH', '/cameras/known', { id: 'other' }, 400, 'id'],
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
    expect(res.body['error']).toEqual(expect.any(String));
    expect(res.body['message']).toEqual(expect.any(String));
    if (field !== undefined) expect(res.body['field']).toBe(field);
    expect(snapshot()).toEqual(before);
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
    expect(res.body['error']).toBe('not_found');
  });

  it('serves the OpenAPI document', async () => {
    const res = await fetch(`${vigil.app.url}/api/docs/json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/cameras', '/api/v1/cameras/{id}/segments', '/api/v1/cameras/{id}/timeline', '/api/v1/events']),
    );
  });
});

describe('request ids', () => {
  let vigil: TestVigil;
  let server: RtspServer;

  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    vigil = await startVigil();
  });
  afterAll(async () => {
    await vigil.app.stop();
    await server.stop();
    await removeDir(vigil.dataDir);
  });

  it('echoes a plain client X-Request-ID and replaces a hostile one', async () => {
    const ok = await vigil.api('/healthz', { headers: { 'x-request-id': 'client-42.a_b' } });
    expect(ok.headers.get('x-request-id')).toBe('client-42.a_b');
    for (const bad of ['has space', 'x'.repeat(65), "'; DROP TABLE events; --"]) {
      const res = await vigil.api('/healthz', { headers: { 'x-request-id': bad } });
      const id = res.headers.get('x-request-id');
      expect(id).not.toBe(bad);
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
    }
    const generated = await vigil.api('/cameras');
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('puts the request id on events the request caused, and NULL on what the recorder then did on its own', async () => {
    const res = await vigil.api('/cameras', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-create-1' },
      body: JSON.stringify({ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }),
    });
    expect(res.status).toBe(201);
    await waitFor('first segment', () => readCatalog(vigil.dataDir).segments.length > 0, 30_000);
    // Keep a request in flight while the recorder works: background events must still carry NULL.
    const patch = await vigil.api('/cameras/cam1', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-rename-2' },
      body: JSON.stringify({ name: 'Renamed' }),
    });
    expect(patch.status).toBe(200);
    const { events } = readCatalog(vigil.dataDir);
    expect(events.find((e) => e.type === 'camera_created')?.request_id).toBe('req-create-1');
    expect(events.find((e) => e.type === 'camera_updated')?.request_id).toBe('req-rename-2');
    const background = events.filter((e) => ['recording_started', 'vigil_started'].includes(e.type));
    expect(background.length).toBeGreaterThanOrEqual(2);
    for (const e of background) expect(e.request_id).toBeNull();
  });
});
