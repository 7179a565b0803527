import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCatalog } from '../support/footage.js';
import { removeDir, startVigil, type TestVigil } from '../support/harness.js';

type Json = Record<string, unknown>;

describe('edge replay settings and the refill endpoint over the API', () => {
  let vigil: TestVigil;
  const send = async (method: string, path: string, body?: unknown) => {
    const res = await vigil.api(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
  };
  const snapshot = () => {
    const c = readCatalog(vigil.dataDir);
    return { cameras: c.status.length, events: c.events.length, gaps: c.gaps };
  };

  beforeAll(async () => {
    vigil = await startVigil({ cameras: [{ id: 'known', main_url: 'rtsp://admin:hunter22@127.0.0.1:9/none', enabled: false }] });
  });
  afterAll(async () => {
    await vigil.app.stop();
    await removeDir(vigil.dataDir);
  });

  const tpl = 'rtsp://{user}:{password}@{host}:{port}/r?s={start:unix}&e={end:unix}';
  it.each<[string, string, string, unknown, number, string]>([
    ['anr_enabled without a source', 'POST', '/cameras', { id: 'n1', main_url: 'rtsp://h/x', anr_enabled: true }, 400, 'anr_enabled'],
    ['unknown placeholder', 'POST', '/cameras', { id: 'n2', main_url: 'rtsp://h/x', anr_replay_url_template: 'rtsp://h/r?s={start:unix}&e={end:unix}&x={channel}' }, 400, 'anr_replay_url_template'],
    ['unknown time format', 'POST', '/cameras', { id: 'n3', main_url: 'rtsp://h/x', anr_replay_url_template: 'rtsp://h/r?s={start:local}&e={end:unix}' }, 400, 'anr_replay_url_template'],
    ['template not rtsp', 'POST', '/cameras', { id: 'n4', main_url: 'rtsp://h/x', anr_replay_url_template: 'http://h/r?s={start:unix}&e={end:unix}' }, 400, 'anr_replay_url_template'],
    ['unknown time zone', 'POST', '/cameras', { id: 'n5', main_url: 'rtsp://h/x', anr_timezone: 'Atlantis/Central' }, 400, 'anr_timezone'],
    ['unknown preset', 'POST', '/cameras', { id: 'n6', main_url: 'rtsp://h/x', anr_preset: 'axis' }, 400, 'anr_preset'],
    ['anr_enabled not boolean', 'PATCH', '/cameras/known', { anr_enabled: 'yes' }, 400, 'anr_enabled'],
    ['patch enabling without a source', 'PATCH', '/cameras/known', { anr_enabled: true }, 400, 'anr_enabled'],
    ['patch bad template', 'PATCH', '/cameras/known', { anr_replay_url_template: 'rtsp://h/{start:unix}' }, 400, 'anr_replay_url_template'],
    ['refill unknown camera', 'POST', '/cameras/nope/gaps/1/refill', undefined, 404, 'id'],
    ['refill unknown gap', 'POST', '/cameras/known/gaps/999/refill', undefined, 404, 'gapId'],
    ['refill gap id not a number', 'POST', '/cameras/known/gaps/abc/refill', undefined, 400, 'gapId'],
    ['refill gap id zero', 'POST', '/cameras/known/gaps/0/refill', undefined, 400, 'gapId'],
  ])('%s → %s %s', async (_name, method, path, body, status, field) => {
    const before = snapshot();
    const res = await send(method, path, body);
    expect(res.status).toBe(status);
    expect(res.body['field']).toBe(field);
    expect(res.body['message']).toEqual(expect.any(String));
    expect(snapshot()).toEqual(before);
  });

  it('stores the settings, shows them with credentials masked, and patches them', async () => {
    const created = await send('POST', '/cameras', {
      id: 'edge1',
      main_url: 'rtsp://admin:hunter22@10.0.0.9/Streaming/Channels/101',
      enabled: false,
      anr_enabled: true,
      anr_preset: 'dahua',
      anr_timezone: 'Europe/Berlin',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ anr_enabled: true, anr_preset: 'dahua', anr_timezone: 'Europe/Berlin', anr_replay_url_template: null });
    const patched = await send('PATCH', '/cameras/edge1', { anr_replay_url_template: tpl.replace('{password}', 'hunter22') });
    expect(patched.status).toBe(200);
    const got = await send('GET', '/cameras/edge1');
    expect(got.body['anr_replay_url_template']).toBe('rtsp://{user}:***@{host}:{port}/r?s={start:unix}&e={end:unix}');
    expect(JSON.stringify(got.body)).not.toContain('hunter22');
    const off = await send('PATCH', '/cameras/edge1', { anr_enabled: false, anr_preset: null, anr_replay_url_template: null });
    expect(off.body).toMatchObject({ anr_enabled: false, anr_preset: null, anr_replay_url_template: null });
  });
});
