import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../shared/sleep.js';
import { RtspServer, rtspServerAvailable, type RtspSceneEvent, type SceneRect } from './rtsp-server.js';

/**
 * The motion test camera (`scene: 'still'`), as a detector sees it: real gst-rtsp-server, real ffmpeg
 * decoding small grey frames (160×90 at 5 fps). Still but for the clock in its top-left 30 % × 15 %; an
 * object that moves inside the rectangle moveObject() names and nowhere else; a brightness ramp that is
 * smooth from frame to frame.
 */

const W = 160;
const H = 90;
const FPS = 5;
const FRAME_BYTES = W * H;
const RECT_A: SceneRect = { x: 0.55, y: 0.5, w: 0.4, h: 0.45 };
/** A change reaches the decoded frames ~1 s after the server applied it (its live pipeline, RTP, decoding). */
const SETTLE_MS = 1500;
/** How much later than its stream time a collected run of frames may arrive on a loaded machine. */
const COLLECT_SLACK_MS = 8000;

type Frame = { atMs: number; px: Buffer };
type Region = (x: number, y: number) => boolean;

const inClock: Region = (x, y) => x < 0.3 * W && y < 0.15 * H;
const inRect = (r: SceneRect): Region => (x, y) => x >= r.x * W && x < (r.x + r.w) * W && y >= r.y * H && y < (r.y + r.h) * H;
const not = (...regions: Region[]): Region => (x, y) => !regions.some((r) => r(x, y));
const everywhere: Region = () => true;

/** Mean absolute grey difference of two frames over a region. */
function meanDiff(a: Frame, b: Frame, region: Region): number {
  let sum = 0;
  let n = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (!region(x, y)) continue;
      sum += Math.abs(a.px[y * W + x]! - b.px[y * W + x]!);
      n++;
    }
  }
  return sum / n;
}

/** Pixels of a region that differ by more than `levels` between two frames: [count, share of the region]. */
function changed(a: Frame, b: Frame, region: Region, levels: number): [number, number] {
  let count = 0;
  let n = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (!region(x, y)) continue;
      if (Math.abs(a.px[y * W + x]! - b.px[y * W + x]!) > levels) count++;
      n++;
    }
  }
  return [count, count / n];
}
const changedShare = (a: Frame, b: Frame, region: Region, levels: number) => changed(a, b, region, levels)[1];

function meanLevel(f: Frame, region: Region): number {
  let sum = 0;
  let n = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (!region(x, y)) continue;
      sum += f.px[y * W + x]!;
      n++;
    }
  }
  return sum / n;
}

/** ffmpeg decoding the stream to 160×90 grey frames, each stamped with when it arrived. */
class FrameReader {
  readonly frames: Frame[] = [];
  private readonly child: ChildProcess;
  private pending = Buffer.alloc(0);
  stderr = '';

  constructor(url: string) {
    this.child = spawn('ffmpeg', [
      '-hide_banner', '-loglevel', 'error',
      // Each picture as soon as it arrives (no input buffering, no frame-threaded decoding), as the detector decodes.
      '-fflags', 'nobuffer', '-flags', 'low_delay', '-threads', '1',
      '-rtsp_transport', 'tcp', '-analyzeduration', '1000000', '-i', url, '-an', '-vf', `fps=${FPS},scale=${W}:${H},format=gray`, '-f', 'rawvideo', 'pipe:1',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-4000)));
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= FRAME_BYTES) {
        this.frames.push({ atMs: Date.now(), px: Buffer.from(this.pending.subarray(0, FRAME_BYTES)) });
        this.pending = this.pending.subarray(FRAME_BYTES);
      }
    });
  }

  /**
   * The next `ms` of the stream (after skipping `settleMs`: the change reaching the decoder): as many
   * frames as the stream carries in that time (`fps=` makes it steady), however late a loaded machine
   * hands them over; a wall-clock window of that length may hold fewer.
   */
  async collect(ms: number, settleMs = 0): Promise<Frame[]> {
    if (settleMs > 0) await sleep(settleMs);
    const from = this.frames.length;
    const want = Math.floor((ms * FPS) / 1000);
    const deadline = Date.now() + ms + COLLECT_SLACK_MS;
    while (this.frames.length - from < want && Date.now() < deadline) await sleep(50);
    return this.frames.slice(from, from + want);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    await exited;
  }
}

const availability = await rtspServerAvailable();

