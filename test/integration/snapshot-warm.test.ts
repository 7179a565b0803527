import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { readCatalog, type SegRow } from '../support/footage.js';
import { removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';

const run = promisify(execFile);
const FPS = 15;
const iso = (ms: number) => new Date(ms).toISOString();

/** Live children of this process by state: warm snapshot decoders (idle on stdin) and zombies. */
async function children(): Promise<{ warm: number[]; zombies: number[] }> {
  const warm: number[] = [];
  const zombies: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const m = /\) (\S) (\d+) /.exec(await readFile(`/proc/${e}/stat`, 'utf8').catch(() => ''));
    if (!m || Number(m[2]) !== process.pid) continue;
    if (m[1] === 'Z') zombies.push(Number(e));
    const argv = (await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv.some((a) => /(^|\/)ffmpeg$/.test(a)) && argv.includes('-copyts') && argv.includes('pipe:0')) warm.push(Number(e));
  }
  return { warm, zombies };
}

describe('snapshots from a warm decoder, on footage recorded from a real camera stream', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  let segs: SegRow[];

  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam1', fps: FPS }] });
    vigil = await startVigil({ cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }] });
    await waitFor('three segments', () => readCatalog(vigil.dataDir).segments.length >= 3, 45_000, 250);
    const res = await vigil.api('/cameras/cam1', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"enabled":false}' });
    expect(res.status).toBe(200);
    await server.stop();
    segs = readCatalog(vigil.dataDir).segments;
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('is the frame shown at the instant, byte for byte, served by the idle decoder (which is then replaced)', async () => {
    const s = segs[1] as SegRow;
    const frames = Math.floor(((s.end_ms - s.start_ms) / 1000) * FPS);
    // First frame, mid-GOP, the frame before a keyframe, the last frame of the segment.
    for (const frame of [0, 7, FPS - 1, frames - 1]) {
      const idle = await waitFor('an idle decoder', async () => {
        const { warm } = await children();
        return warm.length === 1 ? warm : undefined;
      }, 20_000, 20);
      const at = s.start_ms + Math.round(((frame + 0.5) / FPS) * 1000);
      const res = await vigil.api(`/cameras/cam1/snapshot.jpg?at=${iso(at)}`);
      expect(res.status).toBe(200);
      const jpeg = Buffer.from(await res.arrayBuffer());
      const { stdout: expected } = await run(
        'ffmpeg',
        ['-v', 'error', '-i', join(vigil.dataDir, s.path), '-vf', `select=eq(n\\,${frame})`, '-frames:v', '1', '-f', 'image2', '-c:v', 'mjpeg', '-q:v', '3', 'pipe:1'],
        { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 },
      );
      expect({ frame, same: jpeg.equals(expected) }).toEqual({ frame, same: true });
      expect(Date.parse(res.headers.get('x-vigil-frame-time') ?? '')).toBe(s.start_ms + Math.round((frame / FPS) * 1000));
      // The decoder that was idle did the work and is gone; a fresh one replaced it.
      const after = await children();
      expect(after.warm).not.toContain(idle[0]);
      expect(after.warm).toHaveLength(1);
    }
  });

  it("Vigil's stop kills the idle decoder and leaves no zombie", async () => {
    expect((await children()).warm).toHaveLength(1);
    await vigil.app.stop();
    expect(await children()).toEqual({ warm: [], zombies: [] });
  });
});
