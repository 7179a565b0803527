import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer, type RtspFreezeEvent } from '../../src/demo/rtsp-server.js';
import { sleep } from '../../src/shared/sleep.js';
import { removeDir, tempDir } from '../support/harness.js';
import { fileTimecodes, imageTimecode } from '../support/timecode.js';

/**
 * The fake camera's burned-in timecode (scripts/rtsp-server.py code=1), read back by
 * test/support/timecode.ts from what a real RTSP client (ffmpeg) records: the ground truth the time
 * truth tests compare Vigil with.
 */
const FPS = 15;
const FRAME_MS = 1000 / FPS;
/** Codes are whole milliseconds: a frame interval reads 66 or 67 ms. */
const STEP_SLACK_MS = 2;

type Frame = { ptsSeconds: number; ms: number | undefined };

/** Runs ffmpeg (argv, no shell); SIGKILL after `timeoutMs`; resolves once it is reaped. */
function ffmpeg(args: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string; stdout: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.env['FFMPEG_PATH'] ?? 'ffmpeg', ['-nostdin', '-hide_banner', '-v', 'error', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout: Buffer.concat(out) });
    });
  });
}

/** Records an RTSP URL into a fragmented MP4 as Vigil's recorder does (`-c copy`, one fragment a keyframe). */
async function record(url: string, file: string, opts: { seconds: number; inputArgs?: string[] }): Promise<void> {
  const r = await ffmpeg(
    [
      '-rtsp_transport', 'tcp', ...(opts.inputArgs ?? []), '-i', url,
      '-t', String(opts.seconds), '-c', 'copy',
      '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', '-y', file,
    ],
    (opts.seconds + 20) * 1000,
  );
  expect(r.code, r.stderr).toBe(0);
}

/** Adjacent frames whose codes both decode: [earlier, later, frames apart]. */
function decodedPairs(frames: Frame[]): Array<[Frame & { ms: number }, Frame & { ms: number }, number]> {
  const pairs: Array<[Frame & { ms: number }, Frame & { ms: number }, number]> = [];
  let last: { f: Frame & { ms: number }; i: number } | undefined;
  frames.forEach((f, i) => {
    if (f.ms === undefined) return;
    const cur = f as Frame & { ms: number };
    if (last) pairs.push([last.f, cur, i - last.i]);
    last = { f: cur, i };
  });
  return pairs;
}

/** Every frame's code steps one frame interval (per frame apart) from the last decoded one. */
function expectSteadySteps(what: string, frames: Frame[]): void {
  for (const [a, b, apart] of decodedPairs(frames)) {
    expect(Math.abs(b.ms - a.ms - apart * FRAME_MS), `${what}: step ${a.ms} -> ${b.ms} over ${apart} frame(s)`).toBeLessThanOrEqual(STEP_SLACK_MS);
  }
}

/** `file`'s bytes without the first fragment (moof + mdat): a file whose first fragment starts later than 0. */
function withoutFirstFragment(buf: Buffer): Buffer {
  const boxes: Array<{ type: string; start: number; end: number }> = [];
  for (let pos = 0; pos + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const end = size === 1 ? pos + Number(buf.readBigUInt64BE(pos + 8)) : size === 0 ? buf.length : pos + size;
    if (end <= pos || end > buf.length) break;
    boxes.push({ type, start: pos, end });
    pos = end;
  }
  const firstMoof = boxes.findIndex((b) => b.type === 'moof');
  const secondMoof = boxes.findIndex((b, i) => i > firstMoof && b.type === 'moof');
  expect(firstMoof, 'a fragmented MP4').toBeGreaterThan(0);
  expect(secondMoof, 'at least two fragments').toBeGreaterThan(firstMoof);
  const keep = [...boxes.slice(0, firstMoof), ...boxes.slice(secondMoof)];
  return Buffer.concat(keep.map((b) => buf.subarray(b.start, b.end)));
}

