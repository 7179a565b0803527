/** Segments closer than this are one recorded span on the timeline. */
export const SPAN_MERGE_MS = 2000;

export interface Span {
  startMs: number;
  endMs: number;
  segments: number;
}

/** Merges sorted [start, end] pairs into spans, joining neighbours ≤ `mergeMs` apart, clipped to [from, to]. */
export function mergeSpans(pairs: ReadonlyArray<readonly [number, number]>, fromMs: number, toMs: number, mergeMs = SPAN_MERGE_MS): Span[] {
  const spans: Span[] = [];
  let cur: Span | undefined;
  for (const [s, e] of pairs) {
    const start = Math.max(s, fromMs);
    const end = Math.min(e, toMs);
    if (end <= start) continue;
    if (cur && start - cur.endMs <= mergeMs) {
      cur.endMs = Math.max(cur.endMs, end);
      cur.segments++;
    } else {
      cur = { startMs: start, endMs: end, segments: 1 };
      spans.push(cur);
    }
  }
  return spans;
}
