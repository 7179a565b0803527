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
 * With audio (a second track), each file's audio goes where the file's video goes: its samples keep
 * their place against the video of their own file (both tracks of a recorder file share one zero),
 * so audio and video stay in sync across files. The segment muxer ends a file at the video keyframe
 * that starts the next, and the audio packets up to it fall into the file before: a file's audio
 * overhangs its video by up to one audio frame, and the next file's first audio sample, which ffmpeg
 * stretches back to the file's zero, overlaps it. The plan keeps the audio one run of samples: a
 * sample starting before the audio so far ends is moved to that end with its duration shortened to
 * end where it did (dropped when its trun cannot say so), and audio is cut where the clip's video
 * ends (samples after the last video fragment come in audio-only fragments). The audio's edit list
 * starts at the video's instant.
 *
 * When the parts differ in codec configuration or hold anything but the boxes the recorder writes,
 * planning returns a reason and the caller uses ffmpeg.
 */
import { concatCutMicros, type ClipPart } from '../media/clip-args.js';
import { buildJoinMoofOf, hasSampleDurations, sumOf, MDAT_HEADER_BYTES, payloadBytes, type JoinFragment, type JoinTrafPart, type Parsed } from './clip-join-boxes.js';
import { buildJoinInit, buildJoinMfra, type RandomAccessEntry } from './clip-join-init.js';
import { readJoinSource, type JoinSource, type JoinSourceFragment } from './clip-join-source.js';

/** One fragment of the clip: its new moof, then the mdat payload copied from the part's file. */
export interface JoinPiece {
  moof: Buffer;
  /** Where the payload lies in the part's file: the video samples' bytes, then the audio samples'. */
  ranges: Array<{ offset: number; bytes: number }>;
  payloadBytes: number;
  /**
   * Set when the piece is its source fragment whole (every sample of its mdat) and its new moof is the
   * old one's length: the piece's bytes are then the file's [offset, offset + bytes) with the moof
   * replaced, so a run of such pieces streams as the file's bytes in large reads (`clip-join.ts`).
   */
  span?: { offset: number; bytes: number };
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
  /** The audio track's timescale, edit list media time and decode duration (its ticks), when the clip has audio. */
  audio?: { timescale: number; mediaTimeTicks: number; durationTicks: number };
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
    const [a, r] = [s.track.audio, ref.audio];
    if ((a === undefined) !== (r === undefined)) return fail('some parts have audio and others not');
    if (a && r && (!a.stsd.equals(r.stsd) || a.timescale !== r.timescale || a.trackId !== r.trackId || !a.trex.equals(r.trex))) {
      return fail('audio configuration differs between parts');
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
      if (f.keyframe && f.fragment.baseDecodeTime <= inTicks) startIndex = j;
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
  const kept: Array<{ part: number; source: JoinSourceFragment; sampleCount: number; baseDecodeTime: number; origin: number; index: number }> = [];
  let clipEnd = 0; // decode time on the clip's timeline where the next part starts
  let durationTicks = 0;
  for (const [i, part] of parts.entries()) {
    const src = sources[i] as JoinSource;
    const from = i === 0 ? startIndex : 0;
    const origin = (src.fragments[from]?.fragment.baseDecodeTime ?? 0) - clipEnd;
    const outUs = part.outpointSeconds === undefined ? undefined : concatMicros(part.outpointSeconds, 'outpoint');
    for (const [index, source] of src.fragments.entries()) {
      if (index < from) continue;
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
      kept.push({ part: i, source, sampleCount, baseDecodeTime, origin, index });
      durationTicks = baseDecodeTime + sumOf(f.durations, sampleCount);
      if (sampleCount < f.durations.length) break;
    }
    clipEnd = src.endDecodeTime - origin;
  }
  if (kept.length === 0) return fail('no sample inside the range');

  // The audio of each kept fragment (see the module comment), then what of it follows the last one.
  const audio = ref.audio ? new AudioCut(ref.audio.timescale, ts, durationTicks) : undefined;
  const pieces: Array<{ part: number; video?: (typeof kept)[number]; audio?: AudioTake }> = kept.map((k) => ({
    part: k.part,
    video: k,
    ...(audio ? { audio: audio.take(k.source, k.origin) } : {}),
  }));
  const last = kept.at(-1) as (typeof kept)[number];
  if (audio) {
    const src = sources[last.part] as JoinSource;
    for (const source of src.fragments.slice(last.index + 1)) {
      const take = audio.take(source, last.origin);
      if (!take) break;
      pieces.push({ part: last.part, audio: take });
    }
  }

  const init = buildJoinInit(first.ftyp, first.moov, {
    mediaTimeTicks,
    mediaDurationTicks: durationTicks,
    ...(audio ? { audio: { mediaTimeTicks: audio.ticks(mediaTimeTicks), mediaDurationTicks: audio.end } } : {}),
  });
  const planned: JoinPlanPart[] = [];
  const tfra: RandomAccessEntry[] = [];
  let offset = init.length;
  for (const [n, p] of pieces.entries()) {
    const trafs: JoinTrafPart[] = [];
    const ranges: JoinPiece['ranges'] = [];
    if (p.video) {
      const k = p.video;
      const f = k.source.fragment;
      trafs.push({ fragment: f, baseDecodeTime: k.baseDecodeTime, from: 0, count: k.sampleCount });
      ranges.push({ offset: k.source.payloadOffset, bytes: payloadBytes(f, k.sampleCount) });
      // A random access point per keyframe fragment. ffmpeg's tfra time: the first sample's
      // presentation time after the edit, never below 0.
      if (k.source.keyframe) tfra.push({ timeTicks: Math.max(0, k.baseDecodeTime + (f.compositionOffsets[0] ?? 0) - mediaTimeTicks), moofOffset: offset });
    }
    if (p.audio) {
      trafs.push(p.audio.traf);
      ranges.push(p.audio.range);
    }
    if (trafs.length === 0) continue;
    const moof = buildJoinMoofOf(n + 1, trafs);
    const bytes = ranges.reduce((a, r) => a + r.bytes, 0);
    const absPath = (parts[p.part] as ClipPart).absPath;
    if (planned.at(-1)?.absPath !== absPath || n === 0) planned.push({ absPath, pieces: [] });
    const span = p.video ? wholeSpan(p.video.source, moof, ranges) : undefined;
    (planned.at(-1) as JoinPlanPart).pieces.push({ moof, ranges, payloadBytes: bytes, ...(span ? { span } : {}) });
    offset += moof.length + MDAT_HEADER_BYTES + bytes;
  }
  const mfra = buildJoinMfra(ref.trackId, tfra);
  return {
    ok: true,
    value: {
      init,
      parts: planned,
      mfra,
      totalBytes: offset + mfra.length,
      timescale: ts,
      mediaTimeTicks,
      durationTicks,
      ...(audio && ref.audio ? { audio: { timescale: ref.audio.timescale, mediaTimeTicks: audio.ticks(mediaTimeTicks), durationTicks: audio.end } } : {}),
    },
  };
}

/**
 * The source fragment's moof and mdat in the file, when the piece is all of it: its payload ranges are
 * the whole mdat payload in file order, and the new moof (renumbered, its tfdt moved) has the old one's
 * length, so the file's mdat header is the one the piece would write.
 */
function wholeSpan(source: JoinSourceFragment, moof: Buffer, ranges: JoinPiece['ranges']): JoinPiece['span'] {
  if (moof.length !== source.moofBytes || source.payloadOffset !== source.moofOffset + source.moofBytes + MDAT_HEADER_BYTES) return undefined;
  let at = source.payloadOffset;
  for (const r of ranges) {
    if (r.offset !== at) return undefined;
    at += r.bytes;
  }
  return at === source.end ? { offset: source.moofOffset, bytes: source.end - source.moofOffset } : undefined;
}

/** The audio samples one clip fragment takes from a source fragment, and where their bytes are. */
interface AudioTake {
  traf: JoinTrafPart;
  range: { offset: number; bytes: number };
}

/**
 * The clip's audio, one source fragment at a time in clip order: each fragment's audio placed by its
 * file's shift (`origin`, video ticks: the file's time minus the clip's), kept from where the audio so
 * far ends (`end`, audio ticks) to where the clip's video ends.
 */
class AudioCut {
  /** Where the audio kept so far ends, on the clip's timeline (audio ticks); nothing before 0 is kept. */
  end = 0;
  private readonly limit: number;

