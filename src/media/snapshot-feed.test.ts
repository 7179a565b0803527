import { execFile, spawn } from 'node:child_process';
import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanFmp4, scanFmp4Buffer, type ByteSource } from './fmp4/scan.js';
import { buildSnapshotArgs, buildWarmSnapshotArgs, snapshotSeek, WARM_SNAPSHOT_T0_SECONDS } from './snapshot-args.js';
import { planSnapshot, planSnapshotFromSource, type SnapshotFeed } from './snapshot-feed.js';

const run = promisify(execFile);
const FPS = 25;
const FRAME_S = 1 / FPS;
/** The recorder's muxer flags: ftyp, moov, then one moof+mdat per keyframe. */
const RECORDER_MOVFLAGS = ['-movflags', '+frag_keyframe+empty_moov+default_base_moof'];

let dir: string;
/** 4 s, 1-s GOPs, no B-frames (as IP cameras send): 4 fragments of 25 frames. */
let plain: string;
/** The same with B-frames (presentation order differs from decode order). */
let bframes: string;
/** With an audio track. */
let withAudio: string;
/** 12 s, 1-s GOPs: for counting what the plan reads. */
let long: string;

async function encode(out: string, seconds: number, x264: string[], extra: string[] = []): Promise<string> {
  const file = join(dir, out);
  await run('ffmpeg', [
    '-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=${FPS}`, ...extra, '-t', String(seconds),
    '-c:v', 'libx264', ...x264, '-g', String(FPS), '-pix_fmt', 'yuv420p', ...RECORDER_MOVFLAGS, '-f', 'mp4', file,
  ]);
  return file;
}

/** Every frame of a file as the cold argv encodes one (mjpeg, -q:v 3), in presentation order. */
async function allFrames(file: string): Promise<Buffer[]> {
  const out = await mkdtemp(join(dir, 'frames-'));
  await run('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:v:0', '-c:v', 'mjpeg', '-q:v', '3', '-f', 'image2', join(out, '%04d.jpg')]);
  const names = (await readdir(out)).sort();
  return Promise.all(names.map((n) => readFile(join(out, n))));
}

/** Runs the warm decoder's argv on the feed, as the snapshot service writes it. */
async function warmJpeg(file: string, feed: SnapshotFeed): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const child = spawn('ffmpeg', buildWarmSnapshotArgs(), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.stdin.on('error', () => undefined);
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdin.write(feed.init);
    for (const p of feed.parts) {
      child.stdin.write(p.head);
      const payload = Buffer.alloc(p.payloadLength);
      await fh.read(payload, 0, p.payloadLength, p.payloadOffset);
      child.stdin.write(payload);
    }
    child.stdin.end();
    expect({ code: await closed, err }).toEqual({ code: 0, err: '' });
    return Buffer.concat(out);
  } finally {
    await fh.close();
  }
}

