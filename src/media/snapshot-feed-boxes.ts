/**
 * Box-level work of the snapshot feed (snapshot-feed.ts): where the fields it rewrites lie in a
 * moov or moof (tfhd, tfdt, trun), and the rewriting of one fragment: tfdt shifted, the last
 * fragment cut after the frame wanted (trun sample_count, mdat size).
 */
import { boxSpans, Fmp4Error, type BoxSpan, type InitInfo } from './fmp4-boxes.js';
import type { FragmentTiming } from './snapshot-args.js';

/** One fragment as written to the decoder: the patched moof and mdat header, then the payload bytes copied from the file. */
export interface FeedPart {
  head: Buffer;
  payloadOffset: number;
  payloadLength: number;
}

/** A whole moof+mdat met by the walk; the moof body is kept only while the fragment may still be fed. */
export interface WalkedFragment extends FragmentTiming {
  moofOffset: number;
  moofHeader: Buffer;
  moofBody: Buffer | undefined;
  mdatHeaderSize: number;
  mdatPayloadOffset: number;
  mdatPayloadLength: number;
  startsWithKeyframe: boolean;
}

/** What the feed needs of the moov: the video track, its sample defaults (trex), and whether it can be fed. */
export interface Layout {
  timescale: number;
  trackId: number;
  defaultSampleDuration: number;
  defaultSampleSize: number;
  /** Why the warm path cannot serve this file, if it cannot. */
  unsupported?: string;
}

const find = (buf: Buffer, span: BoxSpan, type: string) => {
  for (const s of boxSpans(buf, span.bodyStart, span.end)) if (s.type === type) return s;
  return undefined;
};

/** The video track's timescale and defaults, and whether the warm path can serve the file. */
export function moovLayout(moov: Buffer, init: InitInfo): Layout {
  const video = init.tracks.find((t) => t.kind === 'video') ?? init.tracks[0];
  const layout: Layout = {
    timescale: video?.timescale ?? 1,
    trackId: video?.trackId ?? 0,
    defaultSampleDuration: video ? (init.trex.get(video.trackId)?.duration ?? 0) : 0,
    defaultSampleSize: 0,
  };
  // The recorder writes one video track and no edit list; with others the presentation times the
  // cold path counts from (the earliest of every track, shifted by edits) are not worth modelling.
  if (!video || video.kind !== 'video' || init.tracks.length !== 1) return { ...layout, unsupported: 'not a single video track' };
  for (const s of boxSpans(moov, 0, moov.length)) {
    if (s.type === 'trak' && find(moov, s, 'edts')) return { ...layout, unsupported: 'edit list' };
    if (s.type !== 'mvex') continue;
    for (const t of boxSpans(moov, s.bodyStart, s.end)) {
      if (t.type === 'trex' && t.end - t.bodyStart >= 24 && moov.readUInt32BE(t.bodyStart + 4) === layout.trackId) {
        layout.defaultSampleSize = moov.readUInt32BE(t.bodyStart + 16);
      }
    }
  }
  return layout;
}

interface TrunLayout {
  /** Offset of the trun body in the moof body. */
  bodyStart: number;
  sampleCount: number;
  dataOffset: number | undefined;
  durations: number[];
  sizes: number[];
  ctsOffsets: number[];
}

interface TrafLayout {
  trackId: number;
  tfhdFlags: number;
  tfdt?: { bodyStart: number; version: number; value: bigint };
  truns: TrunLayout[];
}

/** tfhd flag → byte length of the optional field it announces, in field order. */
const TFHD_FIELDS: ReadonlyArray<readonly [number, number]> = [[0x1, 8], [0x2, 4], [0x8, 4], [0x10, 4], [0x20, 4]];

