import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCamera } from '../../src/db/camera.repo.js';
import { injectVigil, type InjectVigil } from '../support/http-inject.js';

/** The cluster routes on a single Vigil (no `cluster:`): they say so, refuse changes, and change nothing. */
let vigil: InjectVigil;

beforeAll(async () => {
  vigil = await injectVigil({ cameras: [{ id: 'door', main_url: 'rtsp://cam.example/stream', enabled: false }] });
});
afterAll(() => vigil?.close());

describe('cluster routes on a single Vigil', () => {
  it('list no node; drain, resume and pin answer 409 naming `cluster`; bad ids and bodies 400 naming the field; nothing changes', async () => {
    const nodes = await vigil.api('GET', '/nodes');
    expect([nodes.status, nodes.json]).toEqual([200, { cluster: false, node_id: null, nodes: [] }]);
    for (const [method, url, body] of [['POST', '/nodes/rec-1/drain'], ['POST', '/nodes/rec-1/resume'], ['PUT', '/cameras/door/node', { node_id: 'rec-1' }]] as const) {
      const r = await vigil.api(method, url, body ? { body } : {});
      expect([r.status, r.json.field], `${method} ${url}`).toEqual([409, 'cluster']);
    }
    const badId = await vigil.api('POST', '/nodes/..%2Fx/drain');
    expect(badId.status).toBe(400);
    const badBody = await vigil.api('PUT', '/cameras/door/node', { body: { node_id: 'Not A Node' } });
    expect(badBody.status).toBe(400);
    expect(badBody.json.field).toMatch(/node_id/);
    const extra = await vigil.api('PUT', '/cameras/door/node', { body: { node_id: null, more: 1 } });
    expect(extra.status).toBe(400);
    expect((await getCamera(vigil.app.db, 'door'))?.pinnedNode).toBeNull();
    const cam = await vigil.api('GET', '/cameras/door');
    expect(cam.json).toMatchObject({ pinned_node: null, recording_node: null });
  });
});
