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

/** What the seek needs of a segment file's fragments (see `FragmentInfo` in fmp4/scan.ts). */
export interface FragmentTiming {
  decodeTimeSeconds?: number | undefined;
  durationSeconds: number;
  sampleCount: number;
  /** Each sample's duration and composition offset, in seconds and decode order (main track). */
  sampleDurationsSeconds?: readonly number[] | undefined;
  compositionOffsetsSeconds?: readonly number[] | undefined;
}

/** Where the frame shown at an instant lies, in the fragments of its file (see `snapshotTarget`). */
export interface SnapshotTarget {
  /** Start of the frame shown at the instant, in seconds after the file's first decode time. */
  frameSeconds: number;
  /** How long that frame is shown (its own duration; the fragment's mean when samples are unknown). */
  frameDurationSeconds: number;
  /** Index (in the list given) of the fragment holding it. */
  fragmentIndex: number;
}

/**
 * The frame shown at `offsetSeconds` into the file, i.e. the frame presented at or nearest before
 * that instant; undefined without fragment timing. With per-sample timing (what the recorder writes)
 * it is exact: each sample's presentation time is its decode time (the sum of the durations before
 * it) plus its composition offset, relative to the file's first sample — so a first sample lasting one
 * tick after a reconnect, or any variable frame timing, picks the right frame. Without it, the
 * fragment's mean frame duration is used. Only fragments up to the first one starting after the
 * instant are looked at, so a caller may stop reading there.
 */
export function snapshotTarget(fragments: readonly FragmentTiming[], firstDecodeSeconds: number, offsetSeconds: number, firstCtsSeconds = 0): SnapshotTarget | undefined {
  const target = firstDecodeSeconds + Math.max(0, offsetSeconds);
  let found: { frag: FragmentTiming; decodeTimeSeconds: number; index: number } | undefined;
  for (const [index, f] of fragments.entries()) {
    if (f.decodeTimeSeconds === undefined || f.sampleCount <= 0 || f.durationSeconds <= 0) continue;
    if (f.decodeTimeSeconds > target) break;
    found = { frag: f, decodeTimeSeconds: f.decodeTimeSeconds, index };
  }
  if (!found) return undefined;
  const durations = found.frag.sampleDurationsSeconds;
  if (durations && durations.length === found.frag.sampleCount) {
    const cts = found.frag.compositionOffsetsSeconds;
    let decode = found.decodeTimeSeconds;
    let best: { pts: number; duration: number } | undefined;
    let earliest: { pts: number; duration: number } | undefined;
    for (const [i, d] of durations.entries()) {
      // Presentation time on the decode-time scale: shifted by the first sample's offset, as players do.
      const pts = decode + (cts?.[i] ?? 0) - firstCtsSeconds;
      const sample = { pts, duration: d };
      if (pts <= target + 1e-9 && (!best || pts > best.pts)) best = sample;
      if (!earliest || pts < earliest.pts) earliest = sample;
      decode += d;
    }
    const chosen = best ?? earliest;
    if (chosen) return { frameSeconds: chosen.pts - firstDecodeSeconds, frameDurationSeconds: chosen.duration > 0 ? chosen.duration : found.frag.durationSeconds / found.frag.sampleCount, fragmentIndex: found.index };
  }
  const frameDuration = found.frag.durationSeconds / found.frag.sampleCount;
  // The last frame of the fragment also covers any instant past the fragment's end (end of file).
  const i = Math.min(found.frag.sampleCount - 1, Math.floor((target - found.decodeTimeSeconds) / frameDuration + 1e-6));
  return { frameSeconds: found.decodeTimeSeconds + i * frameDuration - firstDecodeSeconds, frameDurationSeconds: frameDuration, fragmentIndex: found.index };
}

/**
 * The `-ss` that yields the frame shown at `offsetSeconds` into the file (see `snapshotTarget`).
 * ffmpeg's `-ss` gives the first frame at or after the seek point, so the point is put half a frame
 * before the start of that frame. Without fragment timing, the instant itself is used (the frame at
 * or just after it).
 */
export function snapshotSeek(fragments: readonly FragmentTiming[], firstDecodeSeconds: number, offsetSeconds: number, firstCtsSeconds = 0): { seekSeconds: number; frameSeconds: number } {
  const t = snapshotTarget(fragments, firstDecodeSeconds, offsetSeconds, firstCtsSeconds);
  if (!t) return { seekSeconds: Math.max(0, offsetSeconds), frameSeconds: Math.max(0, offsetSeconds) };
  return { seekSeconds: Math.max(0, t.frameSeconds - t.frameDurationSeconds / 2), frameSeconds: t.frameSeconds };
}

/**
 * The instant a warm decoder's input is shifted to: the frame a snapshot wants is given this
 * presentation time (tfdt rewritten), so one request-independent argv serves every request. An
 * hour, so that a GOP before it never needs a negative time.
 */
export const WARM_SNAPSHOT_T0_SECONDS = 3600;

/**
 * ffmpeg argv for a warm snapshot decoder: started before any request and idle on stdin, it reads
 * one fMP4 (init + the fragments of one GOP, see snapshot-feed.ts) from stdin, decodes it and
 * encodes the first frame presented at or after WARM_SNAPSHOT_T0_SECONDS, exactly as
 * `buildSnapshotArgs` does (same decoder threads, same JPEG quality: the same bytes).
 */
export function buildWarmSnapshotArgs(): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-loglevel', 'level+error',
    // The input is stdin; nothing in it (e.g. a data reference) may open anything else.
    '-protocol_whitelist', 'pipe',
    '-threads', '1',
    // Timestamps as written: the frame wanted is the one at T0, not at T0 minus the input's start.
    '-copyts',
    // The feed's init segment describes the stream (its avcC/hvcC): no packets are read and decoded
    // ahead to learn what it already says (~20 ms of a 1080p snapshot). The decoder and the filters are
    // set up from the first decoded frame either way, so the picture is the same.
    '-probesize', '32',
    '-analyzeduration', '0',
    '-f', 'mp4',
    '-i', 'pipe:0',
    '-map', '0:v:0',
    '-vf', `select='gte(t,${WARM_SNAPSHOT_T0_SECONDS})'`,
    '-frames:v', '1',
    '-f', 'image2',
    '-c:v', 'mjpeg',
    '-q:v', '3',
    'pipe:1',
  ];
}
