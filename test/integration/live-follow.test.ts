import { readdir, readlink } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { scanFmp4Buffer } from '../../src/media/fmp4/scan.js';
import { RECORD_FRAGMENT_US } from '../../src/media/recorder-args.js';
import { sleep } from '../../src/shared/sleep.js';
import { decodedFrames, status } from '../support/live-checks.js';
import { LiveClient } from '../support/live-client.js';
import { removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';

/** What this process holds open in the recordings folder (Vigil runs in the test's process). */
async function recordingFds(dataDir: string): Promise<string[]> {
  const held: string[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith(`${dataDir}/recordings/`)) held.push(target);
  }
  return held;
}

async function segmentCount(vigil: TestVigil): Promise<number> {
  const page = (await (await vigil.api('/cameras/cam/segments?limit=1000')).json()) as { segments: unknown[] };
  return page.segments.length;
}

/** Live view read from the segment files as the recorder writes them (no second ffmpeg output). */
describe('live view from the recording', () => {
  let server: RtspServer;
  let vigil: TestVigil;

  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam' }] });
    vigil = await startVigil({ cameras: [{ id: 'cam', main_url: server.url('cam'), segment_seconds: 2 }] });
    await waitFor('a segment indexed', async () => (await segmentCount(vigil)) >= 1, 30_000, 200);
  });

  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('reads nothing for a camera nobody watches', async () => {
    // Recording, indexing and rolling over for 3 s with no viewer: no follower, no bitrate read.
    for (let i = 0; i < 15; i++) {
      expect(vigil.app.live.followerCount()).toBe(0);
      await sleep(200);
    }
    expect((await status(vigil, 'cam')).live_bitrate_bps).toBeNull();
  });

  it('follows the growing file across segment rollovers: one init, contiguous fragments from a keyframe, all decodable', async () => {
    const c = await LiveClient.connect(vigil.app.url, '/cameras/cam/live?clock=true', vigil.auth);
    try {
      await c.waitForFragments(1);
      // 2 s segments: any stretch of more than 4 s of the viewer's own video crosses at least two rollovers.
      // (Counting indexed rows instead would race the indexer: a row closed before the viewer joined can
      // be indexed after, and then "two more rows" is one rollover seen.)
      const followed = (): number => scanFmp4Buffer(Buffer.concat(c.binaries())).videoDurationSeconds;
      await waitFor('over 4.5 s of video followed', () => followed() > 4.5, 30_000, 100);
      const texts = c.texts();
      // The run's later files carry the same init: the viewer is not sent it again (its player would restart).
      expect(texts.filter((t) => t.type !== 'time').map((t) => t.type)).toEqual(['init']);
      const { fragments } = c.stream();
      expect(fragments[0]?.keyframe).toBe(true);
      // The frame clock: every fragment is preceded by its first frame's instant on the recording's time
      // mapping, contiguous across the files, and a file's first fragment at its row's start.
      const kinds = c.messages.slice(2).map((m) => (m.binary ? 'bin' : m.text?.type));
      expect(kinds.every((k, i) => (i % 2 === 0 ? k === 'time' : k === 'bin'))).toBe(true);
      const times = texts.filter((t) => t.type === 'time') as unknown as Array<{ wall_ms: number; duration_ms: number }>;
      expect(times).toHaveLength(fragments.length);
      for (let i = 1; i < times.length; i++) {
        expect(Math.abs(times[i]!.wall_ms - (times[i - 1]!.wall_ms + times[i - 1]!.duration_ms))).toBeLessThanOrEqual(50);
      }
      // The rows of files that began while it watched: the first of them is indexed once it closes.
      const startsInView = async (): Promise<number[]> => {
        const rows = ((await (await vigil.api('/cameras/cam/segments?limit=1000')).json()) as { segments: Array<{ start: string }> }).segments;
        return rows.map((r) => Date.parse(r.start)).filter((ms) => ms > times[0]!.wall_ms + 100 && ms < times.at(-1)!.wall_ms);
      };
      let starts: number[] = [];
      await waitFor('a row that began in view', async () => (starts = await startsInView()).length >= 1, 30_000, 200);
      for (const ms of starts) expect(Math.min(...times.map((t) => Math.abs(t.wall_ms - ms)))).toBeLessThanOrEqual(100);
      // Timestamps run on across the files: each fragment starts where the one before ended.
      const scan = scanFmp4Buffer(Buffer.concat(c.binaries()));
      expect(scan.fragments.length).toBe(fragments.length);
      for (let i = 1; i < scan.fragments.length; i++) {
        const prev = scan.fragments[i - 1] as (typeof scan.fragments)[number];
        const cur = scan.fragments[i] as (typeof scan.fragments)[number];
        expect(cur.decodeTimeSeconds as number).toBeCloseTo((prev.decodeTimeSeconds as number) + prev.durationSeconds, 3);
      }
      const seconds = scan.videoDurationSeconds;
      expect(seconds).toBeGreaterThan(4);
      const decoded = await decodedFrames(vigil.dataDir, 'follow.mp4', c.binaries());
      expect(decoded.frames).toBe(scan.sampleCount);
      expect(vigil.app.live.followerCount()).toBe(1);
    } finally {
      await c.close();
    }
  });

  it('closes every segment file it opened once the viewers leave: the fd count is back to its baseline', async () => {
    const baseline = await recordingFds(vigil.dataDir);
    const viewers = await Promise.all([1, 2, 3].map(() => LiveClient.connect(vigil.app.url, '/cameras/cam/live', vigil.auth)));
    await Promise.all(viewers.map((v) => v.waitForFragments(2)));
    const before = await segmentCount(vigil);
    await waitFor('a rollover while watched', async () => (await segmentCount(vigil)) >= before + 1, 30_000, 200);
    // Three viewers of one camera share one follower: one handle on the open segment.
    expect(vigil.app.live.followerCount()).toBe(1);
    await Promise.all(viewers.map((v) => v.close()));
    await waitFor('follower gone', () => vigil.app.live.followerCount() === 0, 5_000, 20);
    // The indexer opens each closed file briefly to hash it: the count settles back to the baseline.
    await waitFor('fds back to baseline', async () => (await recordingFds(vigil.dataDir)).length <= baseline.length, 10_000, 50);
    expect((await recordingFds(vigil.dataDir)).filter((t) => t.endsWith('(deleted)'))).toEqual([]);
    expect((await status(vigil, 'cam')).state).toBe('recording');
  });
});

