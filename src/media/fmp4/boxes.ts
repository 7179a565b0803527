/**
 * ISO-BMFF box parsing for the fragmented-MP4 reader (`fmp4.ts`). Works on in-memory bodies of the
 * small boxes only (moov, moof); the file walk that finds them lives in `fmp4.ts`.
 */

export type Fmp4ErrorReason =
  | 'not_mp4' // first box is not ftyp
  | 'truncated_init' // file ends before ftyp+moov are whole (e.g. a crash before the first flush)
  | 'not_fragmented' // moov has no mvex: a regular MP4, this reader does not index it
  | 'malformed'; // a box in the init segment is inconsistent

export class Fmp4Error extends Error {
  readonly reason: Fmp4ErrorReason;
  constructor(reason: Fmp4ErrorReason, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts);
    this.name = 'Fmp4Error';
    this.reason = reason;
  }
}

export interface TrackInfo {
  trackId: number;
  kind: 'video' | 'audio' | 'other';
  /**
   * RFC 6381 codec string ('avc1.64001e', 'hvc1.1.6.L93.B0', 'mp4a.40.2'), else the sample entry 4cc. It
   * starts with the sample entry's own 4cc: Vigil records H.265 as `hvc1`, a foreign `hev1` file reads `hev1.…`.
   */
  codec: string;
  timescale: number;
  width?: number;
  height?: number;
  sampleRate?: number;
  /** From trex: used when neither trun nor tfhd carries a duration. */
  defaultSampleDurationTicks?: number;
  /** Sum of sample durations over the complete fragments of the scan. */
  durationSeconds: number;
  /** Samples over the complete fragments of the scan. */
  sampleCount: number;
}

export interface TrexDefaults {
  duration: number;
  flags: number;
}

export interface InitInfo {
  tracks: TrackInfo[];
  trex: Map<number, TrexDefaults>;
  fragmented: boolean;
}

/** One traf of a moof, reduced to what the index needs. */
export interface TrafInfo {
  trackId: number;
  baseDecodeTime: number | undefined;
  durationTicks: number;
  sampleCount: number;
  /** Sample flags of the first sample (ISO 14496-12 8.8.3.1), when any sample is present. */
  firstSampleFlags: number | undefined;
  /** Each sample's duration and composition offset (ticks), in decode order: the real timing, not a mean. */
  sampleDurations: number[];
  compositionOffsets: number[];
}

export interface BoxHeader {
  type: string;
  headerSize: number;
  /** Whole box size in bytes; 0 means "extends to the end of the enclosing space". */
  size: number;
}

/** Parses the box header at `off`, or returns undefined if `buf` (or its first `end` bytes) ends before the header does. */
export function readBoxHeader(buf: Buffer, off = 0, end = buf.length): BoxHeader | undefined {
  if (end - off < 8) return undefined;
  const size32 = buf.readUInt32BE(off);
  const type = buf.toString('latin1', off + 4, off + 8);
  if (size32 !== 1) return { type, headerSize: 8, size: size32 };
  if (end - off < 16) return undefined;
  const large = buf.readBigUInt64BE(off + 8);
  // Beyond 2^53 is corrupt for any real file; report a size no file can hold.
  const size = large > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(large);
  return { type, headerSize: 16, size };
}

const malformed = (msg: string) => new Fmp4Error('malformed', msg);

/** Where one child box lies in the buffer walked. */
export interface BoxSpan {
  type: string;
  /** Offset of the box's header. */
  start: number;
  /** Offset of its body. */
  bodyStart: number;
  /** Offset just past it. */
  end: number;
}

/**
 * Child boxes of `buf[start, end)`, in order: the one box walker every fMP4 reader uses. A box of
 * size 0 runs to `end`; a header cut short, or a child overrunning its parent, is corruption.
 */
export function* boxSpans(buf: Buffer, start: number, end = buf.length): Generator<BoxSpan> {
  let off = start;
  while (end - off >= 8) {
    const h = readBoxHeader(buf, off, end);
    if (!h) throw malformed('truncated child box header');
    const size = h.size === 0 ? end - off : h.size;
    if (size < h.headerSize || off + size > end) throw malformed(`box '${h.type}' overruns its parent`);
    yield { type: h.type, start: off, bodyStart: off + h.headerSize, end: off + size };
    off += size;
  }
}

/** Child boxes of `buf[start, end)` as [type, body]. */
function* children(buf: Buffer, start: number, end = buf.length): Generator<[string, Buffer]> {
  for (const s of boxSpans(buf, start, end)) yield [s.type, buf.subarray(s.bodyStart, s.end)];
}

