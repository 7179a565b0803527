/**
 * Box-level pieces of joining recorder fMP4 files into one clip without ffmpeg: a part's moov and
 * moofs read, and each fragment's moof re-made with a new sequence number, decode time and (for the
 * last one) fewer samples; the clip's init segment and mfra are in `fmp4-join-init.ts`. Pure
 * functions on buffers; what they accept is exactly the shape ffmpeg's mp4 muxer writes for one
 * video track. Anything else is a reason string, so the caller falls back to ffmpeg, never guesses.
 */
import { boxSpans, Fmp4Error, readBoxHeader } from './fmp4-boxes.js';

/** The one track of a recorder file, as its moov declares it. */
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

/** The moov box (header included) of a recorder file: exactly one video trak, fragmented, no edit list of its own. */
export function parseJoinMoov(moov: Buffer): Parsed<JoinTrack> {
  const h = readBoxHeader(moov);
  if (!h || h.type !== 'moov' || h.headerSize !== 8 || h.size !== moov.length) return fail('moov box header is unusual');
  const top = boxes(moov, 8);
  if (!top) return fail('moov children are malformed');
  const mvhd = only(top, 'mvhd');
  if (!mvhd || mvhd.body.length < 28 || mvhd.body.readUInt32BE(mvhd.body.readUInt8(0) === 1 ? 20 : 12) === 0) return fail('moov has no usable mvhd');
  const trak = only(top, 'trak');
  if (!trak || top.filter((b) => b.type === 'trak').length !== 1) return fail('moov does not hold exactly one trak');
  const mvex = only(top, 'mvex');
  const mvexKids = mvex && boxes(mvex.body);
  const trex = mvexKids && only(mvexKids, 'trex');
  if (!trex || trex.body.length < 24) return fail('moov has no single trex');
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
  if (hdlr.body.toString('latin1', 8, 12) !== 'vide') return fail('the track is not video');
  const trackId = tkhd.body.readUInt32BE(tkhd.body.readUInt8(0) === 1 ? 20 : 12);
  const timescale = mdhd.body.readUInt32BE(mdhd.body.readUInt8(0) === 1 ? 20 : 12);
  if (timescale === 0 || trex.body.readUInt32BE(4) !== trackId) return fail('timescale 0 or trex of another track');
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

const TFHD_BASE_DATA_OFFSET = 0x1;
const TFHD_DURATION_IS_EMPTY = 0x10000;
const TRUN_DATA_OFFSET = 0x1;
const TRUN_FIRST_FLAGS = 0x4;
const TRUN_DURATION = 0x100;
const TRUN_SIZE = 0x200;
const TRUN_FLAGS = 0x400;
const TRUN_CTO = 0x800;

/**
 * A moof body (without its header) as ffmpeg writes it: mfhd, one traf of `track` with tfhd, a
 * version-1 tfdt and one trun whose data starts right after the moof's following mdat header
 * (`dataOffset` must equal moof size + mdat header size).
 */
export function parseJoinMoof(moofBody: Buffer, moofSize: number, mdatHeaderBytes: number, track: JoinTrack): Parsed<JoinFragment> {
  const kids = boxes(moofBody);
  if (!kids || kids.length !== 2 || kids[0]?.type !== 'mfhd' || kids[1]?.type !== 'traf') return fail('moof is not mfhd + one traf');
  const traf = boxes((kids[1] as Box).body);
  if (!traf || traf.length !== 3 || traf[0]?.type !== 'tfhd' || traf[1]?.type !== 'tfdt' || traf[2]?.type !== 'trun') {
    return fail('traf is not tfhd + tfdt + trun');
  }
  const [tfhd, tfdt, trun] = traf as [Box, Box, Box];
  if (tfhd.body.length < 8 || tfhd.body.readUInt32BE(4) !== track.trackId) return fail('tfhd of another track');
  const tfFlags = tfhd.body.readUInt32BE(0) & 0xffffff;
  if (tfFlags & (TFHD_BASE_DATA_OFFSET | TFHD_DURATION_IS_EMPTY)) return fail(`tfhd flags ${tfFlags.toString(16)}`);
  let defDuration = track.defaultDuration;
  let defSize = track.defaultSize;
  let defFlags = track.defaultFlags;
  let p = 8;
  for (const [flag, len] of [[0x2, 4], [0x8, 4], [0x10, 4], [0x20, 4]] as const) {
    if (!(tfFlags & flag)) continue;
    if (p + len > tfhd.body.length) return fail('tfhd too short for its flags');
    if (flag === 0x8) defDuration = tfhd.body.readUInt32BE(p);
    if (flag === 0x10) defSize = tfhd.body.readUInt32BE(p);
    if (flag === 0x20) defFlags = tfhd.body.readUInt32BE(p);
    p += len;
  }
  if (tfdt.body.length !== 12 || tfdt.body.readUInt8(0) !== 1) return fail('tfdt is not version 1');
  const baseDecodeTime = Number(tfdt.body.readBigUInt64BE(4));
  if (!Number.isSafeInteger(baseDecodeTime)) return fail('tfdt beyond 2^53');

  const t = trun.body;
  if (t.length < 8) return fail('trun too short');
  const trunVersion = t.readUInt8(0);
  const trunFlags = t.readUInt32BE(0) & 0xffffff;
  if (trunVersion > 1 || !(trunFlags & TRUN_DATA_OFFSET) || trunFlags & ~0xf05) return fail(`trun v${trunVersion} flags ${trunFlags.toString(16)}`);
  const count = t.readUInt32BE(4);
  let q = 8;
  const dataOffset = t.readInt32BE(q);
  q += 4;
  if (dataOffset !== moofSize + mdatHeaderBytes) return fail('trun data does not start right after the mdat header');
  let firstSampleFlags: number | undefined;
  if (trunFlags & TRUN_FIRST_FLAGS) {
    firstSampleFlags = t.readUInt32BE(q);
    q += 4;
  }
  const fields = [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTO].filter((f) => trunFlags & f);
  const entryBytes = 4 * fields.length;
  if (count === 0 || q + count * entryBytes !== t.length) return fail('trun sample table does not fill the box');
  const durations = new Uint32Array(count);
  const sizes = new Uint32Array(count);
  const compositionOffsets = new Int32Array(count);
  const syncSamples: number[] = [];
  // Field positions inside an entry (-1: absent); read without a closure per sample, this runs for every frame.
  let at = 0;
  const pos = (flag: number) => (trunFlags & flag ? (at += 4) - 4 : -1);
  const [dAt, sAt, fAt, cAt] = [pos(TRUN_DURATION), pos(TRUN_SIZE), pos(TRUN_FLAGS), pos(TRUN_CTO)];
  for (let i = 0, e = q; i < count; i++, e += entryBytes) {
    durations[i] = dAt < 0 ? defDuration : t.readUInt32BE(e + dAt);
    sizes[i] = sAt < 0 ? defSize : t.readUInt32BE(e + sAt);
    const flags = fAt >= 0 ? t.readUInt32BE(e + fAt) : i === 0 && firstSampleFlags !== undefined ? firstSampleFlags : defFlags;
    const cto = cAt < 0 ? 0 : trunVersion === 1 ? t.readInt32BE(e + cAt) : t.readUInt32BE(e + cAt);
    if (cto > 0x7fffffff) return fail('composition offset beyond 2^31');
    compositionOffsets[i] = cto;
    if ((flags & 0x10000) === 0) syncSamples.push(i);
  }
  return {
    ok: true,
    value: {
      baseDecodeTime,
      tfhd: tfhd.body,
      trunVersion,
      trunFlags,
      firstSampleFlags,
      entries: t.subarray(q),
      entryBytes,
      durations,
      sizes,
      compositionOffsets,
      syncSamples,
    },
  };
}

/** Bytes of the first `n` samples of a fragment: the mdat payload they occupy. */
export const payloadBytes = (f: JoinFragment, n = f.sizes.length) => f.sizes.slice(0, n).reduce((a, b) => a + b, 0);

/** Size in bytes of the mdat header the join writes (always the 8-byte form: a fragment is far below 4 GiB). */
export const MDAT_HEADER_BYTES = 8;

/**
 * The moof for `f` in the clip: sequence number `sequence`, tfdt `baseDecodeTime`, the first
 * `sampleCount` samples, and a data offset pointing right after the 8-byte mdat header that follows.
 */
export function buildJoinMoof(f: JoinFragment, o: { sequence: number; baseDecodeTime: number; sampleCount: number }): Buffer {
  if (o.sampleCount < 1 || o.sampleCount > f.durations.length) throw new Error(`sample count ${o.sampleCount} out of range`);
  const mfhd = box('mfhd', u32(0, o.sequence));
  const tfhd = box('tfhd', f.tfhd);
  const tfdtBody = Buffer.alloc(12);
  tfdtBody.writeUInt32BE(0x01000000, 0);
  tfdtBody.writeBigUInt64BE(BigInt(o.baseDecodeTime), 4);
  const tfdt = box('tfdt', tfdtBody);
  const trunHead = u32(((f.trunVersion << 24) | f.trunFlags) >>> 0, o.sampleCount, 0, ...(f.firstSampleFlags !== undefined ? [f.firstSampleFlags] : []));
  const trunBytes = 8 + trunHead.length + o.sampleCount * f.entryBytes;
  const moofSize = 8 + mfhd.length + 8 + tfhd.length + tfdt.length + trunBytes;
  trunHead.writeInt32BE(moofSize + MDAT_HEADER_BYTES, 8);
  const trun = box('trun', trunHead, f.entries.subarray(0, o.sampleCount * f.entryBytes));
  return box('moof', mfhd, box('traf', tfhd, tfdt, trun));
}

export function mdatHeader(payload: number): Buffer {
  const h = Buffer.alloc(MDAT_HEADER_BYTES);
  h.writeUInt32BE(payload + MDAT_HEADER_BYTES, 0);
  h.write('mdat', 4, 'latin1');
  return h;
}
