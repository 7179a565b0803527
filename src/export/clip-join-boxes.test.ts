import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMoof, parseMoov, readBoxHeader } from '../media/fmp4/boxes.js';
import { buildJoinMoof, mdatHeader, parseJoinMoof, parseJoinMoov, payloadBytes, type JoinFragment } from './clip-join-boxes.js';
import { buildJoinInit, buildJoinMfra } from './clip-join-init.js';
import { readJoinSource, type JoinSource } from './clip-join-source.js';
import { scanFmp4Buffer } from '../media/fmp4/scan.js';

const run = promisify(execFile);
// What the recorder writes: the segment muxer, fragmented MP4 with one GOP (1 s at 15 fps) per fragment.
const RECORDER_MOVFLAGS = 'movflags=+frag_keyframe+empty_moov+default_base_moof';

let dir: string;
let src: JoinSource;

/** Top-level boxes of a buffer: [type, offset, size]. */
function topBoxes(buf: Buffer): Array<[string, number, number]> {
  const out: Array<[string, number, number]> = [];
  for (let off = 0; off < buf.length; ) {
    const h = readBoxHeader(buf, off);
    if (!h) throw new Error(`bad box at ${off}`);
    out.push([h.type, off, h.size]);
    off += h.size;
  }
  return out;
}

