/**
 * What a warm snapshot decoder (see `buildWarmSnapshotArgs`) is fed for one snapshot: the file's
 * init (ftyp+moov) and the fragments from the keyframe before the instant up to the fragment
 * holding the frame wanted, with every `tfdt` shifted so that the point half a frame before that
 * frame falls exactly on WARM_SNAPSHOT_T0_SECONDS: it is the first frame presented at or after T0
 * (the frames before it decode and are dropped by the select filter), and a rounding of the
 * timestamps by less than half a frame cannot pick its neighbour. That threshold is the cold path's
 * `-ss`, so both paths pick the same frame.
 * When the stream is not reordered, the last fragment is cut after the frame wanted (trun
 * sample_count and mdat size rewritten), so neither the reading nor the decoding goes further.
 *
 * Only box headers and the small moov/moof bodies are read while looking for the frame, and the
 * walk stops at the first fragment starting after the instant: a snapshot never scans the file.
 */
import type { FileHandle } from 'node:fs/promises';
import { Fmp4Error, isSyncSample, parseMoof, type InitInfo, type TrafInfo } from './fmp4/boxes.js';
import { walkSource } from './fmp4/walk.js';
import { fileSource, type ByteSource } from './fmp4/scan.js';
import { snapshotTarget, WARM_SNAPSHOT_T0_SECONDS } from './snapshot-args.js';
import { firstSampleCts, moovLayout, patchFragment, type FeedPart, type Layout, type WalkedFragment } from './snapshot-feed-boxes.js';

export type { FeedPart } from './snapshot-feed-boxes.js';

export interface SnapshotFeed {
  init: Buffer;
  parts: FeedPart[];
  /** Total bytes written to the decoder. */
  bytes: number;
}

export interface SnapshotPlan {
  /** Where the frame is, as the cold path uses it; undefined when the walk could not tell (scan the file instead). */
  timing?: { seekSeconds: number; frameSeconds: number };
  /** Present when a warm decoder can produce the frame. */
  feed?: SnapshotFeed;
  /** Why there is no feed. */
  refusal?: string;
}

/** moov/moof bodies beyond this are corruption, not something to allocate. */
/** Plans a snapshot from an open segment file (see `planSnapshotFromSource`). */
export function planSnapshot(fh: FileHandle, sizeBytes: number, offsetSeconds: number): Promise<SnapshotPlan> {
  return planSnapshotFromSource(fileSource(fh, sizeBytes), offsetSeconds);
}

/**
 * Walks the file to the fragment holding the frame shown at `offsetSeconds` (the same frame
 * `snapshotSeek` picks over a full scan) and builds the feed. Throws Fmp4Error when the file has no
 * whole ftyp+moov or is not a fragmented MP4.
 */
