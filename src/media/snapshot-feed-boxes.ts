/**
 * Box-level work of the snapshot feed (snapshot-feed.ts): where the fields it rewrites lie in a
 * moov or moof (tfhd, tfdt, trun), and the rewriting of one fragment: tfdt shifted, the last
 * fragment cut after the frame wanted (trun sample_count, mdat size).
 */
import { boxSpans, Fmp4Error, parseTfdt, parseTfhd, parseTrun, type BoxSpan, type InitInfo } from './fmp4/boxes.js';
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

/** A trun as the feed rewrites it: where its body lies in the moof body, and its samples. */
interface TrunLayout {
  /** Offset of the trun body in the moof body. */
  bodyStart: number;
  sampleCount: number;
  dataOffset: number | undefined;
  durations: ArrayLike<number>;
  sizes: ArrayLike<number>;
  ctsOffsets: ArrayLike<number>;
}

interface TrafLayout {
  trackId: number;
  tfhdFlags: number;
  tfdt?: { bodyStart: number; version: number; value: bigint };
  truns: TrunLayout[];
}

/** The trafs of a moof body with the offsets the feed patches, read by the one tfhd/tfdt/trun parser. */
function trafLayouts(moof: Buffer, layout: Layout): TrafLayout[] {
  const out: TrafLayout[] = [];
  for (const traf of boxSpans(moof, 0, moof.length)) {
    if (traf.type !== 'traf') continue;
    const tfhdSpan = find(moof, traf, 'tfhd');
    if (!tfhdSpan) throw new Fmp4Error('malformed', 'traf without tfhd');
    const tfhd = parseTfhd(moof.subarray(tfhdSpan.bodyStart, tfhdSpan.end));
    const defaults = { duration: tfhd.defaultDuration ?? layout.defaultSampleDuration, size: tfhd.defaultSize ?? layout.defaultSampleSize, flags: tfhd.defaultFlags ?? 0 };
    const t: TrafLayout = { trackId: tfhd.trackId, tfhdFlags: tfhd.flags, truns: [] };
    for (const s of boxSpans(moof, traf.bodyStart, traf.end)) {
      if (s.type === 'tfdt') {
        const tfdt = parseTfdt(moof.subarray(s.bodyStart, s.end));
        if (tfdt) t.tfdt = { bodyStart: s.bodyStart, version: tfdt.version, value: tfdt.baseDecodeTime };
      }
      if (s.type !== 'trun') continue;
      const trun = parseTrun(moof.subarray(s.bodyStart, s.end), defaults);
      t.truns.push({ bodyStart: s.bodyStart, sampleCount: trun.sampleCount, dataOffset: trun.dataOffset, durations: trun.durations, sizes: trun.sizes, ctsOffsets: trun.compositionOffsets });
    }
    out.push(t);
  }
  return out;
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
      const end = (cut.trun.dataOffset ?? 0) + Array.prototype.slice.call(cut.trun.sizes, 0, cut.keep).reduce((a: number, n: number) => a + n, 0);
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
  const ctsOffsets = Array.from(trun.ctsOffsets);
  if (ctsOffsets.some((c) => c !== ctsOffsets[0])) {
    const last = Array.from(trun.durations).reduce((a, d) => a + d, 0);
    return tfdt + last + Math.max(...ctsOffsets) < t0Ticks ? 'none' : undefined;
  }
  let dts = tfdt;
  for (let i = 0; i < trun.sampleCount; i++) {
    if (dts + (trun.ctsOffsets[i] ?? 0) >= t0Ticks) return { trun, keep: i + 1 };
    dts += trun.durations[i] ?? 0;
  }
  return 'none';
}