function trafLayouts(moof: Buffer, layout: Layout): TrafLayout[] {
  const out: TrafLayout[] = [];
  for (const traf of boxSpans(moof, 0, moof.length)) {
    if (traf.type !== 'traf') continue;
    const tfhd = find(moof, traf, 'tfhd');
    if (!tfhd || tfhd.end - tfhd.bodyStart < 8) throw new Fmp4Error('malformed', 'traf without tfhd');
    const tfhdFlags = moof.readUInt32BE(tfhd.bodyStart) & 0xffffff;
    const trackId = moof.readUInt32BE(tfhd.bodyStart + 4);
    const fieldBytes = TFHD_FIELDS.reduce((n, [flag, len]) => n + (tfhdFlags & flag ? len : 0), 0);
    if (tfhd.end - tfhd.bodyStart < 8 + fieldBytes) throw new Fmp4Error('malformed', 'tfhd too short for its flags');
    let p = tfhd.bodyStart + 8 + (tfhdFlags & 0x1 ? 8 : 0) + (tfhdFlags & 0x2 ? 4 : 0);
    let defDuration = layout.defaultSampleDuration;
    if (tfhdFlags & 0x8) {
      defDuration = moof.readUInt32BE(p);
      p += 4;
    }
    let defSize = layout.defaultSampleSize;
    if (tfhdFlags & 0x10) defSize = moof.readUInt32BE(p);
    const t: TrafLayout = { trackId, tfhdFlags, truns: [] };
    for (const s of boxSpans(moof, traf.bodyStart, traf.end)) {
      if (s.type === 'tfdt' && s.end - s.bodyStart >= 8) {
        const version = moof.readUInt8(s.bodyStart);
        const value = version === 1 && s.end - s.bodyStart >= 12 ? moof.readBigUInt64BE(s.bodyStart + 4) : BigInt(moof.readUInt32BE(s.bodyStart + 4));
        t.tfdt = { bodyStart: s.bodyStart, version, value };
      }
      if (s.type === 'trun') t.truns.push(trunLayout(moof, s, defDuration, defSize));
    }
    out.push(t);
  }
  return out;
}

function trunLayout(moof: Buffer, s: BoxSpan, defDuration: number, defSize: number): TrunLayout {
  const b = moof.subarray(s.bodyStart, s.end);
  if (b.length < 8) throw new Fmp4Error('malformed', 'trun too short');
  const version = b.readUInt8(0);
  const flags = b.readUInt32BE(0) & 0xffffff;
  const count = b.readUInt32BE(4);
  let q = 8;
  const dataOffset = flags & 0x1 ? b.readInt32BE(q) : undefined;
  q += (flags & 0x1 ? 4 : 0) + (flags & 0x4 ? 4 : 0);
  const per = 4 * [0x100, 0x200, 0x400, 0x800].filter((f) => flags & f).length;
  if (q + count * per > b.length) throw new Fmp4Error('malformed', 'trun sample table overruns the box');
  const t: TrunLayout = { bodyStart: s.bodyStart, sampleCount: count, dataOffset, durations: [], sizes: [], ctsOffsets: [] };
  // Field offsets within one sample's entry, in the order the spec lays them out.
  const durAt = 0;
  const sizeAt = flags & 0x100 ? 4 : 0;
  const ctsAt = sizeAt + (flags & 0x200 ? 4 : 0) + (flags & 0x400 ? 4 : 0);
  for (let i = 0, r = q; i < count; i++, r += per) {
    t.durations.push(flags & 0x100 ? b.readUInt32BE(r + durAt) : defDuration);
    t.sizes.push(flags & 0x200 ? b.readUInt32BE(r + sizeAt) : defSize);
    t.ctsOffsets.push(flags & 0x800 ? (version === 1 ? b.readInt32BE(r + ctsAt) : b.readUInt32BE(r + ctsAt)) : 0);
  }
  return t;
}

/** Composition offset of the first sample of the main track in a moof (0 without one). */
export function firstSampleCts(moof: Buffer, layout: Layout): number {
  try {
    const traf = trafLayouts(moof, layout).find((t) => t.trackId === layout.trackId);
    return traf?.truns.find((r) => r.sampleCount > 0)?.ctsOffsets[0] ?? 0;
  } catch (err) {
    if (err instanceof Fmp4Error) return 0;
    throw err;
  }
}