describe.skipIf(!availability.ok)('motion test camera: scene still (real gst-rtsp-server, real ffmpeg)', () => {
  let server: RtspServer;
  let reader: FrameReader;
  let still: Frame[] = [];

  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'door', scene: 'still', width: 640, height: 360, fps: FPS, seek: false }] });
    reader = new FrameReader(server.url('door'));
    const deadline = Date.now() + 20_000;
    while (reader.frames.length < 3 && Date.now() < deadline) await sleep(100);
    expect(reader.frames.length, reader.stderr).toBeGreaterThanOrEqual(3);
  }, 30_000);

  afterAll(async () => {
    await reader?.stop();
    await server?.stop();
  });

  it('is still but for the clock, which changes inside the top-left 30 % × 15 %', async () => {
    still = await reader.collect(3000);
    expect(still.length).toBeGreaterThanOrEqual(12);
    for (let i = 1; i < still.length; i++) {
      expect(meanDiff(still[i - 1]!, still[i]!, not(inClock)), `frames ${i - 1}→${i} outside the clock`).toBeLessThan(1.5);
    }
    // Nothing drifts either: the first and the last frame, 3 s apart, are the same picture.
    expect(meanDiff(still[0]!, still.at(-1)!, not(inClock))).toBeLessThan(1.5);
    // The clock ticks: its box changes between any two frames a second apart (its seconds digit at
    // least; small digits in a 160×90 copy, so a few pixels, where nothing else changes at all).
    for (let i = FPS; i < still.length; i++) {
      expect(changed(still[i - FPS]!, still[i]!, inClock, 10)[0], `frames ${i - FPS}→${i} in the clock box`).toBeGreaterThanOrEqual(3);
    }
  }, 30_000);

  it('moves an object inside the rectangle moveObject() names, nowhere else, until moveObject(null)', async () => {
    const before = Date.now();
    const shownAt = await server.moveObject('door', RECT_A);
    expect(shownAt).toBeGreaterThanOrEqual(before - 1000);
    expect(shownAt).toBeLessThanOrEqual(Date.now() + 1000);
    const moving = await reader.collect(3000, SETTLE_MS);
    expect(moving.length).toBeGreaterThanOrEqual(12);
    const outside = not(inRect(RECT_A), inClock);
    for (let i = FPS; i < moving.length; i++) {
      const [a, b] = [moving[i - FPS]!, moving[i]!];
      // Frames 1 s apart: the object is elsewhere in the rectangle (it moved, it did not blink).
      expect(changedShare(a, b, inRect(RECT_A), 25), `frames ${i - FPS}→${i} inside A`).toBeGreaterThan(0.05);
      expect(meanDiff(a, b, outside), `frames ${i - FPS}→${i} outside A`).toBeLessThan(1.5);
    }
    for (let i = 1; i < moving.length; i++) {
      // It moves from frame to frame too, and only inside A.
      expect(changedShare(moving[i - 1]!, moving[i]!, inRect(RECT_A), 25), `frames ${i - 1}→${i} inside A`).toBeGreaterThan(0.01);
      expect(meanDiff(moving[i - 1]!, moving[i]!, outside)).toBeLessThan(1.5);
    }
    // The still picture is there outside A, and A shows something else (the object over it).
    expect(meanDiff(still[0]!, moving[0]!, outside)).toBeLessThan(1.5);
    expect(changedShare(still[0]!, moving[0]!, inRect(RECT_A), 25)).toBeGreaterThan(0.05);

    const hiddenAt = await server.moveObject('door', null);
    expect(hiddenAt).toBeGreaterThan(shownAt);
    const after = await reader.collect(2000, SETTLE_MS);
    expect(after.length).toBeGreaterThanOrEqual(8);
    for (let i = 1; i < after.length; i++) {
      expect(meanDiff(after[i - 1]!, after[i]!, not(inClock)), `frames ${i - 1}→${i} after hiding`).toBeLessThan(1.5);
    }
    // Still again, and the same picture as before the object came (not a frozen frame of it).
    expect(meanDiff(still[0]!, after.at(-1)!, not(inClock))).toBeLessThan(1.5);
  }, 40_000);

  it('moves the object in another rectangle when asked, and rejects a rectangle outside the picture', async () => {
    const left: SceneRect = { x: 0.05, y: 0.3, w: 0.3, h: 0.5 };
    await server.moveObject('door', left);
    const moving = await reader.collect(1500, SETTLE_MS);
    const a = moving[0]!;
    const b = moving[FPS]!;
    expect(changedShare(a, b, inRect(left), 25)).toBeGreaterThan(0.05);
    expect(meanDiff(a, b, not(inRect(left), inClock))).toBeLessThan(1.5);
    await server.moveObject('door', null);
    await expect(server.moveObject('door', { x: 0.8, y: 0.5, w: 0.4, h: 0.2 })).rejects.toThrow(/inside the picture/);
    await expect(server.moveObject('nosuch', RECT_A)).rejects.toThrow(/no scene=still mount/);
  }, 30_000);

  it('setBrightness ramps the whole picture up smoothly: steady from frame to frame, never a jump', async () => {
    await sleep(SETTLE_MS);
    const base = meanLevel(reader.frames.at(-1)!, not(inClock));
    const startedAt = await server.setBrightness('door', 0.3, 3000);
    expect(startedAt).toBeLessThanOrEqual(Date.now() + 1000);
    // The 3 s ramp, the frames before it reaches the decoder and a few after its end.
    const ramp = await reader.collect(3000 + SETTLE_MS + 500);
    const levels = ramp.map((f) => meanLevel(f, not(inClock)));
    const top = levels.at(-1)!;
    // +0.3 is about +75 grey levels where the picture does not clip.
    expect(top - base, `from ${base.toFixed(1)} to ${top.toFixed(1)}`).toBeGreaterThan(40);
    let rising = 0;
    for (let i = 1; i < ramp.length; i++) {
      // Monotone within noise, and small steps: a light change, not motion.
      expect(levels[i]!, `level ${i}: ${levels.map((l) => l.toFixed(1)).join(' ')}`).toBeGreaterThan(levels[i - 1]! - 1);
      expect(meanDiff(ramp[i - 1]!, ramp[i]!, everywhere), `frames ${i - 1}→${i}`).toBeLessThan(8);
      if (levels[i]! - levels[i - 1]! > 1) rising++;
    }
    // Spread over the ramp's frames (3 s at 5 fps = 15), not a few big steps.
    expect(rising, levels.map((l) => l.toFixed(1)).join(' ')).toBeGreaterThanOrEqual(10);
  }, 30_000);
});