function child(buf: Buffer, type: string, start = 0): Buffer | undefined {
  for (const [t, body] of children(buf, start)) if (t === type) return body;
  return undefined;
}

const hex2 = (b: number) => b.toString(16).padStart(2, '0');

/** hvcC → '<entry>.1.6.L93.B0' per ISO/IEC 14496-15 Annex E, led by the sample entry (`hvc1` or `hev1`). */
function hevcCodec(fourcc: string, c: Buffer): string {
  const b1 = c.readUInt8(1);
  const space = ['', 'A', 'B', 'C'][b1 >> 6] ?? '';
  let compat = c.readUInt32BE(2);
  let reversed = 0; // the spec writes the compatibility flags in reverse bit order
  for (let i = 0; i < 32; i++, compat >>>= 1) reversed = ((reversed << 1) | (compat & 1)) >>> 0;
  const constraints = [...c.subarray(6, 12)];
  while (constraints.length > 0 && constraints[constraints.length - 1] === 0) constraints.pop();
  const tier = b1 & 0x20 ? 'H' : 'L';
  const parts = [`${fourcc}.${space}${b1 & 0x1f}`, reversed.toString(16).toUpperCase(), `${tier}${c.readUInt8(12)}`];
  return [...parts, ...constraints.map((b) => hex2(b).toUpperCase())].join('.');
}

/** esds → 'mp4a.40.<audioObjectType>' (or 'mp4a.<oti hex>' for non-MPEG-4 audio such as MP3). */
function mp4aCodec(esds: Buffer): string {
  let p = 4; // FullBox version+flags
  const descriptor = (): number => {
    const tag = esds.readUInt8(p++);
    for (let i = 0; i < 4 && esds.readUInt8(p++) & 0x80; i++); // variable-length size, unused
    return tag;
  };
  if (descriptor() !== 0x03) return 'mp4a';
  const esFlags = esds.readUInt8(p + 2);
  p += 3 + (esFlags & 0x80 ? 2 : 0) + (esFlags & 0x40 ? 1 + esds.readUInt8(p + 3 + (esFlags & 0x80 ? 2 : 0)) : 0) + (esFlags & 0x20 ? 2 : 0);
  if (descriptor() !== 0x04) return 'mp4a';
  const oti = esds.readUInt8(p);
  if (oti !== 0x40) return `mp4a.${hex2(oti).toUpperCase()}`;
  p += 13;
  if (descriptor() !== 0x05) return 'mp4a.40';
  let aot = esds.readUInt8(p) >> 3;
  if (aot === 31) aot = 32 + ((esds.readUInt16BE(p) >> 5) & 0x3f);
  return `mp4a.40.${aot}`;
}

function sampleEntry(stsd: Buffer, kind: TrackInfo['kind']): Partial<TrackInfo> & { codec: string } {
  const first = children(stsd, 8).next(); // skip version/flags + entry_count
  if (first.done) return { codec: 'unknown' };
  const [fourcc, e] = first.value;
  // Codec-config parsing is best effort: an odd config must not make the segment unindexable.
  const codecOf = (childrenStart: number): string => {
    try {
      const avcC = child(e, 'avcC', childrenStart);
      if (avcC) return `${fourcc}.${hex2(avcC.readUInt8(1))}${hex2(avcC.readUInt8(2))}${hex2(avcC.readUInt8(3))}`;
      const hvcC = child(e, 'hvcC', childrenStart);
      if (hvcC) return hevcCodec(fourcc, hvcC);
      const esds = child(e, 'esds', childrenStart);
      if (esds && fourcc === 'mp4a') return mp4aCodec(esds);
    } catch {
      /* fall back to the 4cc */
    }
    return fourcc;
  };
  // VisualSampleEntry: width/height at 24/26, child boxes after the 78-byte fixed part.
  if (kind === 'video' && e.length >= 78) {
    return { codec: codecOf(78), width: e.readUInt16BE(24), height: e.readUInt16BE(26) };
  }
  // AudioSampleEntry (v0): 16.16 samplerate at 24, children after 28. Its channelcount is not
  // read: ffmpeg's mp4 muxer always writes 2 there.
  if (kind === 'audio' && e.length >= 28) {
    return { codec: codecOf(28), sampleRate: e.readUInt32BE(24) >>> 16 };
  }
  return { codec: fourcc };
}

