/**
 * The middle of a file a joined clip takes whole (`clip-join-plan.ts`, `endsOfWhole`): its fragments
 * between the first and the last, streamed as the file's own bytes with each moof's sequence number and
 * decode times rewritten in place, the way the plan would have made them (a fragment taken whole keeps
 * its moof's length). Each moof is read from the window the body sends anyway, so the plan never reads
 * these moofs and the body reads them once, in passing.
 *
 * Every moof is checked as it passes, as a full read of the file checks it (`readJoinSource`,
 * `parseJoinMoof`): mfhd, then one traf of the video track and at most one of the audio track, each
 * tfhd + version-1 tfdt + trun, data right after the mdat header, the mdat holding exactly the samples;
 * decode times running on from the first fragment to the last in both tracks; a keyframe only at a
 * fragment's start. The moofs must be as many as the file's mfra listed, their keyframes as many as
 * the catalog counted. Anything else ends the clip with an error before the bytes concerned are sent.
 */
import { parseTfhd, trunTotals } from '../media/fmp4/boxes.js';
import { joinDefaults, tfhdRefusal, trunRefusal, type JoinTrack, type JoinTracks } from './clip-join-boxes.js';
import type { RandomAccessEntry } from './clip-join-init.js';

/** What the plan says of a file's middle fragments. */
export interface JoinMiddle {
  /** The file's bytes they occupy: from the first fragment's end to the last fragment's moof. */
  from: number;
  to: number;
  /** Where `from` goes in the clip (bytes). */
  clipOffset: number;
  /** How many fragments, and how many of them start with a keyframe. */
  fragments: number;
  keyframes: number;
  /** The sequence number of the first of them in the clip. */
  sequence: number;
  /** Added to each video tfdt (video ticks), and to each audio tfdt (audio ticks). */
  shift: number;
  audioShift: number;
  /** Decode time of the first of them, and just after the last (the last fragment's), in the file: video, and audio when the file has it. */
  video: { start: number; end: number };
  audio?: { start: number; end: number };
  /** The clip's edit list media time (video ticks): a random access point's time is its first frame's presentation after it. */
  mediaTimeTicks: number;
  tracks: JoinTracks;
}

/** Views of the file's bytes, as the body reads them (`FileWindows` in `clip-join.ts`). */
export interface ByteWindows {
  /** Up to `bytes` of the file from `position`, as a view of one window (at least one byte). */
  view(position: number, bytes: number): Promise<Buffer>;
}

export class JoinMiddleError extends Error {
  constructor(absPath: string, at: number, why: string) {
    super(`clip part ${absPath}: fragment at ${at}: ${why}`);
    this.name = 'JoinMiddleError';
  }
}

/** What one moof of the middle holds, for the checks that span fragments. */
interface MoofFacts {
  /** Payload bytes of the video and the audio samples (the mdat must hold exactly these). */
  bytes: number;
  keyframe: boolean;
  /** The first video sample's composition offset and the fragment's new video tfdt. */
  firstCto: number;
  videoBase: number;
}

/** Views covering `[at, at + n)` of the file, in order (a box may lie across two windows). */
async function spans(w: ByteWindows, at: number, n: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  while (n > 0) {
    const v = await w.view(at, n);
    out.push(v);
    at += v.length;
    n -= v.length;
  }
  return out;
}

const whole = (views: Buffer[]) => (views.length === 1 ? (views[0] as Buffer) : Buffer.concat(views));

/** Writes `src` back over the views it was gathered from. */
function scatter(src: Buffer, views: Buffer[]): void {
  let at = 0;
  for (const v of views) at += src.copy(v, 0, at, at + v.length);
}

/**
 * One traf at `at` in `moof`: checked as `parseJoinTraf` checks it (the same refusals, the trun read by
 * the one trun reader, summed instead of tabled), its tfdt moved by `shift`; returns its samples' sums.
 */
function patchTraf(moof: Buffer, at: number, end: number, track: JoinTrack, shift: number, dataOffset: number, expectBase: number) {
  const box = (o: number, type: string) => {
    if (o + 8 > end) return -1;
    const size = moof.readUInt32BE(o);
    return size >= 8 && o + size <= end && moof.toString('latin1', o + 4, o + 8) === type ? size : -1;
  };
  const tfhdSize = box(at, 'tfhd');
  if (tfhdSize < 0) return 'traf is not tfhd + tfdt + trun';
  const tfhd = parseTfhd(moof.subarray(at + 8, at + tfhdSize));
  const refused = tfhdRefusal(tfhd, track);
  if (refused) return refused;
  const tfdtAt = at + tfhdSize;
  if (box(tfdtAt, 'tfdt') !== 20 || moof.readUInt8(tfdtAt + 8) !== 1) return 'tfdt is not version 1';
  const base = Number(moof.readBigUInt64BE(tfdtAt + 12));
  if (base !== expectBase) return 'not contiguous in decode time';
  const trunAt = tfdtAt + 20;
  const trunSize = box(trunAt, 'trun');
  if (trunSize < 0 || trunAt + trunSize !== end) return 'traf is not tfhd + tfdt + trun';
  const body = moof.subarray(trunAt + 8, end);
  const t = trunTotals(body, joinDefaults(tfhd, track));
  const trunRefused = trunRefusal(t.version, t.flags);
  if (trunRefused) return trunRefused;
  if (t.dataOffset !== dataOffset) return 'trun data does not start right after the mdat header';
  if (t.sampleCount === 0 || t.entriesStart + t.sampleCount * t.entryBytes !== body.length) return 'trun sample table does not fill the box';
  if (t.maxCompositionOffset > 0x7fffffff) return 'composition offset beyond 2^31';
  moof.writeBigUInt64BE(BigInt(base + shift), tfdtAt + 12);
  return { base: base + shift, duration: t.duration, bytes: t.bytes, keyframe: t.firstIsSync && t.syncSamples === 1, stray: t.syncSamples > (t.firstIsSync ? 1 : 0), firstCto: t.firstCompositionOffset };
}