export async function planSnapshotFromSource(src: ByteSource, offsetSeconds: number): Promise<SnapshotPlan> {
  let init: InitInfo | undefined;
  let layout: Layout | undefined;
  let initEnd = 0;
  let firstDecodeTicks: number | undefined;
  let firstCtsTicks = 0;
  let refusal: string | undefined;
  const frags: WalkedFragment[] = [];
  /** The moof just met, waiting for the mdat that must follow it. */
  let moof: { offset: number; headerBytes: Buffer; body: Buffer; trafs: TrafInfo[] } | undefined;
  // The one walk (fmp4/walk.ts) over the file's boxes, stopped once the fragment after the instant is met.
  await walkSource(src, (step) => {
    if (step.kind === 'init') {
      init = step.init;
      layout = moovLayout(step.moovBody, step.init);
      initEnd = step.end;
      return true;
    }
    if (!init || !layout) return true;
    if (moof && !(step.kind === 'box' && step.type === 'mdat')) {
      // Anything but a whole mdat right after the moof is a layout the walk does not follow.
      refusal = `moof at ${moof.offset} not followed by an mdat`;
      return false;
    }
    if (step.kind === 'moof') {
      try {
        moof = { offset: step.offset, headerBytes: step.headerBytes, body: step.body, trafs: parseMoof(step.body, init.trex) };
      } catch (err) {
        if (err instanceof Fmp4Error) return false; // a corrupt moof ends the usable data, as in scanFmp4
        throw err;
      }
      return true;
    }
    if (!moof || step.kind !== 'box') return true;
    const frag = fragmentOf(moof.trafs, layout, moof.offset, moof.headerBytes, moof.body, step.offset, step.headerSize, step.end);
    const mainTraf = moof.trafs.find((t) => t.trackId === layout?.trackId && t.baseDecodeTime !== undefined);
    if (firstDecodeTicks === undefined && mainTraf?.baseDecodeTime !== undefined) {
      firstDecodeTicks = mainTraf.baseDecodeTime;
      firstCtsTicks = firstSampleCts(moof.body, layout);
    }
    moof = undefined;
    const targetSeconds = (firstDecodeTicks ?? 0) / layout.timescale + Math.max(0, offsetSeconds);
    if (frag.decodeTimeSeconds !== undefined && frag.sampleCount > 0 && frag.decodeTimeSeconds > targetSeconds) return false;
    // Bodies are kept from the last fragment that starts a GOP on: the decoder needs no earlier one.
    if (frag.startsWithKeyframe) for (const f of frags) f.moofBody = undefined;
    frags.push(frag);
    return true;
  });
  if (refusal !== undefined) return { refusal };
  if (!init || !layout) throw new Fmp4Error('truncated_init', `no complete ftyp+moov in ${src.size} bytes`);

  const firstDecodeSeconds = (firstDecodeTicks ?? 0) / layout.timescale;
  const target = snapshotTarget(frags, firstDecodeSeconds, offsetSeconds, firstCtsTicks / layout.timescale);
  if (!target) return { timing: { seekSeconds: Math.max(0, offsetSeconds), frameSeconds: Math.max(0, offsetSeconds) }, refusal: 'no fragment timing' };
  const timing = { seekSeconds: Math.max(0, target.frameSeconds - target.frameDurationSeconds / 2), frameSeconds: target.frameSeconds };
  if (layout.unsupported) return { timing, refusal: layout.unsupported };

  let gopStart = target.fragmentIndex;
  while (gopStart >= 0 && !frags[gopStart]?.startsWithKeyframe) gopStart--;
  if (gopStart < 0) return { timing, refusal: 'no keyframe before the instant' };
  // The cold path's frame is the first presented at or after half a frame before the frame's start,
  // counted from the file's first presentation time; that threshold is moved to T0.
  const thresholdTicks = (target.frameSeconds - target.frameDurationSeconds / 2) * layout.timescale;
  const t0Ticks = WARM_SNAPSHOT_T0_SECONDS * layout.timescale;
  const shiftTicks = Math.round(t0Ticks - (firstDecodeTicks ?? 0) - firstCtsTicks - thresholdTicks);

  const parts: FeedPart[] = [];
  for (let i = gopStart; i <= target.fragmentIndex; i++) {
    const part = patchFragment(frags[i] as WalkedFragment, layout, shiftTicks, i === target.fragmentIndex ? t0Ticks : undefined);
    if (typeof part === 'string') return { timing, refusal: part };
    parts.push(part);
  }
  const initBytes = await src.read(0, initEnd);
  if (initBytes.length < initEnd) return { timing, refusal: 'file shrank' };
  const bytes = initBytes.length + parts.reduce((n, p) => n + p.head.length + p.payloadLength, 0);
  return { timing, feed: { init: initBytes, parts, bytes } };
}

function fragmentOf(
  trafs: TrafInfo[],
  layout: Layout,
  moofOffset: number,
  moofHeader: Buffer,
  body: Buffer,
  mdatOffset: number,
  mdatHeaderSize: number,
  mdatEnd: number,
): WalkedFragment {
  const frag: WalkedFragment = {
    durationSeconds: 0,
    sampleCount: 0,
    sampleDurationsSeconds: [],
    compositionOffsetsSeconds: [],
    startsWithKeyframe: false,
    moofOffset,
    moofHeader,
    moofBody: body,
    mdatHeaderSize,
    mdatPayloadOffset: mdatOffset + mdatHeaderSize,
    mdatPayloadLength: mdatEnd - mdatOffset - mdatHeaderSize,
  };
  for (const traf of trafs) {
    if (traf.trackId !== layout.trackId) continue;
    frag.durationSeconds += traf.durationTicks / layout.timescale;
    if (frag.sampleCount === 0 && traf.sampleCount > 0) {
      frag.startsWithKeyframe = isSyncSample(traf.firstSampleFlags ?? 0);
      if (traf.baseDecodeTime !== undefined) frag.decodeTimeSeconds = traf.baseDecodeTime / layout.timescale;
    }
    frag.sampleCount += traf.sampleCount;
    for (const d of traf.sampleDurations) (frag.sampleDurationsSeconds as number[]).push(d / layout.timescale);
    for (const c of traf.compositionOffsets) (frag.compositionOffsetsSeconds as number[]).push(c / layout.timescale);
  }
  return frag;
}

