/**
 * Plans a clip made by joining the recorder's fMP4 files in Node instead of remuxing them with
 * ffmpeg. The plan reproduces what the ffmpeg path (concat demuxer with inpoint/outpoint, `-copyts`,
 * mp4 muxer with delay_moov) produces, fragment for fragment:
 *
 * - the clip starts at the fragment whose keyframe is the last at or before `inpoint` (the concat
 *   demuxer seeks there), and an edit list skips the frames between it and `inpoint`;
 * - each file follows the previous one's end on the clip's decode timeline (as the concat demuxer
 *   places files one after the other), fragments are renumbered from 1;
 * - the last file ends before its first sample whose decode time is at or after `outpoint` (the
 *   concat demuxer compares decode times).
 *
 * When the parts differ in codec configuration or hold anything but the boxes the recorder writes,
 * planning returns a reason and the caller uses ffmpeg.
 */
import { concatCutMicros, type ClipPart } from '../media/clip-args.js';
import { buildJoinMoof, MDAT_HEADER_BYTES, payloadBytes, type Parsed } from './clip-join-boxes.js';
import { buildJoinInit, buildJoinMfra, type RandomAccessEntry } from './clip-join-init.js';
import { readJoinSource, type JoinSource, type JoinSourceFragment } from './clip-join-source.js';

/** One fragment of the clip: its new moof, then the mdat payload copied from the part's file. */
export interface JoinPiece {
  moof: Buffer;
  payloadOffset: number;
  payloadBytes: number;
}

export interface JoinPlanPart {
  absPath: string;
  pieces: JoinPiece[];
}

export interface JoinPlan {
  /** ftyp + moov with the edit list. */
  init: Buffer;
  parts: JoinPlanPart[];
  /** mfra closing the clip. */
  mfra: Buffer;
  /** Bytes of the whole clip. */
  totalBytes: number;
  timescale: number;
  /** Edit list media time: the pre-roll between the first keyframe and `from`, in track ticks. */
  mediaTimeTicks: number;
  /** Decode duration of the clip, pre-roll included (track ticks). */
  durationTicks: number;
}

/** Part files whose boxes are read at once while planning. */
const READ_CONCURRENCY = 4;

const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

/** A concat list cut as the demuxer reads it back (`concatCutMicros`), in microseconds. */
export function concatMicros(seconds: number, cut: 'inpoint' | 'outpoint'): bigint {
  return BigInt(concatCutMicros(seconds, cut));
}

/** `us` microseconds in track ticks, rounded to nearest, halves away from zero (ffmpeg's av_rescale). */
export function microsToTicks(us: bigint, timescale: number): number {
  const num = us * BigInt(timescale);
  const half = 500_000n;
  return Number(num >= 0n ? (num + half) / 1_000_000n : -((-num + half) / 1_000_000n));
}

const sum = (xs: Uint32Array) => xs.reduce((a, b) => a + b, 0);

/** Reads every part's boxes and plans the clip, or says why the ffmpeg path must make it. */
export async function planFmp4Join(parts: readonly ClipPart[]): Promise<Parsed<JoinPlan>> {
  if (parts.length === 0) return fail('no parts');
  // A few files at a time: one positioned read per fragment, so the first byte waits on the slowest file.
  const sources: Array<Parsed<JoinSource>> = new Array(parts.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < parts.length; i = next++) sources[i] = await readJoinSource((parts[i] as ClipPart).absPath);
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, parts.length) }, worker));
  const read: JoinSource[] = [];
  for (const [i, s] of sources.entries()) {
    if (!s.ok) return fail(`${(parts[i] as ClipPart).absPath}: ${s.reason}`);
    read.push(s.value);
  }
  return planFromSources(parts, read);
}