describe('fake camera burned-in timecode (code=1)', () => {
  let server: RtspServer;
  let dir: string;
  const freezeAcks: RtspFreezeEvent[] = [];

  beforeAll(async () => {
    dir = await tempDir('vigil-timecode-');
    server = await RtspServer.start({
      mounts: [
        { name: 'cam1', fps: FPS, code: true, edge: { sinceMs: Date.now() - 120_000 } },
        { name: 'cam2', fps: FPS, code: true },
      ],
    });
    server.on('freeze', (e) => freezeAcks.push(e));
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) await removeDir(dir);
  });

  let liveFile = '';
  let live: Frame[] = [];

  it('live: every frame carries its capture instant', async () => {
    liveFile = join(dir, 'live.mp4');
    const before = Date.now();
    const recording = record(server.url('cam1'), liveFile, { seconds: 3 });
    const firstRtp = await server.waitForFirstRtp('cam1', { after: before });
    await recording;
    const after = Date.now();
    const play = server.eventTimes('play', 'cam1').find((t) => t >= before) as number;
    expect(play).toBeDefined();

    live = await fileTimecodes(liveFile);
    expect(live.length).toBeGreaterThanOrEqual(3 * FPS);
    const decoded = live.filter((f) => f.ms !== undefined);
    expect(decoded.length / live.length, 'share of frames whose code decodes').toBeGreaterThanOrEqual(0.9);
    expectSteadySteps('live', live);
    // The codes follow the stream's own timeline (RTP timestamps = PTS): code - pts is constant. But
    // for the first frame: ffmpeg's RTSP demuxer hands over the session's first packet without a
    // timestamp and -c copy stamps it one tick before the second frame, a frame interval late.
    const offsets = decoded.slice(1).map((f) => (f.ms as number) - f.ptsSeconds * 1000);
    expect(Math.max(...offsets) - Math.min(...offsets), 'code - pts spread').toBeLessThanOrEqual(STEP_SLACK_MS);

    // The first frame the client gets is captured when its PLAY restarts the prerolled pipeline:
    // `first_rtp` is the preroll frame (made at DESCRIBE, then flushed by the PLAY's seek, never
    // sent), ~25-60 ms earlier; the `play` event is emitted once PLAY is handled, just after.
    const first = live[0]?.ms as number;
    expect(first, 'the first frame decodes').toBeDefined();
    expect(first - firstRtp, `first code vs first_rtp ${firstRtp}`).toBeGreaterThanOrEqual(-150);
    expect(first - play, `first code vs play ${play}`).toBeLessThanOrEqual(50);
    expect(decoded.at(-1)?.ms as number).toBeLessThanOrEqual(after);
  });

  it('JPEG: a frame extracted at -q:v 5 decodes to the same instant', async () => {
    const i = Math.min(10, live.length - 1);
    expect(live[i]?.ms).toBeDefined();
    const jpeg = await ffmpeg(['-i', liveFile, '-vf', `select=eq(n\\,${i})`, '-frames:v', '1', '-q:v', '5', '-f', 'image2pipe', '-c:v', 'mjpeg', 'pipe:1'], 20_000);
    expect(jpeg.code, jpeg.stderr).toBe(0);
    expect(await imageTimecode(jpeg.stdout)).toBe(live[i]?.ms);
  });

  it('fragmented MP4 fed on stdin whose first fragment does not start at 0', async () => {
    const cut = withoutFirstFragment(await readFile(liveFile));
    const frames = await fileTimecodes(cut);
    // frag_keyframe: the second fragment starts at the second keyframe, one GOP in; its frames keep
    // their times on the file's timeline (~1 s: see the first frame's timestamp in the live test).
    expect(frames.length).toBe(live.length - FPS);
    expect(frames[0]?.ptsSeconds).toBeGreaterThan(0.9);
    expect(frames).toEqual(live.slice(FPS));
  });

  it('edge replay: frame n shows start + n/fps of the requested span', async () => {
    const start = Math.floor((Date.now() - 30_000) / 1000) * 1000;
    const end = start + 3000;
    const file = join(dir, 'replay.mp4');
    const before = Date.now();
    await record(server.replayUrl('cam1', 'hikvision', start, end), file, { seconds: 10 });
    const ended = await server.waitForReplayEvent('replay_end', 'cam1', { after: before });
    expect(ended.start_ms).toBe(start);

    const frames = await fileTimecodes(file);
    // The span's frames but its last: gst-rtsp-server makes the first at DESCRIBE and flushes it when
    // PLAY seeks; the source then starts the span again and stops after num-buffers in all.
    expect(frames.length).toBeGreaterThanOrEqual(3 * FPS - 1);
    expect(frames.length).toBeLessThanOrEqual(3 * FPS);
    expect(frames.filter((f) => f.ms !== undefined).length / frames.length).toBeGreaterThanOrEqual(0.9);
    expect(frames[0]?.ms, 'the first frame shows the span start').toBe(start);
    frames.forEach((f, n) => {
      if (f.ms !== undefined) expect(f.ms, `frame ${n}`).toBe(start + Math.round((n * 1000) / FPS));
    });
  });

  it('freeze: the live stream stops with the session open, then the owed frames come in one back-dated burst', async () => {
    await expect(server.freeze('nope', true)).rejects.toThrow(/no such mount/);
    const file = join(dir, 'freeze.mp4');
    const started = Date.now();
    // Arrival-time timestamps: a frame's pts is when ffmpeg received it (from the first frame on).
    const recording = record(server.url('cam2'), file, { seconds: 6, inputArgs: ['-use_wallclock_as_timestamps', '1'] });
    await server.waitForFirstRtp('cam2', { after: started });
    await sleep(1500);
    await server.freeze('cam2', true);
    await sleep(3000);
    await server.freeze('cam2', false);
    await recording;
    const [on, off] = freezeAcks.filter((a) => a.mount === '/cam2');
    expect(on).toMatchObject({ on: true, medias: 1 });
    expect(off).toMatchObject({ on: false, medias: 1 });
    const onMs = (on as RtspFreezeEvent).wall_ms;
    const offMs = (off as RtspFreezeEvent).wall_ms;
    const frozenMs = offMs - onMs;

    const frames = await fileTimecodes(file);
    expect(frames.filter((f) => f.ms !== undefined).length / frames.length).toBeGreaterThanOrEqual(0.9);
    // No frame lost, none repeated: the codes run on across the freeze a frame interval apart.
    expectSteadySteps('across the freeze', frames);

    // On the wall, one gap as long as the freeze: before it frames captured before the freeze; after
    // it first the frame the block caught on its way (captured about when the freeze began) …
    const arrivals = frames.map((f) => f.ptsSeconds * 1000);
    const gaps = arrivals.slice(1).map((t, i) => t - (arrivals[i] as number));
    const gapAt = gaps.indexOf(Math.max(...gaps)) + 1; // the first frame after the gap
    expect(Math.abs((gaps[gapAt - 1] as number) - frozenMs), `arrival gap vs freeze of ${frozenMs} ms`).toBeLessThan(300);
    expect(frames[gapAt - 1]?.ms).toBeLessThan(onMs);
    expect(Math.abs((frames[gapAt]?.ms as number) - onMs)).toBeLessThanOrEqual(2 * FRAME_MS);
    // … then, within a fraction of a second, every frame captured during the freeze (back-dated) …
    let owedEnd = gapAt;
    while (owedEnd < frames.length && (frames[owedEnd]?.ms ?? -Infinity) < offMs) owedEnd++;
    expect(owedEnd - gapAt, 'frames owed on release').toBeGreaterThanOrEqual(Math.floor(frozenMs / FRAME_MS) - 1);
    expect((arrivals[owedEnd - 1] as number) - (arrivals[gapAt] as number), 'the burst').toBeLessThan(1000);
    // … and from then on frames arrive as long after their capture as before the freeze. (Frame 0 is
    // left out: ffmpeg stamps the session's first packet with the second's arrival.)
    const lateness = (from: number, to: number) =>
      frames
        .slice(from, to)
        .map((f, i) => (f.ms === undefined ? NaN : (arrivals[from + i] as number) - (f.ms - (frames[1]?.ms as number))))
        .filter(Number.isFinite);
    const before = lateness(1, gapAt);
    const after = lateness(owedEnd, frames.length).slice(2);
    expect(after.length).toBeGreaterThan(5);
    // Compared by their medians: single arrivals jitter by more than 100 ms on a busy machine.
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
    expect(median(after), 'lateness after the burst').toBeLessThan(median(before) + 100);
    expect(median(after), 'lateness after the burst').toBeGreaterThan(median(before) - 100);
  });
});
