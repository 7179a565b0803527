/**
 * The video codec families Vigil records, as the recorder's ffmpeg argv and the HEVC sample entry
 * need them. H.265 is written as `hvc1` (parameter sets in the hvcC, the entry Apple's players and
 * browsers expect), which ffmpeg's mp4 muxer writes only when told (`-tag:v hvc1`), and that tag fails
 * an H.264 stream: the recorder must know the codec before it starts ffmpeg (docs/design.md, "H.265").
 */
import { open } from 'node:fs/promises';
import { Fmp4Error } from './fmp4/boxes.js';
import { hev1AsHvc1 } from './fmp4/hvc1.js';
import { readAt, walkSource } from './fmp4/walk.js';

export type VideoCodecFamily = 'h264' | 'h265';

/** The family of an RFC 6381 codec string ('avc1.64001e', 'hvc1.1.6.L93.B0'), or of a sample entry 4cc. */
export function codecFamily(codec: string | null | undefined): VideoCodecFamily | undefined {
  const fourcc = codec?.slice(0, 4);
  if (fourcc === 'avc1' || fourcc === 'avc3') return 'h264';
  if (fourcc === 'hvc1' || fourcc === 'hev1') return 'h265';
  return undefined;
}

/** What ffmpeg says when `-tag:v hvc1` meets a stream that is not H.265 (the camera sends H.264 now). */
export const HVC1_TAG_REFUSED = /Tag hvc1 incompatible with output codec/i;

/** The first read of a recorder file: its ftyp and moov fit in it. */
const INIT_READ = 8 * 1024;

/** The moov of a file: its body and where that body lies in the file; undefined while it is not whole. */
async function readMoov(fh: Awaited<ReturnType<typeof open>>): Promise<{ body: Buffer; bodyStart: number; codec: string | undefined } | undefined> {
  const { size } = await fh.stat();
  const head = await readAt(fh, 0, Math.min(INIT_READ, size));
  let found: { body: Buffer; bodyStart: number; codec: string | undefined } | undefined;
  await walkSource(
    { size, read: async (offset, length) => (offset + length <= head.length ? head.subarray(offset, offset + length) : readAt(fh, offset, length)) },
    (step) => {
      if (step.kind !== 'init') return true;
      found = { body: step.moovBody, bodyStart: step.end - step.moovBody.length, codec: step.init.tracks.find((t) => t.kind === 'video')?.codec };
      return false;
    },
  ).catch((err: unknown) => {
    if (!(err instanceof Fmp4Error)) throw err; // an init not whole yet: nothing to tell
  });
  return found;
}

/**
 * Rewrites a closed file's HEVC sample entry from `hev1` to `hvc1` in place (`hev1AsHvc1`: what
 * ffmpeg writes with `-tag:v hvc1`); the samples are not touched. For the files a recorder run wrote
 * before it learnt that the camera sends H.265, and edge refills (pulled without the tag). Returns whether the file was changed (false:
 * not hev1, or no whole moov).
 */
export async function rewriteHev1AsHvc1(path: string): Promise<boolean> {
  const fh = await open(path, 'r+');
  try {
    const moov = await readMoov(fh);
    if (!moov || moov.codec?.startsWith('hev1.') !== true) return false;
    const body = Buffer.from(moov.body);
    const changed = hev1AsHvc1(body);
    if (changed) await fh.write(body, 0, body.length, moov.bodyStart);
    return changed;
  } finally {
    await fh.close();
  }
}

/**
 * The video track's codec string of an fMP4 file's init segment (ftyp+moov); undefined while the file
 * holds no whole init yet (ffmpeg has not flushed it) or has no video track.
 */
export async function videoCodecOfFile(path: string): Promise<string | undefined> {
  const fh = await open(path, 'r');
  try {
    return (await readMoov(fh))?.codec;
  } finally {
    await fh.close();
  }
}
