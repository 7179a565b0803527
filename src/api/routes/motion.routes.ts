import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { MAX_TIMELINE_MS } from '../../footage/footage.service.js';
import type { MotionQueries } from '../../footage/motion-search.js';
import type { MotionInterval } from '../../db/motion.repo.js';
import type { Clock } from '../../shared/clock.js';
import { invalidArgument } from '../../shared/errors.js';
import { toIso } from '../../shared/time.js';
import { binaryResponse } from '../schemas/export.schemas.js';
import { canSee, scopedCameraIds } from '../access.js';
import { CameraIdParams, ErrorRef } from '../schemas/common.js';
import { CameraMotionOut, CameraMotionQuery, MotionIdParams, MotionPage, MotionSearchQuery } from '../schemas/motion.schemas.js';
import { parseRange } from '../time-params.js';

const DAY_MS = 24 * 3600_000;
/** Most buckets one density answer holds (a timeline is a few thousand pixels wide at most). */
const MAX_BUCKETS = 10_000;

export const motionOut = (m: MotionInterval) => ({
  id: m.id,
  camera_id: m.cameraId,
  start: toIso(m.startMs),
  end: toIso(m.endMs),
  peak_score: Math.round(m.peakScore * 100) / 100,
  peak_at: toIso(m.peakAtMs),
  zones: m.zones,
  thumbnail_url: m.hasThumbnail ? `/api/v1/motion/${m.id}/thumbnail.jpg` : null,
});

export const motionRoutes: FastifyPluginAsyncTypebox<{ motion: MotionQueries; clock: Clock }> = async (app, { motion, clock }) => {
  const tags = ['motion'];

  app.get('/cameras/:id/motion', {
    config: { access: { cap: 'playback', scope: 'camera' } },
    schema: {
      tags,
      summary: 'Motion intervals overlapping [from, to), oldest first and paginated (default the last 24 h; at most 10 000 a page), or with bucket_seconds their density per bucket.',
      params: CameraIdParams,
      querystring: CameraMotionQuery,
      response: { 200: CameraMotionOut, 400: ErrorRef, 404: ErrorRef },
    },
  }, async (req) => {
    const now = clock.nowMs();
    const range = parseRange(req.query, { fromMs: now - DAY_MS, toMs: now });
    if (range.toMs - range.fromMs > MAX_TIMELINE_MS) throw invalidArgument('a range covers at most 31 days; narrow from/to', 'to');
    const head = { camera_id: req.params.id, from: toIso(range.fromMs), to: toIso(range.toMs) };
    const bucketSeconds = req.query.bucket_seconds;
    if (bucketSeconds !== undefined) {
      if (req.query.cursor !== undefined) throw invalidArgument('cursor pages the intervals; buckets come in one answer', 'cursor');
      if ((range.toMs - range.fromMs) / (bucketSeconds * 1000) > MAX_BUCKETS) {
        throw invalidArgument(`at most ${MAX_BUCKETS} buckets per answer: widen bucket_seconds or narrow from/to`, 'bucket_seconds');
      }
      const buckets = await motion.density(req.params.id, range, bucketSeconds * 1000, req.query.zone);
      return {
        ...head,
        bucket_seconds: bucketSeconds,
        buckets: buckets.map((b) => ({ bucket_start: toIso(b.bucketStartMs), start: toIso(b.startMs), end: toIso(b.endMs), count: b.count, peak_score: Math.round(b.peakScore * 100) / 100, zones: b.zones })),
      };
    }
    const page = await motion.forCamera(req.params.id, range, req.query.zone, { limit: req.query.limit, cursor: req.query.cursor });
    return { ...head, intervals: page.intervals.map(motionOut), next_cursor: page.nextCursor };
  });

  app.get('/motion', {
    config: { access: { cap: 'playback' }, audit: 'footage.motion_search' },
    schema: {
      tags,
      summary: 'Search motion across the cameras the caller may see, newest first, paginated (default the last 7 days).',
      querystring: MotionSearchQuery,
      response: { 200: MotionPage, 400: ErrorRef },
    },
  }, async (req) => {
    const q = req.query;
    const now = clock.nowMs();
    const range = parseRange(q, { fromMs: now - 7 * DAY_MS, toMs: now });
    const scope = scopedCameraIds(req);
    // A camera outside the caller's scope answers as one with no motion: its existence is not revealed.
    const cameraIds = q.camera_id === undefined ? scope : scope === undefined || scope.includes(q.camera_id) ? [q.camera_id] : [];
    const page = await motion.search({ cameraIds, fromMs: range.fromMs, toMs: range.toMs, zone: q.zone, minScore: q.min_score, limit: q.limit ?? 100, cursor: q.cursor });
    return { intervals: page.intervals.map(motionOut), next_cursor: page.nextCursor };
  });

  app.get('/motion/:id/thumbnail.jpg', {
    config: { access: { cap: 'playback' }, audit: 'footage.motion_thumbnail', auditTarget: 'motion' },
    schema: {
      tags,
      summary: 'JPEG of the peak frame of one motion interval.',
      params: MotionIdParams,
      response: { 200: binaryResponse('image/jpeg', 'The peak frame, small.'), 400: ErrorRef, 404: ErrorRef },
    },
  }, async (req, reply) => {
    const jpeg = await motion.thumbnail(Number(req.params.id), (cameraId) => canSee(req, cameraId));
    return reply.type('image/jpeg').header('cache-control', 'private, max-age=86400').send(Buffer.from(jpeg));
  });
};
