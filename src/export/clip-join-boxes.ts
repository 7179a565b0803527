/**
 * Box-level pieces of joining recorder fMP4 files into one clip without ffmpeg: a part's moov and
 * moofs read, and each fragment's moof re-made with a new sequence number, decode times and (for the
 * last one) fewer samples; the clip's init segment and mfra are in `clip-join-init.ts`. Pure
 * functions on buffers; what they accept is exactly the shape ffmpeg's mp4 muxer writes for one
 * video track and, when the camera's audio is recorded, one audio track (each fragment: the video's
 * traf, then the audio's if it has samples, their data in that order in the mdat). Anything else is a
 * reason string, so the caller falls back to ffmpeg, never guesses.
 */
import { boxSpans, Fmp4Error, isSyncSample, parseTfdt, parseTfhd, parseTrun, readBoxHeader, TFHD, TRUN, type Tfhd, type Trun } from '../media/fmp4/boxes.js';

/** A track of a recorder file, as its moov declares it. */
export interface JoinTrack {
  trackId: number;
  timescale: number;
  /** Whole stsd box: parts are joined only when these bytes are identical (same codec configuration). */
  stsd: Buffer;
  /** Whole trex box: the defaults every fragment may rely on, so they must be identical too. */
  trex: Buffer;
  defaultDuration: number;
  defaultSize: number;
  defaultFlags: number;
}

/** The tracks of a recorder file: the video track, and the audio track when the file has one. */
export type JoinTracks = JoinTrack & { audio?: JoinTrack };

/** One moof, parsed down to what a rewrite needs. Sample tables are copied as raw trun entries. */
export interface JoinFragment {
  /** tfdt: decode time of the first sample, in track ticks. */
  baseDecodeTime: number;
  /** tfhd body (flags, track id, defaults), written back unchanged. */
  tfhd: Buffer;
  trunVersion: number;
  trunFlags: number;
  firstSampleFlags: number | undefined;
  /** Per-sample trun entries, `entryBytes` each. */
  entries: Buffer;
  entryBytes: number;
  /** Per sample, typed arrays: a plan holds every fragment of a clip (hours of frames at most). */
  durations: Uint32Array;
  sizes: Uint32Array;
  /** Composition offsets (0 when the trun has none). */
  compositionOffsets: Int32Array;
  /** Index of every sync sample. */
  syncSamples: number[];
}

/** A fragment of a recorder file: its video samples and, when it carries any, its audio samples. */
export type JoinFragmentAV = JoinFragment & { audio?: JoinFragment };

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };
const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

export interface Box {
  type: string;
  /** Offset of the box (header included) in the buffer given to `boxes`. */
  offset: number;
  size: number;
  body: Buffer;
  /** The box with its header. */
  whole: Buffer;
}

/** Child boxes of `buf[start, end)`; undefined when a header is broken or a box overruns. */
export function boxes(buf: Buffer, start = 0, end = buf.length): Box[] | undefined {
  const out: Box[] = [];
  try {
    for (const s of boxSpans(buf, start, end)) {
      out.push({ type: s.type, offset: s.start, size: s.end - s.start, body: buf.subarray(s.bodyStart, s.end), whole: buf.subarray(s.start, s.end) });
    }
  } catch (err) {
    if (err instanceof Fmp4Error) return undefined;
    throw err;
  }
  // Bytes left over that cannot hold a box header: not the layout the recorder writes.
  if ((out.at(-1)?.offset ?? start) + (out.at(-1)?.size ?? 0) !== end) return undefined;
  return out;
}

const only = (list: Box[], type: string): Box | undefined => {
  const found = list.filter((b) => b.type === type);
  return found.length === 1 ? found[0] : undefined;
};

export function box(type: string, ...parts: Buffer[]): Buffer {
  const size = 8 + parts.reduce((n, p) => n + p.length, 0);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(size, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, ...parts], size);
}

export const u32 = (...values: number[]) => {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
};

/**
 * The moov box (header included) of a recorder file: one video trak (first) and at most one audio
 * trak, fragmented, no edit list of their own.
 */
