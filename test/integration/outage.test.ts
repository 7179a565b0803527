import { describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { sleep } from '../../src/shared/sleep.js';
import { join } from 'node:path';
import { checkConsistency, readCatalog, sampleNalTypes } from '../support/footage.js';
import { removeDir, startVigil, waitFor } from '../support/harness.js';

type Status = { state: string; last_error: string | null; reconnect_count: number; segments_written: number };

describe('a camera that goes away and comes back', () => {
  it('leaves recording with an error and event, reconnects by itself, and records exactly one gap', async () => {
    let server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    const port = server.port;
    const vigil = await startVigil({ cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }] });
    const status = async () => (await (await vigil.api('/cameras/cam1/status')).json()) as Status;
    // Counters are sampled all along: they must never move backwards.
    const samples: Status[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push(await status());
        await sleep(200);
      }
    })();
    try {
      await waitFor('3 segments', async () => (await status()).segments_written >= 3, 30_000);
      const beforeOutage = await status();
      expect(beforeOutage.state).toBe('recording');
      expect(beforeOutage.reconnect_count).toBe(0);

      const downAt = Date.now();
      await server.kill();
      const down = await waitFor('state to leave recording', async () => {
        const s = await status();
        return s.state !== 'recording' ? s : undefined;
      }, 20_000);
      expect(['offline', 'error']).toContain(down.state);
      expect(down.last_error).toBeTruthy();
      expect(down.reconnect_count).toBeGreaterThan(0);
      await sleep(Math.max(0, 10_000 - (Date.now() - downAt)));

      server = await RtspServer.start({ port, mounts: [{ name: 'cam1' }] });
      const upAt = Date.now();
      const resumed = await waitFor('recording again', async () => {
        const s = await status();
        return s.state === 'recording' && s.segments_written >= beforeOutage.segments_written + 3 ? s : undefined;
      }, 40_000);
      expect(resumed.reconnect_count).toBeGreaterThan(0);

      const { gaps, events, segments } = readCatalog(vigil.dataDir);
      expect(gaps).toHaveLength(1);
      const gap = gaps[0] as { gap_start_ms: number; gap_end_ms: number };
      // The hole covers the outage: it starts before the camera died and ends after it came back.
      expect(gap.gap_start_ms).toBeLessThanOrEqual(downAt + 500);
      expect(gap.gap_end_ms).toBeGreaterThanOrEqual(upAt - 1500);
      expect(gap.gap_end_ms - gap.gap_start_ms).toBeGreaterThan(9_000);
      expect(gap.gap_end_ms - gap.gap_start_ms).toBeLessThan(20_000);
      expect(events.filter((e) => e.type === 'recording_gap')).toHaveLength(1);
      expect(events.some((e) => e.type === 'recorder_exited' && e.camera_id === 'cam1')).toBe(true);
      // Every exit was counted once: one exit event (recorder_exited, or camera_silent for a run that
      // connected to a half-up camera without video) per reconnect.
      expect(events.filter((e) => e.type === 'recorder_exited' || e.type === 'camera_silent').length).toBe(resumed.reconnect_count);
      // Footage either side of the gap is contiguous with it.
      expect(segments.some((s) => s.end_ms === gap.gap_start_ms)).toBe(true);
      expect(segments.some((s) => s.start_ms === gap.gap_end_ms)).toBe(true);

      const timeline = (await (await vigil.api('/cameras/cam1/timeline')).json()) as { spans: unknown[]; gaps: unknown[] };
      expect(timeline.spans).toHaveLength(2);
      expect(timeline.gaps).toHaveLength(1);
    } finally {
      sampling = false;
      await sampler;
      await vigil.app.stop();
      await server.stop();
    }
    for (let i = 1; i < samples.length; i++) {
      expect(samples[i]!.reconnect_count).toBeGreaterThanOrEqual(samples[i - 1]!.reconnect_count);
      expect(samples[i]!.segments_written).toBeGreaterThanOrEqual(samples[i - 1]!.segments_written);
    }
    expect(await checkConsistency(vigil.dataDir)).toEqual([]);
    await removeDir(vigil.dataDir);
  });

  it('stops a run whose camera falls silent while connected within freeze_seconds, says so, records the silence as a gap, and recovers', async () => {
    const server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    // A long socket timeout: the silence watch, not ffmpeg's socket, must notice (before the fix a
    // silent camera surfaced ~20 s later as "the camera ended the stream (exit 0)").
    const vigil = await startVigil({
      cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }],
      recorder: { rtsp_timeout_seconds: 120, freeze_seconds: 3 },
    });
    const status = async () => (await (await vigil.api('/cameras/cam1/status')).json()) as Status;
    try {
      await waitFor('2 segments', async () => (await status()).segments_written >= 2, 30_000);
      const pausedAt = Date.now();
      server.pause();
      const silent = await waitFor('offline state', async () => {
        const s = await status();
        return s.state === 'offline' ? s : undefined;
      }, 30_000);
      const noticedAfterMs = Date.now() - pausedAt;
      expect(silent.last_error).toMatch(/^the camera stopped sending video: none for \d+\.\d s while connected \(freeze_seconds 3\)/);
      expect(silent.last_error).not.toMatch(/ended the stream/);
      // Noticed at freeze_seconds (3 s, plus the last progress report's age and the poll), not ~20 s.
      expect(noticedAfterMs).toBeLessThan(9000);
      const ev = readCatalog(vigil.dataDir).events.find((e) => e.type === 'camera_silent');
      expect(ev?.request_id).toBeNull();
      const payload = JSON.parse(String(ev?.payload)) as { silent_seconds: number; had_video: boolean; last_video_at: string; signal: string | null };
      // Stopped gracefully (the open segment closed at its last frame), not killed.
      expect(payload.signal).toBeNull();
      expect(payload.had_video).toBe(true);
      expect(payload.silent_seconds).toBeGreaterThanOrEqual(3);
      expect(payload.silent_seconds).toBeLessThan(5);
      expect(Date.parse(payload.last_video_at)).toBeLessThanOrEqual(pausedAt + 1000);
      await sleep(2000);
      const resumedAt = Date.now();
      server.resume();
      const before = (await status()).segments_written;
      await waitFor('recording again', async () => {
        const s = await status();
        return s.state === 'recording' && s.segments_written > before + 1;
      }, 40_000);
      // The silence is a gap of the timeline (no footage placed inside it), not hidden in a segment.
      const { segments, gaps } = readCatalog(vigil.dataDir);
      const silence = gaps.find((g) => (g.gap_start_ms as number) <= pausedAt + 1000 && (g.gap_end_ms as number) >= resumedAt - 1000);
      expect(silence, JSON.stringify(gaps)).toBeDefined();
      const inside = segments.filter((r) => (r.start_ms as number) < resumedAt - 1000 && (r.end_ms as number) > pausedAt + 1000);
      expect(inside).toEqual([]);
    } finally {
      server.resume();
      await vigil.app.stop();
      await server.stop();
    }
    expect(await checkConsistency(vigil.dataDir)).toEqual([]);
    await removeDir(vigil.dataDir);
  });

  it('a camera that stops sending while connected leaves no sample without a picture at the end of its run (the next frame\'s delimiter, which Chrome cannot decode)', async () => {
    // The fake camera's x264 starts every access unit with a delimiter (AUD), as many cameras do. Frozen,
    // it leaves the next frame's AUD in ffmpeg's parser; when the run ends (here ffmpeg's own 3 s
    // socket timeout) ffmpeg flushed it as a 6-byte sample of its own: "missing picture in access unit".
    const server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    const vigil = await startVigil({
      cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 60 }],
      recorder: { rtsp_timeout_seconds: 3, freeze_seconds: 120 },
    });
    const status = async () => (await (await vigil.api('/cameras/cam1/status')).json()) as Status;
    try {
      await waitFor('recording', async () => (await status()).state === 'recording', 30_000);
      await sleep(3000);
      await server.freeze('cam1', true);
      await waitFor('the run ended and its file indexed', async () => readCatalog(vigil.dataDir).segments.length >= 1, 30_000);
      const seg = readCatalog(vigil.dataDir).segments[0] as { path: string };
      const samples = await sampleNalTypes(join(vigil.dataDir, seg.path));
      expect(samples.length).toBeGreaterThan(30);
      // Every sample carries a picture (a slice, NAL type 1–5), the last one too.
      const pictureless = samples.map((types, i) => ({ i, types })).filter((x) => !x.types.some((t) => t >= 1 && t <= 5));
      expect(pictureless, `of ${samples.length} samples`).toEqual([]);
    } finally {
      await vigil.app.stop();
      await server.stop();
    }
    await removeDir(vigil.dataDir);
  });

  it('kills a recorder that receives video but closes no segment (no keyframe comes), marks it error with an event', async () => {
    // One keyframe at the start and none for 10 minutes: the segment muxer cannot cut.
    const server = await RtspServer.start({ mounts: [{ name: 'cam1', gop: 9000 }] });
    const vigil = await startVigil({
      cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }],
      recorder: { rtsp_timeout_seconds: 120, stall_floor_seconds: 6 },
    });
    const status = async () => (await (await vigil.api('/cameras/cam1/status')).json()) as Status;
    try {
      const stalled = await waitFor('error state', async () => {
        const s = await status();
        return s.state === 'error' ? s : undefined;
      }, 30_000);
      expect(stalled.last_error).toMatch(/no new segment for 6 s/);
      expect(readCatalog(vigil.dataDir).events.some((e) => e.type === 'recorder_stalled' && e.request_id === null)).toBe(true);
      expect(readCatalog(vigil.dataDir).events.some((e) => e.type === 'camera_silent')).toBe(false);
    } finally {
      await vigil.app.stop();
      await server.stop();
    }
    expect(await checkConsistency(vigil.dataDir)).toEqual([]);
    await removeDir(vigil.dataDir);
  });

  it('a held event loop is not a silent camera: video that arrived meanwhile is read before the silence watch judges', async () => {
    const server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    const vigil = await startVigil({
      cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }],
      recorder: { rtsp_timeout_seconds: 120, freeze_seconds: 3 },
    });
    const status = async () => (await (await vigil.api('/cameras/cam1/status')).json()) as Status;
    try {
      await waitFor('2 segments', async () => (await status()).segments_written >= 2, 30_000);
      // Hold this process's event loop (Vigil runs in it) longer than freeze_seconds, as a long
      // synchronous task or a swapped-out process would; ffmpeg records on meanwhile. Timers run
      // before pending I/O when the loop resumes, so the watch sees no progress line yet.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4_500);
      await sleep(3_000);
      const s = await status();
      const events = readCatalog(vigil.dataDir).events.map((e) => e.type);
      expect(events).not.toContain('camera_silent');
      expect(s.reconnect_count).toBe(0);
      expect(s.state).toBe('recording');
    } finally {
      await vigil.app.stop();
      await server.stop();
    }
    await removeDir(vigil.dataDir);
  });
});
