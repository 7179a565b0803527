/**
 * A camera with motion detection on its sub-stream serves one RTSP session for the detector and the
 * sub-stream's live viewers: the detector's ffmpeg also writes the stream (stream copy) for them. The
 * fake camera (the real GStreamer RTSP server) counts the PLAY requests each mount gets. When the
 * detector's ffmpeg dies the viewers keep a stream (a session of their own, then the detector's again);
 * with motion turned off the sub-stream runs on its own session. Real ffmpeg throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { sleep } from '../../src/shared/sleep.js';
import { scanFmp4Buffer } from '../../src/media/fmp4/scan.js';
import { LiveClient } from '../support/live-client.js';
import { removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';

describe('motion detection shares the sub-stream session with live view', () => {
  let cams: RtspServer;
  let vigil: TestVigil;
  const plays = () => cams.eventTimes('play', 'sub').length;
  const status = async () => (await (await vigil.api('/cameras/cam/status')).json()) as { motion_state: string };

  beforeAll(async () => {
    cams = await RtspServer.start({ mounts: [{ name: 'main', fps: 10 }, { name: 'sub', scene: 'still', clock: false, fps: 10, width: 320, height: 180, seek: false }] });
    vigil = await startVigil({
      cameras: [{ id: 'cam', main_url: cams.url('main'), sub_url: cams.url('sub'), segment_seconds: 2, motion: { enabled: true } }],
    });
    await waitFor('detector watching', async () => (await status()).motion_state === 'watching', 30_000, 250);
  }, 60_000);

  afterAll(async () => {
    await vigil?.app.stop();
    await cams?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('a sub-stream viewer is served from the detector\'s session: one PLAY on the camera\'s sub-stream, playable fMP4', async () => {
    expect(plays()).toBe(1);
    const c = await LiveClient.connect(vigil.app.url, '/cameras/cam/live?stream=sub', vigil.auth);
    try {
      await c.waitForFragments(8, 20_000);
      const { init, fragments } = c.stream();
      expect(init?.codec).toMatch(/^avc1\./);
      expect(fragments[0]!.keyframe).toBe(true);
      const scan = scanFmp4Buffer(Buffer.concat(c.binaries()));
      for (let i = 1; i < scan.fragments.length; i++) {
        expect(scan.fragments[i]!.decodeTimeSeconds!).toBeGreaterThan(scan.fragments[i - 1]!.decodeTimeSeconds!);
      }
      await sleep(2000);
      // Still one session: the viewer opened none, and no sub-stream ffmpeg of its own runs.
      expect(plays()).toBe(1);
      expect(vigil.app.live.subStreamPid('cam')).toBeUndefined();
      // Motion is still detected from the same session.
      expect((await status()).motion_state).toBe('watching');
    } finally {
      await c.close();
    }
  }, 60_000);

  it('the detector killed: the viewer keeps getting the stream; motion turned off: the sub-stream runs on its own session', async () => {
    const c = await LiveClient.connect(vigil.app.url, '/cameras/cam/live?stream=sub', vigil.auth);
    try {
      await c.waitForFragments(3, 20_000);
      const pid = vigil.app.motion.pid('cam')!;
      expect(pid).toBeGreaterThan(0);
      process.kill(pid, 'SIGKILL');
      const before = c.messages.length;
      // The stream goes on: a new init and fragments (its own session meanwhile, the detector's after).
      await waitFor('fragments after the kill', () => c.stream(before).fragments.length >= 5, 30_000, 100);
      await waitFor('detector back', async () => (await status()).motion_state === 'watching' && vigil.app.motion.pid('cam') !== pid, 30_000, 250);

      // Counted before the change: the sub-stream may open its own session before the PATCH answers.
      const playsBefore = plays();
      const res = await vigil.api('/cameras/cam', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ motion: { enabled: false } }) });
      expect(res.status).toBe(200);
      expect(vigil.app.motion.pid('cam')).toBeUndefined();
      const after = c.messages.length;
      await waitFor('the sub-stream on its own', () => vigil.app.live.subStreamPid('cam') !== undefined, 15_000, 100);
      await waitFor('fragments from its own session', () => c.stream(after).fragments.length >= 5, 30_000, 100);
      // The server reports a PLAY on its own pipe, which may come after the fragments it led to.
      await waitFor('its PLAY reported', () => plays() > playsBefore, 5_000, 50);
      expect(plays()).toBe(playsBefore + 1);
      expect(c.closed).toBeUndefined();
    } finally {
      await c.close();
    }
  }, 120_000);
});
