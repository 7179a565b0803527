import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { readCatalog } from '../support/footage.js';
import { removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';

// Input validation, unknown routes, the OpenAPI document and X-Request-ID handling need no recorder:
// they run on inject() in test/api/input.test.ts. What stays here needs a real recording.

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
