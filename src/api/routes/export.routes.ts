import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ClipService } from '../../export/clip.service.js';
import type { SnapshotService } from '../../export/snapshot.service.js';
import { toIso } from '../../shared/time.js';
import { CameraIdParams, ErrorRef } from '../schemas/common.js';
import {
  binaryResponse,
  BUSY_DESCRIPTION,
  CLIP_HEADERS,
  ClipNotFound,
  ClipQuery,
  SNAPSHOT_HEADERS,
  SnapshotQuery,
} from '../schemas/export.schemas.js';
import { parseTime } from '../time-params.js';
import { disconnectSignal } from '../disconnect.js';

/** Gaps listed in the header at most (a header must stay small); X-Vigil-Gap-Count has the total. */
const MAX_GAPS_IN_HEADER = 100;

export const exportRoutes: FastifyPluginAsyncTypebox<{ clips: ClipService; snapshots: SnapshotService }> = async (app, { clips, snapshots }) => {
  const busy = Type.Ref('Error', {
    description: BUSY_DESCRIPTION,
    headers: { 'Retry-After': { type: 'string', description: 'Seconds to wait before retrying.' } },
  });

  app.get('/cameras/:id/clip.mp4', {
    config: { access: { cap: 'export', scope: 'camera' }, audit: 'footage.export' },
    schema: {
      tags: ['export'],
      summary: 'One playable MP4 of [from, to), stream copy of the recorded segments, streamed as it is made.',
      description:
        'Fragmented MP4. Playback starts at `from` through an edit list (the file itself starts at the keyframe before it) and ' +
        'ends at the last frame before `to`. Holes in the recording are jumped over and listed in X-Vigil-Gaps. The segments ' +
        'read are read-locked (retention keeps them) until the download ends or the client goes away.',
      params: CameraIdParams,
      querystring: ClipQuery,
      response: {
        200: binaryResponse('video/mp4', 'The clip.', CLIP_HEADERS),
        400: ErrorRef,
        404: ClipNotFound,
        503: busy,
      },
    },
  }, async (req, reply) => {
    const range = { fromMs: parseTime(req.query.from, 'from'), toMs: parseTime(req.query.to, 'to') };
    const clip = await clips.open(req.params.id, range, disconnectSignal(reply));
    const gaps = clip.gaps.slice(0, MAX_GAPS_IN_HEADER).map((g) => ({ start: toIso(g.startMs), end: toIso(g.endMs) }));
    if (clip.sizeBytes !== undefined) reply.header('content-length', String(clip.sizeBytes));
    return reply
      .type('video/mp4')
      .header('content-disposition', `attachment; filename="${clip.fileName}"`)
      .header('x-vigil-covered-seconds', (clip.coveredMs / 1000).toFixed(3))
      .header('x-vigil-gaps', JSON.stringify(gaps))
      .header('x-vigil-gap-count', String(clip.gaps.length))
      .header('cache-control', 'private, no-store')
      .send(clip.body);
  });

  app.get('/cameras/:id/snapshot.jpg', {
    config: { access: { cap: 'snapshot', scope: 'camera' }, audit: 'footage.snapshot' },
    schema: {
      tags: ['export'],
      summary: 'JPEG of the frame shown at an instant (at or nearest before it), from the segment that covers it.',
      params: CameraIdParams,
      querystring: SnapshotQuery,
      response: {
        200: binaryResponse('image/jpeg', 'The frame.', SNAPSHOT_HEADERS),
        400: ErrorRef,
        404: ErrorRef,
        503: busy,
      },
    },
  }, async (req, reply) => {
    const atMs = parseTime(req.query.at, 'at');
    const shot = await snapshots.snapshot(req.params.id, atMs, req.query.width, disconnectSignal(reply));
    return reply
      .type('image/jpeg')
      .header('x-vigil-frame-time', toIso(shot.frameMs))
      .header('cache-control', 'private, max-age=60')
      .send(shot.jpeg);
  });
};
