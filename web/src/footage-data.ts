/** What the timeline draws for a window: spans and gaps from /timeline, edge and evidence spans from /segments. */
import { api } from './api.js';
import type { Interval, MotionMark, TimelineData } from './timeline.js';
import { iso } from './time.js';
import type { CameraMotion, Motion, MotionBucket, Segment, Timeline, VigilEvent } from './types.js';

const SEGMENT_PAGE = 1000;
const MAX_SEGMENT_PAGES = 10;
/** Segments closer than this are drawn as one span. */
const JOIN_MS = 2000;

export async function loadTimelineData(cameraId: string, view: Interval, signal: AbortSignal): Promise<TimelineData> {
  const id = encodeURIComponent(cameraId);
  const range = { from: iso(view.startMs), to: iso(view.endMs) };
  const [timeline, segments, events, motion] = await Promise.all([
    api<Timeline>(`/cameras/${id}/timeline`, { query: range, signal }),
    loadSegments(id, range, signal),
    // The newest 200 of the window; a user without events.view sees the footage without them.
    api<{ events: VigilEvent[] }>('/events', { query: { camera_id: cameraId, since: range.from, limit: 200 }, signal }).catch(() => ({ events: [] as VigilEvent[] })),
    loadMotion(id, cameraId, view, range, signal),
  ]);
  const edge: Interval[] = [];
  const evidence: (Interval & { incidentId: string | null })[] = [];
  for (const s of segments) {
    const iv = { startMs: Date.parse(s.start), endMs: Date.parse(s.end) };
    if (s.source === 'edge') join(edge, iv);
    if (s.evidence_locked) {
      const last = evidence.at(-1);
      if (last && iv.startMs - last.endMs <= JOIN_MS && last.incidentId === s.incident_id) last.endMs = Math.max(last.endMs, iv.endMs);
      else evidence.push({ ...iv, incidentId: s.incident_id });
    }
  }
  return {
    // The footage being recorded now plays like the rest: drawn as recorded.
    spans: withRecording(timeline),
    gaps: timeline.gaps.map((g) => ({ startMs: Date.parse(g.gap_start), endMs: Date.parse(g.gap_end), fillState: g.fill_state })),
    edge,
    evidence,
    events: events.events.map((e) => ({ atMs: Date.parse(e.ts), type: e.type, severity: e.severity })).filter((e) => e.atMs <= view.endMs),
    motion: (motion?.intervals ?? []).map(motionMark),
    ...(motion?.buckets
      ? {
          motionDensity: motion.buckets.map((b) => ({ startMs: Date.parse(b.start), endMs: Date.parse(b.end), count: b.count, score: b.peak_score, zones: b.zones })),
          motionTotal: motion.buckets.reduce((n, b) => n + b.count, 0),
        }
      : {}),
  };
}

function motionMark(m: Motion): MotionMark {
  return { id: m.id, startMs: Date.parse(m.start), endMs: Date.parse(m.end), score: m.peak_score, zones: m.zones, thumbnailUrl: m.thumbnail_url };
}

/**
 * Motion the page has not loaded, asked of the API (at a wide window the list holds the newest only):
 * the first `limit` intervals starting at or after `atMs` (dir 1, oldest first) or before it (dir -1,
 * newest first), inside the window, in a zone.
 */
export async function findMotion(cameraId: string, window: Interval, dir: 1 | -1, atMs: number, zone: string | undefined, limit: number): Promise<MotionMark[]> {
  const z = zone ? { zone } : {};
  if (dir === 1) {
    // The range takes intervals overlapping it: one that began before `atMs` is not "after" (one at most: a camera's intervals do not overlap).
    const page = await api<CameraMotion>(`/cameras/${encodeURIComponent(cameraId)}/motion`, { query: { from: iso(atMs), to: iso(window.endMs), limit: limit + 1, ...z } });
    return (page.intervals ?? []).filter((m) => Date.parse(m.start) >= atMs).slice(0, limit).map(motionMark);
  }
  const page = await api<{ intervals: Motion[] }>('/motion', { query: { camera_id: cameraId, from: iso(window.startMs), to: iso(atMs), limit, ...z } });
  return page.intervals.filter((m) => Date.parse(m.start) < atMs).map(motionMark);
}

/** Spans joined closer than this, as the API joins segments into spans. */
const SPAN_JOIN_MS = 2000;

/** The recorded spans, the footage being recorded now (no row yet) drawn as their continuation. */
function withRecording(timeline: Timeline): Interval[] {
  const spans = timeline.spans.map((s) => ({ startMs: Date.parse(s.start), endMs: Date.parse(s.end) }));
  if (!timeline.recording) return spans;
  const rec = { startMs: Date.parse(timeline.recording.start), endMs: Date.parse(timeline.recording.end) };
  const last = spans.at(-1);
  if (last && rec.startMs - last.endMs <= SPAN_JOIN_MS) last.endMs = Math.max(last.endMs, rec.endMs);
  else spans.push(rec);
  return spans;
}

/** Above this window the timeline draws motion density, and the list holds the newest intervals only. */
const DENSITY_ABOVE_MS = 2 * 3600_000;
/** Density buckets across the window (a band every few pixels at 24 h). */
const DENSITY_BUCKETS = 300;
/** Intervals the motion list holds at a wide window (the newest). */
const LIST_NEWEST = 60;

/**
 * A narrow window: every interval (bands and list). A wide one (a day of a busy camera is thousands):
 * the density per bucket for the bands, and the newest intervals for the list — two small answers.
 */
async function loadMotion(
  id: string,
  cameraId: string,
  view: Interval,
  range: { from: string; to: string },
  signal: AbortSignal,
): Promise<{ intervals: Motion[]; buckets?: MotionBucket[] } | null> {
  try {
    if (view.endMs - view.startMs <= DENSITY_ABOVE_MS) {
      const all = await api<CameraMotion>(`/cameras/${id}/motion`, { query: range, signal });
      return { intervals: all.intervals ?? [] };
    }
    const bucketSeconds = Math.max(1, Math.ceil((view.endMs - view.startMs) / DENSITY_BUCKETS / 1000));
    const [density, newest] = await Promise.all([
      api<CameraMotion>(`/cameras/${id}/motion`, { query: { ...range, bucket_seconds: bucketSeconds }, signal }),
      api<{ intervals: Motion[] }>('/motion', { query: { camera_id: cameraId, ...range, limit: LIST_NEWEST }, signal }),
    ]);
    return { intervals: newest.intervals, buckets: density.buckets ?? [] };
  } catch {
    // A user without playback of motion, or motion unavailable: the footage is drawn without it.
    return null;
  }
}

async function loadSegments(id: string, range: { from: string; to: string }, signal: AbortSignal): Promise<Segment[]> {
  const out: Segment[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_SEGMENT_PAGES; page++) {
    const res = await api<{ segments: Segment[]; next_cursor: string | null }>(`/cameras/${id}/segments`, {
      query: { ...range, limit: SEGMENT_PAGE, cursor },
      signal,
    });
    out.push(...res.segments);
    if (!res.next_cursor) break;
    cursor = res.next_cursor;
  }
  return out;
}

function join(list: Interval[], iv: Interval): void {
  const last = list.at(-1);
  if (last && iv.startMs - last.endMs <= JOIN_MS) last.endMs = Math.max(last.endMs, iv.endMs);
  else list.push({ ...iv });
}
