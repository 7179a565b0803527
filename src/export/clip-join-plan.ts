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
import { buildJoinMoofOf, hasSampleDurations, sumOf, MDAT_HEADER_BYTES, payloadBytes, type JoinFragment, type JoinTracks, type JoinTrafPart, type Parsed } from './clip-join-boxes.js';
import { buildJoinInit, buildJoinMfra, joinMfraBytes, type RandomAccessEntry } from './clip-join-init.js';
import type { JoinMiddle } from './clip-join-middle.js';
import { isJoinEnds, readJoinEnds, readJoinSource, type JoinEnds, type JoinSource, type JoinSourceFragment } from './clip-join-source.js';

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

/** A part's pieces, and the random access points among them (the clip's mfra lists them). */
export interface PartPieces {
  pieces: JoinPiece[];
  tfra: RandomAccessEntry[];
}

/**
 * A file the clip takes whole, planned from its ends (`endsOfWhole`): its first and last fragments'
 * pieces with their random access points, and between them the file's own bytes, whose moofs the body
 * rewrites as it sends them (`clip-join-middle.ts`).
 */
export interface JoinWhole {
  first: JoinPiece;
  firstTfra: RandomAccessEntry[];
  middle: JoinMiddle;
  last: JoinPiece;
  lastTfra: RandomAccessEntry[];
}

/**
 * One part in the clip. A plan keeps its pieces (`pieces`) up to `PLAN_KEPT_FRAGMENTS` of the clip;
 * for the parts after that, `rebuild` reads the file again and makes the pieces when the clip gets to
 * them (`partPieces`), so a long clip is not held in memory whole. A file the clip takes whole whose
 * row counts its keyframe fragments is planned from its ends (`whole`), whatever the clip's length.
 */
export interface JoinPlanPart {
  absPath: string;
  /** The part's pieces and random access points, when the plan kept them. */
  pieces?: JoinPiece[];
  tfra?: RandomAccessEntry[];
  /** The part's pieces made again from its file; fails if they are not the ones the plan sized. */
  rebuild?: () => Promise<PartPieces>;
  whole?: JoinWhole;
}

