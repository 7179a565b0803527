/** Pure pieces of a clip export: what the range covers, where each file is cut, the file name. */
import type { ClipPart } from '../media/clip-args.js';

export interface TimeSpan {
  startMs: number;
  endMs: number;
}

export interface Coverage {
  /** Milliseconds of [from, to) that some segment covers. */
  coveredMs: number;
  /** The holes inside [from, to), oldest first (including a hole at either end of the range). */
  gaps: TimeSpan[];
}

/** Coverage of [fromMs, toMs) by `spans` (sorted by start, non-overlapping as segments of one camera are). */
export function coverage(spans: readonly TimeSpan[], fromMs: number, toMs: number): Coverage {
  const gaps: TimeSpan[] = [];
  let cursor = fromMs;
  let coveredMs = 0;
  for (const s of spans) {
    const start = Math.max(s.startMs, fromMs);
    const end = Math.min(s.endMs, toMs);
    if (end <= start || end <= cursor) continue;
    if (start > cursor) gaps.push({ startMs: cursor, endMs: start });
    coveredMs += end - Math.max(start, cursor);
    cursor = end;
  }
  if (cursor < toMs) gaps.push({ startMs: cursor, endMs: toMs });
  return { coveredMs, gaps };
}

export interface PlacedSegment extends TimeSpan {
  absPath: string;
  /** Media time (ms) in the file at `startMs` (the row's `media_offset_ms`; 0 when omitted). */
  mediaOffsetMs?: number;
}

/**
 * The concat parts for [fromMs, toMs): the first file starts at `from` and the last ends at `to`
 * (inpoint/outpoint in the file's media time, which starts at 0 in every file Vigil writes). A file
 * that holds footage before its row's start (`mediaOffsetMs`) is entered at that offset, so its
 * frames play at their own instants, never shifted.
 */
export function clipParts(segments: readonly PlacedSegment[], fromMs: number, toMs: number): ClipPart[] {
  return segments
    .filter((s) => s.endMs > fromMs && s.startMs < toMs)
    .map((s) => {
      const offset = s.mediaOffsetMs ?? 0;
      const inMs = Math.max(0, fromMs - s.startMs) + offset;
      return {
        absPath: s.absPath,
        ...(inMs > 0 ? { inpointSeconds: inMs / 1000 } : {}),
        // A file with footage before its row's start (an edge refill) may also hold more after its end.
        ...(toMs < s.endMs || offset > 0 ? { outpointSeconds: (Math.min(toMs, s.endMs) - s.startMs + offset) / 1000 } : {}),
      };
    });
}

/** `<camera>_<from>_<to>.mp4` with UTC times in ISO basic format, e.g. `lobby_20261125T101500Z_20261125T103000Z.mp4`. */
export function clipFileName(cameraId: string, fromMs: number, toMs: number): string {
  const compact = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.000Z$/, 'Z');
  return `${cameraId}_${compact(fromMs)}_${compact(toMs)}.mp4`.replace(/[^A-Za-z0-9._-]/g, '_');
}
