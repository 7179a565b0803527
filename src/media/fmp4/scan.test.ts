import { execFile, spawn } from 'node:child_process';
import { mkdtemp, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Fmp4Error,
  scanFmp4,
  scanFmp4Buffer,
  scanFmp4Source,
  truncateToLastCompleteFragment,
  type ByteSource,
  type FragmentInfo,
  type Fmp4Scan,
} from './scan.js';

const run = promisify(execFile);
const MOVFLAGS = '+frag_keyframe+empty_moov+default_base_moof';
const FRAG_FLAGS = `movflags=${MOVFLAGS}`;
const FRAME = 1 / 15; // all fixtures are 15 fps
const testsrc = (size: string) => ['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=15`];
const h264 = ['-c:v', 'libx264', '-g', '15', '-pix_fmt', 'yuv420p'];

let dir: string;
const path = (name: string) => join(dir, name);

async function ffmpeg(...args: string[]): Promise<void> {
  await run('ffmpeg', ['-v', 'error', '-y', ...args]);
}

/** ffprobe is only the oracle here; the code under test never spawns it. */
async function probe(file: string, entries: string, select?: string) {
  const args = ['-v', 'error', ...(select ? ['-select_streams', select] : []), '-show_entries', entries, '-of', 'json', file];
  const { stdout, stderr } = await run('ffprobe', args);
  const json = JSON.parse(stdout) as { format?: Record<string, string>; streams?: Array<Record<string, string | number>> };
  return { json, stderr };
}

const formatDuration = async (file: string) => Number((await probe(file, 'format=duration')).json.format?.duration);
const streamDuration = async (file: string, sel: string) =>
  Number((await probe(file, 'stream=duration', sel)).json.streams?.[0]?.duration);

/** Deterministic PRNG so a failing cut offset can be reproduced. */
function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let video: Buffer;
let videoScan: Fmp4Scan;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-fmp4-'));
  await Promise.all([
    ffmpeg(...testsrc('640x360'), '-t', '6', ...h264, '-movflags', MOVFLAGS, '-f', 'mp4', path('v.mp4')),
    ffmpeg(...testsrc('640x360'), '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '6', ...h264,
      '-c:a', 'aac', '-movflags', MOVFLAGS, '-f', 'mp4', path('av.mp4')),
    ffmpeg(...testsrc('640x360'), '-t', '6', ...h264, '-f', 'segment', '-segment_time', '2', '-segment_format', 'mp4',
      '-segment_format_options', FRAG_FLAGS, path('seg%03d.mp4')),
    ffmpeg(...testsrc('320x240'), '-t', '2', '-c:v', 'libx265', '-x265-params', 'log-level=error', '-g', '15',
      '-pix_fmt', 'yuv420p', '-movflags', MOVFLAGS, '-f', 'mp4', path('hevc.mp4')),
  ]);
  video = await readFile(path('v.mp4'));
  videoScan = scanFmp4Buffer(video);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('scanFmp4 on complete ffmpeg output', () => {
  it('reads codec, size and duration like ffprobe', async () => {
    const scan = await scanFmp4(path('v.mp4'));
    expect(scan).toEqual(videoScan); // file and buffer readers agree
    const { json } = await probe(path('v.mp4'), 'stream=width,height,profile,level', 'v:0');
    const s = json.streams?.[0];
    const m = /^avc1\.64[0-9a-f]{2}([0-9a-f]{2})$/.exec(scan.tracks[0]?.codec ?? ''); // 0x64 = High
    expect(s?.profile).toBe('High');
    expect(parseInt(m?.[1] ?? '', 16)).toBe(s?.level);
    expect(scan.tracks[0]).toMatchObject({ kind: 'video', width: 640, height: 360, trackId: 1 });
    expect(Math.abs(scan.videoDurationSeconds - (await formatDuration(path('v.mp4'))))).toBeLessThanOrEqual(FRAME);
    expect(scan).toMatchObject({ complete: true, hasMfra: true, fragmentCount: 6, sampleCount: 90, firstDecodeTimeSeconds: 0 });
    expect(scan.completeEndOffset).toBe(video.length);
    expect(scan.initEndOffset).toBe(scan.fragments[0]?.offset);
    expect(scan.fragments.every((f) => f.startsWithKeyframe)).toBe(true);
  });

  it('reads AAC audio next to the video', async () => {
    const scan = await scanFmp4(path('av.mp4'));
    const [v, a] = scan.tracks;
    expect(v).toMatchObject({ kind: 'video', width: 640, height: 360 });
    expect(a).toMatchObject({ kind: 'audio', codec: 'mp4a.40.2', sampleRate: 48000, timescale: 48000 });
    expect(scan.mainTrackId).toBe(v?.trackId);
    // format=duration spans both tracks (audio starts at 0, video at its B-frame delay): compare per stream.
    expect(Math.abs(scan.videoDurationSeconds - (await streamDuration(path('av.mp4'), 'v:0')))).toBeLessThanOrEqual(FRAME);
    expect(Math.abs((a?.durationSeconds ?? 0) - (await streamDuration(path('av.mp4'), 'a:0')))).toBeLessThanOrEqual(1024 / 48000);
    expect(scan).toMatchObject({ complete: true, fragmentCount: 6 });
  });

  it('reads every file of the segment muxer, each restarting tfdt at 0', async () => {
    const files = (await readdir(dir)).filter((f) => f.startsWith('seg')).sort();
    expect(files).toHaveLength(3);
    let total = 0;
    for (const f of files) {
      const scan = await scanFmp4(path(f));
      expect(scan).toMatchObject({ complete: true, hasMfra: true, fragmentCount: 2, firstDecodeTimeSeconds: 0 });
      expect(Math.abs(scan.videoDurationSeconds - (await formatDuration(path(f))))).toBeLessThanOrEqual(FRAME);
      total += scan.videoDurationSeconds;
    }
    expect(total).toBeCloseTo(6, 6);
  });

  it('reads H.265 (hev1) with an RFC 6381 codec string', async () => {
    const scan = await scanFmp4(path('hevc.mp4'));
    const { json } = await probe(path('hevc.mp4'), 'stream=level', 'v:0');
    expect(scan.tracks[0]).toMatchObject({ kind: 'video', width: 320, height: 240 });
    expect(scan.tracks[0]?.codec).toMatch(new RegExp(`^hev1\\.1\\.6\\.L${json.streams?.[0]?.level}(\\.[0-9A-F]{2})*$`));
    expect(Math.abs(scan.videoDurationSeconds - 2)).toBeLessThanOrEqual(FRAME);
  });
});

describe('truncated files (crash mid-write)', () => {
  it('counts only the fragments before a cut inside the last fragment', () => {
    const last = videoScan.fragments[5]!;
    const mdatStart = video.indexOf('mdat', last.offset) - 4;
    const rnd = mulberry32(42);
    const cuts = [last.offset + 1, last.offset + 7, mdatStart, mdatStart + 4, mdatStart + 12, last.endOffset - 1];
    for (let i = 0; i < 20; i++) cuts.push(last.offset + 1 + Math.floor(rnd() * (last.endOffset - last.offset - 1)));
    for (const cut of cuts) {
      const scan = scanFmp4Buffer(video.subarray(0, cut));
      expect(scan, `cut at ${cut}`).toMatchObject({ complete: false, hasMfra: false, fragmentCount: 5, sampleCount: 75 });
      expect(scan.videoDurationSeconds).toBeCloseTo(5, 6);
      expect(scan.completeEndOffset).toBe(last.offset);
    }
  });

  it('at any cut, counts exactly the fragments that end before it', () => {
    const rnd = mulberry32(7);
    const ends = videoScan.fragments.map((f) => f.endOffset);
    for (let i = 0; i < 200; i++) {
      const cut = videoScan.initEndOffset + Math.floor(rnd() * (video.length - videoScan.initEndOffset + 1));
      const scan = scanFmp4Buffer(video.subarray(0, cut));
      const whole = ends.filter((e) => e <= cut);
      expect(scan.fragmentCount, `cut at ${cut}`).toBe(whole.length);
      expect(scan.complete).toBe(cut === video.length || cut === videoScan.initEndOffset || ends.includes(cut));
      expect(scan.completeEndOffset).toBe(cut === video.length ? cut : (whole.at(-1) ?? videoScan.initEndOffset));
    }
  });

  it('treats a cut inside mfra as incomplete but keeps all fragments', () => {
    const scan = scanFmp4Buffer(video.subarray(0, video.length - 5));
    expect(scan).toMatchObject({ complete: false, hasMfra: false, fragmentCount: 6 });
    expect(scan.completeEndOffset).toBe(videoScan.fragments[5]?.endOffset);
  });

  it('stops at a corrupt moof as if the file were cut there', () => {
    const corrupt = Buffer.from(video);
    const trun = corrupt.indexOf('trun', videoScan.fragments[5]!.offset);
    corrupt.writeUInt32BE(0xffffff, trun + 8); // sample_count far beyond the box
    const scan = scanFmp4Buffer(corrupt);
    expect(scan).toMatchObject({ complete: false, fragmentCount: 5 });
    expect(scan.completeEndOffset).toBe(videoScan.fragments[5]?.offset);
  });

  it('truncateToLastCompleteFragment leaves a file ffmpeg reads cleanly', async () => {
    const last = videoScan.fragments[5]!;
    const file = path('cut.mp4');
    await writeFile(file, video.subarray(0, last.offset + Math.floor((last.endOffset - last.offset) / 2)));
    const scan = await truncateToLastCompleteFragment(file);
    expect(scan).toMatchObject({ complete: true, hasMfra: false, fragmentCount: 5, fileSizeBytes: last.offset });
    expect((await stat(file)).size).toBe(last.offset);
    const { stderr } = await probe(file, 'format=duration');
    expect(stderr).toBe('');
    expect(Math.abs((await formatDuration(file)) - scan.videoDurationSeconds)).toBeLessThanOrEqual(FRAME);
    const decode = await run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']);
    expect(decode.stderr).toBe('');
    // A second call, and a call on a complete file, change nothing.
    expect(await truncateToLastCompleteFragment(file)).toEqual(scan);
    expect((await truncateToLastCompleteFragment(path('v.mp4'))).fileSizeBytes).toBe(video.length);
  });

  it('recovers the segment of an ffmpeg killed with SIGKILL', async () => {
    // The recorder's shape: -c copy in real time into the segment muxer, then kill -9 after the first flush.
    await ffmpeg(...testsrc('640x360'), '-t', '20', ...h264, '-f', 'mpegts', path('live.ts'));
    const file = path('killed000.mp4');
    const child = spawn('ffmpeg', ['-v', 'error', '-re', '-i', path('live.ts'), '-c', 'copy', '-f', 'segment',
      '-segment_time', '60', '-segment_format', 'mp4', '-segment_format_options', FRAG_FLAGS, path('killed%03d.mp4')],
      { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      for (let i = 0; i < 150 && ((await stat(file).catch(() => undefined))?.size ?? 0) <= 28; i++) await delay(100);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const before = await scanFmp4(file);
    expect(before.hasMfra).toBe(false);
    const after = await truncateToLastCompleteFragment(file);
    expect(after.fragmentCount).toBeGreaterThanOrEqual(1);
    expect(after).toMatchObject({ complete: true, fragmentCount: before.fragmentCount, fileSizeBytes: before.completeEndOffset });
    const decode = await run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']);
    expect(decode.stderr).toBe('');
    expect(Math.abs((await formatDuration(file)) - after.videoDurationSeconds)).toBeLessThanOrEqual(FRAME);
  });

  it('throws Fmp4Error when ftyp+moov are not whole', async () => {
    // 28 bytes (ftyp alone) is what ffmpeg 5.1 leaves before its first 256 KiB flush.
    for (const cut of [0, 5, 28, 100, videoScan.initEndOffset - 1]) {
      expect(() => scanFmp4Buffer(video.subarray(0, cut)), `cut at ${cut}`).toThrow(Fmp4Error);
    }
    await writeFile(path('ftyp-only.mp4'), video.subarray(0, 28));
    await expect(scanFmp4(path('ftyp-only.mp4'))).rejects.toMatchObject({ name: 'Fmp4Error', reason: 'truncated_init' });
    await expect(truncateToLastCompleteFragment(path('ftyp-only.mp4'))).rejects.toBeInstanceOf(Fmp4Error);
    expect(() => scanFmp4Buffer(Buffer.from('G@\u0000\u0010 not an mp4 file at all'))).toThrow(/not 'ftyp'/);
  });

  it('reports zero fragments for an init segment alone and leaves such a file alone', async () => {
    const scan = scanFmp4Buffer(video.subarray(0, videoScan.initEndOffset));
    expect(scan).toMatchObject({ fragmentCount: 0, complete: true, videoDurationSeconds: 0, sampleCount: 0 });
    expect(scan.firstDecodeTimeSeconds).toBeUndefined();
    expect(scan.tracks[0]?.codec).toMatch(/^avc1\./);
    const file = path('first-frag-cut.mp4');
    const size = videoScan.initEndOffset + 5000;
    await writeFile(file, video.subarray(0, size));
    expect(await truncateToLastCompleteFragment(file)).toMatchObject({ fragmentCount: 0, complete: false });
    expect((await stat(file)).size).toBe(size);
  });
});

describe('large files', () => {
  it('skips mdat bodies: a sparse 5 GiB file is scanned reading a few KiB', async () => {
    const [f1, f2, f3] = videoScan.fragments as [FragmentInfo, FragmentInfo, FragmentInfo];
    const file = path('sparse.mp4');
    const fh = await open(file, 'w+');
    try {
      // init + 2 real fragments, then a moof whose mdat has a 64-bit size of 5 GiB (a hole), then a real fragment.
      await fh.write(video, 0, f2.endOffset, 0);
      const moof = video.subarray(f3.offset, video.indexOf('mdat', f3.offset) - 4);
      await fh.write(moof, 0, moof.length, f2.endOffset);
      const mdatAt = f2.endOffset + moof.length;
      const big = 5 * 1024 ** 3;
      const header = Buffer.alloc(16);
      header.writeUInt32BE(1, 0);
      header.write('mdat', 4, 'latin1');
      header.writeBigUInt64BE(BigInt(big), 8);
      await fh.write(header, 0, 16, mdatAt);
      await fh.write(video, f1.offset, f1.endOffset - f1.offset, mdatAt + big);
      const size = (await fh.stat()).size;
      expect(size).toBe(mdatAt + big + (f1.endOffset - f1.offset));

      let bytesRead = 0;
      const counting: ByteSource = {
        size,
        async read(offset, length) {
          const buf = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
          const { bytesRead: n } = await fh.read(buf, 0, buf.length, offset);
          bytesRead += n;
          return buf.subarray(0, n);
        },
      };
      const scan = await scanFmp4Source(counting);
      expect(scan).toMatchObject({ complete: true, hasMfra: false, fragmentCount: 4, fileSizeBytes: size });
      expect(scan.videoDurationSeconds).toBeCloseTo(4, 6);
      expect(bytesRead).toBeLessThan(4 * 1024); // moov + 4 moofs + box headers
      const started = performance.now();
      expect(await scanFmp4(file)).toEqual(scan);
      expect(performance.now() - started).toBeLessThan(1000);
    } finally {
      await fh.close();
      await rm(file, { force: true });
    }
  });
});
