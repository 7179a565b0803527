/**
 * The clip's init segment (the first part's ftyp + moov with an edit list and durations) and its
 * closing mfra, for the fMP4 join (see `clip-join-boxes.ts`). Pure functions on buffers.
 */
import { box, boxes, u32, type Box } from './clip-join-boxes.js';

/** A full box's duration field, rewritten in place of a copy: v0 at `v0At` (32 bits), v1 at `v1At` (64 bits). */
function withDuration(b: Box, v0At: number, v1At: number, value: number): Buffer {
  const whole = Buffer.from(b.whole);
  const headerBytes = b.whole.length - b.body.length;
  if (b.body.readUInt8(0) === 1) whole.writeBigUInt64BE(BigInt(value), headerBytes + v1At);
  else whole.writeUInt32BE(value <= 0xffffffff ? value : 0xffffffff, headerBytes + v0At);
  return whole;
}

/** A container rebuilt from its children, each either kept or replaced by `swap(child)`. */
function rebuilt(type: string, kids: Box[], swap: (b: Box) => Buffer[] | undefined): Buffer {
  return box(type, ...kids.flatMap((k) => swap(k) ?? [k.whole]));
}

export interface JoinTrackTiming {
  /** Edit list media time: presentation starts this far into the media (the pre-roll), track ticks. */
  mediaTimeTicks: number;
  /** Decode duration of all the clip's samples, pre-roll included, track ticks. */
  mediaDurationTicks: number;
}

/** The video track's timing, and the audio track's (its own ticks) when the moov has a second trak. */
export type JoinInitTiming = JoinTrackTiming & { audio?: JoinTrackTiming };

/** An edts with one edit: `presented` movie ticks of the media from `mediaTimeTicks` on. */
function editBox(presented: number, mediaTimeTicks: number): Buffer {
  const v1 = mediaTimeTicks > 0x7fffffff || presented > 0xffffffff;
  const entry = Buffer.alloc(v1 ? 20 : 12);
  if (v1) {
    entry.writeBigUInt64BE(BigInt(presented), 0);
    entry.writeBigInt64BE(BigInt(mediaTimeTicks), 8);
    entry.writeUInt32BE(0x00010000, 16);
  } else {
    entry.writeUInt32BE(presented, 0);
    entry.writeInt32BE(mediaTimeTicks, 4);
    entry.writeUInt32BE(0x00010000, 8);
  }
  return box('edts', box('elst', u32(v1 ? 0x01000000 : 0, 1), entry));
}

const mdhdTimescale = (trak: Box): number => {
  const mdia = (boxes(trak.body) as Box[]).find((b) => b.type === 'mdia') as Box;
  const mdhd = (boxes(mdia.body) as Box[]).find((b) => b.type === 'mdhd') as Box;
  return mdhd.body.readUInt32BE(mdhd.body.readUInt8(0) === 1 ? 20 : 12);
};

/**
 * ftyp + moov of the clip: the first part's, with an edit list added to its trak (right after tkhd,
 * where ffmpeg puts it) that starts presentation `mediaTimeTicks` into the media — the frames between
 * the keyframe and `from` are decoded but not shown. Unlike a streamed ffmpeg clip, the whole clip is
 * known before its first byte, so the durations are set (mvhd, tkhd, mdhd, the edit, and mehd), and a
 * player shows the clip's length at once.
 */
export function buildJoinInit(ftyp: Buffer, moov: Buffer, t: JoinInitTiming): Buffer {
  // parseJoinMoov accepted it: 8-byte header, mvhd, a video trak (and an audio trak) with tkhd and mdia/mdhd, mvex.
  const top = boxes(moov, 8) as Box[];
  const mvhd = top.find((b) => b.type === 'mvhd') as Box;
  const movieTimescale = mvhd.body.readUInt32BE(mvhd.body.readUInt8(0) === 1 ? 20 : 12);
  const traks = top.filter((b) => b.type === 'trak');
  // Each trak's timing, its presented length in the movie timescale rounded up as ffmpeg's muxer rounds it.
  const timings = traks.map((trak, i) => {
    const timing = i === 0 ? t : (t.audio ?? { mediaTimeTicks: 0, mediaDurationTicks: 0 });
    const presented = Math.max(0, Math.ceil(((timing.mediaDurationTicks - timing.mediaTimeTicks) * movieTimescale) / mdhdTimescale(trak)));
    return { trak, timing, presented };
  });
  const presented = Math.max(...timings.map((x) => x.presented));
  const mehdBody = Buffer.alloc(presented > 0xffffffff ? 12 : 8);
  if (mehdBody.length === 12) {
    mehdBody.writeUInt32BE(0x01000000, 0);
    mehdBody.writeBigUInt64BE(BigInt(presented), 4);
  } else {
    mehdBody.writeUInt32BE(presented, 4);
  }
  const newMoov = rebuilt('moov', top, (b) => {
    if (b.type === 'mvhd') return [withDuration(b, 16, 24, presented)];
    // mehd comes first in mvex; one the part had (ffmpeg writes none when streaming) is replaced.
    if (b.type === 'mvex') return [box('mvex', box('mehd', mehdBody), ...(boxes(b.body) as Box[]).filter((k) => k.type !== 'mehd').map((k) => k.whole))];
    if (b.type !== 'trak') return undefined;
    const own = timings.find((x) => x.trak === b) as (typeof timings)[number];
    return [
      rebuilt('trak', boxes(b.body) as Box[], (k) => {
        if (k.type === 'tkhd') return [withDuration(k, 20, 28, own.presented), editBox(own.presented, own.timing.mediaTimeTicks)];
        if (k.type !== 'mdia') return undefined;
        return [rebuilt('mdia', boxes(k.body) as Box[], (m) => (m.type === 'mdhd' ? [withDuration(m, 16, 24, own.timing.mediaDurationTicks)] : undefined))];
      }),
    ];
  });
  return Buffer.concat([ftyp, newMoov]);
}

/** One tfra entry: presentation time of the fragment's first sample and where its moof is in the clip. */
export interface RandomAccessEntry {
  timeTicks: number;
  moofOffset: number;
}

/** Bytes of the mfra `buildJoinMfra` makes of `entries` random access points: mfra, tfra (19 bytes an entry), mfro. */
export function joinMfraBytes(entries: number): number {
  return 8 + (12 + 12 + entries * 19) + 16;
}

/** mfra (tfra + mfro) as ffmpeg closes a fragmented file with: lets players seek without reading every moof. */
export function buildJoinMfra(trackId: number, entries: readonly RandomAccessEntry[]): Buffer {
  const table = Buffer.alloc(entries.length * 19);
  entries.forEach((e, i) => {
    table.writeBigUInt64BE(BigInt(e.timeTicks), i * 19);
    table.writeBigUInt64BE(BigInt(e.moofOffset), i * 19 + 8);
    table.writeUInt8(1, i * 19 + 16); // traf, trun and sample number, each 1 byte
    table.writeUInt8(1, i * 19 + 17);
    table.writeUInt8(1, i * 19 + 18);
  });
  const tfra = box('tfra', u32(0x01000000, trackId, 0, entries.length), table);
  const mfraSize = 8 + tfra.length + 16;
  return box('mfra', tfra, box('mfro', u32(0, mfraSize)));
}
