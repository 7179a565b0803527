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
}

/**
 * The concat parts for [fromMs, toMs): the first file starts at `from` and the last ends at `to`
 * (inpoint/outpoint in the file's media time, which starts at 0 in every file the recorder writes).
 */
export function clipParts(segments: readonly PlacedSegment[], fromMs: number, toMs: number): ClipPart[] {
  return segments
    .filter((s) => s.endMs > fromMs && s.startMs < toMs)
    .map((s) => ({
      absPath: s.absPath,
      ...(fromMs > s.startMs ? { inpointSeconds: (fromMs - s.startMs) / 1000 } : {}),
      ...(toMs < s.endMs ? { outpointSeconds: (toMs - s.startMs) / 1000 } : {}),
    }));
}

/** `<camera>_<from>_<to>.mp4` with UTC times in ISO basic format, e.g. `lobby_20261125T101500Z_20261125T103000Z.mp4`. */
export function clipFileName(cameraId: string, fromMs: number, toMs: number): string {
  const compact = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.000Z$/, 'Z');
  return `${cameraId}_${compact(fromMs)}_${compact(toMs)}.mp4`.replace(/[^A-Za-z0-9._-]/g, '_');
}
