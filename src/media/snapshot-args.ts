/** ffmpeg argv for a snapshot: one frame of a segment file, decoded and encoded as JPEG on stdout. */

export const SNAPSHOT_MIN_WIDTH = 16;
export const SNAPSHOT_MAX_WIDTH = 3840;

export interface SnapshotArgsInput {
  /** Absolute path of the segment file (already checked to lie inside the recordings folder). */
  absPath: string;
  /** `-ss` of the input: ffmpeg decodes from the keyframe before it and outputs the first frame at or after it. */
  seekSeconds: number;
  /** Output width in pixels; the height follows the aspect ratio (rounded to even). */
  width?: number | undefined;
}

export function buildSnapshotArgs(i: SnapshotArgsInput): string[] {
  if (!Number.isFinite(i.seekSeconds) || i.seekSeconds < 0) throw new Error(`invalid seek: ${i.seekSeconds}`);
  if (i.width !== undefined && (!Number.isInteger(i.width) || i.width < SNAPSHOT_MIN_WIDTH || i.width > SNAPSHOT_MAX_WIDTH)) {
    throw new Error(`invalid width: ${i.width}`);
  }
  if (!i.absPath.startsWith('/')) throw new Error(`segment path is not absolute: ${i.absPath}`);
  return [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-loglevel', 'level+error',
    '-protocol_whitelist', 'file',
    // One decoding thread: frame threads only add start-up and latency when decoding part of one
    // GOP, and a job then uses one core, so media.max_jobs bounds the cores snapshots take.
    '-threads', '1',
    '-ss', i.seekSeconds.toFixed(6),
    // file: so that no path can be read as another protocol or as an option.
    '-i', `file:${i.absPath}`,
    '-map', '0:v:0',
    '-frames:v', '1',
    ...(i.width === undefined ? [] : ['-vf', `scale=${i.width}:-2`]),
    '-f', 'image2',
    '-c:v', 'mjpeg',
    // JPEG quality (2 best … 31 worst); ffmpeg's default for one image is visibly blocky.
    '-q:v', '3',
    'pipe:1',
  ];
}

/** What the seek needs of a segment file's fragments (see `FragmentInfo` in fmp4.ts). */
export interface FragmentTiming {
  decodeTimeSeconds?: number | undefined;
  durationSeconds: number;
  sampleCount: number;
}

/**
 * The `-ss` that yields the frame shown at `offsetSeconds` into the file, i.e. the frame at or
 * nearest before that instant. ffmpeg's `-ss` gives the first frame at or after the seek point, so
 * the point is put half a frame before the start of the frame that covers the instant: the frame
 * duration comes from the fragment holding it (the recorder's fragments are one GOP each).
 * Without fragment timing, the instant itself is used (the frame at or just after it).
 */
export function snapshotSeek(fragments: readonly FragmentTiming[], firstDecodeSeconds: number, offsetSeconds: number): { seekSeconds: number; frameSeconds: number } {
  const target = firstDecodeSeconds + Math.max(0, offsetSeconds);
  let frag: FragmentTiming | undefined;
  for (const f of fragments) {
    if (f.decodeTimeSeconds === undefined || f.sampleCount <= 0 || f.durationSeconds <= 0) continue;
    if (f.decodeTimeSeconds > target) break;
    frag = f;
  }
  if (!frag || frag.decodeTimeSeconds === undefined) return { seekSeconds: Math.max(0, offsetSeconds), frameSeconds: Math.max(0, offsetSeconds) };
  const frameDuration = frag.durationSeconds / frag.sampleCount;
  // The last frame of the fragment also covers any instant past the fragment's end (end of file).
  const index = Math.min(frag.sampleCount - 1, Math.floor((target - frag.decodeTimeSeconds) / frameDuration + 1e-6));
  const frameStart = frag.decodeTimeSeconds + index * frameDuration - firstDecodeSeconds;
  return { seekSeconds: Math.max(0, frameStart - frameDuration / 2), frameSeconds: frameStart };
}
