import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { LIVE_CLOSE } from '../../src/live/live-channel.js';
import { LiveClient } from '../support/live-client.js';
import { removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';

/**
 * Invariant 12: access ends when the identity loses it, for open live streams too, within a second.
 * Each viewer below watches; then its user is deleted, disabled or re-scoped, its session ended, or its
 * key revoked, through the API as an admin would; its socket must close with 4403 within 1 s.
 */
describe('an open live view ends when its access does', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  let seq = 0;

  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam1' }, { name: 'cam2' }] });
    vigil = await startVigil({
      cameras: [
        { id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 },
        { id: 'cam2', main_url: server.url('cam2'), segment_seconds: 2 },
      ],
    });
    await waitFor('cam1 recording', async () => ((await (await vigil.api('/cameras/cam1/status')).json()) as { state: string }).state === 'recording', 30_000, 200);
  }, 60_000);
  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  const json = (method: string, path: string, body?: unknown) =>
    vigil.api(path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

  /** A viewer user signed in with a cookie, watching cam1. */
  async function watchingUser(): Promise<{ id: number; client: LiveClient; cookie: string }> {
    const username = `viewer${++seq}`;
    const password = 'watching-Password-1';
    const created = (await (await json('POST', '/users', { username, password, role: 'viewer' })).json()) as { id: number };
    const login = await fetch(`${vigil.app.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    expect(login.status).toBe(200);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const client = await LiveClient.connect(vigil.app.url, '/cameras/cam1/live', { cookie, origin: vigil.app.url });
    await client.waitForFragments(1);
    return { id: created.id, client, cookie };
  }

  /** Closed with 4403 within 1 s of `change` answering. */
  async function closesWithin1s(client: LiveClient, change: () => Promise<Response>): Promise<void> {
    const res = await change();
    expect(res.status).toBeLessThan(300);
    const at = Date.now();
    await waitFor('the viewer closed', () => client.closed !== undefined, 3_000, 10);
    expect(Date.now() - at).toBeLessThanOrEqual(1_000);
    expect(client.closed?.code).toBe(LIVE_CLOSE.accessEnded);
  }

  it('user deleted', async () => {
    const v = await watchingUser();
    await closesWithin1s(v.client, () => json('DELETE', `/users/${v.id}`));
  });

  it('user disabled', async () => {
    const v = await watchingUser();
    await closesWithin1s(v.client, () => json('PATCH', `/users/${v.id}`, { disabled: true }));
  });

  it('user re-scoped away from the camera, while a viewer of a camera still in scope stays', async () => {
    const v = await watchingUser();
    const other = await LiveClient.connect(vigil.app.url, '/cameras/cam2/live', { cookie: v.cookie, origin: vigil.app.url });
    await other.waitForFragments(1);
    await closesWithin1s(v.client, () => json('PATCH', `/users/${v.id}`, { cameras: ['cam2'] }));
    await new Promise((r) => setTimeout(r, 1_200));
    expect(other.closed).toBeUndefined();
    await other.close();
  });

  it('session ended (logout)', async () => {
    const v = await watchingUser();
    await closesWithin1s(v.client, () => fetch(`${vigil.app.url}/api/v1/auth/logout`, { method: 'POST', headers: { cookie: v.cookie, origin: vigil.app.url } }));
  });

  it('API key revoked', async () => {
    const created = (await (await json('POST', '/api-keys', { name: `live-key-${++seq}`, role: 'viewer' })).json()) as { id: number; key: string };
    const client = await LiveClient.connect(vigil.app.url, '/cameras/cam1/live', { authorization: `Bearer ${created.key}` });
    await client.waitForFragments(1);
    await closesWithin1s(client, () => json('DELETE', `/api-keys/${created.id}`));
  });
});