/**
 * The fragment with its tfdt shifted by `shiftTicks`; for the last fragment (`t0Ticks` given) cut
 * after the first sample presented at or after T0 when samples are not reordered. A string says
 * why the fragment cannot be fed.
 */
export function patchFragment(frag: WalkedFragment, layout: Layout, shiftTicks: number, t0Ticks: number | undefined): FeedPart | string {
  if (!frag.moofBody) return 'fragment body not kept';
  const body = Buffer.from(frag.moofBody);
  let trafs: TrafLayout[];
  try {
    trafs = trafLayouts(body, layout);
  } catch (err) {
    if (err instanceof Fmp4Error) return err.message;
    throw err;
  }
  const [traf] = trafs;
  if (trafs.length !== 1 || !traf || traf.trackId !== layout.trackId) return 'fragment with more than the video track';
  // Sample data must be addressed from the moof (as default_base_moof writes it), not from a file offset.
  if (traf.tfhdFlags & 0x1) return 'explicit base data offset';
  if (!traf.tfdt) return 'fragment without tfdt';
  if (traf.truns.some((r) => r.dataOffset === undefined)) return 'trun without data offset';
  const tfdt = traf.tfdt.value + BigInt(shiftTicks);
  if (tfdt < 0n || (traf.tfdt.version !== 1 && tfdt > 0xffffffffn)) return 'shifted tfdt out of range';
  if (traf.tfdt.version === 1) body.writeBigUInt64BE(tfdt, traf.tfdt.bodyStart + 4);
  else body.writeUInt32BE(Number(tfdt), traf.tfdt.bodyStart + 4);

  let payloadLength = frag.mdatPayloadLength;
  if (t0Ticks !== undefined) {
    const cut = cutAfterT0(traf, Number(tfdt), t0Ticks);
    if (cut === 'none') return 'no frame at or after the instant in its fragment';
    if (cut) {
      body.writeUInt32BE(cut.keep, cut.trun.bodyStart + 4);
      // data_offset counts from the moof's first byte; the payload starts after moof and mdat header.
      const end = (cut.trun.dataOffset ?? 0) + cut.trun.sizes.slice(0, cut.keep).reduce((a, n) => a + n, 0);
      const start = frag.moofHeader.length + body.length + frag.mdatHeaderSize;
      if (end - start < 0 || end - start > payloadLength) return 'sample data outside the mdat';
      payloadLength = end - start;
    }
  }
  const mdatHeader = Buffer.alloc(frag.mdatHeaderSize);
  if (frag.mdatHeaderSize === 16) {
    mdatHeader.writeUInt32BE(1, 0);
    mdatHeader.writeBigUInt64BE(BigInt(16 + payloadLength), 8);
  } else {
    mdatHeader.writeUInt32BE(8 + payloadLength, 0);
  }
  mdatHeader.write('mdat', 4, 'latin1');
  return { head: Buffer.concat([frag.moofHeader, body, mdatHeader]), payloadOffset: frag.mdatPayloadOffset, payloadLength };
}

/**
 * Where to cut the last fragment: after the first sample presented at or after T0. Undefined means
 * "send it whole" (several runs, or reordered samples, whose order of presentation is the decoder's
 * business); 'none' means no sample reaches T0.
 */
function cutAfterT0(traf: TrafLayout, tfdt: number, t0Ticks: number): { trun: TrunLayout; keep: number } | 'none' | undefined {
  const [trun] = traf.truns;
  if (traf.truns.length !== 1 || !trun) return undefined;
  if (trun.ctsOffsets.some((c) => c !== trun.ctsOffsets[0])) {
    const last = trun.durations.reduce((a, d) => a + d, 0);
    return tfdt + last + Math.max(...trun.ctsOffsets) < t0Ticks ? 'none' : undefined;
  }
  let dts = tfdt;
  for (let i = 0; i < trun.sampleCount; i++) {
    if (dts + (trun.ctsOffsets[i] ?? 0) >= t0Ticks) return { trun, keep: i + 1 };
    dts += trun.durations[i] ?? 0;
  }
  return 'none';
}

