import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, readdir, readlink, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type OpenedDb } from '../db/connection.js';
import { readLockCounts } from '../db/read-lock.repo.js';
import { indexSegment } from '../db/segment.repo.js';
import { buildClipArgs, buildConcatList, type ClipPart } from '../media/clip-args.js';
import { readBoxHeader } from '../media/fmp4/boxes.js';
import { keyframeFragments, scanFmp4Buffer } from '../media/fmp4/scan.js';
import { ClipService } from './clip.service.js';
import { joinedClipBytes } from './clip-join.js';
import { ClipBody, WindowPool } from './clip-body.js';
import { servePiped, slowDownload } from '../../test/support/slow-client.js';
import { mdatHeader } from './clip-join-boxes.js';
import type { RandomAccessEntry } from './clip-join-init.js';
import { partPieces, planFmp4Join, type JoinPlan } from './clip-join-plan.js';
import { readJoinSource } from './clip-join-source.js';
import { RECORD_FRAGMENT_US } from '../media/recorder-args.js';
import { MediaJobs } from './media-jobs.js';
import { systemClock } from '../shared/clock.js';
import { FootageStore } from '../storage/footage-store.js';

/**
 * The Node join against the ffmpeg path it replaces, on files made the way the recorder makes them
 * (segment muxer, fragmented MP4, one GOP per fragment): same decoded frames in the same order, same
 * edit list, the same presented duration; and the service choosing between them.
 */
const run = promisify(execFile);
const FPS = 15;
const FRAME_S = 1 / FPS;
const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);

let dir: string;
const path = (name: string) => join(dir, name);

/**
 * Recorder-like segment files `<prefix>000.mp4 …` of 2 s each, 1-s GOP; with `fragUs`, each GOP cut
 * into fragments of at most that (what the recorder writes: RECORD_FRAGMENT_US), else one per GOP.
 */
async function record(prefix: string, seconds: number, opts: { size?: string; bframes?: boolean; timescale?: number; noise?: boolean; fragUs?: number } = {}) {
  const filter = `testsrc2=size=${opts.size ?? '320x240'}:rate=${FPS}${opts.noise ? ',noise=alls=100:allf=t' : ''}`;
  await run('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', filter, '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(FPS), '-pix_fmt', 'yuv420p',
    ...(opts.bframes ? ['-bf', '2'] : ['-bf', '0']), ...(opts.noise ? ['-qp', '0'] : []),
    '-f', 'segment', '-segment_time', '2', '-segment_format', 'mp4',
    '-segment_format_options', `movflags=+frag_keyframe+empty_moov+default_base_moof${opts.fragUs ? `:frag_duration=${opts.fragUs}` : ''}${opts.timescale ? `:video_track_timescale=${opts.timescale}` : ''}`,
    path(`${prefix}%03d.mp4`),
  ]);
}

const file = (prefix: string, i: number) => path(`${prefix}${String(i).padStart(3, '0')}.mp4`);

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

async function plan(parts: ClipPart[], keep?: { parsed: number; planned: number }): Promise<JoinPlan> {
  const p = await planFmp4Join(parts, keep);
  if (!p.ok) throw new Error(`expected a join plan, got: ${p.reason}`);
  return p.value;
}

/** The clip as today's ffmpeg path makes it: the same argv and concat list the service gives ffmpeg. */
function viaFfmpeg(parts: ClipPart[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', buildClipArgs(), { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdin.end(buildConcatList(parts));
    const out = collect(child.stdout);
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`ffmpeg exited ${code}`))));
  });
}

let n = 0;
async function save(buf: Buffer): Promise<string> {
  const f = path(`clip-${n++}.mp4`);
  await writeFile(f, buf);
  return f;
}

/** Decoded frames (timestamps and pixel checksums), as a player honouring the edit list shows them. */
async function framemd5(f: string): Promise<string[]> {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', f, '-f', 'framemd5', '-'], { maxBuffer: 16 * 1024 * 1024 });
  return stdout.split('\n').filter((l) => l && !l.startsWith('#'));
}

async function presentedSeconds(f: string): Promise<{ start: number; duration: number; presented: number }> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=start_time,duration', '-of', 'default=noprint_wrappers=1', f]);
  const v = Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
  const start = Number(v['start_time']);
  const duration = Number(v['duration']);
  return { start, duration, presented: start + duration };
}

/** The clip built from the plan alone: init, each fragment's moof, mdat header and payload ranges, mfra. */
async function expectedBytes(p: JoinPlan): Promise<Buffer> {
  const pieces: Buffer[] = [p.init];
  const tfra: RandomAccessEntry[] = [];
  for (const part of p.parts) {
    const bytes = readFileSync(part.absPath);
    const made = await partPieces(part);
    for (const piece of made.pieces) {
      pieces.push(piece.moof, mdatHeader(piece.payloadBytes), ...piece.ranges.map((r) => bytes.subarray(r.offset, r.offset + r.bytes)));
    }
    tfra.push(...made.tfra);
  }
  pieces.push(p.closing(tfra));
  return Buffer.concat(pieces);
}