/** The body of the first `type` box found by a depth-first walk through the containers listed. */
function findBox(buf: Buffer, path: string[]): Buffer | undefined {
  const [head, ...rest] = path;
  for (let off = 0; off < buf.length; ) {
    const h = readBoxHeader(buf, off);
    if (!h) return undefined;
    if (h.type === head) {
      const body = buf.subarray(off + h.headerSize, off + h.size);
      return rest.length === 0 ? body : findBox(body, rest);
    }
    off += h.size;
  }
  return undefined;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-join-boxes-'));
  await run('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=15', '-t', '4',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-bf', '0', '-pix_fmt', 'yuv420p',
    '-f', 'segment', '-segment_time', '2', '-segment_format', 'mp4',
    '-segment_format_options', `${RECORDER_MOVFLAGS}:video_track_timescale=90000`, join(dir, 'seg%03d.mp4'),
  ]);
  const read = await readJoinSource(join(dir, 'seg000.mp4'));
  if (!read.ok) throw new Error(read.reason);
  src = read.value;
}, 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('reading recorder fMP4 for joining', () => {
  it('reads the track and every fragment of a recorder file, agreeing with the indexer\'s reader', async () => {
    const file = await readFile(join(dir, 'seg000.mp4'));
    const scan = scanFmp4Buffer(file);
    expect(src.track).toMatchObject({ trackId: 1, timescale: 90000 });
    expect(src.fragments).toHaveLength(scan.fragmentCount);
    expect(src.fragments.map((f) => f.fragment.baseDecodeTime / 90000)).toEqual(scan.fragments.map((f) => f.decodeTimeSeconds));
    expect(src.fragments.map((f) => f.fragment.durations.length)).toEqual(scan.fragments.map((f) => f.sampleCount));
    expect(src.endDecodeTime / 90000).toBeCloseTo(scan.videoDurationSeconds, 9);
    // Each payload offset is just after an mdat header, and the samples fill that mdat exactly.
    for (const [i, f] of src.fragments.entries()) {
      const frag = scan.fragments[i];
      expect(f.payloadOffset + payloadBytes(f.fragment)).toBe(frag?.endOffset);
      expect(file.toString('latin1', f.payloadOffset - 4, f.payloadOffset)).toBe('mdat');
    }
  });

  it('reads a file without mfra (as crash recovery leaves it) box by box, to the same fragments', async () => {
    const file = await readFile(join(dir, 'seg000.mp4'));
    const mfraBytes = file.readUInt32BE(file.length - 4);
    await writeFile(join(dir, 'no-mfra.mp4'), file.subarray(0, file.length - mfraBytes));
    const walked = await readJoinSource(join(dir, 'no-mfra.mp4'));
    expect(walked.ok && walked.value.fragments).toEqual(src.fragments);
    // A trailing partial fragment is not what the recorder leaves in an indexed file: refused, not cut.
    await writeFile(join(dir, 'partial.mp4'), file.subarray(0, file.length - mfraBytes - 100));
    expect((await readJoinSource(join(dir, 'partial.mp4'))).ok).toBe(false);
  });

  it('reads a moof larger than one read window (800 samples in a fragment) whole, as the box walk does', async () => {
    const name = join(dir, 'long-fragments.mp4');
    await run('ffmpeg', [
      '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=100', '-t', '16', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '800',
      '-movflags', '+frag_keyframe+empty_moov+default_base_moof', name,
    ]);
    const indexed = await readJoinSource(name);
    if (!indexed.ok) throw new Error(indexed.reason);
    // 800 samples a fragment: each trun's sample entries alone pass 2 KiB, so each moof is larger than
    // the 2 KiB read at each mfra entry.
    const entryBytes = indexed.value.fragments.map((f) => f.fragment.entries.length);
    expect(Math.min(...entryBytes)).toBeGreaterThan(2048);
    const file = await readFile(name);
    await writeFile(join(dir, 'long-fragments-walked.mp4'), file.subarray(0, file.length - file.readUInt32BE(file.length - 4)));
    const walked = await readJoinSource(join(dir, 'long-fragments-walked.mp4'));
    expect(walked.ok && walked.value.fragments).toEqual(indexed.value.fragments);
  });

  it('reads a file of more fragments than one batch of moof reads (a fragment a frame), as the box walk does', async () => {
    const name = join(dir, 'many-fragments.mp4');
    await run('ffmpeg', [
      '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25', '-t', '24', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25',
      '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-frag_duration', '1000', name,
    ]);
    const indexed = await readJoinSource(name);
    if (!indexed.ok) throw new Error(indexed.reason);
    expect(indexed.value.fragments.length).toBeGreaterThan(2 * 256);
    const file = await readFile(name);
    await writeFile(join(dir, 'many-fragments-walked.mp4'), file.subarray(0, file.length - file.readUInt32BE(file.length - 4)));
    const walked = await readJoinSource(join(dir, 'many-fragments-walked.mp4'));
    expect(walked.ok && walked.value.fragments).toEqual(indexed.value.fragments);
  });

  it('reads a video track with an audio track after it; refuses audio first, an edit list, naming why', async () => {
    const make = (name: string, maps: string[]) => run('ffmpeg', [
      '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=15', '-f', 'lavfi', '-i', 'sine=sample_rate=8000', '-t', '2',
      ...maps, '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-c:a', 'aac', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', join(dir, name),
    ]);
    await make('av.mp4', ['-map', '0:v', '-map', '1:a']);
    const av = await readJoinSource(join(dir, 'av.mp4'));
    if (!av.ok) throw new Error(av.reason);
    expect(av.value.track).toMatchObject({ trackId: 1, audio: { trackId: 2, timescale: 8000 } });
    expect(av.value.fragments.length).toBe(2);
    // Every audio sample of the file is in some fragment, in order, each fragment's bytes right after its video's.
    const audioSamples = av.value.fragments.reduce((n, f) => n + (f.fragment.audio?.durations.length ?? 0), 0);
    expect(audioSamples).toBe(scanFmp4Buffer(await readFile(join(dir, 'av.mp4'))).tracks[1]?.sampleCount);
    await make('va.mp4', ['-map', '1:a', '-map', '0:v']);
    expect(await readJoinSource(join(dir, 'va.mp4'))).toEqual({ ok: false, reason: 'the track is not video' });
    const withEdit = buildJoinInit(src.ftyp, src.moov, { mediaTimeTicks: 900, mediaDurationTicks: 90000 });
    const moov = withEdit.subarray(src.ftyp.length);
    expect(parseJoinMoov(moov)).toEqual({ ok: false, reason: 'part already has an edit list' });
  });
});