function parseTrak(trak: Buffer): TrackInfo {
  const tkhd = child(trak, 'tkhd');
  const mdia = child(trak, 'mdia');
  const mdhd = mdia && child(mdia, 'mdhd');
  const hdlr = mdia && child(mdia, 'hdlr');
  if (!tkhd || !mdhd || !hdlr || tkhd.length < 24 || mdhd.length < 24 || hdlr.length < 12) {
    throw malformed('trak without tkhd/mdhd/hdlr');
  }
  const trackId = tkhd.readUInt32BE(tkhd.readUInt8(0) === 1 ? 20 : 12);
  const timescale = mdhd.readUInt32BE(mdhd.readUInt8(0) === 1 ? 20 : 12);
  if (timescale === 0) throw malformed(`track ${trackId} has timescale 0`);
  const handler = hdlr.toString('latin1', 8, 12);
  const kind = handler === 'vide' ? 'video' : handler === 'soun' ? 'audio' : 'other';
  const minf = child(mdia, 'minf');
  const stbl = minf && child(minf, 'stbl');
  const stsd = stbl && child(stbl, 'stsd');
  const entry = stsd ? sampleEntry(stsd, kind) : { codec: 'unknown' };
  return { trackId, kind, timescale, ...entry, durationSeconds: 0, sampleCount: 0 };
}

export function parseMoov(moov: Buffer): InitInfo {
  const tracks: TrackInfo[] = [];
  const trex = new Map<number, TrexDefaults>();
  let fragmented = false;
  for (const [type, body] of children(moov, 0)) {
    if (type === 'trak') tracks.push(parseTrak(body));
    if (type !== 'mvex') continue;
    fragmented = true;
    for (const [t, b] of children(body, 0)) {
      if (t !== 'trex' || b.length < 24) continue;
      trex.set(b.readUInt32BE(4), { duration: b.readUInt32BE(12), flags: b.readUInt32BE(20) });
    }
  }
  for (const t of tracks) {
    const d = trex.get(t.trackId)?.duration;
    if (d) t.defaultSampleDurationTicks = d;
  }
  return { tracks, trex, fragmented };
}

/** tfhd flags (ISO 14496-12 8.8.7): the optional fields, in the order they follow the track id. */
export const TFHD = { baseDataOffset: 0x1, sampleDescriptionIndex: 0x2, defaultDuration: 0x8, defaultSize: 0x10, defaultFlags: 0x20, durationIsEmpty: 0x10000, defaultBaseIsMoof: 0x20000 } as const;
/** trun flags (8.8.8): the optional header fields, then the per-sample fields in entry order. */
export const TRUN = { dataOffset: 0x1, firstSampleFlags: 0x4, duration: 0x100, size: 0x200, flags: 0x400, compositionOffset: 0x800 } as const;

/** A tfhd body: the track and the per-fragment defaults it sets (undefined: not set here). */
export interface Tfhd {
  flags: number;
  trackId: number;
  baseDataOffset: number | undefined;
  sampleDescriptionIndex: number | undefined;
  defaultDuration: number | undefined;
  defaultSize: number | undefined;
  defaultFlags: number | undefined;
}

/** The one tfhd reader: every optional field the flags announce. */
export function parseTfhd(body: Buffer): Tfhd {
  if (body.length < 8) throw malformed('tfhd too short');
  const flags = body.readUInt32BE(0) & 0xffffff;
  const t: Tfhd = { flags, trackId: body.readUInt32BE(4), baseDataOffset: undefined, sampleDescriptionIndex: undefined, defaultDuration: undefined, defaultSize: undefined, defaultFlags: undefined };
  let p = 8;
  const take = (flag: number, len: 4 | 8): number | undefined => {
    if (!(flags & flag)) return undefined;
    if (p + len > body.length) throw malformed('tfhd too short for its flags');
    const v = len === 8 ? Number(body.readBigUInt64BE(p)) : body.readUInt32BE(p);
    p += len;
    return v;
  };
  t.baseDataOffset = take(TFHD.baseDataOffset, 8);
  t.sampleDescriptionIndex = take(TFHD.sampleDescriptionIndex, 4);
  t.defaultDuration = take(TFHD.defaultDuration, 4);
  t.defaultSize = take(TFHD.defaultSize, 4);
  t.defaultFlags = take(TFHD.defaultFlags, 4);
  return t;
}