/** mfhd sequence numbers and trun sample counts of the clip's fragments, in file order. */
function fragmentsOf(buf: Buffer): Array<{ sequence: number }> {
  const out: Array<{ sequence: number }> = [];
  for (let off = 0; off < buf.length; ) {
    const h = readBoxHeader(buf, off);
    if (!h) throw new Error('bad box');
    if (h.type === 'moof') out.push({ sequence: buf.readUInt32BE(off + 8 + 8 + 4) }); // moof header, mfhd header, version/flags
    off += h.size;
  }
  return out;
}

/** The entries of the clip's tfra (its random access points): their times, in track ticks. */
function tfraTimes(buf: Buffer): number[] {
  const mfraSize = buf.readUInt32BE(buf.length - 4);
  const tfra = buf.subarray(buf.length - mfraSize + 8);
  if (tfra.toString('latin1', 4, 8) !== 'tfra') throw new Error('no tfra first in the mfra');
  const v1 = tfra.readUInt8(8) === 1;
  const sizes = tfra.readUInt32BE(16);
  const entryBytes = (v1 ? 16 : 8) + ((sizes >> 4) & 3) + 1 + ((sizes >> 2) & 3) + 1 + (sizes & 3) + 1;
  const count = tfra.readUInt32BE(20);
  return Array.from({ length: count }, (_, i) => (v1 ? Number(tfra.readBigUInt64BE(24 + i * entryBytes)) : tfra.readUInt32BE(24 + i * entryBytes)));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-join-'));
  await Promise.all([
    record('rec', 6, { timescale: 90000 }),
    record('bf', 6, { bframes: true }),
    record('small', 2),
    record('large', 2, { size: '640x360' }),
    record('sub', 6, { timescale: 90000, fragUs: RECORD_FRAGMENT_US }),
    record('subbf', 6, { bframes: true, fragUs: RECORD_FRAGMENT_US }),
  ]);
  await record('big', 6, { noise: true });
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the joined clip\'s timeline', () => {
  it('across 3 files: tfdt continues from each file\'s end, fragments are renumbered 1…n, the edit list skips from − keyframe', async () => {
    const parts: ClipPart[] = [{ absPath: file('rec', 0), inpointSeconds: 1.4 }, { absPath: file('rec', 1) }, { absPath: file('rec', 2), outpointSeconds: 1.3 }];
    const p = await plan(parts);
    const clip = await collect(joinedClipBytes(p));
    expect(clip.length).toBe(p.totalBytes);
    const scan = scanFmp4Buffer(clip);
    expect(scan.complete && scan.hasMfra).toBe(true);
    // The first file's keyframe at or before 1.4 s is its second (1.0 s): its first fragment is left out.
    const times = scan.fragments.map((f) => f.decodeTimeSeconds ?? NaN);
    expect(times[0]).toBe(0);
    for (let i = 1; i < scan.fragments.length; i++) {
      const prev = scan.fragments[i - 1] as { decodeTimeSeconds?: number; durationSeconds: number };
      expect(times[i]).toBeCloseTo((prev.decodeTimeSeconds ?? NaN) + prev.durationSeconds, 9);
    }
    // 1 fragment from file 0 (its second GOP), 2 from file 1, 2 from file 2 (the second cut at 1.3 s).
    expect(fragmentsOf(clip).map((f) => f.sequence)).toEqual([1, 2, 3, 4, 5]);
    expect(scan.fragments.map((f) => f.sampleCount)).toEqual([15, 15, 15, 15, 5]);
    expect(p.mediaTimeTicks).toBe(0.4 * 90000);
    expect(scan.videoDurationSeconds).toBeCloseTo(1 + 2 + 1 + 5 * FRAME_S, 9);
  });

  it('the same bytes whatever the read window: views across windows, a window per file, each the plan\'s boxes and the file\'s payload bytes', async () => {
    const parts: ClipPart[] = [{ absPath: file('big', 0), inpointSeconds: 0.5 }, { absPath: file('big', 1) }, { absPath: file('big', 2), outpointSeconds: 1.5 }];
    const p = await plan(parts);
    // Fragments taken whole stream as the file's bytes with their moofs replaced: windows of 997 bytes
    // cut through moofs, so a moof is written across two or more windows.
    expect(p.parts.flatMap((part) => part.pieces ?? []).filter((piece) => piece.span).length).toBeGreaterThanOrEqual(3);
    const expected = await expectedBytes(p);
    expect(expected.length).toBe(p.totalBytes);
    for (const windowBytes of [997, 64 * 1024, 64 * 1024 * 1024]) {
      const clip = await collect(joinedClipBytes(p, undefined, new WindowPool(windowBytes)));
      expect({ windowBytes, same: clip.equals(expected) }).toEqual({ windowBytes, same: true });
    }
  });

  it('fragments taken whole go out as the file\'s own bytes, a read window at a time (not a moof and a payload per fragment); cut ones as before', async () => {
    // Sub-GOP fragments (the recorder's layout): 4 per file. The clip starts at a keyframe fragment and
    // ends in a cut one, so every fragment but the last is whole.
    const parts: ClipPart[] = [{ absPath: file('sub', 0), inpointSeconds: 1.2 }, { absPath: file('sub', 1) }, { absPath: file('sub', 2), outpointSeconds: 1.3 }];
    const p = await plan(parts);
    const pieces = p.parts.flatMap((part) => part.pieces ?? []);
    expect(pieces.length).toBeGreaterThanOrEqual(9);
    expect(pieces.map((piece) => piece.span !== undefined)).toEqual([...pieces.slice(1).map(() => true), false]);
    for (const piece of pieces) {
      if (piece.span) expect(piece.span.bytes).toBe(piece.moof.length + 8 + piece.payloadBytes);
    }
    const chunks: Buffer[] = [];
    for await (const c of joinedClipBytes(p, undefined, new WindowPool(64 * 1024 * 1024))) chunks.push(c);
    // init; a chunk per file for its whole fragments; the cut fragment's moof and payload; the mfra.
    expect(chunks.length).toBe(1 + 3 + 2 + 1);
    expect(Buffer.concat(chunks).equals(await expectedBytes(p))).toBe(true);
  });

  it('cuts the last fragment before the first frame whose decode time is at or after the outpoint', async () => {
    for (const [out, kept] of [[0.01, 1], [0.4, 6], [0.466, 7], [1.0, 15], [1.001, 16]] as const) {
      const p = await plan([{ absPath: file('rec', 1), outpointSeconds: out }]);
      const scan = scanFmp4Buffer(await collect(joinedClipBytes(p)));
      expect({ out, kept: scan.sampleCount }).toEqual({ out, kept });
    }
  });
});

