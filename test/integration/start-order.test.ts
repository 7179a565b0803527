/**
 * Start-up after a crash: the files a crash left are reconciled beside recording, not before it. A
 * data dir whose disabled camera left thousands of unreadable files still has the recording camera
 * recording while they are being discarded, and start-up (the "recording" log line, readiness) ends
 * only once every one of them is dealt with. Real ffmpeg from the real GStreamer RTSP server.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { readCatalog } from '../support/footage.js';
import { removeDir, startVigil, tempDir, type TestVigil } from '../support/harness.js';

const LEFTOVERS = 6000;

describe('start-up reconciliation does not delay recording', () => {
  let server: RtspServer | undefined;
  let vigil: TestVigil | undefined;

  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('records while a large leftover folder is reconciled, and is ready only once it is done', async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam' }] });
    const dataDir = await tempDir('vigil-start-order-');
    const old = join(dataDir, 'recordings', 'old');
    await mkdir(old, { recursive: true });
    // Files under ffmpeg's names that hold no MP4: each is discarded with an event at reconciliation.
    const junk = Buffer.alloc(64, 7);
    for (let i = 0; i < LEFTOVERS; i++) await writeFile(join(old, `k${i.toString(36)}-000000.mp4`), junk);

    vigil = await startVigil({
      dataDir,
      cameras: [
        { id: 'cam', main_url: server.url('cam'), segment_seconds: 2 },
        { id: 'old', main_url: server.url('cam'), segment_seconds: 2, enabled: false },
      ],
    });
    // start() has returned: every leftover is dealt with, and Vigil says it is ready.
    expect(await readdir(old)).toEqual([]);
    const ready = await fetch(`${vigil.app.url}/api/v1/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { detail: { reconciliation: string } }).detail.reconciliation).toBe('done');

    const events = readCatalog(dataDir).events as Array<{ type: string; camera_id: string | null; id?: number }>;
    const discarded = events.map((e, i) => ({ ...e, i })).filter((e) => e.type === 'segment_discarded' && e.camera_id === 'old');
    expect(discarded).toHaveLength(LEFTOVERS);
    // The camera was recording before reconciliation ended: its recorder ran beside it.
    const started = events.findIndex((e) => e.type === 'recording_started' && e.camera_id === 'cam');
    expect(started).toBeGreaterThanOrEqual(0);
    expect(started).toBeLessThan(discarded.at(-1)!.i);
  }, 120_000);
});
