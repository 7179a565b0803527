import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fmp4StreamSplitter, LiveStreamError, MAX_LIVE_BOX_BYTES, type LiveFragment, type LiveInit } from './stream.js';
import { liveOutputArgs } from '../live-args.js';

const run = promisify(execFile);
let dir: string;
/** What the live output args make of a 3 s, 15 fps, 1 s GOP H.264 and H.265 source. */
let h264Live: Buffer;
let hevcLive: Buffer;

async function liveBytes(codecArgs: string[], name: string): Promise<Buffer> {
  const src = join(dir, `${name}-src.mp4`);
  const out = join(dir, `${name}-live.mp4`);
  await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=15', '-t', '3', ...codecArgs, src]);
  // The recorder's own output options, to a file instead of the pipe.
  await run('ffmpeg', ['-v', 'error', '-y', '-i', src, ...liveOutputArgs(out)]);
  return readFile(out);
}

function splitAll(bytes: Buffer, chunkSize: (i: number) => number) {
  const s = new Fmp4StreamSplitter();
  const inits: LiveInit[] = [];
  const fragments: LiveFragment[] = [];
  for (let off = 0, i = 0; off < bytes.length; i++) {
    const n = Math.max(1, chunkSize(i));
    for (const c of s.push(bytes.subarray(off, off + n))) {
      if (c.kind === 'init') inits.push(c.init);
      else fragments.push(c.fragment);
    }
    off += n;
  }
  return { inits, fragments };
}

async function probe(file: string, entries: string) {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', entries, '-of', 'json', file]);
  return (JSON.parse(stdout) as { streams: Array<Record<string, string | number>> }).streams[0] ?? {};
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-live-split-'));
  h264Live = await liveBytes(['-c:v', 'libx264', '-profile:v', 'high', '-level', '3.1', '-g', '15', '-pix_fmt', 'yuv420p'], 'h264');
  hevcLive = await liveBytes(['-c:v', 'libx265', '-x265-params', 'keyint=15:min-keyint=15:log-level=error', '-pix_fmt', 'yuv420p'], 'hevc');
}, 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('Fmp4StreamSplitter', () => {
  it('splits the live output into one init and keyframe-flagged fragments, whatever the chunking', () => {
    const whole = splitAll(h264Live, () => h264Live.length);
    const bytewise = splitAll(h264Live, () => 1);
    const random = splitAll(h264Live, (i) => ((i * 7919) % 9000) + 1);
    for (const r of [bytewise, random]) {
      expect(r.inits.map((x) => x.data)).toEqual(whole.inits.map((x) => x.data));
      expect(r.fragments.map((f) => [f.keyframe, f.data.length])).toEqual(whole.fragments.map((f) => [f.keyframe, f.data.length]));
    }
    expect(whole.inits).toHaveLength(1);
    const init = whole.inits[0] as LiveInit;
    expect(init.data.toString('latin1', 4, 8)).toBe('ftyp');
    expect(init.width).toBe(320);
    expect(init.height).toBe(240);
    // 3 s at a 1 s GOP: three fragments start with a keyframe, the first among them.
    expect(whole.fragments[0]?.keyframe).toBe(true);
    expect(whole.fragments.filter((f) => f.keyframe)).toHaveLength(3);
    // Cut inside the GOP too: fragments of at most 200 ms (+ one frame, as the muxer cuts at the next packet).
    expect(whole.fragments.length).toBeGreaterThanOrEqual(15);
    for (const f of whole.fragments) {
      expect(f.data.toString('latin1', 4, 8)).toBe('moof');
      expect(f.durationSeconds).toBeGreaterThan(0);
      expect(f.durationSeconds).toBeLessThanOrEqual(0.2 + 1 / 15 + 1e-6);
    }
    const total = whole.fragments.reduce((s, f) => s + f.durationSeconds, 0);
    expect(total).toBeCloseTo(3, 1);
  });

  it('gives the MSE codec string avc1.PPCCLL from avcC (profile High, level 3.1)', async () => {
    const { inits } = splitAll(h264Live, () => 4096);
    const init = inits[0] as LiveInit;
    expect(init.codec).toMatch(/^avc1\.64[0-9a-f]{2}1f$/);
    expect(init.mime).toBe(`video/mp4; codecs="${init.codec}"`);
    const p = await probe(join(dir, 'h264-src.mp4'), 'stream=profile,level');
    expect(p['profile']).toBe('High');
    expect(p['level']).toBe(31);
  });

  it('gives an HEVC codec string from hvcC, named for the sample entry the init carries', () => {
    const { inits, fragments } = splitAll(hevcLive, (i) => 1000 + i);
    const init = inits[0] as LiveInit;
    // ffmpeg's mp4 muxer writes hev1 unless told otherwise; the string must name what the init holds.
    expect(init.codec).toMatch(/^(hev1|hvc1)\.1\.6\.L\d+\.[0-9A-F]{2}/);
    expect(init.data.includes(Buffer.from(init.codec.slice(0, 4), 'latin1'))).toBe(true);
    expect(fragments[0]?.keyframe).toBe(true);
    expect(fragments.filter((f) => f.keyframe)).toHaveLength(3);
  });

  it('reassembles init and fragments into a file a decoder plays frame for frame', async () => {
    const { inits, fragments } = splitAll(h264Live, (i) => 333 * (i % 5) + 1);
    const file = join(dir, 'reassembled.mp4');
    await writeFile(file, Buffer.concat([(inits[0] as LiveInit).data, ...fragments.map((f) => f.data)]));
    expect(Number((await probe(file, 'stream=nb_read_frames'))['nb_read_frames'])).toBe(45);
  });

  it('starts anywhere after a keyframe fragment: init + fragments from the 2nd keyframe decode', async () => {
    const { inits, fragments } = splitAll(h264Live, () => 65536);
    const from = fragments.findIndex((f, i) => i > 0 && f.keyframe);
    const file = join(dir, 'joined-late.mp4');
    await writeFile(file, Buffer.concat([(inits[0] as LiveInit).data, ...fragments.slice(from).map((f) => f.data)]));
    expect(Number((await probe(file, 'stream=nb_read_frames'))['nb_read_frames'])).toBe(30);
  });

  it('ignores media before any init and boxes a viewer does not need', () => {
    const { inits, fragments } = splitAll(h264Live, () => h264Live.length);
    const free = Buffer.alloc(16);
    free.writeUInt32BE(16, 0);
    free.write('free', 4, 'latin1');
    const s = new Fmp4StreamSplitter();
    // A fragment with no init before it cannot be decoded: dropped, not passed on.
    expect(s.push((fragments[0] as LiveFragment).data)).toEqual([]);
    const out = s.push(Buffer.concat([(inits[0] as LiveInit).data, free, (fragments[0] as LiveFragment).data]));
    expect(out.map((c) => c.kind)).toEqual(['init', 'fragment']);
  });

  it('refuses a box too large for a live stream and a moov without ftyp', () => {
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(MAX_LIVE_BOX_BYTES + 1, 0);
    huge.write('mdat', 4, 'latin1');
    expect(() => new Fmp4StreamSplitter().push(huge)).toThrow(LiveStreamError);
    const init = splitAll(h264Live, () => h264Live.length).inits[0] as LiveInit;
    const ftypSize = init.data.readUInt32BE(0);
    expect(() => new Fmp4StreamSplitter().push(init.data.subarray(ftypSize))).toThrow(/moov before ftyp/);
  });
});
