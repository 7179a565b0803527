/**
 * Start-up after a crash: the files a crash left are reconciled beside recording, not before it. A
 * data dir whose disabled camera left thousands of unreadable files still has the recording camera
 * recording, and Vigil ready (readyz 200, its detail saying the reconciliation runs), while they are
 * being discarded; start() (and the "recording" log line) ends only once every one of them is dealt
 * with. Real ffmpeg from the real GStreamer RTSP server.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { readCatalog } from '../support/footage.js';
import type { VigilApp } from '../../src/app.js';
import { spawnRecorder, type RecorderLauncher } from '../../src/media/ffmpeg-process.js';
import { sleep } from '../../src/shared/sleep.js';
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

  it('records and is ready while a large leftover folder is reconciled; start() ends once it is done', async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam' }] });
    const dataDir = await tempDir('vigil-start-order-');
    const old = join(dataDir, 'recordings', 'old');
    await mkdir(old, { recursive: true });
    // Files under ffmpeg's names that hold no MP4: each is discarded with an event at reconciliation.
    const junk = Buffer.alloc(64, 7);
    for (let i = 0; i < LEFTOVERS; i++) await writeFile(join(old, `k${i.toString(36)}-000000.mp4`), junk);

    // Readiness while start() still runs: the first 200 of readyz, and the leftovers then on disk.
    let early: { status: string; reconciliation: string; leftovers: number } | undefined;
    const whileStarting = async (app: VigilApp) => {
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(20)) {
        if (!app.url) continue;
        const r = await fetch(`${app.url}/api/v1/readyz`);
        const body = (await r.json()) as { status: string; detail: { reconciliation: string } };
        if (r.status !== 200) continue;
        early = { status: body.status, reconciliation: body.detail.reconciliation, leftovers: (await readdir(old)).length };
        return;
      }
    };
    vigil = await startVigil({
      dataDir,
      cameras: [
        { id: 'cam', main_url: server.url('cam'), segment_seconds: 2 },
        { id: 'old', main_url: server.url('cam'), segment_seconds: 2, enabled: false },
      ],
      whileStarting,
    });
    // Ready (listening, recorders started) before the leftovers were all dealt with; said so.
    expect(early?.status).toBe('ready');
    expect(early?.reconciliation).toBe('running');
    expect(early?.leftovers).toBeGreaterThan(0);
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

  it('looks at no leftover before every recorder started with Vigil has spawned its first ffmpeg', async () => {
    // A camera-month's listing of indexed paths is one synchronous catalog read of up to a second: begun
    // beside the spawns, each held the later cameras' spawns back (invariant 6).
    const CAMERAS = 6;
    const srv = await RtspServer.start({ mounts: [{ name: 'cam' }] });
    const dataDir = await tempDir('vigil-start-order-');
    let v: TestVigil | undefined;
    try {
      const ids = Array.from({ length: CAMERAS }, (_, i) => `c${i}`);
      for (const id of ids) {
        const dir = join(dataDir, 'recordings', id);
        await mkdir(dir, { recursive: true });
        for (let i = 0; i < 3; i++) await writeFile(join(dir, `k${i.toString(36)}-000000.mp4`), Buffer.alloc(64, 7));
      }
      const launches: number[] = [];
      const launcher: RecorderLauncher = (program, args, handlers, now) => {
        launches.push(Date.now());
        // A spawn in a restart's storm holds the event loop for tens of ms while other ffmpegs load.
        for (const until = Date.now() + 40; Date.now() < until; );
        return spawnRecorder(program, args, handlers, now);
      };
      v = await startVigil({ dataDir, cameras: ids.map((id) => ({ id, main_url: srv.url('cam'), segment_seconds: 2 })), launcher });
      const events = readCatalog(dataDir).events as Array<{ type: string; camera_id: string | null; ts_ms: number }>;
      const discarded = events.filter((e) => e.type === 'segment_discarded');
      expect(discarded).toHaveLength(CAMERAS * 3);
      expect(launches.length).toBeGreaterThanOrEqual(CAMERAS);
      const lastFirstLaunch = [...launches].sort((a, b) => a - b)[CAMERAS - 1] as number;
      expect(Math.min(...discarded.map((e) => e.ts_ms))).toBeGreaterThanOrEqual(lastFirstLaunch);
      // Every camera's first spawn came before any folder's reconciliation began (its first log line).
      const lines = v.logs().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; time: number; cameraId?: string });
      const began = lines.filter((l) => l.msg === 'start-up reconciliation of the folder begins');
      expect(began.map((l) => l.cameraId).sort()).toEqual([...ids].sort());
      expect(Math.min(...began.map((l) => l.time))).toBeGreaterThanOrEqual(lastFirstLaunch);
    } finally {
      await v?.app.stop();
      await srv.stop();
      await removeDir(dataDir);
    }
  }, 60_000);
});
