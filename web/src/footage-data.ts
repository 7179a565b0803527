/** What the timeline draws for a window: spans and gaps from /timeline, edge and evidence spans from /segments. */
import { api } from './api.js';
import type { Interval, TimelineData } from './timeline.js';
import { iso } from './time.js';
import type { CameraMotion, Segment, Timeline, VigilEvent } from './types.js';

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
    api<CameraMotion>(`/cameras/${id}/motion`, { query: range, signal }).catch(() => null),
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
    spans: timeline.spans.map((s) => ({ startMs: Date.parse(s.start), endMs: Date.parse(s.end) })),
    gaps: timeline.gaps.map((g) => ({ startMs: Date.parse(g.gap_start), endMs: Date.parse(g.gap_end), fillState: g.fill_state })),
    edge,
    evidence,
    events: events.events.map((e) => ({ atMs: Date.parse(e.ts), type: e.type, severity: e.severity })).filter((e) => e.atMs <= view.endMs),
    motion: (motion?.intervals ?? []).map((m) => ({
      id: m.id,
      startMs: Date.parse(m.start),
      endMs: Date.parse(m.end),
      score: m.peak_score,
      zones: m.zones,
      thumbnailUrl: m.thumbnail_url,
    })),
  };
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