describe('the rewritten moof', () => {
  const frag = (): JoinFragment => (src.fragments[1] as { fragment: JoinFragment }).fragment;

  it('carries the new sequence number and decode time and points its data right after the mdat header', () => {
    const f = frag();
    const moof = buildJoinMoof(f, { sequence: 7, baseDecodeTime: 123_456_789_012, sampleCount: f.durations.length });
    expect(findBox(moof, ['moof', 'mfhd'])?.readUInt32BE(4)).toBe(7);
    const [traf] = parseMoof(moof.subarray(8), parseMoov(src.moov.subarray(8)).trex);
    expect(traf).toMatchObject({ trackId: 1, baseDecodeTime: 123_456_789_012, sampleCount: f.durations.length });
    const again = parseJoinMoof(moof.subarray(8), moof.length, 8, src.track);
    expect(again.ok).toBe(true);
    if (!again.ok) return;
    expect(again.value.durations).toEqual(f.durations);
    expect(again.value.sizes).toEqual(f.sizes);
    expect(again.value.syncSamples).toEqual([0]);
  });

  it('truncated to n samples: the trun holds n entries, the data offset moves with the smaller moof, the mdat holds their bytes', () => {
    const f = frag();
    const whole = buildJoinMoof(f, { sequence: 1, baseDecodeTime: 0, sampleCount: f.durations.length });
    const cut = buildJoinMoof(f, { sequence: 1, baseDecodeTime: 0, sampleCount: 4 });
    expect(whole.length - cut.length).toBe((f.durations.length - 4) * f.entryBytes);
    const parsed = parseJoinMoof(cut.subarray(8), cut.length, 8, src.track);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.sizes).toEqual(f.sizes.slice(0, 4));
    expect(parsed.value.durations).toEqual(f.durations.slice(0, 4));
    expect(payloadBytes(f, 4)).toBe(f.sizes.slice(0, 4).reduce((a, b) => a + b, 0));
    expect(mdatHeader(payloadBytes(f, 4)).readUInt32BE(0)).toBe(8 + payloadBytes(f, 4));
    expect(() => buildJoinMoof(f, { sequence: 1, baseDecodeTime: 0, sampleCount: 0 })).toThrow();
  });

  it('refuses a moof whose data offset does not point right after the mdat header', () => {
    const f = frag();
    const moof = buildJoinMoof(f, { sequence: 1, baseDecodeTime: 0, sampleCount: 3 });
    expect(parseJoinMoof(moof.subarray(8), moof.length, 16, src.track)).toEqual({ ok: false, reason: 'trun data does not start right after the mdat header' });
  });
});

describe('the clip\'s init segment and mfra', () => {
  it('adds one edit whose media time is the pre-roll, after tkhd, and sets every duration', () => {
    const init = buildJoinInit(src.ftyp, src.moov, { mediaTimeTicks: 45_000, mediaDurationTicks: 180_000 });
    expect(topBoxes(init).map((b) => b[0])).toEqual(['ftyp', 'moov']);
    const moov = init.subarray(src.ftyp.length);
    const trakKids = topBoxes(findBox(moov, ['moov', 'trak']) as Buffer).map((b) => b[0]);
    expect(trakKids.slice(0, 3)).toEqual(['tkhd', 'edts', 'mdia']);
    const elst = findBox(moov, ['moov', 'trak', 'edts', 'elst']) as Buffer;
    expect(elst.readUInt32BE(4)).toBe(1); // one entry
    // Presented: (180000 − 45000) ticks at 90 kHz = 1.5 s = 1500 in the movie timescale (1000).
    expect([elst.readUInt32BE(8), elst.readInt32BE(12), elst.readUInt32BE(16)]).toEqual([1500, 45_000, 0x10000]);
    expect(findBox(moov, ['moov', 'mvhd'])?.readUInt32BE(16)).toBe(1500);
    expect(findBox(moov, ['moov', 'trak', 'tkhd'])?.readUInt32BE(20)).toBe(1500);
    expect(findBox(moov, ['moov', 'trak', 'mdia', 'mdhd'])?.readUInt32BE(16)).toBe(180_000);
    expect(findBox(moov, ['moov', 'mvex', 'mehd'])?.readUInt32BE(4)).toBe(1500);
    // Everything else of the track is the part's own: same codec configuration, same defaults.
    const parsed = parseJoinMoov(Buffer.from(src.moov));
    expect(parsed.ok && parsed.value.stsd.equals(src.track.stsd)).toBe(true);
    expect(parseMoov(moov.subarray(8)).tracks[0]).toMatchObject({ trackId: 1, timescale: 90000, width: 320, height: 240 });
  });

  it('mfra lists each fragment\'s time and moof offset, and mfro gives its size', () => {
    const mfra = buildJoinMfra(1, [{ timeTicks: 0, moofOffset: 900 }, { timeTicks: 90_000, moofOffset: 50_000 }]);
    expect(mfra.readUInt32BE(mfra.length - 4)).toBe(mfra.length);
    const tfra = findBox(mfra, ['mfra', 'tfra']) as Buffer;
    expect([tfra.readUInt8(0), tfra.readUInt32BE(4), tfra.readUInt32BE(12)]).toEqual([1, 1, 2]);
    expect([Number(tfra.readBigUInt64BE(16 + 19)), Number(tfra.readBigUInt64BE(16 + 19 + 8))]).toEqual([90_000, 50_000]);
  });
});
