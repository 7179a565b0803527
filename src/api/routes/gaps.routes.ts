import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RefillService } from '../../anr/refill.service.js';
import { CAMERA_ID_PATTERN } from '../../config/camera.schema.js';
import { gapOut } from '../mappers.js';
import { ErrorRef } from '../schemas/common.js';
import { GapOut } from '../schemas/footage.schemas.js';

const GapParams = Type.Object(
  {
    id: Type.String({ pattern: CAMERA_ID_PATTERN, description: 'Camera id (slug).' }),
    gapId: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Gap id.' }),
  },
  { additionalProperties: false },
);

export const gapRoutes: FastifyPluginAsyncTypebox<{ refills: RefillService }> = async (app, { refills }) => {
  app.post('/cameras/:id/gaps/:gapId/refill', {
    config: { access: { cap: 'refill', scope: 'camera' }, audit: 'gap.refill' },
    schema: {
      tags: ['footage'],
      summary: 'Refill a gap from the camera\'s edge storage now: a failed or partial gap is re-queued with a fresh attempt budget; a partial gap\'s attempts pull only what is still missing.',
      params: GapParams,
      response: { 202: GapOut, 400: ErrorRef, 404: ErrorRef, 409: ErrorRef },
    },
  }, async (req, reply) => {
    const gap = await refills.requeue(req.params.id, req.params.gapId, { requestId: req.id });
    return reply.code(202).send(gapOut(gap));
  });
};