export function parseJoinMoov(moov: Buffer): Parsed<JoinTracks> {
  const h = readBoxHeader(moov);
  if (!h || h.type !== 'moov' || h.headerSize !== 8 || h.size !== moov.length) return fail('moov box header is unusual');
  const top = boxes(moov, 8);
  if (!top) return fail('moov children are malformed');
  const mvhd = only(top, 'mvhd');
  if (!mvhd || mvhd.body.length < 28 || mvhd.body.readUInt32BE(mvhd.body.readUInt8(0) === 1 ? 20 : 12) === 0) return fail('moov has no usable mvhd');
  const traks = top.filter((b) => b.type === 'trak');
  if (traks.length < 1 || traks.length > 2) return fail('moov does not hold one or two traks');
  const mvex = only(top, 'mvex');
  const mvexKids = mvex && boxes(mvex.body);
  const trexes = mvexKids?.filter((b) => b.type === 'trex') ?? [];
  if (trexes.length !== traks.length || trexes.some((t) => t.body.length < 24)) return fail('moov has no trex per trak');
  const video = parseJoinTrak(traks[0] as Box, trexes, 'vide');
  if (!video.ok) return video;
  if (traks.length === 1) return video;
  const audio = parseJoinTrak(traks[1] as Box, trexes, 'soun');
  if (!audio.ok) return fail(`second trak: ${audio.reason}`);
  if (audio.value.trackId === video.value.trackId) return fail('two traks with one track id');
  return { ok: true, value: { ...video.value, audio: audio.value } };
}

/** One trak of a recorder file, of the handler wanted, with its trex. */
function parseJoinTrak(trak: Box, trexes: Box[], handler: 'vide' | 'soun'): Parsed<JoinTrack> {
  const trakKids = boxes(trak.body);
  if (!trakKids) return fail('trak children are malformed');
  if (trakKids.some((b) => b.type === 'edts')) return fail('part already has an edit list');
  const tkhd = only(trakKids, 'tkhd');
  const mdia = only(trakKids, 'mdia');
  const mdiaKids = mdia && boxes(mdia.body);
  const mdhd = mdiaKids && only(mdiaKids, 'mdhd');
  const hdlr = mdiaKids && only(mdiaKids, 'hdlr');
  const minf = mdiaKids && only(mdiaKids, 'minf');
  const minfKids = minf && boxes(minf.body);
  const stbl = minfKids && only(minfKids, 'stbl');
  const stblKids = stbl && boxes(stbl.body);
  const stsd = stblKids && only(stblKids, 'stsd');
  if (!tkhd || !mdhd || !hdlr || !stsd || tkhd.body.length < 24 || mdhd.body.length < 24 || hdlr.body.length < 12) {
    return fail('trak lacks tkhd/mdhd/hdlr/stsd');
  }
  if (hdlr.body.toString('latin1', 8, 12) !== handler) return fail(handler === 'vide' ? 'the track is not video' : 'the second track is not audio');
  const trackId = tkhd.body.readUInt32BE(tkhd.body.readUInt8(0) === 1 ? 20 : 12);
  const timescale = mdhd.body.readUInt32BE(mdhd.body.readUInt8(0) === 1 ? 20 : 12);
  const trex = trexes.find((t) => t.body.readUInt32BE(4) === trackId);
  if (timescale === 0 || !trex) return fail('timescale 0 or trex of another track');
  return {
    ok: true,
    value: {
      trackId,
      timescale,
      stsd: stsd.whole,
      trex: trex.whole,
      defaultDuration: trex.body.readUInt32BE(12),
      defaultSize: trex.body.readUInt32BE(16),
      defaultFlags: trex.body.readUInt32BE(20),
    },
  };
}

/**
 * A moof body (without its header) as ffmpeg writes it: mfhd, one traf of the video track and, when
 * the file has audio, at most one of the audio track after it, each with tfhd, a version-1 tfdt and one
 * trun; the video's data starts right after the moof's following mdat header (`dataOffset` must equal
 * moof size + mdat header size) and the audio's right after the video's. Fields are read by the one
 * tfhd/trun parser (`media/fmp4/boxes.ts`); this only refuses the shapes the join does not rewrite.
 */
export function parseJoinMoof(moofBody: Buffer, moofSize: number, mdatHeaderBytes: number, track: JoinTracks): Parsed<JoinFragmentAV> {
  const kids = boxes(moofBody);
  const trafs = kids?.slice(1) ?? [];
  if (!kids || kids[0]?.type !== 'mfhd' || trafs.length < 1 || trafs.length > (track.audio ? 2 : 1) || trafs.some((t) => t.type !== 'traf')) {
    return fail(track.audio ? 'moof is not mfhd + one or two trafs' : 'moof is not mfhd + one traf');
  }
  const video = parseJoinTraf(trafs[0] as Box, moofSize + mdatHeaderBytes, track);
  if (!video.ok || trafs.length === 1) return video;
  const audio = parseJoinTraf(trafs[1] as Box, moofSize + mdatHeaderBytes + payloadBytes(video.value), track.audio as JoinTrack);
  if (!audio.ok) return fail(`audio traf: ${audio.reason}`);
  return { ok: true, value: { ...video.value, audio: audio.value } };
}

