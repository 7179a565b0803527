import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FootageService } from '../../footage/footage.service.js';
import type { Clock } from '../../shared/clock.js';
import { toIso } from '../../shared/time.js';
import { scopedCameraIds } from '../access.js';
import { eventOut, gapOut, segmentOut } from '../mappers.js';
import { CameraIdParams, ErrorRef } from '../schemas/common.js';
import { EventOut, EventsQuery, GapOut, RangeQuery, SegmentPage, SegmentsQuery, TimelineOut } from '../schemas/footage.schemas.js';
import { parseRange, parseTime } from '../time-params.js';

const DAY_MS = 24 * 3600_000;
/** Far enough to mean "everything"; inside what Date can print. */
const END_OF_TIME_MS = 8_640_000_000_000_000 / 1000;

export const footageRoutes: FastifyPluginAsyncTypebox<{ footage: FootageService; clock: Clock }> = async (app, { footage, clock }) => {
  app.get('/cameras/:id/segments', {
    config: { access: { cap: 'playback', scope: 'camera' } },
    schema: {
      tags: ['footage'],
      summary: 'Indexed segments overlapping [from, to), oldest first, paginated.',
      params: CameraIdParams,
      querystring: SegmentsQuery,
      response: { 200: SegmentPage, 400: ErrorRef, 404: ErrorRef },
    },
  }, async (req) => {
    const range = parseRange(req.query, { fromMs: 0, toMs: END_OF_TIME_MS });
    const page = await footage.segments(req.params.id, range, req.query.limit ?? 100, req.query.cursor);
    return { segments: page.segments.map(segmentOut), next_cursor: page.nextCursor };
  });

  app.get('/cameras/:id/timeline', {
    config: { access: { cap: 'playback', scope: 'camera' } },
    schema: {
      tags: ['footage'],
      summary: 'Recorded spans (segments ≤ 2 s apart merged), gaps, and the footage being recorded now (no row yet) in [from, to); default the last 24 h.',
      params: CameraIdParams,
      querystring: RangeQuery,
      response: { 200: TimelineOut, 400: ErrorRef, 404: ErrorRef },
    },
  }, async (req) => {
    const now = clock.nowMs();
    const range = parseRange(req.query, { fromMs: now - DAY_MS, toMs: now });
    const t = await footage.timeline(req.params.id, range);
    return {
      camera_id: req.params.id,
      from: toIso(range.fromMs),
      to: toIso(range.toMs),
      spans: t.spans.map((s) => ({ start: toIso(s.startMs), end: toIso(s.endMs), segments: s.segments })),
      gaps: t.gaps.map(gapOut),
      recorded_seconds: t.spans.reduce((sum, s) => sum + (s.endMs - s.startMs), 0) / 1000,
      recording: t.recording && { start: toIso(t.recording.startMs), end: toIso(t.recording.endMs) },
    };
  });

  app.get('/cameras/:id/gaps', {
    config: { access: { cap: 'playback', scope: 'camera' } },
    schema: {
      tags: ['footage'],
      summary: 'Recording gaps (holes > 3 s) with their refill state.',
      params: CameraIdParams,
      response: { 200: Type.Object({ gaps: Type.Array(GapOut) }), 400: ErrorRef, 404: ErrorRef },
    },
  }, async (req) => ({ gaps: (await footage.gaps(req.params.id)).map(gapOut) }));

  app.get('/events', {
    config: { access: { cap: 'events.view' } },
    schema: {
      tags: ['events'],
      summary: 'The event log, newest first.',
      querystring: EventsQuery,
      response: { 200: Type.Object({ events: Type.Array(EventOut) }), 400: ErrorRef },
    },
  }, async (req) => {
    const q = req.query;
    const events = await footage.events({
      cameraId: q.camera_id,
      type: q.type,
      sinceMs: q.since === undefined ? undefined : parseTime(q.since, 'since'),
      cameraIds: scopedCameraIds(req),
      limit: q.limit ?? 100,
    });
    return { events: events.map(eventOut) };
  });
};