describe.skipIf(!availability.ok)('motion test camera: every media of the mount (shared false, seek on)', () => {
  let server: RtspServer;
  const readers: FrameReader[] = [];
  const acks: RtspSceneEvent[] = [];

  afterAll(async () => {
    await Promise.all(readers.map((r) => r.stop()));
    await server?.stop();
  });

  it('moves the object in each client\'s own pipeline, also one that starts after the command', async () => {
    server = await RtspServer.start({ mounts: [{ name: 'solo', scene: 'still', shared: false, width: 640, height: 360, fps: FPS, gop: 10, bitrateKbps: 600 }] });
    server.on('event', (e) => {
      if (e.event === 'object') acks.push(e);
    });
    const first = new FrameReader(server.url('solo'));
    readers.push(first);
    const deadline = Date.now() + 20_000;
    while (first.frames.length < 3 && Date.now() < deadline) await sleep(100);
    expect(first.frames.length, first.stderr).toBeGreaterThanOrEqual(3);

    await server.moveObject('solo', RECT_A);
    expect(acks.at(-1)).toMatchObject({ on: true, rect: [0.55, 0.5, 0.4, 0.45], medias: 1 });
    const second = new FrameReader(server.url('solo'));
    readers.push(second);
    while (second.frames.length < 3 && Date.now() < deadline + 10_000) await sleep(100);
    expect(second.frames.length, second.stderr).toBeGreaterThanOrEqual(3);
    const [a, b] = await Promise.all([first.collect(1400, SETTLE_MS), second.collect(1400, SETTLE_MS)]);
    for (const frames of [a, b]) {
      expect(frames.length).toBeGreaterThan(FPS);
      expect(changedShare(frames[0]!, frames[FPS]!, inRect(RECT_A), 25)).toBeGreaterThan(0.05);
      expect(meanDiff(frames[0]!, frames[FPS]!, not(inRect(RECT_A), inClock))).toBeLessThan(1.5);
    }

    await server.moveObject('solo', null);
    expect(acks.at(-1)).toMatchObject({ on: false, rect: null, medias: 2 });
    const [c, d] = await Promise.all([first.collect(1400, SETTLE_MS), second.collect(1400, SETTLE_MS)]);
    for (const frames of [c, d]) {
      expect(frames.length).toBeGreaterThan(FPS);
      expect(meanDiff(frames[0]!, frames[FPS]!, not(inClock))).toBeLessThan(1.5);
    }
  }, 75_000);
});
