import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { Fmp4StreamSplitter } from '../../src/media/fmp4/stream.js';
import { sleep } from '../../src/shared/sleep.js';
import { decodedFrames, status } from '../support/live-checks.js';
import { LiveClient } from '../support/live-client.js';
import { removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';

/** Invariant 13: watching never costs recording. Its own file (it stalls ≥ 20 s) so it runs beside live.test.ts. */
describe('a slow live viewer never slows recording', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  // Smaller than the 4 MiB default, so that 20 s of this stream surely exceeds kernel buffers plus the bound.
  const BOUND = 1024 * 1024;

  beforeAll(async () => {
    // A busy picture at ~3 Mbit/s: in 20 s far more than the kernel's socket buffers and the viewer bound hold.
    server = await RtspServer.start({ mounts: [{ name: 'busy', pattern: 'snow', bitrateKbps: 3000 }] });
    vigil = await startVigil({ cameras: [{ id: 'busy', main_url: server.url('busy'), segment_seconds: 2 }], live: { maxBufferedBytes: BOUND } });
    await waitFor('recording', async () => (await status(vigil, 'busy')).state === 'recording', 30_000, 200);
  });

  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  /**
   * Polls the segments route and notes when each row first became visible, relative to its end: for
   * `ms`, and then on until `until()` holds (at most `maxMs` in all).
   */
  async function watchSegments(ms: number, until: () => boolean = () => true, maxMs = ms): Promise<Array<{ endMs: number; lagMs: number }>> {
    const seen = new Map<number, { endMs: number; lagMs: number }>();
    const start = Date.now();
    while (Date.now() - start < ms || (!until() && Date.now() - start < maxMs)) {
      const page = (await (await vigil.api('/cameras/busy/segments?limit=1000')).json()) as { segments: Array<{ id: number; end: string }> };
      const now = Date.now();
      for (const s of page.segments) if (!seen.has(s.id)) seen.set(s.id, { endMs: Date.parse(s.end), lagMs: now - Date.parse(s.end) });
      await sleep(200);
    }
    return [...seen.values()];
  }

  it('keeps indexing segments at the normal cadence while a viewer stalls 20 s, with Node buffering bounded, then resumes it at a keyframe', async () => {
    const first = Date.now();
    await sleep(2_000);
    const baseline = (await watchSegments(10_000)).filter((s) => s.endMs > first);
    const viewer = await LiveClient.connect(vigil.app.url, '/cameras/busy/live', vigil.auth);
    try {
      await viewer.waitForFragments(3);
      viewer.pause();
      const stallStart = Date.now();
      // 20 s at least; longer if the kernel's socket buffers (autotuned, several MB on loopback) have
      // not filled yet, so that Node must start dropping for this viewer.
      const viewerState = () => vigil.app.live.viewers('busy', 'main')[0];
      const during = (await watchSegments(20_000, () => (viewerState()?.dropped ?? 0) > 0, 60_000)).filter((s) => s.endMs > stallStart);
      const v = viewerState();
      const lags = (l: typeof baseline) => l.map((s) => s.lagMs).join(' ');
      console.log(`row visible after segment end (ms): without viewer ${lags(baseline)}; stalled viewer ${lags(during)}; peak Node buffer ${v?.peakBufferedBytes} B, dropped ${v?.dropped}`);
      // Recording went on: ~10 segments of 2 s closed and were indexed promptly during the ≥ 20 s stall.
      expect(during.length).toBeGreaterThanOrEqual(8);
      expect(Math.max(...during.map((s) => s.lagMs))).toBeLessThan(Math.max(...baseline.map((s) => s.lagMs)) + 2_000);
      // The viewer really backed up (fragments were dropped for it), yet Node never held more than the bound for it.
      expect(v?.dropped).toBeGreaterThan(0);
      expect(v?.peakBufferedBytes).toBeLessThanOrEqual(BOUND);
      expect((await status(vigil, 'busy')).live_dropped_fragments).toBeGreaterThan(0);
      // Once it reads again, it is told how much it missed and resumes at a keyframe.
      const before = viewer.messages.length;
      viewer.resume();
      await waitFor('resume message', () => viewer.messages.slice(before).some((m) => m.text?.type === 'resume'), 20_000, 50);
      const resumeAt = viewer.messages.findIndex((m, i) => i >= before && m.text?.type === 'resume');
      expect(viewer.messages[resumeAt]?.text?.['dropped_fragments']).toBeGreaterThan(0);
      await waitFor('fragments after resume', () => viewer.messages.length > resumeAt + 5, 10_000, 50);
      const next = viewer.messages[resumeAt + 1]?.binary;
      const init = viewer.binaries()[0] as Buffer;
      const after = viewer.messages.slice(resumeAt + 1).flatMap((m) => (m.binary ? [m.binary] : []));
      const parsed = new Fmp4StreamSplitter();
      parsed.push(init);
      expect(parsed.push(next as Buffer)).toMatchObject([{ kind: 'fragment', fragment: { keyframe: true } }]);
      expect((await decodedFrames(vigil.dataDir, 'resumed.mp4', [init, ...after])).frames).toBeGreaterThan(0);
    } finally {
      await viewer.close();
    }
  });
});