export interface JoinPlan {
  /** ftyp + moov with the edit list. */
  init: Buffer;
  parts: JoinPlanPart[];
  /**
   * The mfra closing the clip, from every part's random access points in clip order (`partPieces`);
   * throws when they are not as many as the plan sized.
   */
  closing(tfra: readonly RandomAccessEntry[]): Buffer;
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

/** A part's pieces: those the plan kept, or made from the file. */
export async function partPieces(part: JoinPlanPart): Promise<PartPieces> {
  if (part.pieces) return { pieces: part.pieces, tfra: part.tfra ?? [] };
  if (!part.rebuild) throw new Error(`join plan part without pieces: ${part.absPath}`);
  return part.rebuild();
}

/** Part files whose boxes are read at once while planning. */
const READ_CONCURRENCY = 4;

/**
 * Fragments a plan holds in memory: parsed (its files' moofs, between its two passes) up to an hour of
 * the recorder's fragments (120 a minute), planned (the clip's moofs, until the body has sent them) up
 * to two. A longer clip's other parts are read again when they are needed: a day-long clip (172 800
 * fragments) held ~160 MB of planned moofs, and ~320 MB more of parsed ones while planning (docs/proof.md).
 */
export const PLAN_KEPT_FRAGMENTS = { parsed: 7_200, planned: 14_400 } as const;

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

/** The parts' sources in order, up to `ahead` read at once; each is let go once the caller moves on. */
async function* inOrder<T>(count: number, read: (i: number) => Promise<T>, ahead: number): AsyncGenerator<[number, T]> {
  const started: Array<Promise<T> | undefined> = [];
  let next = 0;
  for (let i = 0; i < count; i++) {
    for (; next < count && next < i + ahead; next++) {
      const p = read(next);
      // Awaited below in turn; one left behind (planning stopped early) must not fail unseen.
      p.catch(() => undefined);
      started[next] = p;
    }
    const value = await (started[i] as Promise<T>);
    started[i] = undefined;
    yield [i, value];
  }
}

/** Why two parts cannot be joined (their tracks differ), or undefined. */
function tracksDiffer(ref: JoinTracks, t: JoinTracks): string | undefined {
  if (!t.stsd.equals(ref.stsd)) return 'codec configuration (stsd) differs between parts';
  if (t.timescale !== ref.timescale || t.trackId !== ref.trackId || !t.trex.equals(ref.trex)) return 'timescale, track id or fragment defaults differ between parts';
  const [a, r] = [t.audio, ref.audio];
  if ((a === undefined) !== (r === undefined)) return 'some parts have audio and others not';
  if (a && r && (!a.stsd.equals(r.stsd) || a.timescale !== r.timescale || a.trackId !== r.trackId || !a.trex.equals(r.trex))) {
    return 'audio configuration differs between parts';
  }
  return undefined;
}

/** A source fragment the clip keeps (all of its video samples or the first `sampleCount`), placed on the clip's decode timeline. */
interface KeptFragment {
  source: JoinSourceFragment;
  sampleCount: number;
  baseDecodeTime: number;
  /** The part's shift: its decode time minus the clip's. */
  origin: number;
  /** The fragment's index in its file. */
  index: number;
}

/** Where the clip starts in its first part (the module comment's first rule). */
interface ClipStart {
  /** The first kept fragment of the first part. */
  index: number;
  /** Edit list media time: the pre-roll, track ticks. */
  mediaTimeTicks: number;
}

function clipStart(part: ClipPart, first: JoinSource): Parsed<ClipStart> {
  const ts = first.track.timescale;
  // The keyframe at or before the inpoint, or the file's first frame.
  let index = 0;
  let startDts: number; // the first kept sample's decode time on the concat timeline (≤ 0)
  if (part.inpointSeconds !== undefined) {
    const inTicks = microsToTicks(concatMicros(part.inpointSeconds, 'inpoint'), ts);
    index = -1;
    first.fragments.forEach((f, j) => {
      if (f.keyframe && f.fragment.baseDecodeTime <= inTicks) index = j;
    });
    if (index < 0) return fail('no keyframe at or before the inpoint');
    startDts = (first.fragments[index]?.fragment.baseDecodeTime ?? 0) - inTicks;
  } else {
    // The demuxer's start time is the first frame's presentation time.
    startDts = -(first.fragments[0]?.fragment.compositionOffsets[0] ?? 0);
  }
  const firstKept = first.fragments[index]?.fragment;
  if (!firstKept) return fail('no fragment to start from');
  // ffmpeg writes an empty edit first when the first frame is presented after `from` (B-frames only).
  if (startDts + (firstKept.compositionOffsets[0] ?? 0) > 0) return fail('first frame presented after the inpoint');
  return { ok: true, value: { index, mediaTimeTicks: startDts === 0 ? 0 : -startDts } };
}

/**
 * The fragments part `i` gives the clip, placed after the parts before it (which end at `clipEnd` on
 * the clip's timeline), and where the next part starts.
 */
function keptOf(i: number, part: ClipPart, src: JoinSource, start: ClipStart, clipEnd: number): { kept: KeptFragment[]; clipEnd: number } {
  const ts = src.track.timescale;
  const from = i === 0 ? start.index : 0;
  const origin = (src.fragments[from]?.fragment.baseDecodeTime ?? 0) - clipEnd;
  const outUs = part.outpointSeconds === undefined ? undefined : concatMicros(part.outpointSeconds, 'outpoint');
  const kept: KeptFragment[] = [];
  for (let index = from; index < src.fragments.length; index++) {
    const source = src.fragments[index] as JoinSourceFragment;
    const f = source.fragment;
    let sampleCount = f.durations.length;
    if (outUs !== undefined) {
      // Samples whose decode time is at or after the outpoint are dropped (dts·1e6 ≥ out_us·timescale).
      let dts = f.baseDecodeTime;
      sampleCount = 0;
      while (sampleCount < f.durations.length && BigInt(dts) * 1_000_000n < outUs * BigInt(ts)) dts += f.durations[sampleCount++] ?? 0;
    }
    if (sampleCount === 0) break;
    kept.push({ source, sampleCount, baseDecodeTime: f.baseDecodeTime - origin, origin, index });
    if (sampleCount < f.durations.length) break;
  }
  return { kept, clipEnd: src.endDecodeTime - origin };
}

/** Where the clip stands when a part begins: what the pieces before it left. */
interface PartStart {
  /** Where the part starts on the clip's decode timeline (the parts before it end there). */
  clipEnd: number;
  /** Where the clip's audio so far ends (audio ticks). */
  audioEnd: number;
  /** Pieces before the part (the next moof's sequence number less one). */
  pieces: number;
  /** Bytes of the clip before the part. */
  offset: number;
}

/** What the whole clip's timeline says, known once every part was read once. */
interface ClipTimeline {
  parts: readonly ClipPart[];
  track: JoinTracks;
  start: ClipStart;
  /** Decode duration of the clip's video, pre-roll included (track ticks). */
  durationTicks: number;
  /** The part holding the clip's last video fragment, and that fragment's index in its file. */
  last: { part: number; index: number };
}

/**
 * Part `i`'s pieces (its kept fragments with their audio, and after the clip's last video fragment the
 * audio-only ones), their moofs built, from where the clip stands at its start; `tfra` gets its random
 * access points. Returns the pieces and where the clip stands after them.
 */
function piecesOf(t: ClipTimeline, i: number, src: JoinSource, at: PartStart, tfra: RandomAccessEntry[] | undefined): { pieces: JoinPiece[]; next: PartStart } {
  const { kept, clipEnd } = keptOf(i, t.parts[i] as ClipPart, src, t.start, at.clipEnd);
  const audio = t.track.audio ? new AudioCut(t.track.audio.timescale, t.track.timescale, t.durationTicks, at.audioEnd) : undefined;
  const planned: Array<{ video?: KeptFragment; audio?: AudioTake }> = kept.map((k) => ({ video: k, ...(audio ? { audio: audio.take(k.source, k.origin) } : {}) }));
  const last = kept.at(-1);
  if (audio && last && i === t.last.part) {
    for (const source of src.fragments.slice(last.index + 1)) {
      const take = audio.take(source, last.origin);
      if (!take) break;
      planned.push({ audio: take });
    }
  }
  const pieces: JoinPiece[] = [];
  let n = at.pieces;
  let offset = at.offset;
  for (const p of planned) {
    n++;
    const trafs: JoinTrafPart[] = [];
    const ranges: JoinPiece['ranges'] = [];
    if (p.video) {
      const k = p.video;
      const f = k.source.fragment;
      trafs.push({ fragment: f, baseDecodeTime: k.baseDecodeTime, from: 0, count: k.sampleCount });
      ranges.push({ offset: k.source.payloadOffset, bytes: payloadBytes(f, k.sampleCount) });
      // A random access point per keyframe fragment. ffmpeg's tfra time: the first sample's
      // presentation time after the edit, never below 0.
      if (k.source.keyframe) tfra?.push({ timeTicks: Math.max(0, k.baseDecodeTime + (f.compositionOffsets[0] ?? 0) - t.start.mediaTimeTicks), moofOffset: offset });
    }
    if (p.audio) {
      trafs.push(p.audio.traf);
      ranges.push(p.audio.range);
    }
    if (trafs.length === 0) continue;
    const moof = buildJoinMoofOf(n, trafs);
    const bytes = ranges.reduce((a, r) => a + r.bytes, 0);
    const span = p.video ? wholeSpan(p.video.source, moof, ranges) : undefined;
    pieces.push({ moof, ranges, payloadBytes: bytes, ...(span ? { span } : {}) });
    offset += moof.length + MDAT_HEADER_BYTES + bytes;
  }
  return { pieces, next: { clipEnd, audioEnd: audio?.end ?? 0, pieces: n, offset } };
}

/**
 * The pieces with their moofs in one buffer: each moof is a small allocation from Node's shared 8 KiB
 * pool, so a kept moof kept its whole pool chunk, filled by the plan's other garbage (a day-long clip's
 * kept pieces held ~2 KiB each for a moof of a few hundred bytes).
 */
function packed(pieces: JoinPiece[]): JoinPiece[] {
  const all = Buffer.allocUnsafeSlow(pieces.reduce((a, p) => a + p.moof.length, 0));
  let at = 0;
  return pieces.map((p) => {
    const moof = all.subarray(at, at + p.moof.copy(all, at));
    at += moof.length;
    return { ...p, moof };
  });
}

/** Where a part leaves the clip, as its plan says: what its pieces made again from its file must match. */
interface PartEnds {
  pieces: number;
  offset: number;
  clipEnd: number;
  audioEnd: number;
  /** Its random access points. */
  tfra: number;
}

/** Bytes of a piece in the clip: its moof, an mdat header, its payload. */
const pieceBytes = (p: JoinPiece) => p.moof.length + MDAT_HEADER_BYTES + p.payloadBytes;

/**
 * A part known by its ends (`src`, a file the clip takes whole) planned without its middle fragments:
 * they go out as the file's own bytes between its first fragment's end and its last fragment's moof,
 * each moof renumbered and moved in time with its length unchanged (as the last fragment's shows), and
 * their audio runs on from the first fragment's to the last's. Undefined when that cannot be said from
 * the ends (the file is then read in full): the last fragment's moof would change length, the audio
 * before the part overhangs its first fragment's, or the clip's video ends before its last fragment's
 * audio starts. `keyframes`: the part's random access points, from its catalog row. What is assumed here
 * is checked as the body sends the middle (`clip-join-middle.ts`).
 */
function endsOfWhole(t: ClipTimeline, i: number, src: JoinEnds, at: PartStart, keyframes: number): { whole: JoinWhole; next: PartStart; tfra: number } | undefined {
  const tfra: RandomAccessEntry[] = [];
  const { pieces, next } = piecesOf(t, i, src, at, tfra);
  const [firstPiece, lastPiece] = pieces;
  const [first, last] = src.fragments as [JoinSourceFragment, JoinSourceFragment];
  if (pieces.length !== 2 || !firstPiece || !lastPiece?.span) return undefined;
  const origin = first.fragment.baseDecodeTime - at.clipEnd;
  const audio = t.track.audio;
  let audioShift = 0;
  let audioRun: JoinMiddle['audio'];
  if (audio) {
    const a0 = first.fragment.audio;
    const a1 = last.fragment.audio;
    if (!a0 || !a1) return undefined;
    // The part's audio placed on the clip's timeline as AudioCut places it (the part's shift, audio ticks).
    audioShift = -ticksIn(origin, t.track.timescale, audio.timescale);
    if (at.audioEnd > a0.baseDecodeTime + audioShift + sumOf(a0.durations)) return undefined;
    if (a1.baseDecodeTime + audioShift > ticksIn(t.durationTicks, t.track.timescale, audio.timescale)) return undefined;
    audioRun = { start: a0.baseDecodeTime + sumOf(a0.durations), end: a1.baseDecodeTime };
  }
  const ends = (first.keyframe ? 1 : 0) + (last.keyframe ? 1 : 0);
  if (!Number.isInteger(keyframes) || keyframes < ends || keyframes - ends > src.count - 2) return undefined;
  const middleAt = at.offset + pieceBytes(firstPiece);
  const lastAt = middleAt + (last.moofOffset - first.end);
  // The last piece was made as the pseudo-file's second: its sequence number and place are the file's last.
  lastPiece.moof.writeUInt32BE((at.pieces + src.count) >>> 0, 20);
  const firstTfra = first.keyframe ? tfra.slice(0, 1) : [];
  const lastTfra = last.keyframe ? [{ ...(tfra.at(-1) as RandomAccessEntry), moofOffset: lastAt }] : [];
  const [kept0, kept1] = packed([firstPiece, lastPiece]) as [JoinPiece, JoinPiece];
  return {
    whole: {
      first: kept0,
      firstTfra,
      last: kept1,
      lastTfra,
      middle: {
        from: first.end,
        to: last.moofOffset,
        clipOffset: middleAt,
        fragments: src.count - 2,
        keyframes: keyframes - ends,
        sequence: at.pieces + 2,
        shift: -origin,
        audioShift,
        video: { start: first.fragment.baseDecodeTime + sumOf(first.fragment.durations), end: last.fragment.baseDecodeTime },
        ...(audioRun ? { audio: audioRun } : {}),
        mediaTimeTicks: t.start.mediaTimeTicks,
        tracks: t.track,
      },
    },
    next: { ...next, pieces: at.pieces + src.count, offset: lastAt + pieceBytes(lastPiece) },
    tfra: keyframes,
  };
}

/**
 * Reads the parts' boxes and plans the clip, or says why the ffmpeg path must make it. Two passes
 * over the parts, in order: the first places each part on the clip's timeline (where the clip starts,
 * where each part begins, where the video ends); the second makes each part's pieces, sizing the clip
 * and listing its random access points. Parts are kept between the passes, and pieces after them, up to
 * `keep` fragments; others are read again (`PLAN_KEPT_FRAGMENTS`).
 *
 * A part the clip takes whole whose catalog row counts its random access points (`keyframeFragments`)
 * is read by its ends only (`readJoinEnds`: its init, its mfra, its first and last moofs) and sized from
 * them (`endsOfWhole`); the fragments between go out as the file's bytes, each moof checked and
 * rewritten as the clip streams it (`clip-join-middle.ts`). So the first byte of a clip of many files
 * waits for a few reads of each, not for every moof of every file.
 */
export async function planFmp4Join(parts: readonly ClipPart[], keep: { parsed: number; planned: number } = PLAN_KEPT_FRAGMENTS): Promise<Parsed<JoinPlan>> {
  if (parts.length === 0) return fail('no parts');
  if (parts.some((p, i) => (p.inpointSeconds !== undefined && i > 0) || (p.outpointSeconds !== undefined && i < parts.length - 1))) {
    return fail('a cut inside the clip (inpoint after the first part or outpoint before the last)');
  }
  const read = async (i: number): Promise<Parsed<JoinSource>> => {
    const absPath = (parts[i] as ClipPart).absPath;
    const s = await readJoinSource(absPath);
    return s.ok ? s : fail(`${absPath}: ${s.reason}`);
  };
  // A part that may be taken whole, read by its ends; anything else (a file without an mfra, one whose
  // ends do not read as they should) is read in full, which says what is wrong with it.
  const readFirst = async (i: number): Promise<Parsed<JoinSource>> => {
    const part = parts[i] as ClipPart;
    if (part.keyframeFragments !== undefined && (i > 0 || part.inpointSeconds === undefined)) {
      const ends = await readJoinEnds(part.absPath);
      if (ends?.ok) return ends;
    }
    return read(i);
  };

  // First pass: the timeline. A few files at a time (one positioned read per fragment).
  const kept = new Map<number, JoinSource>();
  let keptCount = 0;
  let first: JoinSource | undefined;
  let start: ClipStart | undefined;
  const clipEndAt: number[] = [];
  let clipEnd = 0;
  let durationTicks = 0;
  let last: ClipTimeline['last'] | undefined;
  for await (const [i, s] of inOrder(parts.length, readFirst, READ_CONCURRENCY)) {
    if (!s.ok) return s;
    let src = s.value;
    if (!first || !start) {
      const c = clipStart(parts[0] as ClipPart, src);
      if (!c.ok) return c;
      first = src;
      start = c.value;
    } else {
      const why = tracksDiffer(first.track, src.track);
      if (why) return fail(why);
    }
    clipEndAt[i] = clipEnd;
    let k = keptOf(i, parts[i] as ClipPart, src, start, clipEnd);
    if (isJoinEnds(src) && (k.kept.length !== 2 || k.kept.some((f) => f.sampleCount !== f.source.fragment.durations.length))) {
      // The outpoint falls inside the file: it is cut, so read in full.
      const full = await read(i);
      if (!full.ok) return full;
      src = full.value;
      k = keptOf(i, parts[i] as ClipPart, src, start, clipEnd);
    }
    const lastKept = k.kept.at(-1);
    if (lastKept) {
      durationTicks = lastKept.baseDecodeTime + sumOf(lastKept.source.fragment.durations, lastKept.sampleCount);
      // A file known by its ends is kept whole: its last fragment is its `count`th.
      last = { part: i, index: isJoinEnds(src) ? src.count - 1 : lastKept.index };
    }
    clipEnd = k.clipEnd;
    if (isJoinEnds(src)) kept.set(i, src);
    else if (keptCount + src.fragments.length <= keep.parsed) {
      kept.set(i, src);
      keptCount += src.fragments.length;
    }
  }
  if (!first || !start || !last) return fail('no sample inside the range');
  const timeline: ClipTimeline = { parts, track: first.track, start, durationTicks, last };
  const ts = first.track.timescale;
  const trackId = first.track.trackId;
  const audioTimescale = first.track.audio?.timescale;
  const audioTicks = (videoTicks: number) => ticksIn(videoTicks, ts, audioTimescale ?? ts);
  // Closures below keep this function's scope while the clip streams: they name the first part's
  // boxes, not the part (its parsed fragments).
  const { ftyp, moov } = first;
  const initOf = (audioEnd: number) =>
    buildJoinInit(ftyp, moov, {
      mediaTimeTicks: start.mediaTimeTicks,
      mediaDurationTicks: durationTicks,
      ...(audioTimescale !== undefined ? { audio: { mediaTimeTicks: audioTicks(start.mediaTimeTicks), mediaDurationTicks: audioEnd } } : {}),
    });
  // The init's length does not depend on the audio's end (fixed-width fields below 2^32 ticks of
  // presentation); its bytes are made once that end is known, after the second pass.
  const initBytes = initOf(0).length;

  /** Part `i`'s pieces made from its file when the clip gets to it, checked against where the plan says it ends. */
  const rebuildOf = (i: number, partStart: PartStart, ends: PartEnds) => async (): Promise<PartPieces> => {
    const absPath = (parts[i] as ClipPart).absPath;
    const again = await read(i);
    if (!again.ok) throw new Error(`clip part read again: ${again.reason}`);
    const why = tracksDiffer(timeline.track, again.value.track);
    if (why) throw new Error(`clip part read again: ${why}`);
    const tfra: RandomAccessEntry[] = [];
    const made = piecesOf(timeline, i, again.value, partStart, tfra);
    const n = made.next;
    if (n.pieces !== ends.pieces || n.offset !== ends.offset || n.clipEnd !== ends.clipEnd || n.audioEnd !== ends.audioEnd || tfra.length !== ends.tfra) {
      throw new Error(`clip part read again differs from its plan: ${absPath}`);
    }
    return { pieces: made.pieces, tfra };
  };

  // Second pass: every part's pieces, their bytes counted and their random access points listed.
  const planned: JoinPlanPart[] = [];
  let tfraCount = 0;
  let at: PartStart = { clipEnd: 0, audioEnd: 0, pieces: 0, offset: initBytes };
  let piecesKept = 0;
  for await (const [i, s] of inOrder(parts.length, (j) => (kept.has(j) ? Promise.resolve({ ok: true as const, value: kept.get(j) as JoinSource }) : read(j)), READ_CONCURRENCY)) {
    if (!s.ok) return s;
    kept.delete(i);
    const partStart: PartStart = { ...at, clipEnd: clipEndAt[i] as number };
    const absPath = (parts[i] as ClipPart).absPath;
    let src = s.value;
    if (isJoinEnds(src)) {
      const ends = endsOfWhole(timeline, i, src, partStart, (parts[i] as ClipPart).keyframeFragments as number);
      if (ends) {
        at = ends.next;
        tfraCount += ends.tfra;
        planned.push({ absPath, whole: ends.whole });
        continue;
      }
      const full = await read(i);
      if (!full.ok) return full;
      src = full.value;
    }
    const tfra: RandomAccessEntry[] = [];
    const { pieces, next } = piecesOf(timeline, i, src, partStart, tfra);
    at = next;
    tfraCount += tfra.length;
    if (pieces.length === 0) continue;
    if (piecesKept + pieces.length <= keep.planned) {
      planned.push({ absPath, pieces: packed(pieces), tfra });
      piecesKept += pieces.length;
      continue;
    }
    // Only where the part ends is kept for the check (the closure must not hold the pieces).
    planned.push({ absPath, rebuild: rebuildOf(i, partStart, { ...next, tfra: tfra.length }) });
  }
  const init = initOf(at.audioEnd);
  if (init.length !== initBytes) return fail('clip init segment length depends on its audio duration');
  const mfraBytes = joinMfraBytes(tfraCount);
  return {
    ok: true,
    value: {
      init,
      parts: planned,
      closing: (tfra) => {
        const mfra = buildJoinMfra(trackId, tfra);
        if (mfra.length !== mfraBytes) throw new Error(`clip random access points differ from its plan (${tfra.length}, planned ${tfraCount})`);
        return mfra;
      },
      totalBytes: at.offset + mfraBytes,
      timescale: ts,
      mediaTimeTicks: start.mediaTimeTicks,
      durationTicks,
      ...(audioTimescale !== undefined ? { audio: { timescale: audioTimescale, mediaTimeTicks: audioTicks(start.mediaTimeTicks), durationTicks: at.audioEnd } } : {}),
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

/** `ticks` of timescale `from` in timescale `to`, to the nearest tick. */
function ticksIn(ticks: number, from: number, to: number): number {
  return Math.round((ticks * to) / from);
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
  private readonly limit: number;

  /** `end`: where the audio kept so far ends, on the clip's timeline (audio ticks); nothing before it is kept (0 at the clip's start). */
  constructor(
    private readonly timescale: number,
    private readonly videoTimescale: number,
    videoEndTicks: number,
    public end: number,
  ) {
    this.limit = this.ticks(videoEndTicks);
  }

  /** Video ticks in audio ticks (nearest). */
  ticks(videoTicks: number): number {
    return ticksIn(videoTicks, this.videoTimescale, this.timescale);
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
