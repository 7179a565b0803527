import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { readCatalog } from '../support/footage.js';
import { ffmpegPidsFor, removeDir, startVigil, waitFor } from '../support/harness.js';

type Status = { state: string; pid: number | null; segments_written: number };

describe('camera lifecycle through the API', () => {
  it('disabling or deleting a camera stops its ffmpeg; enabling starts it again; footage is kept', async () => {
    const server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    const vigil = await startVigil();
    const json = { 'content-type': 'application/json' };
    const status = async () => (await (await vigil.api('/cameras/cam1/status')).json()) as Status;
    try {
      const created = await vigil.api('/cameras', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ id: 'cam1', name: 'Yard', main_url: server.url('cam1'), segment_seconds: 2 }),
      });
      expect(created.status).toBe(201);
      expect(created.headers.get('location')).toBe('/api/v1/cameras/cam1');
      await waitFor('recording', async () => (await status()).state === 'recording', 20_000);
      const pid = (await status()).pid;
      expect(await ffmpegPidsFor(vigil.dataDir)).toEqual([pid]);

      const disabled = await vigil.api('/cameras/cam1', { method: 'PATCH', headers: json, body: JSON.stringify({ enabled: false }) });
      expect(disabled.status).toBe(200);
      expect(((await disabled.json()) as { enabled: boolean }).enabled).toBe(false);
      // The PATCH returns once the recorder has stopped and its last segment is indexed.
      expect(await ffmpegPidsFor(vigil.dataDir)).toEqual([]);
      expect(await status()).toMatchObject({ state: 'disabled', pid: null });
      const written = (await status()).segments_written;
      expect(written).toBe(readCatalog(vigil.dataDir).segments.length);

      await vigil.api('/cameras/cam1', { method: 'PATCH', headers: json, body: JSON.stringify({ enabled: true }) });
      await waitFor('recording again', async () => {
        const s = await status();
        return s.state === 'recording' && s.segments_written > written;
      }, 20_000);

      const deleted = await vigil.api('/cameras/cam1', { method: 'DELETE' });
      expect(deleted.status).toBe(204);
      expect(await ffmpegPidsFor(vigil.dataDir)).toEqual([]);
      expect((await vigil.api('/cameras/cam1')).status).toBe(404);
      expect(((await (await vigil.api('/cameras')).json()) as { cameras: unknown[] }).cameras).toEqual([]);
      // Footage outlives the camera's configuration.
      expect(readCatalog(vigil.dataDir).segments.length).toBeGreaterThan(written);
      const types = readCatalog(vigil.dataDir).events.map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(['camera_created', 'camera_updated', 'camera_deleted']));
    } finally {
      await vigil.app.stop();
      await server.stop();
      await removeDir(vigil.dataDir);
    }
  });

  it('brings up recording demo cameras when no camera is configured, behind a generated first admin', async () => {
    const { buildConfig } = await import('../../src/config/config.js');
    const { createApp, INITIAL_PASSWORD_FILE } = await import('../../src/app.js');
    const { memoryLogger, tempDir } = await import('../support/harness.js');
    const dataDir = await tempDir();
    // The defaults, but for retention's free-space floor (5 GB): on a machine with less free than that,
    // readyz rightly answers 503 (retention blocked at disk_floor, nothing to delete yet), which is not
    // what this test is about. CI's disks have had less.
    const config = buildConfig(
      { listen: '127.0.0.1:0', retention: { min_free_bytes: 0 } },
      { source: null, cwd: dataDir, env: {}, overrides: { dataDir } },
    );
    const shown: string[] = [];
    const logger = memoryLogger();
    const app = await createApp(config, { log: logger.log, showSecret: (t) => shown.push(t) });
    await app.start();
    try {
      // No user existed: "admin" was created with a password shown once, kept in a 0600 file, never logged.
      const password = /password\n\n\s+(\S+)\n/.exec(shown.join(''))?.[1] ?? '';
      expect(password.length).toBeGreaterThanOrEqual(20);
      const { readFile, stat } = await import('node:fs/promises');
      expect((await readFile(join(dataDir, INITIAL_PASSWORD_FILE), 'utf8')).trim()).toBe(password);
      expect((await stat(join(dataDir, INITIAL_PASSWORD_FILE))).mode & 0o777).toBe(0o600);
      expect(logger.text()).not.toContain(password);
      expect((await globalThis.fetch(`${app.url}/api/v1/cameras`)).status).toBe(401);
      const login = await globalThis.fetch(`${app.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password }),
      });
      expect(login.status).toBe(200);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      const fetch = (url: string): Promise<Response> => globalThis.fetch(url, { headers: { cookie } });
      const res = await fetch(`${app.url}/api/v1/cameras`);
      const { cameras } = (await res.json()) as { cameras: Array<{ id: string; origin: string }> };
      expect(cameras.length).toBeGreaterThanOrEqual(3);
      expect(cameras.every((c) => c.origin === 'demo')).toBe(true);
      await waitFor('every demo camera recording', async () => {
        const states = await Promise.all(
          cameras.map(async (c) => ((await (await fetch(`${app.url}/api/v1/cameras/${c.id}/status`)).json()) as Status).state),
        );
        return states.every((s) => s === 'recording');
      }, 30_000);
      const readyz = await fetch(`${app.url}/api/v1/readyz`);
      // The body says why when it is not 200.
      expect(readyz.status, await readyz.text()).toBe(200);
    } finally {
      await app.stop();
      await removeDir(dataDir);
    }
    expect(await ffmpegPidsFor(dataDir)).toEqual([]);
  });
});
