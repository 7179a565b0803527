import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthService } from '../../auth/auth.service.js';
import { inScope, type Capability } from '../../auth/capabilities.js';
import type { Preview, PreviewService } from '../../export/preview.service.js';
import { PREVIEW_DEFAULT_HEIGHT, PREVIEW_MAX_HEIGHT, PREVIEW_MIN_HEIGHT } from '../../media/preview-args.js';
import { toIso } from '../../shared/time.js';
import { disconnectSignal } from '../disconnect.js';
import { BUSY_DESCRIPTION, binaryResponse } from '../schemas/export.schemas.js';
import { CameraIdParams, ErrorRef, IsoTime } from '../schemas/common.js';
import { parseTime } from '../time-params.js';

const Height = Type.Integer({
  minimum: PREVIEW_MIN_HEIGHT,
  maximum: PREVIEW_MAX_HEIGHT,
  default: PREVIEW_DEFAULT_HEIGHT,
  description: `Picture height of the preview (${PREVIEW_MIN_HEIGHT}–${PREVIEW_MAX_HEIGHT}, default ${PREVIEW_DEFAULT_HEIGHT}); a smaller source is not scaled up.`,
});
const LivePreviewQuery = Type.Object({ height: Type.Optional(Height) }, { additionalProperties: false });
const RecordedPreviewQuery = Type.Object({ from: IsoTime, height: Type.Optional(Height) }, { additionalProperties: false });

const PREVIEW_HEADERS = {
  'X-Vigil-Preview': { type: 'string', description: '`h264-transcode`: this is a preview, not the recorded stream.' },
  'X-Vigil-Preview-From': { type: 'string', description: 'Recorded: the wall-clock instant of the first frame.' },
  'X-Vigil-Preview-To': { type: 'string', description: 'Recorded: where the footage of this preview ends (ask again from there).' },
};

/** How often an open preview's access is checked again (invariant 12, as for the live view). */
const ACCESS_RECHECK_MS = 500;

/**
 * Ends the response within a second of the identity losing `cap` on the camera (user deleted,
 * disabled or re-scoped, session ended, key revoked): a preview streams for as long as live does.
 */
function recheckAccess(req: FastifyRequest, reply: FastifyReply, auth: AuthService, cap: Capability, cameraId: string): void {
  const principal = req.principal;
  if (!principal) return;
  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    auth
      .recheck(principal)
      .then(
        (now) => {
          if (now && now.capabilities.has(cap) && inScope(now.cameras, cameraId)) return;
          clearInterval(timer);
          req.log.info({ cameraId }, 'preview closed: access ended');
          reply.raw.destroy();
        },
        (err: unknown) => req.log.error({ err }, 'preview access check failed'),
      )
      .finally(() => {
        checking = false;
      });
  }, ACCESS_RECHECK_MS);
  reply.raw.once('close', () => clearInterval(timer));
}

function send(reply: FastifyReply, p: Preview): FastifyReply {
  reply.type('video/mp4').header('cache-control', 'private, no-store').header('x-vigil-preview', 'h264-transcode');
  if (p.fromMs !== undefined) reply.header('x-vigil-preview-from', toIso(p.fromMs));
  if (p.toMs !== undefined) reply.header('x-vigil-preview-to', toIso(p.toMs));
  return reply.send(p.body);
}

/**
 * H.264 previews for browsers that cannot play a camera's codec (H.265): `GET /cameras/:id/live/preview.mp4`
 * (the `live` capability, as the live view) and `GET /cameras/:id/playback/preview.mp4?from=` (`playback`).
 */
export const previewRoutes: FastifyPluginAsyncTypebox<{ previews: PreviewService; auth: AuthService }> = async (app, { previews, auth }) => {
  const busy = Type.Ref('Error', { description: BUSY_DESCRIPTION, headers: { 'Retry-After': { type: 'string', description: 'Seconds to wait before retrying.' } } });
  const description =
    'A low-resolution H.264 transcode (fragmented MP4, streamed as it is made) for a browser whose Media Source Extensions ' +
    'cannot decode the camera\'s stream (H.265): a viewing aid, labelled as a preview (X-Vigil-Preview), never evidence — ' +
    'clips, segment downloads and exports carry the original. Each preview holds one media job slot (`media.max_jobs`, shared ' +
    'with clips and snapshots) while it streams; 503 with Retry-After when none frees up within 10 s.';

  app.get('/cameras/:id/live/preview.mp4', {
    config: { access: { cap: 'live', scope: 'camera' }, audit: 'footage.live' },
    schema: {
      tags: ['live'],
      summary: 'Live view as an H.264 preview transcode, for browsers that cannot play the camera\'s codec.',
      description: `${description} Ends when the camera's stream does (offline, recorder restarted): ask again.`,
      params: CameraIdParams,
      querystring: LivePreviewQuery,
      response: { 200: binaryResponse('video/mp4', 'The preview, H.264.', PREVIEW_HEADERS), 400: ErrorRef, 404: ErrorRef, 409: ErrorRef, 503: busy },
    },
  }, async (req, reply) => {
    const q = req.query as Static<typeof LivePreviewQuery>;
    const preview = await previews.openLive(req.params.id, q.height ?? PREVIEW_DEFAULT_HEIGHT, disconnectSignal(reply));
    recheckAccess(req, reply, auth, 'live', req.params.id);
    return send(reply, preview);
  });

  app.get('/cameras/:id/playback/preview.mp4', {
    config: { access: { cap: 'playback', scope: 'camera' }, audit: 'footage.playback' },
    schema: {
      tags: ['playback'],
      summary: 'Recorded footage from an instant on as an H.264 preview transcode (at most 10 minutes; ask again from X-Vigil-Preview-To).',
      description: `${description} The segments read are read-locked while they are read.`,
      params: CameraIdParams,
      querystring: RecordedPreviewQuery,
      response: { 200: binaryResponse('video/mp4', 'The preview, H.264.', PREVIEW_HEADERS), 400: ErrorRef, 404: ErrorRef, 503: busy },
    },
  }, async (req, reply) => {
    const q = req.query as Static<typeof RecordedPreviewQuery>;
    const preview = await previews.openRecorded(req.params.id, parseTime(q.from, 'from'), q.height ?? PREVIEW_DEFAULT_HEIGHT, disconnectSignal(reply));
    recheckAccess(req, reply, auth, 'playback', req.params.id);
    return send(reply, preview);
  });
};