/** Why the join does not rewrite a traf with this tfhd (another track, a base it does not keep), or undefined. */
export function tfhdRefusal(tfhd: Tfhd, track: JoinTrack): string | undefined {
  if (tfhd.trackId !== track.trackId) return 'tfhd of another track';
  if (tfhd.flags & (TFHD.baseDataOffset | TFHD.durationIsEmpty)) return `tfhd flags ${tfhd.flags.toString(16)}`;
  return undefined;
}

/** Why the join does not rewrite a trun of this version and flags (it needs the data offset, knows no other field), or undefined. */
export function trunRefusal(version: number, flags: number): string | undefined {
  return version > 1 || !(flags & TRUN.dataOffset) || flags & ~0xf05 ? `trun v${version} flags ${flags.toString(16)}` : undefined;
}

/** The sample defaults of a traf of `track`: its tfhd's, else the track's trex. */
export const joinDefaults = (tfhd: Tfhd, track: JoinTrack) => ({ duration: tfhd.defaultDuration ?? track.defaultDuration, size: tfhd.defaultSize ?? track.defaultSize, flags: tfhd.defaultFlags ?? track.defaultFlags });

/** One traf of `track` whose trun data must start at `dataOffset` (from the moof's start). */
function parseJoinTraf(trafBox: Box, dataOffset: number, track: JoinTrack): Parsed<JoinFragment> {
  const traf = boxes(trafBox.body);
  if (!traf || traf.length !== 3 || traf[0]?.type !== 'tfhd' || traf[1]?.type !== 'tfdt' || traf[2]?.type !== 'trun') {
    return fail('traf is not tfhd + tfdt + trun');
  }
  const [tfhdBox, tfdtBox, trunBox] = traf as [Box, Box, Box];
  let tfhd: Tfhd;
  let trun: Trun;
  try {
    tfhd = parseTfhd(tfhdBox.body);
    const refused = tfhdRefusal(tfhd, track);
    if (refused) return fail(refused);
    const tfdt = parseTfdt(tfdtBox.body);
    if (!tfdt || tfdtBox.body.length !== 12 || tfdt.version !== 1) return fail('tfdt is not version 1');
    const t = trunBox.body;
    if (t.length < 8) return fail('trun too short');
    const version = t.readUInt8(0);
    const flags = t.readUInt32BE(0) & 0xffffff;
    const trunRefused = trunRefusal(version, flags);
    if (trunRefused) return fail(trunRefused);
    trun = parseTrun(t, joinDefaults(tfhd, track));
    const baseDecodeTime = Number(tfdt.baseDecodeTime);
    if (!Number.isSafeInteger(baseDecodeTime)) return fail('tfdt beyond 2^53');
    if (trun.dataOffset !== dataOffset) return fail('trun data does not start right after the mdat header');
    if (trun.sampleCount === 0 || trun.entriesStart + trun.sampleCount * trun.entryBytes !== t.length) return fail('trun sample table does not fill the box');
    const compositionOffsets = new Int32Array(trun.sampleCount);
    const syncSamples: number[] = [];
    for (let i = 0; i < trun.sampleCount; i++) {
      const cto = trun.compositionOffsets[i] as number;
      if (cto > 0x7fffffff) return fail('composition offset beyond 2^31');
      compositionOffsets[i] = cto;
      if (isSyncSample(trun.sampleFlags[i] as number)) syncSamples.push(i);
    }
    return {
      ok: true,
      value: {
        baseDecodeTime,
        tfhd: tfhdBox.body,
        trunVersion: trun.version,
        trunFlags: trun.flags,
        firstSampleFlags: trun.firstSampleFlags,
        entries: t.subarray(trun.entriesStart),
        entryBytes: trun.entryBytes,
        durations: trun.durations,
        sizes: trun.sizes,
        compositionOffsets,
        syncSamples,
      },
    };
  } catch (err) {
    if (err instanceof Fmp4Error) return fail(err.message);
    throw err;
  }
}

/** The sum of the first `n` values (a loop: a plan sums every fragment's samples, some more than once). */
export function sumOf(xs: Uint32Array, n = xs.length): number {
  let total = 0;
  for (let i = 0; i < n; i++) total += xs[i] as number;
  return total;
}

/** Bytes of the first `n` samples of a fragment: the mdat payload they occupy. */
export const payloadBytes = (f: JoinFragment, n = f.sizes.length) => sumOf(f.sizes, n);

/** Size in bytes of the mdat header the join writes (always the 8-byte form: a fragment is far below 4 GiB). */
export const MDAT_HEADER_BYTES = 8;

