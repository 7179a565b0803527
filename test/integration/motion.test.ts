import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { sleep } from '../../src/shared/sleep.js';
import { readCatalog } from '../support/footage.js';
import { removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';

type Motion = { id: number; camera_id: string; start: string; end: string; peak_score: number; zones: string[]; thumbnail_url: string | null };
type Status = { state: string; motion_state: string; motion_error: string | null; reconnect_count: number; segments_written: number };

// The object moves in the fake camera's default rectangle (x 0.55–0.95, y 0.5–0.95); zone a covers it,
// zone b the left half; the mask covers the clock in the top-left corner.
const OBJECT_ZONE: Array<[number, number]> = [[0.5, 0.45], [1, 0.45], [1, 1], [0.5, 1]];
const LEFT_HALF: Array<[number, number]> = [[0, 0.2], [0.45, 0.2], [0.45, 1], [0, 1]];
const CLOCK_MASK: Array<[number, number]> = [[0, 0], [0.34, 0], [0.34, 0.21], [0, 0.21]];

describe('motion detection on a real camera stream', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  const status = async (id: string) => (await (await vigil.api(`/cameras/${id}/status`)).json()) as Status;
  const motion = async (id: string) =>
    ((await (await vigil.api(`/cameras/${id}/motion?from=${new Date(Date.now() - 600_000).toISOString()}`)).json()) as { intervals: Motion[] }).intervals;

  beforeAll(async () => {
    // seek=0: three clients (the recorder, two detectors) join one shared stream without restarting it.
    server = await RtspServer.start({ mounts: [{ name: 'door', scene: 'still', width: 640, height: 360, fps: 10, seek: false }] });
    const motionSettings = { enabled: true, fps: 5, sensitivity: 100, min_area_percent: 0.01, post_roll_seconds: 2 };
    vigil = await startVigil({
      cameras: [
        {
          id: 'door', main_url: server.url('door'), segment_seconds: 4,
          motion: { ...motionSettings, masks: [CLOCK_MASK], zones: [{ name: 'a', polygon: OBJECT_ZONE }, { name: 'b', polygon: LEFT_HALF }] },
        },
        // The same picture without the mask: the ticking clock alone is motion at this small minimum area.
        { id: 'unmasked', main_url: server.url('door'), segment_seconds: 4, enabled: true, motion: { ...motionSettings } },
      ],
    });
    await waitFor('both detectors watching and door recording', async () => {
      const [d, u] = [await status('door'), await status('unmasked')];
      return d.state === 'recording' && ['watching', 'motion'].includes(d.motion_state) && u.motion_state !== 'starting' && u.motion_state !== 'off';
    }, 30_000, 250);
  }, 60_000);

  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('finds the object\'s motion within ±1 s of the truth, in its zone only, nothing while the picture is still (clock masked), and not a light change', async () => {
    // Still (but for the masked clock) for 6 s: no motion on the masked camera; the unmasked one sees the clock.
    await sleep(6000);
    expect(await motion('door')).toEqual([]);
    expect((await status('door')).motion_state).toBe('watching');
    await waitFor('the unmasked camera seeing the clock', async () => (await status('unmasked')).motion_state === 'motion', 15_000, 250);
    expect(await motion('door')).toEqual([]);

    const shownAt = await server.moveObject('door', true);
    await sleep(8000);
    const hiddenAt = await server.moveObject('door', false);
    const [found] = await waitFor('the interval written', async () => {
      const list = await motion('door');
      return list.length > 0 ? list : undefined;
    }, 15_000, 250);
    expect(Math.abs(Date.parse(found!.start) - shownAt), `start ${found!.start} vs ${new Date(shownAt).toISOString()}`).toBeLessThanOrEqual(1000);
    expect(Math.abs(Date.parse(found!.end) - hiddenAt), `end ${found!.end} vs ${new Date(hiddenAt).toISOString()}`).toBeLessThanOrEqual(1000);
    expect(found!.zones).toEqual(['a']);
    expect(found!.peak_score).toBeGreaterThan(1);
    // The thumbnail is a JPEG of the peak frame.
    const jpeg = await vigil.api(found!.thumbnail_url!.replace('/api/v1', ''));
    expect(jpeg.status).toBe(200);
    const bytes = Buffer.from(await jpeg.arrayBuffer());
    expect(bytes.subarray(0, 2).toString('hex')).toBe('ffd8');

    // The whole picture brightens by ~75 grey levels over 10 s: light, not motion.
    await server.setBrightness('door', 0.3, 10_000);
    await sleep(12_000);
    expect(await motion('door')).toHaveLength(1);
    expect((await status('door')).motion_state).toBe('watching');

    const { events } = readCatalog(vigil.dataDir);
    const started = events.filter((e) => e.type === 'motion_started' && e.camera_id === 'door');
    const ended = events.filter((e) => e.type === 'motion_ended' && e.camera_id === 'door');
    expect(started).toHaveLength(1);
    expect(ended).toHaveLength(1);
    expect(JSON.parse(String(ended[0]!.payload))).toMatchObject({ motion_id: found!.id, zones: ['a'] });
    // Prometheus: the interval counted, and no motion now.
    const metrics = await (await vigil.api('/metrics')).text();
    expect(metrics).toMatch(/^vigil_camera_motion_intervals_total\{camera="door"\} 1$/m);
    expect(metrics).toMatch(/^vigil_camera_motion_active\{camera="door"\} 0$/m);
    expect(metrics).toMatch(/^vigil_ffmpeg_processes\{kind="motion"\} 2$/m);
  }, 90_000);

  it('a detector killed is restarted with backoff, and recording never notices', async () => {
    const before = await status('door');
    const pid = vigil.app.motion.pid('door');
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');
    await waitFor('the detector seen failing', async () => (await status('door')).motion_state !== 'watching', 5000, 50);
    const back = await waitFor('a new detector watching', async () => {
      const s = await status('door');
      return s.motion_state === 'watching' && vigil.app.motion.pid('door') !== pid ? s : undefined;
    }, 20_000, 250);
    expect(back.state).toBe('recording');
    // Recording went on: same run of the recorder (no reconnect), segments still coming, no gap.
    await waitFor('two more segments', async () => (await status('door')).segments_written >= before.segments_written + 2, 20_000, 250);
    const after = await status('door');
    expect(after.reconnect_count).toBe(before.reconnect_count);
    expect(readCatalog(vigil.dataDir).gaps.filter((g) => g.camera_id === 'door')).toEqual([]);
    // The object moving again is found by the new detector.
    await server.moveObject('door', true);
    await sleep(3000);
    await server.moveObject('door', false);
    await waitFor('a second interval', async () => ((await motion('door')).length === 2 ? true : undefined), 15_000, 250);
  }, 60_000);

  it('disabling motion stops the detector and its ffmpeg', async () => {
    const pid = vigil.app.motion.pid('unmasked');
    expect(pid).toBeGreaterThan(0);
    const res = await vigil.api('/cameras/unmasked', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ motion: { enabled: false } }) });
    expect(res.status).toBe(200);
    expect((await status('unmasked')).motion_state).toBe('off');
    expect(vigil.app.motion.pid('unmasked')).toBeUndefined();
    let alive = true;
    try {
      process.kill(pid!, 0);
    } catch {
      alive = false;
    }
    expect(alive).toBe(false);
    // Its open interval (the clock) was closed and written when it stopped.
    expect((await motion('unmasked')).length).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
