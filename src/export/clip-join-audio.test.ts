import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClipPart } from '../media/clip-args.js';
import { joinedClipBytes } from './clip-join.js';
import { planFmp4Join, type JoinPlan } from './clip-join-plan.js';
import { readJoinSource } from './clip-join-source.js';
import { RECORD_FRAGMENT_US } from '../media/recorder-args.js';

/**
 * The Node join of files with audio, made as the recorder makes them (segment muxer, one GOP per
 * fragment, video 90 kHz, AAC 8 kHz, the 0.5 s interleave wait): every audio frame of the range once,
 * in order, byte for byte, each at the instant it has in its source file against that file's video;
 * audio and video of the clip starting within one audio frame; the audio ending with the video.
 */
const run = promisify(execFile);
const FPS = 15;
const RATE = 8000;
const FRAME = 1024 / RATE;

let dir: string;
const file = (i: number) => join(dir, `av${String(i).padStart(3, '0')}.mp4`);

interface Packet {
  pts: number;
  duration: number;
  hash: string;
}

async function packets(path: string, stream: 'a' | 'v'): Promise<Packet[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', `${stream}:0`, '-show_data_hash', 'md5', '-show_entries', 'packet=pts_time,duration_time,data_hash', '-of', 'json', path], { maxBuffer: 16 * 1024 * 1024 });
  return (JSON.parse(stdout) as { packets: Array<{ pts_time: string; duration_time: string; data_hash: string }> }).packets.map((p) => ({ pts: Number(p.pts_time), duration: Number(p.duration_time), hash: p.data_hash }));
}

async function startTime(path: string, stream: 'a' | 'v'): Promise<number> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', `${stream}:0`, '-show_entries', 'stream=start_time', '-of', 'csv=p=0', path]);
  return Number(stdout.trim());
}

/** 8 s of video and audio as the recorder writes them, in 2-s files `<prefix>000.mp4 …`; `fragUs`: GOPs cut into fragments of at most that. */
function recordAv(prefix: string, fragUs?: number) {
  return run('ffmpeg', [
    // Noise, not a tone: every AAC frame differs, so a frame is known by its bytes.
    '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=160x120:rate=${FPS}`,
    '-f', 'lavfi', '-i', `anoisesrc=sample_rate=${RATE}:color=pink:seed=7:amplitude=0.3`, '-t', '8',
    '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(FPS), '-bf', '0', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '32k', '-max_interleave_delta', '500000',
    '-f', 'segment', '-segment_time', '2', '-segment_format', 'mp4',
    '-segment_format_options', `movflags=+frag_keyframe+empty_moov+default_base_moof${fragUs ? `:frag_duration=${fragUs}` : ''}:video_track_timescale=90000`,
    join(dir, `${prefix}%03d.mp4`),
  ]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-join-audio-'));
  await recordAv('av');
}, 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a joined clip with audio, its middle files planned from their ends', () => {
  it('is the same clip, byte for byte, as the one planned from every moof (the recorder\'s sub-GOP fragments)', async () => {
    // The recorder's layout with audio: GOPs cut into fragments of at most RECORD_FRAGMENT_US.
    await recordAv('avs', RECORD_FRAGMENT_US);
    const sub = (i: number) => join(dir, `avs${String(i).padStart(3, '0')}.mp4`);
    const counted = (parts: ClipPart[]) =>
      Promise.all(
        parts.map(async (part) => {
          const src = await readJoinSource(part.absPath);
          if (!src.ok) throw new Error(src.reason);
          return { ...part, keyframeFragments: src.value.fragments.filter((f) => f.keyframe).length };
        }),
      );
    const bytesOf = async (p: JoinPlan) => {
      const chunks: Buffer[] = [];
      for await (const c of joinedClipBytes(p)) chunks.push(c);
      return Buffer.concat(chunks);
    };
    const shapes: Array<[ClipPart[], number]> = [
      [[{ absPath: sub(1), inpointSeconds: 0.43 }, { absPath: sub(2) }, { absPath: sub(3), outpointSeconds: 0.73 }], 1],
      [[{ absPath: sub(1) }, { absPath: sub(2) }, { absPath: sub(3) }], 3],
    ];
    for (const [parts, light] of shapes) {
      const full = await planFmp4Join(parts);
      const ends = await planFmp4Join(await counted(parts));
      if (!full.ok || !ends.ok) throw new Error('expected join plans');
      expect(ends.value.parts.filter((part) => part.pieces === undefined)).toHaveLength(light);
      expect(ends.value.totalBytes).toBe(full.value.totalBytes);
      expect(ends.value.audio).toEqual(full.value.audio);
      expect((await bytesOf(ends.value)).equals(await bytesOf(full.value))).toBe(true);
    }
  });
});

