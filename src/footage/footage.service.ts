import type { Db } from '../db/connection.js';
import { decodeSegmentCursor, encodeSegmentCursor } from '../shared/cursor.js';
import { cameraExists } from '../db/camera.repo.js';
import { getStatus, type CameraStatus } from '../db/camera-status.repo.js';
import { listEvents, type EventQuery, type EventRow } from '../db/event.repo.js';
import { listGaps, type Gap } from '../db/gap.repo.js';
import { listSegments, listSpans, type Segment } from '../db/segment.repo.js';
import { invalidArgument, notFound } from '../shared/errors.js';
import { mergeSpans, type Span } from './timeline.js';

/** Longest range one timeline request may cover. */
export const MAX_TIMELINE_MS = 31 * 24 * 3600_000;

export interface Range {
  fromMs: number;
  toMs: number;
}

export interface SegmentPage {
  segments: Segment[];
  nextCursor: string | null;
}

/** Read side of the recorded footage: segments, timeline, gaps, status, events. */
export class FootageService {
  constructor(
    private readonly db: Db,
    /** Footage being recorded now that has no row yet ([first frame, newest frame]), when the camera records. */
    private readonly recordingNow: (cameraId: string) => readonly [number, number] | undefined = () => undefined,
  ) {}

  private async requireCamera(id: string): Promise<void> {
    if (!(await cameraExists(this.db, id))) throw notFound(`camera "${id}" not found`, 'id');
  }

  async status(cameraId: string): Promise<CameraStatus | undefined> {
    await this.requireCamera(cameraId);
    return getStatus(this.db, cameraId);
  }

  async segments(cameraId: string, range: Range, limit: number, cursor: string | undefined): Promise<SegmentPage> {
    await this.requireCamera(cameraId);
    const after = cursor === undefined ? undefined : decodeSegmentCursor(cursor);
    const segments = await listSegments(this.db, { cameraId, ...range, limit: limit + 1, after });
    const more = segments.length > limit;
    if (more) segments.pop();
    const last = segments.at(-1);
    return { segments, nextCursor: more && last ? encodeSegmentCursor(last.startMs, last.endMs, last.id) : null };
  }

  async timeline(cameraId: string, range: Range): Promise<{ spans: Span[]; gaps: Gap[]; recording: { startMs: number; endMs: number } | null }> {
    await this.requireCamera(cameraId);
    if (range.toMs - range.fromMs > MAX_TIMELINE_MS) {
      throw invalidArgument('a timeline covers at most 31 days; narrow from/to', 'to');
    }
    const now = this.recordingNow(cameraId);
    const pairs = await listSpans(this.db, cameraId, range.fromMs, range.toMs);
    // The newest footage is reviewable before its row exists (recorded playback lists the open file);
    // told apart from the indexed spans, which snapshots and clips read.
    const recording = now && now[0] < range.toMs && now[1] > range.fromMs ? { startMs: Math.max(now[0], range.fromMs), endMs: Math.min(now[1], range.toMs) } : null;
    const gaps = await listGaps(this.db, cameraId, range.fromMs, range.toMs);
    return { spans: mergeSpans(pairs, range.fromMs, range.toMs), gaps, recording };
  }

  async gaps(cameraId: string): Promise<Gap[]> {
    await this.requireCamera(cameraId);
    return listGaps(this.db, cameraId);
  }

  events(q: EventQuery): Promise<EventRow[]> {
    return listEvents(this.db, q);
  }
}