/**
 * The moof for `f` in the clip: sequence number `sequence`, tfdt `baseDecodeTime`, the first
 * `sampleCount` samples, and a data offset pointing right after the 8-byte mdat header that follows.
 */
export function buildJoinMoof(f: JoinFragment, o: { sequence: number; baseDecodeTime: number; sampleCount: number }): Buffer {
  return buildJoinMoofOf(o.sequence, [{ fragment: f, baseDecodeTime: o.baseDecodeTime, from: 0, count: o.sampleCount }]);
}

/** Samples `[from, from + count)` of a source traf, placed at `baseDecodeTime`; `firstDuration` replaces the first one's duration. */
export interface JoinTrafPart {
  fragment: JoinFragment;
  baseDecodeTime: number;
  from: number;
  count: number;
  firstDuration?: number;
}

/** Whether a traf's trun carries each sample's duration (so the first one can be given another). */
export const hasSampleDurations = (f: JoinFragment) => (f.trunFlags & TRUN.duration) !== 0;

/** Box types as the big-endian words a box header holds. */
const TYPE = { moof: 0x6d6f6f66, mfhd: 0x6d666864, traf: 0x74726166, tfhd: 0x74666864, tfdt: 0x74666474, trun: 0x7472756e } as const;

/**
 * A moof of one traf per part (video first, then audio), in order, with data offsets pointing right
 * after the 8-byte mdat header that follows, where each part's sample bytes follow one another.
 * Written into one buffer of its exact size: a plan makes one per fragment of the clip (thousands for
 * an hour), before the first byte is sent.
 */
export function buildJoinMoofOf(sequence: number, parts: readonly JoinTrafPart[]): Buffer {
  let moofSize = 8 + 16; // moof header, mfhd
  const trafs = parts.map((p) => {
    const f = p.fragment;
    if (p.count < 1 || p.from < 0 || p.from + p.count > f.durations.length) throw new Error(`samples [${p.from}, ${p.from + p.count}) out of range`);
    if (p.firstDuration !== undefined && !hasSampleDurations(f)) throw new Error('the trun carries no sample durations');
    // first_sample_flags describe the fragment's first sample: kept only when it still is.
    const firstFlags = p.from === 0 ? f.firstSampleFlags : undefined;
    const flags = firstFlags === undefined ? f.trunFlags & ~TRUN.firstSampleFlags : f.trunFlags;
    const trunSize = 8 + 12 + (firstFlags === undefined ? 0 : 4) + p.count * f.entryBytes;
    const size = 8 + (8 + f.tfhd.length) + 20 + trunSize;
    moofSize += size;
    return { p, f, firstFlags, flags, trunSize, size, bytes: sumOf(f.sizes.subarray(p.from), p.count) };
  });
  const out = Buffer.allocUnsafe(moofSize);
  let at = 0;
  const head = (size: number, type: number) => {
    out.writeUInt32BE(size, at);
    out.writeUInt32BE(type, at + 4);
    at += 8;
  };
  head(moofSize, TYPE.moof);
  head(16, TYPE.mfhd);
  out.writeUInt32BE(0, at);
  out.writeUInt32BE(sequence >>> 0, at + 4);
  at += 8;
  let dataOffset = moofSize + MDAT_HEADER_BYTES;
  for (const t of trafs) {
    const { p, f } = t;
    head(t.size, TYPE.traf);
    head(8 + f.tfhd.length, TYPE.tfhd);
    at += f.tfhd.copy(out, at);
    head(20, TYPE.tfdt);
    out.writeUInt32BE(0x01000000, at);
    out.writeBigUInt64BE(BigInt(p.baseDecodeTime), at + 4);
    at += 12;
    head(t.trunSize, TYPE.trun);
    out.writeUInt32BE(((f.trunVersion << 24) | t.flags) >>> 0, at);
    out.writeUInt32BE(p.count, at + 4);
    out.writeInt32BE(dataOffset, at + 8);
    at += 12;
    if (t.firstFlags !== undefined) {
      out.writeUInt32BE(t.firstFlags >>> 0, at);
      at += 4;
    }
    const entriesAt = at;
    at += f.entries.copy(out, at, p.from * f.entryBytes, (p.from + p.count) * f.entryBytes);
    // The duration is an entry's first field.
    if (p.firstDuration !== undefined) out.writeUInt32BE(p.firstDuration, entriesAt);
    dataOffset += t.bytes;
  }
  return out;
}

export function mdatHeader(payload: number): Buffer {
  const h = Buffer.alloc(MDAT_HEADER_BYTES);
  h.writeUInt32BE(payload + MDAT_HEADER_BYTES, 0);
  h.write('mdat', 4, 'latin1');
  return h;
}
