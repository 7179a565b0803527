import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { RefillService } from '../anr/refill.service.js';
import type { ClipService } from '../export/clip.service.js';
import type { SnapshotService } from '../export/snapshot.service.js';
import type { FootageService } from '../indexer/footage.service.js';
import type { CameraService } from '../recorder/camera.service.js';
import type { EvidenceService } from '../retention/evidence.service.js';
import type { Clock } from '../shared/clock.js';
import { registerErrorHandler } from './error-handler.js';
import { requestIdFor } from './request-id.js';
import { cameraRoutes } from './routes/cameras.routes.js';
import { evidenceRoutes } from './routes/evidence.routes.js';
import { exportRoutes } from './routes/export.routes.js';
import { footageRoutes } from './routes/footage.routes.js';
import { gapRoutes } from './routes/gaps.routes.js';
import { healthRoutes, type HealthDeps } from './routes/health.routes.js';
import { ErrorBody } from './schemas/common.js';
import { validatorCompiler } from './validation.js';

export interface HttpDeps {
  cameras: CameraService;
  footage: FootageService;
  evidence: EvidenceService;
  clips: ClipService;
  snapshots: SnapshotService;
  refills: RefillService;
  health: HealthDeps;
  clock: Clock;
  log: Logger;
}

/** The HTTP API as a Fastify instance; tests use `inject()`, `app.ts` listens. */
export async function buildHttpServer(deps: HttpDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log.child({ component: 'http' }) as FastifyBaseLogger,
    genReqId: requestIdFor,
    bodyLimit: 64 * 1024,
    requestTimeout: 30_000,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  registerErrorHandler(app);
  app.addSchema(ErrorBody);

  await app.register(swagger, {
    openapi: {
      info: { title: 'Vigil API', version: '1', description: 'Network video recorder: cameras, footage, events.' },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });

  await app.register(
    async (api) => {
      await api.register(healthRoutes, { deps: deps.health });
      await api.register(cameraRoutes, { cameras: deps.cameras, footage: deps.footage });
      await api.register(footageRoutes, { footage: deps.footage, clock: deps.clock });
      await api.register(gapRoutes, { refills: deps.refills });
      await api.register(evidenceRoutes, { evidence: deps.evidence });
      await api.register(exportRoutes, { clips: deps.clips, snapshots: deps.snapshots });
    },
    { prefix: '/api/v1' },
  );
  return app;
}