/** A trun body, every sample's fields resolved (defaults applied where the trun leaves one out). */
export interface Trun {
  version: number;
  flags: number;
  sampleCount: number;
  dataOffset: number | undefined;
  firstSampleFlags: number | undefined;
  /** Offset in the body where the per-sample entries start, and the bytes of one entry. */
  entriesStart: number;
  entryBytes: number;
  durations: Uint32Array;
  sizes: Uint32Array;
  sampleFlags: Uint32Array;
  /**
   * Composition time offsets: signed in version 1 (negative offsets), unsigned in version 0 (so a
   * value ≥ 2^31 is read as such, not wrapped). 0 when the trun has none.
   */
  compositionOffsets: Float64Array;
}

/** Defaults a trun falls back on: the tfhd's, else the trex's. */
export interface SampleDefaults {
  duration: number;
  size: number;
  flags: number;
}

/** A trun's header, and where each per-sample field lies in an entry (-1: absent). */
interface TrunLayout {
  version: number;
  flags: number;
  count: number;
  dataOffset: number | undefined;
  firstSampleFlags: number | undefined;
  entriesStart: number;
  entryBytes: number;
  dAt: number;
  sAt: number;
  fAt: number;
  cAt: number;
}

function trunLayout(body: Buffer): TrunLayout {
  if (body.length < 8) throw malformed('trun too short');
  const version = body.readUInt8(0);
  const flags = body.readUInt32BE(0) & 0xffffff;
  const count = body.readUInt32BE(4);
  let q = 8;
  let dataOffset: number | undefined;
  let firstSampleFlags: number | undefined;
  if (flags & TRUN.dataOffset) {
    if (q + 4 > body.length) throw malformed('trun too short for its flags');
    dataOffset = body.readInt32BE(q);
    q += 4;
  }
  if (flags & TRUN.firstSampleFlags) {
    if (q + 4 > body.length) throw malformed('trun too short for its flags');
    firstSampleFlags = body.readUInt32BE(q);
    q += 4;
  }
  // Field positions inside an entry, in the order the spec lays them out.
  let at = 0;
  const pos = (flag: number) => (flags & flag ? (at += 4) - 4 : -1);
  const dAt = pos(TRUN.duration);
  const sAt = pos(TRUN.size);
  const fAt = pos(TRUN.flags);
  const cAt = pos(TRUN.compositionOffset);
  if (q + count * at > body.length) throw malformed('trun sample table overruns the box');
  return { version, flags, count, dataOffset, firstSampleFlags, entriesStart: q, entryBytes: at, dAt, sAt, fAt, cAt };
}

/** Sample `i`'s flags: its entry's, else the trun's first-sample flags for the first, else the default. */
const sampleFlagsOf = (body: Buffer, l: TrunLayout, e: number, i: number, defaults: SampleDefaults) =>
  l.fAt >= 0 ? body.readUInt32BE(e + l.fAt) : i === 0 && l.firstSampleFlags !== undefined ? l.firstSampleFlags : defaults.flags;

/** Sample composition offset at entry `e`: signed in version 1, unsigned in version 0. */
const ctoOf = (body: Buffer, l: TrunLayout, e: number) => (l.cAt < 0 ? 0 : l.version === 1 ? body.readInt32BE(e + l.cAt) : body.readUInt32BE(e + l.cAt));

/** The one trun reader (ISO 14496-12 8.8.8, versions 0 and 1). */
export function parseTrun(body: Buffer, defaults: SampleDefaults): Trun {
  const l = trunLayout(body);
  const { count, entryBytes } = l;
  const t: Trun = {
    version: l.version,
    flags: l.flags,
    sampleCount: count,
    dataOffset: l.dataOffset,
    firstSampleFlags: l.firstSampleFlags,
    entriesStart: l.entriesStart,
    entryBytes,
    durations: new Uint32Array(count),
    sizes: new Uint32Array(count),
    sampleFlags: new Uint32Array(count),
    compositionOffsets: new Float64Array(count),
  };
  for (let i = 0, e = l.entriesStart; i < count; i++, e += entryBytes) {
    t.durations[i] = l.dAt < 0 ? defaults.duration : body.readUInt32BE(e + l.dAt);
    t.sizes[i] = l.sAt < 0 ? defaults.size : body.readUInt32BE(e + l.sAt);
    t.sampleFlags[i] = sampleFlagsOf(body, l, e, i, defaults);
    t.compositionOffsets[i] = ctoOf(body, l, e);
  }
  return t;
}

/** A trun's header with its samples' totals, for a reader that needs no per-sample tables. */
export type TrunTotals = Omit<Trun, 'durations' | 'sizes' | 'sampleFlags' | 'compositionOffsets'> & {
  /** Sum of the samples' durations and of their sizes. */
  duration: number;
  bytes: number;
  /** Which samples are sync samples: how many, and whether the first is. */
  syncSamples: number;
  firstIsSync: boolean;
  firstCompositionOffset: number;
  maxCompositionOffset: number;
};