/** The plan for parts whose boxes are read: the timeline rules of the module comment, in order. */
function planFromSources(parts: readonly ClipPart[], sources: readonly JoinSource[]): Parsed<JoinPlan> {
  const first = sources[0] as JoinSource;
  const ref = first.track;
  for (const s of sources) {
    if (!s.track.stsd.equals(ref.stsd)) return fail('codec configuration (stsd) differs between parts');
    if (s.track.timescale !== ref.timescale || s.track.trackId !== ref.trackId || !s.track.trex.equals(ref.trex)) {
      return fail('timescale, track id or fragment defaults differ between parts');
    }
  }
  if (parts.some((p, i) => (p.inpointSeconds !== undefined && i > 0) || (p.outpointSeconds !== undefined && i < parts.length - 1))) {
    return fail('a cut inside the clip (inpoint after the first part or outpoint before the last)');
  }
  const ts = ref.timescale;

  // Where the first part starts: the keyframe at or before its inpoint, or the file's first frame.
  const firstPart = parts[0] as ClipPart;
  let startIndex = 0;
  let startDts: number; // the first kept sample's decode time on the concat timeline (≤ 0)
  if (firstPart.inpointSeconds !== undefined) {
    const inTicks = microsToTicks(concatMicros(firstPart.inpointSeconds, 'inpoint'), ts);
    startIndex = -1;
    first.fragments.forEach((f, j) => {
      if (f.fragment.baseDecodeTime <= inTicks) startIndex = j;
    });
    if (startIndex < 0) return fail('no keyframe at or before the inpoint');
    startDts = (first.fragments[startIndex]?.fragment.baseDecodeTime ?? 0) - inTicks;
  } else {
    // The demuxer's start time is the first frame's presentation time.
    startDts = -(first.fragments[0]?.fragment.compositionOffsets[0] ?? 0);
  }
  const firstKept = first.fragments[startIndex]?.fragment;
  if (!firstKept) return fail('no fragment to start from');
  // ffmpeg writes an empty edit first when the first frame is presented after `from` (B-frames only).
  if (startDts + (firstKept.compositionOffsets[0] ?? 0) > 0) return fail('first frame presented after the inpoint');
  const mediaTimeTicks = startDts === 0 ? 0 : -startDts;

  // Which samples of which fragments, and where they sit on the clip's decode timeline.
  const kept: Array<{ part: number; source: JoinSourceFragment; sampleCount: number; baseDecodeTime: number }> = [];
  let clipEnd = 0; // decode time on the clip's timeline where the next part starts
  let durationTicks = 0;
  for (const [i, part] of parts.entries()) {
    const src = sources[i] as JoinSource;
    const from = i === 0 ? startIndex : 0;
    const origin = (src.fragments[from]?.fragment.baseDecodeTime ?? 0) - clipEnd;
    const outUs = part.outpointSeconds === undefined ? undefined : concatMicros(part.outpointSeconds, 'outpoint');
    for (const source of src.fragments.slice(from)) {
      const f = source.fragment;
      let sampleCount = f.durations.length;
      if (outUs !== undefined) {
        // Samples whose decode time is at or after the outpoint are dropped (dts·1e6 ≥ out_us·timescale).
        let dts = f.baseDecodeTime;
        sampleCount = 0;
        while (sampleCount < f.durations.length && BigInt(dts) * 1_000_000n < outUs * BigInt(ts)) dts += f.durations[sampleCount++] ?? 0;
      }
      if (sampleCount === 0) break;
      const baseDecodeTime = f.baseDecodeTime - origin;
      kept.push({ part: i, source, sampleCount, baseDecodeTime });
      durationTicks = baseDecodeTime + sum(f.durations.slice(0, sampleCount));
      if (sampleCount < f.durations.length) break;
    }
    clipEnd = src.endDecodeTime - origin;
  }
  if (kept.length === 0) return fail('no sample inside the range');

  const init = buildJoinInit(first.ftyp, first.moov, { mediaTimeTicks, mediaDurationTicks: durationTicks });
  const planned: JoinPlanPart[] = [];
  const tfra: RandomAccessEntry[] = [];
  let offset = init.length;
  for (const [n, k] of kept.entries()) {
    const f = k.source.fragment;
    const moof = buildJoinMoof(f, { sequence: n + 1, baseDecodeTime: k.baseDecodeTime, sampleCount: k.sampleCount });
    const bytes = payloadBytes(f, k.sampleCount);
    // ffmpeg's tfra time: the first sample's presentation time after the edit, never below 0.
    tfra.push({ timeTicks: Math.max(0, k.baseDecodeTime + (f.compositionOffsets[0] ?? 0) - mediaTimeTicks), moofOffset: offset });
    const absPath = (parts[k.part] as ClipPart).absPath;
    if (n === 0 || kept[n - 1]?.part !== k.part) planned.push({ absPath, pieces: [] });
    (planned.at(-1) as JoinPlanPart).pieces.push({ moof, payloadOffset: k.source.payloadOffset, payloadBytes: bytes });
    offset += moof.length + MDAT_HEADER_BYTES + bytes;
  }
  const mfra = buildJoinMfra(ref.trackId, tfra);
  return {
    ok: true,
    value: { init, parts: planned, mfra, totalBytes: offset + mfra.length, timescale: ts, mediaTimeTicks, durationTicks },
  };
}
