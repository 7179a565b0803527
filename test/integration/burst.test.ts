import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { sleep } from '../../src/shared/sleep.js';
import { checkConsistency, readCatalog } from '../support/footage.js';
import { ffmpegPidsFor, removeDir, startVigil, waitFor } from '../support/harness.js';

describe('a recorder that falls behind and catches up (a disk or CPU stall)', () => {
  it('keeps every segment it closes, even several within one second', async () => {
    const server = await RtspServer.start({ mounts: [{ name: 'cam1', pattern: 'snow', bitrateKbps: 3000 }] });
    // ffmpeg itself is stopped here; from outside that looks like a camera freeze, which the silence
    // watch would cut (freeze_seconds). This test is about segments closing in a burst: watch set beyond the stall.
    const vigil = await startVigil({ cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }], recorder: { rtsp_timeout_seconds: 30, freeze_seconds: 30 } });
    try {
      await waitFor('2 segments', () => readCatalog(vigil.dataDir).segments.length >= 2, 30_000);
      const [pid] = await ffmpegPidsFor(vigil.dataDir);
      expect(pid).toBeDefined();
      // ffmpeg frozen for 8 s while the camera keeps sending: the stream waits in the socket buffers,
      // and ffmpeg then closes several 2 s segments within a second or two.
      process.kill(pid as number, 'SIGSTOP');
      await sleep(8000);
      process.kill(pid as number, 'SIGCONT');
      await sleep(6000);
      const rows = readCatalog(vigil.dataDir).segments;
      const seconds = rows.map((r) => r.path.split('/').pop()?.slice(0, 16));
      const sameSecond = seconds.length - new Set(seconds).size;
      const names = new Set(rows.map((r) => r.path));
      expect(names.size).toBe(rows.length);
      // Every row's file is there, whole: none was overwritten by a later segment of the same second.
      for (const r of rows) expect((await stat(join(vigil.dataDir, r.path))).size, r.path).toBe(r.size_bytes);
      expect(readCatalog(vigil.dataDir).events.filter((e) => e.type === 'segment_discarded').map((e) => e.payload)).toEqual([]);
      // The stall's footage came out of the buffers as segments closed within one or two seconds.
      const indexedAt = rows.map((r) => (r as unknown as { indexed_at_ms: number }).indexed_at_ms).sort((a, b) => a - b);
      const burst = indexedAt.filter((t, i) => i > 0 && t - (indexedAt[i - 1] as number) < 1000).length;
      expect(burst + sameSecond).toBeGreaterThan(0);
    } finally {
      await vigil.app.stop();
      await server.stop();
      expect(await checkConsistency(vigil.dataDir)).toEqual([]);
      await removeDir(vigil.dataDir);
    }
  }, 90_000);
});