/** Checks a middle moof (header included) and rewrites its sequence number and decode times in place. */
function patchMoof(moof: Buffer, m: JoinMiddle, sequence: number, next: { video: number; audio: number | undefined }): MoofFacts | string {
  const size = moof.length;
  if (size < 24 + 8 || moof.readUInt32BE(8) !== 16 || moof.toString('latin1', 12, 16) !== 'mfhd') return 'moof is not mfhd + trafs';
  moof.writeUInt32BE(sequence >>> 0, 20);
  const trafAt = 24;
  const trafSize = moof.readUInt32BE(trafAt);
  if (moof.toString('latin1', trafAt + 4, trafAt + 8) !== 'traf' || trafSize < 8 || trafAt + trafSize > size) return 'moof is not mfhd + trafs';
  const video = patchTraf(moof, trafAt + 8, trafAt + trafSize, m.tracks, m.shift, size + 8, next.video);
  if (typeof video === 'string') return video;
  if (video.stray) return 'a keyframe that does not start the fragment, or more than one';
  next.video += video.duration;
  let bytes = video.bytes;
  const audioAt = trafAt + trafSize;
  if (audioAt < size) {
    const audioSize = moof.readUInt32BE(audioAt);
    if (!m.tracks.audio || m.audio === undefined || next.audio === undefined) return 'moof is not mfhd + one traf';
    if (moof.toString('latin1', audioAt + 4, audioAt + 8) !== 'traf' || audioAt + audioSize !== size) return 'moof is not mfhd + one or two trafs';
    const audio = patchTraf(moof, audioAt + 8, size, m.tracks.audio, m.audioShift, size + 8 + video.bytes, next.audio);
    if (typeof audio === 'string') return `audio traf: ${audio}`;
    next.audio += audio.duration;
    bytes += audio.bytes;
  }
  return { bytes, keyframe: video.keyframe, firstCto: video.firstCto, videoBase: video.base };
}

/**
 * The middle's bytes as the clip sends them: each read window once, its moofs rewritten in place (a
 * moof across two windows is gathered, rewritten and written back to both), its random access points
 * added to `tfra`. Ends with a `JoinMiddleError` at the first thing that is not as planned.
 */
export async function* middleBytes(absPath: string, w: ByteWindows & { keepFrom(position: number): void }, m: JoinMiddle, tfra: RandomAccessEntry[]): AsyncGenerator<Buffer> {
  let box = m.from; // the next moof
  let sequence = m.sequence;
  let fragments = 0;
  let keyframes = 0;
  const next = { video: m.video.start, audio: m.audio?.start };
  for (let position = m.from; position < m.to; ) {
    w.keepFrom(position);
    const view = await w.view(position, m.to - position);
    const viewEnd = position + view.length;
    // Every moof starting in this window is rewritten before the window goes out.
    while (box < viewEnd) {
      const fail = (why: string) => new JoinMiddleError(absPath, box, why);
      if (box + 16 > m.to) throw fail('no moof and mdat header fit before the last fragment');
      // Most moofs and their mdat headers lie inside the window: read there, with no await.
      const at = box - position;
      const head = box + 8 <= viewEnd ? view.subarray(at, at + 8) : whole(await spans(w, box, 8));
      const moofSize = head.readUInt32BE(0);
      if (head.toString('latin1', 4, 8) !== 'moof' || moofSize < 8 || box + moofSize + 8 > m.to) throw fail('not a moof');
      const inside = box + moofSize + 8 <= viewEnd;
      const views = inside ? [view.subarray(at, at + moofSize)] : await spans(w, box, moofSize);
      const moof = whole(views);
      const facts = patchMoof(moof, m, sequence, next);
      if (typeof facts === 'string') throw fail(facts);
      if (views.length > 1) scatter(moof, views);
      const mdat = inside ? view.subarray(at + moofSize, at + moofSize + 8) : whole(await spans(w, box + moofSize, 8));
      const mdatSize = mdat.readUInt32BE(0);
      if (mdat.toString('latin1', 4, 8) !== 'mdat' || mdatSize !== 8 + facts.bytes || box + moofSize + mdatSize > m.to) throw fail('the mdat after it does not hold exactly its samples');
      if (facts.keyframe) {
        keyframes++;
        tfra.push({ timeTicks: Math.max(0, facts.videoBase + facts.firstCto - m.mediaTimeTicks), moofOffset: m.clipOffset + (box - m.from) });
      }
      fragments++;
      sequence++;
      box += moofSize + mdatSize;
    }
    yield view;
    position = viewEnd;
  }
  const fail = (why: string) => new JoinMiddleError(absPath, box, why);
  if (box !== m.to || fragments !== m.fragments) throw fail(`${fragments} fragments before the last where the file's mfra lists ${m.fragments}`);
  if (next.video !== m.video.end || (m.audio && next.audio !== m.audio.end)) throw fail('the last fragment does not follow on in decode time');
  if (keyframes !== m.keyframes) throw fail(`${keyframes} keyframe fragments where the catalog counts ${m.keyframes}`);
}