/**
 * The recorder cuts each GOP into fragments of at most RECORD_FRAGMENT_US, and live reads them as they
 * are flushed: with a 2 s GOP, a viewer gets a fragment every half second, not one per GOP (the picture
 * then lags the camera by up to half a second instead of two).
 */
describe('live view of a long-GOP camera', () => {
  let server: RtspServer;
  let vigil: TestVigil;

  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam', fps: 15, gop: 30 }] });
    vigil = await startVigil({ cameras: [{ id: 'cam', main_url: server.url('cam'), segment_seconds: 6 }] });
    await waitFor('recording', async () => (await status(vigil, 'cam')).state === 'recording', 30_000, 200);
  });

  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('sends fragments of at most half a second, a keyframe starting each GOP: 2 s GOPs arrive in pieces', async () => {
    const c = await LiveClient.connect(vigil.app.url, '/cameras/cam/live?clock=true', vigil.auth);
    try {
      await c.waitForFragments(12, 30_000);
      const scan = scanFmp4Buffer(Buffer.concat(c.binaries()));
      const frame = 1 / 15;
      expect(scan.fragments.length).toBeGreaterThanOrEqual(12);
      for (const f of scan.fragments) expect(f.durationSeconds).toBeLessThanOrEqual(RECORD_FRAGMENT_US / 1e6 + frame + 1e-6);
      // Keyframes every 2 s, one at the start of a fragment; three fragments or more per GOP.
      const keyframes = scan.fragments.filter((f) => f.startsWithKeyframe);
      expect(scan.fragments[0]?.startsWithKeyframe).toBe(true);
      expect(keyframes.length).toBeGreaterThanOrEqual(2);
      expect(scan.fragments.length).toBeGreaterThanOrEqual(3 * (keyframes.length - 1));
      // Every frame decodes: a viewer joins at the latest keyframe and the fragments after it follow.
      const decoded = await decodedFrames(vigil.dataDir, 'long-gop.mp4', c.binaries());
      expect(decoded.frames).toBe(scan.sampleCount);
    } finally {
      await c.close();
    }
  });
});
