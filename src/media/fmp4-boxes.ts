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
  /** RFC 6381 codec string ('avc1.64001e', 'hev1.1.6.L93.B0', 'mp4a.40.2'), else the sample entry 4cc. */
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
}

export interface BoxHeader {
  type: string;
  headerSize: number;
  /** Whole box size in bytes; 0 means "extends to the end of the enclosing space". */
  size: number;
}

/** Parses the box header at `off`, or returns undefined if `buf` ends before the header does. */
export function readBoxHeader(buf: Buffer, off = 0): BoxHeader | undefined {
  if (buf.length - off < 8) return undefined;
  const size32 = buf.readUInt32BE(off);
  const type = buf.toString('latin1', off + 4, off + 8);
  if (size32 !== 1) return { type, headerSize: 8, size: size32 };
  if (buf.length - off < 16) return undefined;
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
    const h = readBoxHeader(buf.subarray(0, end), off);
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

/** hvcC → 'hev1.1.6.L93.B0' per ISO/IEC 14496-15 Annex E. */
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

/** tfhd flag → byte length of the optional field it announces, in field order. */
const TFHD_FIELDS: Array<[number, number]> = [[0x1, 8], [0x2, 4], [0x8, 4], [0x10, 4], [0x20, 4]];

function parseTraf(traf: Buffer, trexMap: Map<number, TrexDefaults>): TrafInfo {
  const tfhd = child(traf, 'tfhd');
  if (!tfhd || tfhd.length < 8) throw malformed('traf without tfhd');
  const tfFlags = tfhd.readUInt32BE(0) & 0xffffff;
  const trackId = tfhd.readUInt32BE(4);
  const trex = trexMap.get(trackId);
  let p = 8;
  let defDuration = trex?.duration ?? 0;
  let defFlags = trex?.flags ?? 0;
  for (const [flag, len] of TFHD_FIELDS) {
    if (!(tfFlags & flag)) continue;
    if (p + len > tfhd.length) throw malformed('tfhd too short for its flags');
    if (flag === 0x8) defDuration = tfhd.readUInt32BE(p);
    if (flag === 0x20) defFlags = tfhd.readUInt32BE(p);
    p += len;
  }
  const info: TrafInfo = { trackId, baseDecodeTime: undefined, durationTicks: 0, sampleCount: 0, firstSampleFlags: undefined };
  for (const [type, b] of children(traf, 0)) {
    if (type === 'tfdt' && b.length >= 8) {
      info.baseDecodeTime = b.readUInt8(0) === 1 && b.length >= 12 ? Number(b.readBigUInt64BE(4)) : b.readUInt32BE(4);
    }
    if (type !== 'trun' || b.length < 8) continue;
    const flags = b.readUInt32BE(0) & 0xffffff;
    const count = b.readUInt32BE(4);
    let q = 8 + (flags & 0x1 ? 4 : 0);
    const firstFlags = flags & 0x4 ? b.readUInt32BE(q) : undefined;
    q += flags & 0x4 ? 4 : 0;
    const hasDur = (flags & 0x100) !== 0;
    const hasFlags = (flags & 0x400) !== 0;
    const perSample = 4 * [0x100, 0x200, 0x400, 0x800].filter((f) => flags & f).length;
    if (q + count * perSample > b.length) throw malformed('trun sample table overruns the box');
    if (count > 0 && info.sampleCount === 0) {
      info.firstSampleFlags = firstFlags ?? (hasFlags ? b.readUInt32BE(q + (hasDur ? 4 : 0) + (flags & 0x200 ? 4 : 0)) : defFlags);
    }
    if (hasDur) for (let i = 0; i < count; i++) info.durationTicks += b.readUInt32BE(q + i * perSample);
    else info.durationTicks += count * defDuration;
    info.sampleCount += count;
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