/** `parseTrun`'s reading of `body`, summed as it goes: no allocation per sample. */
export function trunTotals(body: Buffer, defaults: SampleDefaults): TrunTotals {
  const l = trunLayout(body);
  const out: TrunTotals = {
    version: l.version,
    flags: l.flags,
    sampleCount: l.count,
    dataOffset: l.dataOffset,
    firstSampleFlags: l.firstSampleFlags,
    entriesStart: l.entriesStart,
    entryBytes: l.entryBytes,
    duration: 0,
    bytes: 0,
    syncSamples: 0,
    firstIsSync: false,
    firstCompositionOffset: 0,
    maxCompositionOffset: 0,
  };
  for (let i = 0, e = l.entriesStart; i < l.count; i++, e += l.entryBytes) {
    out.duration += l.dAt < 0 ? defaults.duration : body.readUInt32BE(e + l.dAt);
    out.bytes += l.sAt < 0 ? defaults.size : body.readUInt32BE(e + l.sAt);
    if (isSyncSample(sampleFlagsOf(body, l, e, i, defaults))) {
      out.syncSamples++;
      if (i === 0) out.firstIsSync = true;
    }
    const cto = ctoOf(body, l, e);
    if (i === 0) out.firstCompositionOffset = cto;
    if (i === 0 || cto > out.maxCompositionOffset) out.maxCompositionOffset = cto;
  }
  return out;
}

/** A tfdt body: the decode time of the fragment's first sample (version 0: 32 bits, 1: 64 bits). */
export function parseTfdt(body: Buffer): { version: number; baseDecodeTime: bigint } | undefined {
  if (body.length < 8) return undefined;
  const version = body.readUInt8(0);
  if (version === 1) return body.length >= 12 ? { version, baseDecodeTime: body.readBigUInt64BE(4) } : undefined;
  return { version, baseDecodeTime: BigInt(body.readUInt32BE(4)) };
}

/** The sample defaults of a traf: its tfhd's, else the track's trex, else 0. */
export function trafDefaults(tfhd: Tfhd, trex: TrexDefaults | undefined, trexSize = 0): SampleDefaults {
  return { duration: tfhd.defaultDuration ?? trex?.duration ?? 0, size: tfhd.defaultSize ?? trexSize, flags: tfhd.defaultFlags ?? trex?.flags ?? 0 };
}

function parseTraf(traf: Buffer, trexMap: Map<number, TrexDefaults>): TrafInfo {
  const tfhdBody = child(traf, 'tfhd');
  if (!tfhdBody) throw malformed('traf without tfhd');
  const tfhd = parseTfhd(tfhdBody);
  const defaults = trafDefaults(tfhd, trexMap.get(tfhd.trackId));
  const info: TrafInfo = { trackId: tfhd.trackId, baseDecodeTime: undefined, durationTicks: 0, sampleCount: 0, firstSampleFlags: undefined, sampleDurations: [], compositionOffsets: [] };
  for (const [type, b] of children(traf, 0)) {
    if (type === 'tfdt') {
      const tfdt = parseTfdt(b);
      if (tfdt) info.baseDecodeTime = Number(tfdt.baseDecodeTime);
    }
    if (type !== 'trun' || b.length < 8) continue;
    // Read in place, as parseTrun reads it: its four tables per trun were most of a scan's garbage.
    const l = trunLayout(b);
    for (let i = 0, e = l.entriesStart; i < l.count; i++, e += l.entryBytes) {
      const d = l.dAt < 0 ? defaults.duration : b.readUInt32BE(e + l.dAt);
      if (i === 0 && info.sampleCount === 0) info.firstSampleFlags = sampleFlagsOf(b, l, e, 0, defaults);
      info.durationTicks += d;
      info.sampleDurations.push(d);
      info.compositionOffsets.push(ctoOf(b, l, e));
    }
    info.sampleCount += l.count;
  }
  return info;
}

export function parseMoof(moof: Buffer, trex: Map<number, TrexDefaults>): TrafInfo[] {
  const trafs: TrafInfo[] = [];
  for (const [type, body] of children(moof, 0)) if (type === 'traf') trafs.push(parseTraf(body, trex));
  return trafs;
}

/** ISO 14496-12 sample_is_non_sync_sample bit. */
export const isSyncSample = (flags: number) => (flags & 0x10000) === 0;