  constructor(
    private readonly timescale: number,
    private readonly videoTimescale: number,
    videoEndTicks: number,
  ) {
    this.limit = this.ticks(videoEndTicks);
  }

  /** Video ticks in audio ticks (nearest). */
  ticks(videoTicks: number): number {
    return Math.round((videoTicks * this.timescale) / this.videoTimescale);
  }

  take(source: JoinSourceFragment, origin: number): AudioTake | undefined {
    const a: JoinFragment | undefined = source.fragment.audio;
    if (!a) return undefined;
    const n = a.durations.length;
    // Each sample's place on the clip's timeline (audio ticks) and length.
    const starts: number[] = [];
    const durs: number[] = [];
    for (let i = 0, t = a.baseDecodeTime - this.ticks(origin); i < n; t += a.durations[i] as number, i++) {
      starts.push(t);
      durs.push(a.durations[i] as number);
    }
    // ffmpeg stretches a file's first audio sample back to the file's zero: it starts where the next
    // one does less a usual frame (given its own duration in the trun, so the rest stay where they are).
    if (a.baseDecodeTime === 0 && n >= 2 && hasSampleDurations(a) && (durs[0] as number) > (durs[1] as number)) {
      starts[0] = (starts[0] as number) + (durs[0] as number) - (durs[1] as number);
      durs[0] = durs[1] as number;
    }
    let from = 0;
    let skippedBytes = 0;
    // Samples that end where the audio so far ends, or before it, are had already (or precede the clip).
    while (from < n && (starts[from] as number) + (durs[from] as number) <= this.end) skippedBytes += a.sizes[from++] as number;
    if (from === n || (starts[from] as number) >= this.limit) return undefined;
    let base = starts[from] as number;
    let firstDuration = durs[from] as number;
    if (base < this.end) {
      // Overlapping the audio so far: moved to its end, shortened to end where it did, if the trun can say so.
      if (!hasSampleDurations(a)) {
        skippedBytes += a.sizes[from++] as number;
        if (from === n || (starts[from] as number) >= this.limit) return undefined;
        base = starts[from] as number;
        firstDuration = durs[from] as number;
      } else {
        firstDuration = base + firstDuration - this.end;
        base = this.end;
      }
    }
    let count = 0;
    let bytes = 0;
    let at = base;
    while (from + count < n && (count === 0 || (starts[from + count] as number) < this.limit)) {
      at += count === 0 ? firstDuration : (durs[from + count] as number);
      bytes += a.sizes[from + count] as number;
      count++;
    }
    this.end = at;
    return {
      traf: { fragment: a, baseDecodeTime: base, from, count, ...(firstDuration !== a.durations[from] ? { firstDuration } : {}) },
      range: { offset: source.payloadOffset + payloadBytes(source.fragment) + skippedBytes, bytes },
    };
  }
}
