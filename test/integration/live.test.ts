import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { LIVE_CLOSE } from '../../src/live/live-channel.js';
import { sleep } from '../../src/shared/sleep.js';
import { decodedFrames, status } from '../support/live-checks.js';
import { LiveClient, LiveHttpError } from '../support/live-client.js';
import { ffmpegPidsFor, removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';

async function refused(vigil: TestVigil, path: string): Promise<LiveHttpError> {
  const err = await LiveClient.connect(vigil.app.url, path, vigil.auth).then(
    async (c) => {
      await c.close();
      throw new Error(`upgrade to ${path} was accepted`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LiveHttpError);
  return err as LiveHttpError;
}

describe('live view over WebSocket, read from the recording (no second camera connection)', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  const clients: LiveClient[] = [];
  const connect = async (path: string) => {
    const c = await LiveClient.connect(vigil.app.url, path, vigil.auth);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'main' }, { name: 'sub', width: 320, height: 180 }] });
    vigil = await startVigil({
      cameras: [
        { id: 'cam', main_url: server.url('main'), sub_url: server.url('sub'), segment_seconds: 2 },
        { id: 'off', main_url: server.url('main'), enabled: false },
      ],
      // The sub-stream's linger (5 s in production) shortened: its end is awaited below; the linger
      // itself (a viewer back in time keeps the process) is proven in src/live/live-hub.test.ts.
      live: { subLingerMs: 1_000 },
    });
    // Steady state: the recorder runs and has written a segment (the live view reads its files).
    await waitFor('a segment indexed', async () => ((await (await vigil.api('/cameras/cam/segments?limit=1')).json()) as { segments: unknown[] }).segments.length > 0, 30_000, 200);
  });

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('sends the init message, the init segment, then fragments that start at a keyframe and decode', async () => {
    const c = await connect('/cameras/cam/live');
    await c.waitForFragments(15);
    const [first, second, third] = c.messages;
    expect(first?.text).toMatchObject({ type: 'init', stream: 'main', width: 640, height: 360 });
    expect(first?.text?.['mime']).toMatch(/^video\/mp4; codecs="avc1\.[0-9a-f]{6}"$/);
    expect(second?.binary?.toString('latin1', 4, 8)).toBe('ftyp');
    expect(third?.binary?.toString('latin1', 4, 8)).toBe('moof');
    const { init, fragments } = c.stream();
    expect(fragments[0]?.keyframe).toBe(true);
    // The codec string is the recorded footage's own (the indexer reads it from the segment files).
    const page = (await (await vigil.api('/cameras/cam/segments?limit=1')).json()) as { segments: Array<{ codec: string }> };
    expect(first?.text?.['codec']).toBe(page.segments[0]?.codec);
    expect(init?.codec).toBe(first?.text?.['codec']);
    const decoded = await decodedFrames(vigil.dataDir, 'live-1.mp4', c.binaries());
    expect(decoded.codec).toBe('h264');
    expect(decoded.width).toBe(640);
    expect(decoded.frames).toBeGreaterThan(15);
    await c.close();
  });

  it('starts a viewer who joins later on a keyframe too, and counts viewers and the live bitrate', async () => {
    const a = await connect('/cameras/cam/live');
    await a.waitForFragments(3);
    // Join in the middle of a GOP: the buffered fragments since the keyframe come at once.
    await sleep(1_300);
    const b = await connect('/cameras/cam/live');
    await b.waitForFragments(3);
    const bs = b.stream();
    expect(bs.fragments[0]?.keyframe).toBe(true);
    expect(b.texts()[0]).toMatchObject({ type: 'init' });
    const st = await status(vigil, 'cam');
    expect(st.live_viewers).toBe(2);
    // Measured on the fragments read for the viewers: the same stream as the recorded segments' figure.
    const ratio = (st.live_bitrate_bps ?? 0) / (st.bitrate_bps ?? Infinity);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
    const decoded = await decodedFrames(vigil.dataDir, 'live-2.mp4', b.binaries());
    expect(decoded.frames).toBeGreaterThan(0);
    await a.close();
    await b.close();
    await waitFor('viewers gone', async () => (await status(vigil, 'cam')).live_viewers === 0, 5_000);
  });

  it('refuses before the upgrade: unknown camera 404, no sub-stream 404, disabled 409, plain HTTP 426', async () => {
    const unknown = await refused(vigil, '/cameras/nope/live');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ error: 'not_found' });
    expect((await refused(vigil, '/cameras/off/live?stream=sub')).status).toBe(404);
    expect((await refused(vigil, '/cameras/off/live')).status).toBe(409);
    expect((await refused(vigil, '/cameras/cam/live?stream=hd')).status).toBe(400);
    const clock = await refused(vigil, '/cameras/cam/live?clock=sometimes');
    expect(clock.status).toBe(400);
    expect(JSON.parse(clock.body)).toMatchObject({ field: 'clock' });
    const plain = await vigil.api('/cameras/cam/live');
    expect(plain.status).toBe(426);
    expect(await status(vigil, 'cam')).toMatchObject({ live_viewers: 0 });
  });

  it('runs the sub-stream ffmpeg only while someone watches it', async () => {
    const subUrl = server.url('sub');
    expect(await ffmpegPidsFor(subUrl)).toEqual([]);
    const a = await connect('/cameras/cam/live?stream=sub');
    await a.waitForFragments(3);
    // The first sub viewer starts the ffmpeg: `offline` until its init arrives.
    expect(a.texts().map((t) => t.type)).toEqual(['offline', 'init']);
    expect(a.texts()[1]).toMatchObject({ type: 'init', stream: 'sub', width: 320, height: 180 });
    expect(a.stream().fragments[0]?.keyframe).toBe(true);
    const pids = await ffmpegPidsFor(subUrl);
    expect(pids).toHaveLength(1);
    // A second sub viewer shares the same process.
    const b = await connect('/cameras/cam/live?stream=sub');
    await b.waitForFragments(2);
    expect(b.texts()[0]).toMatchObject({ type: 'init', stream: 'sub' });
    expect(b.stream().fragments[0]?.keyframe).toBe(true);
    expect(await ffmpegPidsFor(subUrl)).toEqual(pids);
    expect((await status(vigil, 'cam')).live_viewers).toBe(2);
    const decoded = await decodedFrames(vigil.dataDir, 'sub.mp4', a.binaries());
    expect(decoded.width).toBe(320);
    expect(decoded.frames).toBeGreaterThan(0);
    await a.close();
    await b.close();
    // Stopped a few seconds after the last viewer left, and no process is left behind.
    await waitFor('sub-stream ffmpeg gone', async () => (await ffmpegPidsFor(subUrl)).length === 0, 20_000, 200);
    expect(vigil.app.live.subStreamPid('cam')).toBeUndefined();
    // Recording never stopped meanwhile.
    expect((await status(vigil, 'cam')).state).toBe('recording');
  });

  it('keeps a viewer across a recorder restart: offline, then a new init and a keyframe', async () => {
    const c = await connect('/cameras/cam/live');
    await c.waitForFragments(2);
    const oldPid = (await (await vigil.api('/cameras/cam/status')).json() as { pid: number }).pid;
    // A new segment length restarts the recorder's ffmpeg.
    expect((await vigil.api('/cameras/cam', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ segment_seconds: 3 }) })).status).toBe(200);
    await waitFor('a second init', () => c.texts().filter((t) => t.type === 'init').length >= 2, 30_000, 50);
    const types = c.texts().map((t) => t.type);
    expect(types).toEqual(['init', 'offline', 'init']);
    expect(c.texts()[2]).toMatchObject({ type: 'init', generation: (c.texts()[0]?.['generation'] as number) + 1 });
    const second = c.messages.findIndex((m, i) => i > 0 && m.text?.type === 'init');
    await waitFor('fragments of the new run', () => c.messages.length > second + 3, 10_000, 50);
    const { init, fragments } = c.stream(second + 1);
    expect(init).toBeDefined();
    expect(fragments[0]?.keyframe).toBe(true);
    expect((await status(vigil, 'cam')).state).toBe('recording');
    expect((await (await vigil.api('/cameras/cam/status')).json() as { pid: number }).pid).not.toBe(oldPid);
    await c.close();
  });

  it('closes viewers with 4404 when their camera is deleted, and kills the sub-stream ffmpeg', async () => {
    const main = await connect('/cameras/cam/live');
    const sub = await connect('/cameras/cam/live?stream=sub');
    await main.waitForFragments(1);
    await sub.waitForFragments(1);
    expect(await ffmpegPidsFor(server.url('sub'))).toHaveLength(1);
    expect((await vigil.api('/cameras/cam', { method: 'DELETE' })).status).toBe(204);
    await waitFor('viewers closed', () => main.closed && sub.closed, 10_000, 50);
    expect(main.closed?.code).toBe(LIVE_CLOSE.gone);
    expect(sub.closed?.code).toBe(LIVE_CLOSE.gone);
    await waitFor('sub-stream ffmpeg gone', async () => (await ffmpegPidsFor(server.url('sub'))).length === 0, 10_000, 100);
  });
});