describe('joining files with audio', () => {
  it('keeps every audio frame of the range once, in order, at its own file\'s instant, and starts and ends with the video', async () => {
    // From 0.43 s into the second file to 0.73 s into the fourth: three file boundaries' worth of audio.
    const parts: ClipPart[] = [
      { absPath: file(1), inpointSeconds: 0.43 },
      { absPath: file(2) },
      { absPath: file(3), outpointSeconds: 0.73 },
    ];
    const planned = await planFmp4Join(parts);
    if (!planned.ok) throw new Error(planned.reason);
    expect(planned.value.audio?.timescale).toBe(RATE);
    const chunks: Buffer[] = [];
    for await (const c of joinedClipBytes(planned.value)) chunks.push(c);
    const bytes = Buffer.concat(chunks);
    expect(bytes.length).toBe(planned.value.totalBytes);
    // The same bytes when every part is read again as the clip streams (a plan keeping one fragment):
    // each part's audio starts where the part before it left the audio.
    const bounded = await planFmp4Join(parts, { parsed: 1, planned: 1 });
    if (!bounded.ok) throw new Error(bounded.reason);
    expect(bounded.value.parts.filter((part) => part.pieces === undefined).length).toBeGreaterThanOrEqual(2);
    const again: Buffer[] = [];
    for await (const c of joinedClipBytes(bounded.value)) again.push(c);
    expect(Buffer.concat(again).equals(bytes)).toBe(true);
    const clip = join(dir, 'clip.mp4');
    await writeFile(clip, bytes);

    // The sources: each file's video starts where the previous one's ended (the recorder's rows).
    const sources: Array<{ start: number; audio: Packet[] }> = [];
    let at = 0;
    for (const i of [1, 2, 3]) {
      const video = await packets(file(i), 'v');
      sources.push({ start: at, audio: await packets(file(i), 'a') });
      at += video.reduce((n, p) => n + p.duration, 0);
    }
    const clipVideo = await packets(clip, 'v');
    const clipAudio = await packets(clip, 'a');
    // ffprobe shows the clip with its edit lists applied: times from `from` (the pre-roll negative).
    const vStart = await startTime(clip, 'v');
    const aStart = await startTime(clip, 'a');
    expect(vStart).toBeCloseTo(-0.43, 3);
    expect(Math.abs(aStart - vStart)).toBeLessThan(FRAME);
    // Byte for byte, in order, once each: the clip's audio is a run of the sources' audio frames.
    const all = sources.flatMap((s, f) => s.audio.map((p, k) => ({ ...p, f, k, abs: s.start + p.pts })));
    const first = all.findIndex((p) => p.hash === clipAudio[0]?.hash);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(clipAudio.map((p) => p.hash)).toEqual(all.slice(first, first + clipAudio.length).map((p) => p.hash));
    // One run of samples: each frame starts where the one before ended.
    for (let i = 1; i < clipAudio.length; i++) {
      const prev = clipAudio[i - 1] as Packet;
      expect((clipAudio[i] as Packet).pts).toBeCloseTo(prev.pts + prev.duration, 4);
    }
    // Each frame at the instant it has in its own file, against that file's video (a file's first frame,
    // which ffmpeg stretches back to the file's zero, where it truly starts: a frame before the next).
    // Against the clip's first video frame (the keyframe it starts at, 0 s into the second file).
    const keyframe = clipVideo[0]?.pts ?? 0;
    const origin = sources[0]?.start ?? 0;
    for (const [i, p] of clipAudio.entries()) {
      const src = all[first + i] as (typeof all)[number];
      const abs = src.k === 0 ? (all[first + i + 1]?.abs ?? src.abs) - src.duration : src.abs;
      expect(p.pts - keyframe, `audio frame ${i} (file ${src.f}, frame ${src.k})`).toBeCloseTo(abs - origin, 3);
    }
    // The audio ends with the video: its last frame starts before the video's end, and ends within a frame of it.
    const vEnd = (clipVideo.at(-1)?.pts ?? 0) + (clipVideo.at(-1)?.duration ?? 0);
    const aLast = clipAudio.at(-1) as Packet;
    expect(aLast.pts).toBeLessThan(vEnd);
    expect(aLast.pts + aLast.duration - vEnd).toBeLessThanOrEqual(FRAME + 1e-6);
  });

  it('hands parts with and without audio to ffmpeg, naming why', async () => {
    await run('ffmpeg', [
      '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=160x120:rate=${FPS}`, '-t', '2',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(FPS), '-bf', '0', '-pix_fmt', 'yuv420p',
      '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-video_track_timescale', '90000', join(dir, 'v.mp4'),
    ]);
    const planned = await planFmp4Join([{ absPath: file(0) }, { absPath: join(dir, 'v.mp4') }]);
    expect(planned).toEqual({ ok: false, reason: 'some parts have audio and others not' });
  });
});
