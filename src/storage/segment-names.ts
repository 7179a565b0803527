/**
 * How footage files are named in `<data>/recordings/<camera>/`. Only the footage store and this module
 * know it; ffmpeg is handed the pattern of the names it writes.
 */

/**
 * Names of indexed segment files: the segment's UTC start (to the second), the recorder run's id and
 * the segment's number in that run — `20261126T101500Z-mfx3k2a-000042.mp4` (files of older versions
 * have no number). Group 1 is the time, 2 the run, 3 the number. Edge refills use the run id
 * `e<gap>t<time>`.
 */
export const SEGMENT_NAME_PATTERN = /^(\d{8}T\d{6}Z)-([a-z0-9]+)(?:-(\d{6}))?\.mp4$/;

/**
 * Names ffmpeg writes: the run id and the segment's number, `mfx3k2a-000042.mp4`. The indexer renames
 * each closed file to its SEGMENT_NAME_PATTERN name. A counter, not ffmpeg's strftime: segments that
 * close within one second (ffmpeg catching up after a stall) would otherwise get one name, and each
 * would truncate the one before it.
 */
export const OPEN_SEGMENT_NAME_PATTERN = /^([a-z0-9]+)-(\d{6})\.mp4$/;

/** A refill's file while ffmpeg writes it: never indexed, removed at start-up if a crash left it. */
export const REFILL_TEMP_PATTERN = /^\.refill-\d+\.part$/;

/** The names ffmpeg gives a recorder run's files, with its `%06d` counter. */
export function openSegmentNamePattern(runId: string): string {
  return `${runId}-%06d.mp4`;
}

/** The name ffmpeg gives file number `seq` of run `runId` (what `openSegmentNamePattern` expands to). */
export function openSegmentFileName(runId: string, seq: number): string {
  return `${runId}-${String(seq).padStart(6, '0')}.mp4`;
}

/** `20261126T101500Z` */
export function utcStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/** `20261125T101500Z` → ms since the epoch (NaN when it is not one). */
export function nameTimeMs(stamp: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(stamp);
  if (!m) return NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

/** The name a closed segment is indexed under (see SEGMENT_NAME_PATTERN). */
export function segmentFileName(startMs: number, runId: string, seq: string): string {
  return `${utcStamp(startMs)}-${runId}-${seq}.mp4`;
}

/** The name of a file refilled from a camera's edge storage for gap `gapId` (see SEGMENT_NAME_PATTERN). */
export function edgeSegmentFileName(startMs: number, gapId: number, nowMs: number): string {
  return `${utcStamp(startMs)}-e${gapId}t${nowMs.toString(36)}.mp4`;
}

/** The temporary name of gap `gapId`'s refill (see REFILL_TEMP_PATTERN). */
export function refillTempName(gapId: number): string {
  return `.refill-${gapId}.part`;
}

/** The run id a segment file's name records (indexed or as ffmpeg wrote it), or undefined. */
export function runIdOf(fileName: string): string | undefined {
  return SEGMENT_NAME_PATTERN.exec(fileName)?.[2] ?? OPEN_SEGMENT_NAME_PATTERN.exec(fileName)?.[1];
}
