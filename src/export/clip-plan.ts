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
  /** The row's `keyframe_fragments`, when known. */
  keyframeFragments?: number;
}

/**
 * The concat parts for [fromMs, toMs): the first file starts at `from` and the last ends at `to`
 * (inpoint/outpoint in the file's media time, which starts at 0 in every file Vigil writes). A file
 * that holds footage before its row's start (`mediaOffsetMs`) is entered at that offset, so its
 * frames play at their own instants, never shifted.
 *
 * Such a file inside the clip (an edge refill after live footage) is entered at its keyframe at or
 * before that offset (`keyframesSeconds`: its keyframes' media times), and the part before it ends
 * that much earlier: the concat demuxer gives frames before a later file's inpoint times before that
 * file's start, which the MP4 muxer refuses (or, copied, which lengthen the clip). The instants of the
 * frames are unchanged; the overlap is shown from the refill's file instead of the part before.
 */
export function clipParts(
  segments: readonly PlacedSegment[],
  fromMs: number,
  toMs: number,
  keyframesSeconds?: (absPath: string) => readonly number[] | undefined,
): ClipPart[] {
  const parts: Array<{ part: ClipPart; seg: PlacedSegment }> = [];
  for (const s of segments.filter((x) => x.endMs > fromMs && x.startMs < toMs)) {
    const offset = s.mediaOffsetMs ?? 0;
    const inMs = Math.max(0, fromMs - s.startMs) + offset;
    const part: ClipPart = {
      absPath: s.absPath,
      ...(s.keyframeFragments !== undefined ? { keyframeFragments: s.keyframeFragments } : {}),
      ...(inMs > 0 ? { inpointSeconds: inMs / 1000 } : {}),
      // A file with footage before its row's start (an edge refill) may also hold more after its end.
      ...(toMs < s.endMs || offset > 0 ? { outpointSeconds: (Math.min(toMs, s.endMs) - s.startMs + offset) / 1000 } : {}),
    };
    const inSeconds = part.inpointSeconds;
    const key = inSeconds === undefined || parts.length === 0 ? undefined : [...(keyframesSeconds?.(s.absPath) ?? [])].filter((k) => k <= inSeconds + 1e-6).pop();
    if (inSeconds !== undefined && key !== undefined && inSeconds - key > 1e-6) {
      // Take the overlap back from the parts before, the last first (a short last segment before an
      // outage may be wholly inside it); left as it was when the clip's own start lies inside it.
      let left = inSeconds - key;
      const cut: Array<{ index: number; out: number } | { index: number; drop: true }> = [];
      for (let j = parts.length - 1; j >= 0 && left > 1e-6; j--) {
        const { part: p, seg } = parts[j] as { part: ClipPart; seg: PlacedSegment };
        const out = p.outpointSeconds ?? (Math.min(toMs, seg.endMs) - seg.startMs + (seg.mediaOffsetMs ?? 0)) / 1000;
        const len = out - (p.inpointSeconds ?? 0);
        if (len > left + 1e-6) {
          cut.push({ index: j, out: out - left });
          left = 0;
        } else {
          cut.push({ index: j, drop: true });
          left -= len;
        }
      }
      if (left <= 1e-6) {
        for (const c of cut) {
          if ('drop' in c) parts.splice(c.index, 1);
          else (parts[c.index] as { part: ClipPart }).part.outpointSeconds = c.out;
        }
        if (key > 0) part.inpointSeconds = key;
        else delete part.inpointSeconds;
      }
    }
    parts.push({ part, seg: s });
  }
  return parts.map((p) => p.part);
}

/** `<camera>_<from>_<to>.mp4` with UTC times in ISO basic format, e.g. `lobby_20261125T101500Z_20261125T103000Z.mp4`. */
export function clipFileName(cameraId: string, fromMs: number, toMs: number): string {
  const compact = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.000Z$/, 'Z');
  return `${cameraId}_${compact(fromMs)}_${compact(toMs)}.mp4`.replace(/[^A-Za-z0-9._-]/g, '_');
}