async function coldJpeg(file: string, seekSeconds: number): Promise<Buffer> {
  const { stdout } = await run('ffmpeg', buildSnapshotArgs({ absPath: file, seekSeconds }), { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

async function plan(file: string, offsetSeconds: number) {
  const fh = await open(file, 'r');
  try {
    return await planSnapshot(fh, (await fh.stat()).size, offsetSeconds);
  } finally {
    await fh.close();
  }
}

/** The bytes the decoder is given, in one buffer (to look at with the fMP4 reader). */
async function fedBytes(file: string, feed: SnapshotFeed): Promise<Buffer> {
  const whole = await readFile(file);
  return Buffer.concat([feed.init, ...feed.parts.flatMap((p) => [p.head, whole.subarray(p.payloadOffset, p.payloadOffset + p.payloadLength)])]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-snapshot-feed-'));
  const noB = ['-preset', 'ultrafast', '-bf', '0'];
  [plain, bframes, withAudio, long] = await Promise.all([
    encode('plain.mp4', 4, noB),
    encode('bframes.mp4', 4, ['-preset', 'veryfast', '-bf', '2']),
    encode('audio.mp4', 2, noB, ['-f', 'lavfi', '-i', 'sine=frequency=440', '-c:a', 'aac', '-map', '0:v', '-map', '1:a']),
    encode('long.mp4', 12, noB),
  ]);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the warm decoder gives the same picture as the cold path', () => {
  // [instant into the file, frame shown then]: first frame, mid-GOP, last of a GOP, first of the
  // next, an instant exactly on a frame start, the last frame of the segment, past the end.
  const cases: Array<[number, number]> = [[0, 0], [0.5, 12], [0.999, 24], [1.0, 25], [2.36, 59], [3.97, 99], [4.5, 99]];

  it('byte for byte, for instants across the segment (no B-frames, as cameras send)', async () => {
    const frames = await allFrames(plain);
    expect(frames).toHaveLength(100);
    for (const [at, frame] of cases) {
      const p = await plan(plain, at);
      expect(p.refusal).toBeUndefined();
      expect(p.timing?.frameSeconds).toBeCloseTo(frame * FRAME_S, 9);
      const warm = await warmJpeg(plain, p.feed as SnapshotFeed);
      const cold = await coldJpeg(plain, p.timing?.seekSeconds ?? NaN);
      expect({ at, warm: frames.findIndex((f) => f.equals(warm)), cold: frames.findIndex((f) => f.equals(cold)) }).toEqual({ at, warm: frame, cold: frame });
    }
  });

  it('with B-frames, the frame presented at the instant (decoded from the GOP before, when the instant is at its end)', async () => {
    const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'stream=has_b_frames', '-of', 'csv=p=0', bframes]);
    expect(Number(stdout.trim())).toBeGreaterThan(0);
    const frames = await allFrames(bframes);
    for (const [at, frame] of cases) {
      const p = await plan(bframes, at);
      const warm = await warmJpeg(bframes, p.feed as SnapshotFeed);
      expect({ at, frame: frames.findIndex((f) => f.equals(warm)) }).toEqual({ at, frame });
    }
  });

  it('on a file whose timeline does not start at 0 (a later segment of a recording), the same picture', async () => {
    // Every tfdt moved 10 h later, as a segment cut from a long recording without resetting timestamps carries.
    const shifted = Buffer.from(await readFile(plain));
    const scan = scanFmp4Buffer(shifted);
    const timescale = scan.tracks[0]?.timescale ?? 0;
    for (const f of scan.fragments) {
      const at = shifted.indexOf('tfdt', f.offset, 'latin1');
      expect(shifted.readUInt8(at + 4)).toBe(1);
      shifted.writeBigUInt64BE(shifted.readBigUInt64BE(at + 8) + BigInt(36_000 * timescale), at + 8);
    }
    const file = join(dir, 'shifted.mp4');
    await writeFile(file, shifted);
    expect(scanFmp4Buffer(shifted).firstDecodeTimeSeconds).toBe(36_000);
    const frames = await allFrames(plain);
    for (const [at, frame] of [[0.5, 12], [2.0, 50], [3.97, 99]] as const) {
      const p = await plan(file, at);
      const warm = await warmJpeg(file, p.feed as SnapshotFeed);
      expect({ at, frame: frames.findIndex((f) => f.equals(warm)), cold: (await coldJpeg(file, p.timing?.seekSeconds ?? NaN)).equals(warm) }).toEqual({ at, frame, cold: true });
    }
  });

  it('the frame wanted is the last one fed, presented half a frame after T0, and the GOP starts at its keyframe', async () => {
    const p = await plan(plain, 0.5);
    const fed = scanFmp4Buffer(await fedBytes(plain, p.feed as SnapshotFeed));
    expect(fed.fragments).toHaveLength(1);
    const [frag] = fed.fragments;
    // Frame 12 of the GOP, cut after it: 13 samples, and less data than the 25-frame fragment holds.
    expect(frag?.sampleCount).toBe(13);
    expect(frag?.startsWithKeyframe).toBe(true);
    expect(frag?.decodeTimeSeconds).toBeCloseTo(WARM_SNAPSHOT_T0_SECONDS + FRAME_S / 2 - 12 * FRAME_S, 6);
    const original = (await scanFmp4(plain)).fragments[0];
    expect(p.feed?.parts[0]?.payloadLength).toBeLessThan((original?.endOffset ?? 0) - (original?.offset ?? 0) - 400);
  });
});

describe('planning a snapshot', () => {
  it('finds the same frame and seek as snapshotSeek over a full scan, at any instant', async () => {
    const scan = await scanFmp4(long);
    for (let at = 0; at < 12.5; at += 0.37) {
      const p = await plan(long, at);
      expect(p.timing).toEqual(snapshotSeek(scan.fragments, scan.firstDecodeTimeSeconds ?? 0, at));
    }
  });

  it('reads box headers and moofs only, and stops at the first fragment after the instant', async () => {
    const fh = await open(long, 'r');
    try {
      const size = (await fh.stat()).size;
      const reads: Array<[number, number]> = [];
      const src: ByteSource = {
        size,
        async read(offset, length) {
          reads.push([offset, length]);
          const buf = Buffer.alloc(Math.min(length, size - offset));
          await fh.read(buf, 0, buf.length, offset);
          return buf;
        },
      };
      const p = await planSnapshotFromSource(src, 1.5);
      const frags = (await scanFmp4(long)).fragments;
      expect(p.feed?.parts.map((x) => x.payloadOffset)).toHaveLength(1);
      // Nothing read at or past the fourth fragment (the third starts after 1.5 s and ends the walk).
      expect(Math.max(...reads.map(([o, l]) => o + l))).toBeLessThanOrEqual(frags[3]?.offset ?? 0);
      // No media payload read: a few KiB of headers out of a file of hundreds.
      const readBytes = reads.reduce((n, [, l]) => n + l, 0);
      expect(readBytes).toBeLessThan(16 * 1024);
      expect(size).toBeGreaterThan(20 * readBytes);
    } finally {
      await fh.close();
    }
  });

  it('leaves a file with more than the video track to the cold path, with the timing the cold path uses', async () => {
    const p = await plan(withAudio, 0.5);
    expect(p.feed).toBeUndefined();
    expect(p.refusal).toBe('not a single video track');
    const scan = await scanFmp4(withAudio);
    expect(p.timing).toEqual(snapshotSeek(scan.fragments, scan.firstDecodeTimeSeconds ?? 0, 0.5));
  });

  it('refuses what is not a fragmented MP4, as the full scan does', async () => {
    await expect(plan(join(dir, 'frames-nope'), 0)).rejects.toThrow();
    const notMp4 = join(dir, 'not.mp4');
    await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=64x64:rate=5', '-t', '1', '-f', 'mpegts', notMp4]);
    await expect(plan(notMp4, 0)).rejects.toMatchObject({ name: 'Fmp4Error', reason: 'not_mp4' });
  });
});
