import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { sleep } from '../../src/shared/sleep.js';
import { checkConsistency, readCatalog } from '../support/footage.js';
import { removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';
import { imageTimecode } from '../support/timecode.js';

/**
 * Invariant 15 inside one recorder run: cameras whose media clock (RTP timestamps) leaps while the RTSP
 * session stays open — forward (cam1, +10 s) and backward (cam2, −8 s) — each burning its capture
 * instants into its frames. The timeline keeps every frame at the instant it was captured: no footage
 * claimed for the ten seconds the clock skipped, none placed in the past over what was recorded.
 */
const FPS = 15;
const FRAME_MS = 1000 / FPS;
const SLACK_MS = 2;

type Row = { camera_id: string; start_ms: number; end_ms: number; media_offset_ms: number };
type Ev = { type: string; camera_id: string | null; payload: Record<string, unknown> };

describe('a camera whose media clock leaps while connected', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  let jumpedAt: { cam1: number; cam2: number };

  const events = (): Ev[] => readCatalog(vigil.dataDir).events.map((e) => ({ type: e.type, camera_id: e.camera_id, payload: JSON.parse(e.payload) as Record<string, unknown> }));
  const rowsOf = (cam: string) => (readCatalog(vigil.dataDir).segments as unknown as Row[]).filter((r) => r.camera_id === cam);

  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam1', fps: FPS, code: true }, { name: 'cam2', fps: FPS, code: true }] });
    vigil = await startVigil({
      cameras: [
        { id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 },
        { id: 'cam2', main_url: server.url('cam2'), segment_seconds: 2 },
      ],
    });
    await waitFor('3 segments each', () => ['cam1', 'cam2'].every((c) => rowsOf(c).length >= 3), 30_000);
    await server.jump('cam1', 10_000);
    await server.jump('cam2', -8_000);
    jumpedAt = { cam1: Date.now(), cam2: Date.now() };
    // Past the backward jump's squash (the camera's clock catching up) and a few segments more.
    await sleep(14_000);
    await waitFor('footage after the jumps', () => ['cam1', 'cam2'].every((c) => rowsOf(c).some((r) => r.start_ms > jumpedAt.cam1 + 10_000)), 30_000);
  }, 120_000);

  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) {
      expect(await checkConsistency(vigil.dataDir)).toEqual([]);
      await removeDir(vigil.dataDir);
    }
  });

  /** Snapshots at `n` instants over [from, to): each frame shown at its burned-in instant (within a frame). */
  async function expectTrueInstants(cam: string, from: number, to: number, n = 10): Promise<void> {
    for (let i = 0; i < n; i++) {
      const at = Math.round(from + ((to - from) * (i + 0.5)) / n);
      const res = await vigil.api(`/cameras/${cam}/snapshot.jpg?at=${new Date(at).toISOString()}`);
      const where = `${cam} at ${new Date(at).toISOString()}`;
      if (res.status === 404) continue; // no footage there (the jump's cut, a reconnect): nothing shown is right
      expect(res.status, where).toBe(200);
      const code = await imageTimecode(Buffer.from(await res.arrayBuffer()));
      expect(code, `${where}: no timecode`).toBeDefined();
      const frameMs = Date.parse(res.headers.get('x-vigil-frame-time') ?? '');
      expect(frameMs - (code as number), `${where}: frame time − burned-in instant`).toBeGreaterThanOrEqual(-FRAME_MS - SLACK_MS);
      expect(frameMs - (code as number), `${where}: frame time − burned-in instant`).toBeLessThanOrEqual(FRAME_MS + SLACK_MS);
    }
  }

  it('forward: reports it, ends the row holding the leap at its last true frame, and places what follows at its instants without reconnecting', async () => {
    const ev = events().filter((e) => e.camera_id === 'cam1');
    const seen = ev.find((e) => e.type === 'camera_time_jump');
    expect(seen?.payload).toMatchObject({ direction: 'forward' });
    expect(Math.abs((seen?.payload['approx_jump_seconds'] as number) - 10)).toBeLessThan(1);
    const cut = ev.find((e) => e.type === 'segment_cut_at_time_jump');
    expect(cut?.payload).toMatchObject({ direction: 'forward' });
    expect(Math.abs((cut?.payload['jump_seconds'] as number) - 10)).toBeLessThan(0.2);
    expect(ev.filter((e) => e.type === 'recorder_exited'), 'the run goes on').toEqual([]);
    // Nothing is claimed in the future, and the timeline is not stretched by the ten skipped seconds.
    const rows = rowsOf('cam1');
    expect(Math.max(...rows.map((r) => r.end_ms))).toBeLessThanOrEqual(Date.now());
    const span = (rows.at(-1) as Row).end_ms - (rows[0] as Row).start_ms;
    const covered = rows.reduce((sum, r) => sum + (r.end_ms - r.start_ms), 0);
    expect(covered).toBeLessThanOrEqual(span);
    expect(span - covered, 'what the cut leaves out: the rest of one segment at most').toBeLessThan(2500);
    await expectTrueInstants('cam1', jumpedAt.cam1 - 4000, jumpedAt.cam1 + 12_000, 16);
  });

  it('backward: ends the row at its last true frame, reconnects for a fresh clock, and places nothing over what was recorded', async () => {
    const ev = events().filter((e) => e.camera_id === 'cam2');
    expect(ev.find((e) => e.type === 'segment_cut_at_time_jump')?.payload).toMatchObject({ direction: 'backward' });
    expect(ev.find((e) => e.type === 'camera_time_jump')?.payload).toMatchObject({ direction: 'backward' });
    const exited = ev.find((e) => e.type === 'recorder_exited');
    expect(exited?.payload['reason']).toMatch(/media clock went back/);
    expect(exited?.payload['restart_in_ms']).toBe(0);
    await expectTrueInstants('cam2', jumpedAt.cam2 - 4000, jumpedAt.cam2 + 12_000, 16);
  });
});