describe('a clip longer than the plan keeps', () => {
  const threeFiles = (prefix: string): ClipPart[] => [{ absPath: file(prefix, 0), inpointSeconds: 1.2 }, { absPath: file(prefix, 1) }, { absPath: file(prefix, 2), outpointSeconds: 1.3 }];

  it('is the same bytes when its parts are read again as it streams', async () => {
    for (const prefix of ['sub', 'subbf', 'rec']) {
      const whole = await plan(threeFiles(prefix));
      expect(whole.parts.every((part) => part.pieces !== undefined)).toBe(true);
      const expected = await collect(joinedClipBytes(whole));
      // Keeping one fragment: the parts are read again when the clip gets to them (the first too when it has more).
      const bounded = await plan(threeFiles(prefix), { parsed: 1, planned: 1 });
      expect({ prefix, readAgain: bounded.parts.filter((part) => part.pieces === undefined).length }).toEqual({ prefix, readAgain: prefix === 'rec' ? 2 : 3 });
      expect(bounded.totalBytes).toBe(whole.totalBytes);
      const clip = await collect(joinedClipBytes(bounded, undefined, new WindowPool(997)));
      expect({ prefix, same: clip.equals(expected) }).toEqual({ prefix, same: true });
    }
  });

  it('leaves no file open when the client leaves while the next part is being read again', async () => {
    await mkdir(path('leave'), { recursive: true });
    const parts = [0, 1, 2].map((i) => ({ absPath: path(`leave/big${i}.mp4`) }));
    for (const [i, part] of parts.entries()) await copyFile(file('big', i), part.absPath);
    const open = async () => (await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')))).filter((t) => t.includes('/leave/'));
    const bounded = await plan(parts, { parsed: 1, planned: 1 });
    const body = joinedClipBytes(bounded, undefined, new WindowPool(64 * 1024));
    await body.next(); // init
    await body.next(); // the first part's first window: the second part is being made again by now
    await body.return(undefined);
    expect(await open()).toEqual([]);
  });

  it('ends its body with an error when a part read again is not what was planned', async () => {
    await mkdir(path('changed'), { recursive: true });
    const parts = [0, 1, 2].map((i) => ({ absPath: path(`changed/sub${i}.mp4`) }));
    for (const [i, part] of parts.entries()) await copyFile(file('sub', i), part.absPath);
    const bounded = await plan(parts, { parsed: 5, planned: 5 });
    // The last file replaced by another of another length after the plan: its pieces differ.
    await copyFile(file('rec', 2), (parts[2] as ClipPart).absPath);
    await expect(collect(joinedClipBytes(bounded))).rejects.toThrow(/differs from its plan|clip part read again/);
  });
});

describe('files a clip takes whole, planned from their ends (their rows count their keyframe fragments)', () => {
  /** The parts with each file's keyframe fragments counted, as its catalog row holds them (`keyframe_fragments`). */
  const counted = async (parts: ClipPart[], adjust: (i: number) => number = () => 0): Promise<ClipPart[]> =>
    Promise.all(
      parts.map(async (part, i) => {
        const src = await readJoinSource(part.absPath);
        if (!src.ok) throw new Error(src.reason);
        return { ...part, keyframeFragments: src.value.fragments.filter((f) => f.keyframe).length + adjust(i) };
      }),
    );
  const fromEnds = (p: JoinPlan) => p.parts.filter((part) => part.pieces === undefined).length;

  it('is the same clip, byte for byte, as the one planned from every moof, its middle files read only as it streams', async () => {
    const shapes: Array<[string, (prefix: string) => ClipPart[], number]> = [
      // Cut at both ends: only the middle file is taken whole.
      ['cut', (x) => [{ absPath: file(x, 0), inpointSeconds: 1.2 }, { absPath: file(x, 1) }, { absPath: file(x, 2), outpointSeconds: 1.3 }], 1],
      ['whole files', (x) => [0, 1, 2].map((i) => ({ absPath: file(x, i) })), 3],
      // An outpoint past the last file's last frame takes it whole too.
      ['to the end', (x) => [{ absPath: file(x, 0) }, { absPath: file(x, 1) }, { absPath: file(x, 2), outpointSeconds: 2.5 }], 3],
    ];
    for (const prefix of ['sub', 'subbf', 'rec']) {
      for (const [shape, parts, light] of shapes) {
        const full = await plan(parts(prefix));
        const expected = await collect(joinedClipBytes(full));
        expect(expected.length).toBe(full.totalBytes);
        const ends = await plan(await counted(parts(prefix)));
        // `rec` holds one GOP a fragment, two a file: a file of two fragments is read whole anyway.
        expect({ prefix, shape, fromEnds: fromEnds(ends) }).toEqual({ prefix, shape, fromEnds: prefix === 'rec' ? 0 : light });
        expect(ends.totalBytes).toBe(full.totalBytes);
        expect(ends.init.equals(full.init)).toBe(true);
        const clip = await collect(joinedClipBytes(ends, undefined, new WindowPool(997)));
        expect({ prefix, shape, same: clip.equals(expected) }).toEqual({ prefix, shape, same: true });
      }
    }
  });

  it('sent into an HTTP response to a slow client, read windows reused once written (moofs rewritten in them): the same bytes', async () => {
    for (const prefix of ['sub', 'subbf']) {
      const ends = await plan(await counted([0, 1, 2].map((i) => ({ absPath: file(prefix, i) }))));
      expect(fromEnds(ends)).toBe(3);
      const expected = await collect(joinedClipBytes(ends));
      // Windows smaller than a moof at times: moofs across two windows are written back into both.
      const { url, server, bodies } = await servePiped(() => new ClipBody((pool) => joinedClipBytes(ends, undefined, pool), 997, 4096), ends.totalBytes);
      try {
        const got = await slowDownload(url, 100);
        expect({ prefix, complete: got.complete, same: got.bytes.equals(expected) }).toEqual({ prefix, complete: true, same: true });
        expect((bodies[0] as ClipBody).windows?.counts.reused).toBeGreaterThan(0);
      } finally {
        server.close();
      }
    }
  });

  it('plans without reading the middle of a file: a fragment damaged there is found as the clip streams, and ends the body with an error', async () => {
    await mkdir(path('damaged'), { recursive: true });
    const parts = [0, 1, 2].map((i) => ({ absPath: path(`damaged/sub${i}.mp4`) }));
    for (const [i, part] of parts.entries()) await copyFile(file('sub', i), part.absPath);
    const src = await readJoinSource((parts[1] as ClipPart).absPath);
    if (!src.ok) throw new Error(src.reason);
    const inner = src.value.fragments[1] as { moofOffset: number };
    // The second fragment's moof turned into a box of another type: the file no longer reads in full.
    const fh = await open((parts[1] as ClipPart).absPath, 'r+');
    await fh.write(Buffer.from('free'), 0, 4, inner.moofOffset + 4);
    await fh.close();
    expect((await readJoinSource((parts[1] as ClipPart).absPath)).ok).toBe(false);
    const ends = await plan(await counted(parts.map((p, i) => (i === 1 ? { ...p, absPath: file('sub', 1) } : p))).then((c) => c.map((p, i) => ({ ...p, absPath: (parts[i] as ClipPart).absPath }))));
    expect(fromEnds(ends)).toBe(3);
    // Sent up to the damaged fragment, never past it: the moofs of a window are checked before it goes out.
    const sent: Buffer[] = [];
    await expect(
      (async () => {
        for await (const c of joinedClipBytes(ends, undefined, new WindowPool(997))) sent.push(c);
      })(),
    ).rejects.toThrow(new RegExp(`damaged/sub1.mp4: fragment at ${inner.moofOffset}: not a moof`));
    const clean = await collect(joinedClipBytes(await plan(await counted([0, 1, 2].map((i) => ({ absPath: file('sub', i) }))))));
    const got = Buffer.concat(sent);
    expect(got.equals(clean.subarray(0, got.length))).toBe(true);
  });

  it('a middle fragment out of step in decode time, or a client that leaves mid-file: an error, or no file left open', async () => {
    await mkdir(path('step'), { recursive: true });
    const parts = [0, 1, 2].map((i) => ({ absPath: path(`step/sub${i}.mp4`) }));
    for (const [i, part] of parts.entries()) await copyFile(file('sub', i), part.absPath);
    const ends = await plan(await counted(parts));
    const openHere = async () => (await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')))).filter((t) => t.includes('/step/'));
    const body = joinedClipBytes(ends, undefined, new WindowPool(4096));
    for (let i = 0; i < 12; i++) await body.next();
    expect(await openHere()).toHaveLength(1);
    await body.return(undefined);
    expect(await openHere()).toEqual([]);
    // The second file's third fragment moved one tick later in decode time.
    const src = await readJoinSource((parts[1] as ClipPart).absPath);
    if (!src.ok) throw new Error(src.reason);
    const third = src.value.fragments[2] as { moofOffset: number; fragment: { baseDecodeTime: number } };
    const fh = await open((parts[1] as ClipPart).absPath, 'r+');
    const tfdt = Buffer.alloc(8);
    tfdt.writeBigUInt64BE(BigInt(third.fragment.baseDecodeTime + 1));
    // moof header, mfhd (16), traf header, tfhd (its size), tfdt header + version/flags.
    const head = readFileSync((parts[1] as ClipPart).absPath).subarray(third.moofOffset, third.moofOffset + 64);
    const tfhdSize = head.readUInt32BE(8 + 16 + 8);
    await fh.write(tfdt, 0, 8, third.moofOffset + 8 + 16 + 8 + tfhdSize + 12);
    await fh.close();
    await expect(collect(joinedClipBytes(ends))).rejects.toThrow(/step\/sub1.mp4: fragment at \d+: not contiguous in decode time/);
  });

  it('a row whose count is wrong: the clip ends with an error before its mfra, or (a count no file of that many fragments can hold) the file is read in full', async () => {
    const parts = [0, 1, 2].map((i) => ({ absPath: file('sub', i) }));
    const expected = await collect(joinedClipBytes(await plan(parts)));
    const oneMore = await plan(await counted(parts, (i) => (i === 1 ? 1 : 0)));
    expect(oneMore.totalBytes).toBe(expected.length + 19);
    await expect(collect(joinedClipBytes(oneMore))).rejects.toThrow(/keyframe fragments where the catalog counts/);
    const impossible = await plan(await counted(parts, (i) => (i === 1 ? 100 : 0)));
    expect(fromEnds(impossible)).toBe(2);
    expect((await collect(joinedClipBytes(impossible))).equals(expected)).toBe(true);
  });

  it('a file without an mfra (recovered after a crash) is read in full', async () => {
    await mkdir(path('nomfra'), { recursive: true });
    const parts = [0, 1, 2].map((i) => ({ absPath: path(`nomfra/sub${i}.mp4`) }));
    for (const [i, part] of parts.entries()) await copyFile(file('sub', i), part.absPath);
    const middle = (parts[1] as ClipPart).absPath;
    const bytes = readFileSync(middle);
    await truncate(middle, bytes.length - bytes.readUInt32BE(bytes.length - 4));
    const expected = await collect(joinedClipBytes(await plan(parts)));
    const ends = await plan(await counted(parts));
    expect(fromEnds(ends)).toBe(2);
    expect((await collect(joinedClipBytes(ends))).equals(expected)).toBe(true);
  });
});

describe('the join makes the same clip as the ffmpeg path', () => {
  const GOP_START = (s: number) => Math.floor(s);
  // Parts name files of the fixture folder (it exists only once the tests run).
  const cases: Array<[string, ClipPart[], number]> = [
    ['inside one file', [{ absPath: 'rec001.mp4', inpointSeconds: 0.3, outpointSeconds: 1.7 }], 1.4],
    ['across 3 files', [{ absPath: 'rec000.mp4', inpointSeconds: 0.5 }, { absPath: 'rec001.mp4' }, { absPath: 'rec002.mp4', outpointSeconds: 1.3 }], 4.8],
    ['starting mid-GOP, off the frame grid', [{ absPath: 'rec000.mp4', inpointSeconds: 1.53 }, { absPath: 'rec001.mp4', outpointSeconds: 0.4 }], 0.87],
    ['ending mid-GOP, starting on a keyframe', [{ absPath: 'rec001.mp4', inpointSeconds: 1 }, { absPath: 'rec002.mp4', outpointSeconds: 0.77 }], 1.77],
    ['whole files', [0, 1, 2].map((i) => ({ absPath: `rec00${i}.mp4` })), 6],
    ['B-frames, across 3 files', [{ absPath: 'bf000.mp4', inpointSeconds: 0.5 }, { absPath: 'bf001.mp4' }, { absPath: 'bf002.mp4', outpointSeconds: 1.3 }], 4.8],
    // The recorder's layout: a GOP in several fragments, the inpoints inside a fragment after a GOP's first.
    ['sub-GOP fragments, starting in a GOP\'s second fragment', [{ absPath: 'sub000.mp4', inpointSeconds: 1.8 }, { absPath: 'sub001.mp4', outpointSeconds: 0.7 }], 0.9],
    ['sub-GOP fragments, across 3 files, ending in a GOP\'s second fragment', [{ absPath: 'sub000.mp4', inpointSeconds: 0.6 }, { absPath: 'sub001.mp4' }, { absPath: 'sub002.mp4', outpointSeconds: 1.8 }], 5.2],
    ['B-frames, sub-GOP fragments, across 2 files', [{ absPath: 'subbf000.mp4', inpointSeconds: 1.7 }, { absPath: 'subbf001.mp4', outpointSeconds: 1.6 }], 1.9],
  ];
  for (const [name, named, rangeS] of cases) {
    it(`${name}: same frames in the same order, same start, presented duration within one frame of the range`, async () => {
      const parts = named.map((p) => ({ ...p, absPath: path(p.absPath) }));
      const p = await plan(parts);
      const joined = await save(await collect(joinedClipBytes(p)));
      const remuxed = await save(await viaFfmpeg(parts));
      const [a, b] = await Promise.all([framemd5(joined), framemd5(remuxed)]);
      expect(a.length).toBeGreaterThanOrEqual(Math.floor(rangeS * FPS));
      expect(a).toEqual(b);
      const [pj, pf] = await Promise.all([presentedSeconds(joined), presentedSeconds(remuxed)]);
      expect(pj.start).toBeCloseTo(pf.start, 6);
      expect(pj.duration).toBeCloseTo(pf.duration, 6);
      // With B-frames both paths end by decode time, so up to the reorder delay (2 frames) is shown past
      // `to`: the join matches ffmpeg there, and the one-frame bound holds for streams without them.
      if (name.startsWith('B-frames')) return;
      expect(pj.presented).toBeGreaterThanOrEqual(rangeS - 0.002);
      expect(pj.presented).toBeLessThanOrEqual(rangeS + FRAME_S + 0.002);
      const inpoint = parts[0]?.inpointSeconds;
      if (inpoint !== undefined) expect(pj.start).toBeCloseTo(-(inpoint - GOP_START(inpoint)), 3);
    });
  }

  it('sub-GOP fragments: starts at the keyframe fragment before the inpoint, and lists only keyframe fragments as random access points', async () => {
    const src = await readJoinSource(file('sub', 0));
    if (!src.ok) throw new Error(src.reason);
    // The fixture really has GOPs in several fragments (else this proves nothing).
    expect(src.value.fragments.filter((f) => !f.keyframe).length).toBeGreaterThan(0);
    const p = await plan([{ absPath: file('sub', 0), inpointSeconds: 1.8 }, { absPath: file('sub', 1) }]);
    const clip = await collect(joinedClipBytes(p));
    const scan = scanFmp4Buffer(clip);
    // Its first fragment is the keyframe one at 1.0 s: the edit list skips 0.8 s.
    expect(scan.fragments[0]?.startsWithKeyframe).toBe(true);
    expect(scan.fragments.length).toBeGreaterThan(scan.fragments.filter((f) => f.startsWithKeyframe).length);
    expect(tfraTimes(clip)).toHaveLength(scan.fragments.filter((f) => f.startsWithKeyframe).length);
  });

  it('falls back (a reason, no plan) for parts whose codec configuration differs, and for a file that is not fMP4', async () => {
    const mixed = await planFmp4Join([{ absPath: file('small', 0), inpointSeconds: 0.5 }, { absPath: file('large', 0) }]);
    expect(mixed).toEqual({ ok: false, reason: 'codec configuration (stsd) differs between parts' });
    await writeFile(path('junk.mp4'), Buffer.alloc(4096, 0x5a));
    const junk = await planFmp4Join([{ absPath: file('rec', 0) }, { absPath: path('junk.mp4') }]);
    expect(junk.ok).toBe(false);
  });
});

describe('ClipService choosing the path', () => {
  let data: string;
  let opened: OpenedDb;
  let lines: string[];
  const ids: Record<string, number[]> = {};

  const logged = (msg: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === msg);
  const service = (stallMs?: number) => {
    lines = [];
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(...c.toString().split('\n').filter(Boolean)), cb()) });
    const jobs = new MediaJobs({ maxJobs: 2, waitMs: 100 });
    const log = pino({ level: 'debug' }, sink);
    return { jobs, clips: new ClipService({ db: opened.db, clock: systemClock, store: new FootageStore(data), log, jobs, ffmpegPath: 'ffmpeg', clipMaxSeconds: 3600, ...(stallMs ? { stallMs } : {}) }) };
  };
  const locks = async (cam: string) => [...(await readLockCounts(opened.db, ids[cam] ?? [])).values()];
  /** Files of `cam` this process still has open (a handle left open would hold deleted footage's space). */
  const openFiles = async (cam: string) => {
    const fds = await readdir('/proc/self/fd');
    const targets = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
    return targets.filter((t) => t.includes(`/recordings/${cam}/`));
  };
  const settle = async (check: () => Promise<boolean>) => {
    for (let i = 0; i < 100 && !(await check()); i++) await new Promise((r) => setTimeout(r, 20));
  };

  beforeAll(async () => {
    data = path('data');
    opened = await openDatabase(path('vigil.db'));
    const cams: Record<string, string[]> = { same: ['rec000', 'rec001', 'rec002'], mixed: ['small000', 'large000'], big: ['big000', 'big001', 'big002'], counted: ['sub000', 'sub001', 'sub002'] };
    for (const [cam, names] of Object.entries(cams)) {
      await mkdir(join(data, 'recordings', cam), { recursive: true });
      await upsertDeclaredCamera(opened.db, { id: cam, name: cam, mainUrl: 'rtsp://h/x', subUrl: null, segmentSeconds: 2, retentionHours: null, storageQuotaBytes: null, enabled: true }, 'config', T0);
      ids[cam] = [];
      for (const [i, name] of names.entries()) {
        const rel = `recordings/${cam}/${name}.mp4`;
        await copyFile(path(`${name}.mp4`), join(data, rel));
        const size = (await stat(join(data, rel))).size;
        // `counted`: rows as the indexer writes them now, with their files' keyframe fragments.
        const keyframes = cam === 'counted' ? { keyframeFragments: keyframeFragments(scanFmp4Buffer(readFileSync(join(data, rel)))) } : {};
        const r = await indexSegment(opened.db, { cameraId: cam, path: rel, startMs: T0 + i * 2000, endMs: T0 + (i + 1) * 2000, sizeBytes: size, codec: 'h264', width: 320, height: 240, source: 'live', fps: FPS, ...keyframes }, T0);
        ids[cam]?.push(r.segment?.id ?? -1);
      }
    }
  });

  afterAll(async () => {
    await opened?.close();
  });

  it('recorder files of one configuration are joined in Node: the bytes of the plan, locks held until the body ends', async () => {
    const { clips, jobs } = service();
    const dl = await clips.open('same', { fromMs: T0 + 500, toMs: T0 + 5300 });
    expect(logged('clip export path')).toMatchObject([{ level: 20, path: 'join', parts: 3, partsReadAsSent: 0 }]);
    expect(await locks('same')).toEqual([1, 1, 1]);
    const body = await collect(dl.body);
    const expected = await collect(joinedClipBytes(await plan([
      { absPath: join(data, 'recordings/same/rec000.mp4'), inpointSeconds: 0.5 },
      { absPath: join(data, 'recordings/same/rec001.mp4') },
      { absPath: join(data, 'recordings/same/rec002.mp4'), outpointSeconds: 1.3 },
    ])));
    expect(body.equals(expected)).toBe(true);
    expect(dl).toMatchObject({ coveredMs: 4800, gaps: [], segments: 3 });
    await settle(async () => (await locks('same')).every((c) => c === 0));
    expect(await locks('same')).toEqual([0, 0, 0]);
    expect(jobs.active).toBe(0);
  });

  it('files whose rows count their keyframe fragments: the middle ones planned from their ends, the same bytes, Content-Length exact', async () => {
    const { clips, jobs } = service();
    const dl = await clips.open('counted', { fromMs: T0 + 500, toMs: T0 + 5300 });
    expect(logged('clip export path')).toMatchObject([{ path: 'join', parts: 3, partsReadAsSent: 1 }]);
    const body = await collect(dl.body);
    const expected = await collect(joinedClipBytes(await plan([
      { absPath: join(data, 'recordings/counted/sub000.mp4'), inpointSeconds: 0.5 },
      { absPath: join(data, 'recordings/counted/sub001.mp4') },
      { absPath: join(data, 'recordings/counted/sub002.mp4'), outpointSeconds: 1.3 },
    ])));
    expect(body.equals(expected)).toBe(true);
    expect(dl.sizeBytes).toBe(body.length);
    await settle(async () => (await locks('counted')).every((c) => c === 0));
    expect(await locks('counted')).toEqual([0, 0, 0]);
    expect(await openFiles('counted')).toEqual([]);
    expect(jobs.active).toBe(0);
    // Read as a stream, its windows are the reader's to keep: each one new (a window a file here).
    expect(logged('clip read windows')).toMatchObject([{ windowsMade: 3, windowsReused: 0 }]);
  });

  it('piped into an HTTP response, the same bytes from windows handed out again once written; locks released, no file left open', async () => {
    const { clips, jobs } = service();
    const dl = await clips.open('counted', { fromMs: T0 + 500, toMs: T0 + 5300 });
    const { url, server } = await servePiped(() => dl.body, dl.sizeBytes);
    try {
      const got = await slowDownload(url, 0);
      const expected = await collect(joinedClipBytes(await plan([
        { absPath: join(data, 'recordings/counted/sub000.mp4'), inpointSeconds: 0.5 },
        { absPath: join(data, 'recordings/counted/sub001.mp4') },
        { absPath: join(data, 'recordings/counted/sub002.mp4'), outpointSeconds: 1.3 },
      ])));
      expect(got.complete).toBe(true);
      expect(got.bytes.equals(expected)).toBe(true);
    } finally {
      server.close();
    }
    await settle(async () => logged('clip read windows').length > 0 && (await locks('counted')).every((c) => c === 0));
    expect(await locks('counted')).toEqual([0, 0, 0]);
    expect(await openFiles('counted')).toEqual([]);
    expect(jobs.active).toBe(0);
    // A window a file, each given back once its writes called back: the later files may take it again.
    const [windows] = logged('clip read windows') as Array<{ windowsMade: number; windowsReused: number }>;
    expect(windows!.windowsMade + windows!.windowsReused).toBe(3);
    expect(windows!.windowsMade).toBeGreaterThanOrEqual(1);
  });

  it('a clip across a change of resolution goes through ffmpeg and decodes across the change', async () => {
    const { clips } = service();
    const dl = await clips.open('mixed', { fromMs: T0 + 500, toMs: T0 + 4000 });
    const clip = await save(await collect(dl.body));
    expect(logged('clip export path')).toMatchObject([{ path: 'ffmpeg', reason: 'codec configuration (stsd) differs between parts' }]);
    const decode = await run('ffmpeg', ['-v', 'error', '-i', clip, '-f', 'null', '-']);
    expect(decode.stderr).toBe('');
    const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=width', '-of', 'csv=p=0', clip]);
    const widths = stdout.split('\n').map(Number).filter((w) => w > 0);
    expect(new Set(widths)).toEqual(new Set([320, 640]));
    expect(widths.indexOf(640)).toBeGreaterThan(widths.lastIndexOf(320)); // in order: the small file, then the large one
  });

  it('a client that goes away mid-clip: reading stops, locks and the job slot are released', async () => {
    const { clips, jobs } = service();
    const dl = await clips.open('big', { fromMs: T0, toMs: T0 + 6000 });
    const first = await new Promise<Buffer>((r) => dl.body.once('data', r));
    expect(first.length).toBeGreaterThan(0);
    expect(await openFiles('big')).toHaveLength(1); // reading the first file, 15 MB still to come
    dl.body.destroy(); // what Fastify does when the response closes early
    await settle(async () => jobs.active === 0 && (await locks('big')).every((c) => c === 0));
    expect(await locks('big')).toEqual([0, 0, 0]);
    expect(jobs.active).toBe(0);
    expect(await openFiles('big')).toEqual([]);
    expect(logged('clip export failed mid-stream')).toEqual([]);
  });

  it('a client that takes nothing for the stall time: the download is ended with an error, locks released', async () => {
    const { clips, jobs } = service(200);
    const dl = await clips.open('big', { fromMs: T0, toMs: T0 + 6000 });
    const failed = await new Promise<Error>((r) => dl.body.once('error', r));
    expect(failed.message).toMatch(/ended/);
    await settle(async () => jobs.active === 0);
    expect(await locks('big')).toEqual([0, 0, 0]);
    expect(logged('clip client took no data; download ended')).toHaveLength(1);
  });

  it('a file that turns short mid-clip cuts the body off with an error (never a complete-looking clip) and logs it', async () => {
    const { clips, jobs } = service();
    const dl = await clips.open('big', { fromMs: T0, toMs: T0 + 6000 });
    dl.body.pause();
    await truncate(join(data, 'recordings/big/big002.mp4'), 100_000);
    const result = await new Promise<string>((resolve) => {
      (dl.body as Readable).once('error', (e) => resolve(e.message)).once('end', () => resolve('ended complete'));
      dl.body.resume();
    });
    expect(result).toMatch(/ended before its last fragment/);
    await settle(async () => jobs.active === 0);
    expect(logged('clip export failed mid-stream')).toHaveLength(1);
    expect(await locks('big')).toEqual([0, 0, 0]);
  });
});
