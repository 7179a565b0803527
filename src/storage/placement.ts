/**
 * Whether a segment row's placement of its file on the timeline agrees with the file (docs/design.md,
 * "Time truth"): the footage at instant t is at media time `media_offset_ms + (t − start_ms)` from the
 * file's first frame, so the row must start inside the file, must not claim footage past the file's
 * end, and — where the file's name records the instant of its first frame — must put that first
 * frame (`start_ms − media_offset_ms`) where the name says. `vigil check` reports a row that fails
 * (`placement_mismatch`); nothing here reads a file or the catalog.
 */
import { leadInMs } from '../media/fmp4/lead-in.js';
import type { FragmentInfo } from '../media/fmp4/scan.js';
import type { SegmentSource } from '../db/schema.js';
import { nameTimeMs, SEGMENT_NAME_PATTERN } from './segment-names.js';

export interface PlacedRow {
  cameraId: string;
  /** Catalog path; its last part is the file name. */
  path: string;
  startMs: number;
  endMs: number;
  mediaOffsetMs: number;
  source: SegmentSource;
}

/** What the file's boxes say (its main video track). */
export interface FileFootage {
  videoDurationSeconds: number;
  sampleCount: number;
  /** Its fragments' sample durations (`leadInMs`); absent, media time 0 is taken as the first frame's instant. */
  fragments?: ReadonlyArray<Pick<FragmentInfo, 'sampleDurationsSeconds'>>;
}

/**
 * How far a row's end may reach past its file's last frame: one frame interval of the file (its
 * mean), plus 1 ms for rows' rounding to the ms. A live row's length is ffmpeg's segment-list span,
 * which runs to the next segment's first frame, while the file's video duration ends with the
 * duration the muxer gave its last frame: the two differ by that frame's timing (a frame dropped
 * just before the cut: one interval), not by more. On real recordings (5, 15 and 25 fps) they agree
 * to under 1 ms; rows Vigil places from a scan (recovered files, edge refills) end at the file's
 * duration rounded to the ms. A claim within one frame of the file's end is within the footage's own
 * resolution; a fixed 100 ms would flag a 5 fps camera's frame dropped before a cut and let a 25 fps
 * row claim two frames that do not exist.
 */
export function endToleranceMs(file: FileFootage): number {
  const frameMs = file.sampleCount > 0 ? (file.videoDurationSeconds * 1000) / file.sampleCount : 0;
  return Math.ceil(frameMs) + 1;
}

/**
 * The instant of a file's first frame as its name records it, and the resolution of that record:
 * - an edge refill (`<UTC second>-e<gap>t<time>.mp4`, source `edge`): the whole second the replay was
 *   asked from, which is where the refill puts the file's first frame — exact;
 * - a recorder's file (`<UTC second>-<run>-<nnnnnn>.mp4`, live or recovered): the start the recorder
 *   (or start-up recovery) gave the file before any clamp, truncated to the second;
 * - anything else (names of versions before segments were numbered, taken from ffmpeg's clock when it
 *   opened the file, a second or more after the first frame): nothing.
 */
export function firstFrameFromName(fileName: string, source: SegmentSource): { atMs: number; withinMs: number } | undefined {
  const m = SEGMENT_NAME_PATTERN.exec(fileName);
  if (!m) return undefined;
  const atMs = nameTimeMs(m[1] as string);
  if (Number.isNaN(atMs)) return undefined;
  if (m[3] === undefined && source === 'edge' && /^e\d+t[a-z0-9]+$/.test(m[2] as string)) return { atMs, withinMs: 0 };
  if (m[3] !== undefined && source !== 'edge') return { atMs, withinMs: 1000 };
  return undefined;
}

/** An edge refill's first frame is where its name says, to this (the offset is integer arithmetic). */
const EXACT_NAME_TOLERANCE_MS = 1;

/** Why the row does not match its file, or undefined when it does. */
export function placementMismatch(row: PlacedRow, file: FileFootage): string | undefined {
  const fileMs = file.videoDurationSeconds * 1000;
  const offset = row.mediaOffsetMs;
  const lengthMs = row.endMs - row.startMs;
  const claimedEndMs = offset + lengthMs;
  const holds = `the file holds ${fmtMs(fileMs)} ms of video`;
  const where = `${row.cameraId} ${iso(row.startMs)} – ${iso(row.endMs)}`;
  const found: string[] = [];
  if (offset < 0) {
    found.push(`media_offset_ms ${offset} is negative: the row starts before its file's first frame`);
  } else if (offset >= fileMs) {
    found.push(`the row starts ${offset} ms into its file (media_offset_ms) but ${holds}: it starts past the file's last frame`);
  } else {
    const tol = endToleranceMs(file);
    if (claimedEndMs > fileMs + tol) {
      found.push(
        `the row claims media ${offset}–${claimedEndMs} ms of its file (media_offset_ms ${offset} + ${lengthMs} ms) but ${holds}: ` +
          `${fmtMs(claimedEndMs - fileMs)} ms past its last frame (tolerance ${tol} ms: one frame)`,
      );
    }
  }
  const name = firstFrameFromName(row.path.slice(row.path.lastIndexOf('/') + 1), row.source);
  if (name) {
    // Where the row puts the file's first frame, and how far that lies outside what the name allows.
    const exact = name.withinMs === 0;
    // An edge refill starts a camera connection: its media time 0 lies one frame after its first
    // frame's instant (leadInMs), which is where the refill places it.
    const lead = exact && file.fragments ? leadInMs({ fragments: file.fragments }) : 0;
    const placedMs = row.startMs - offset - lead;
    const lo = exact ? name.atMs - EXACT_NAME_TOLERANCE_MS : name.atMs;
    const hi = exact ? name.atMs + EXACT_NAME_TOLERANCE_MS : name.atMs + name.withinMs - 1;
    const offBy = placedMs < lo ? placedMs - name.atMs : placedMs > hi ? placedMs - (exact ? name.atMs : hi) : 0;
    if (offBy !== 0) {
      const shown = `${exact ? '' : 'at least '}${Math.abs(offBy)} ms ${offBy > 0 ? 'later' : 'earlier'} than recorded`;
      const should = exact ? `${row.startMs - name.atMs - lead}` : `${row.startMs - hi}–${row.startMs - name.atMs}`;
      found.push(
        `the file's name puts its first frame at ${iso(name.atMs)}${exact ? '' : ' (to the second)'}, the row at ${iso(placedMs)} ` +
          `(its start minus media_offset_ms ${offset}): its footage is placed ${shown} (media_offset_ms should be ${should})`,
      );
    }
  }
  return found.length === 0 ? undefined : `${where}: ${found.join('; ')}`;
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}

function fmtMs(ms: number): string {
  return String(Math.round(ms * 10) / 10);
}
