import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyHttpOptions, type FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import type { Logger } from 'pino';
import type { RefillService } from '../anr/refill.service.js';
import type { AuditLog } from '../auth/audit.js';
import type { AuthService } from '../auth/auth.service.js';
import type { Db } from '../db/connection.js';
import type { ClipService } from '../export/clip.service.js';
import type { PlaybackService } from '../export/playback.service.js';
import type { SnapshotService } from '../export/snapshot.service.js';
import type { FootageService } from '../footage/footage.service.js';
import type { MotionQueries } from '../footage/motion-search.js';
import type { LiveHub } from '../live/live-hub.js';
import type { CameraService } from '../cameras/camera.service.js';
import type { EvidenceService } from '../footage/evidence.service.js';
import type { Clock } from '../shared/clock.js';
import { installAccessControl } from './access.js';
import { registerErrorHandler } from './error-handler.js';
import { requestIdFor } from './request-id.js';
import { auditRoutes } from './routes/audit.routes.js';
import { authRoutes } from './routes/auth.routes.js';
import { cameraRoutes } from './routes/cameras.routes.js';
import { userRoutes } from './routes/users.routes.js';
import { evidenceRoutes } from './routes/evidence.routes.js';
import { exportRoutes } from './routes/export.routes.js';
import { playbackRoutes } from './routes/playback.routes.js';
import { clusterRoutes, type ClusterRouteDeps } from './routes/cluster.routes.js';
import { verifyNodeRequest } from '../cluster/peer-auth.js';
import type { RelayTarget } from '../cluster/live-relay.js';
import { liveRoutes } from './routes/live.routes.js';
import { previewRoutes } from './routes/preview.routes.js';
import type { PreviewService } from '../export/preview.service.js';
import { footageRoutes } from './routes/footage.routes.js';
import { motionRoutes } from './routes/motion.routes.js';
import { gapRoutes } from './routes/gaps.routes.js';
import { healthRoutes, type HealthDeps } from './routes/health.routes.js';
import { siteRoutes } from './routes/site.routes.js';
import { exportJobRoutes } from './routes/exports.routes.js';
import { webhookRoutes } from './routes/webhooks.routes.js';
import { onvifRoutes } from './routes/onvif.routes.js';
import type { OnvifService } from '../onvif/onvif.service.js';
import type { CameraClockWatch } from '../onvif/clock-watch.service.js';
import type { WebhookService } from '../webhooks/webhook.service.js';
import { installRequestMetrics, metricsRoutes } from './routes/metrics.routes.js';
import type { VigilMetrics } from '../metrics/vigil-metrics.js';
import type { ExportService } from '../evidence/export.service.js';
import type { SigningKey } from '../evidence/signing-key.js';
import { ErrorBody } from './schemas/common.js';
import { validatorCompiler } from './validation.js';
import { LazySchemas } from './lazy-schemas.js';
import { webRoutes } from './web.js';
import { redactQuery } from '../shared/redact.js';

export interface HttpDeps {
  /** This node of a cluster (its nodes routes and the routes other nodes fetch footage by); undefined on a single Vigil. */
  cluster?: ClusterRouteDeps['node'];
  /** In a cluster: the live view of a camera another node records, relayed from it. */
  liveRelay?: ((cameraId: string, stream: 'main' | 'sub', clock: boolean) => Promise<RelayTarget | undefined>) | undefined;
  cameras: CameraService;
  footage: FootageService;
  motion: MotionQueries;
  evidence: EvidenceService;
  exports: ExportService;
  signingKey: SigningKey;
  clips: ClipService;
  snapshots: SnapshotService;
  /** H.264 preview transcodes for browsers that cannot play a camera's codec. */
  previews: PreviewService;
  playback: PlaybackService;
  live: LiveHub;
  refills: RefillService;
  health: HealthDeps;
  auth: AuthService;
  audit: AuditLog;
  /** Webhook subscriptions and their delivery ledger. */
  webhooks: WebhookService;
  /** ONVIF discovery and inspection for the camera admin; the camera clock watch's readings. */
  onvif: OnvifService;
  cameraClocks: CameraClockWatch;
  /** The site's IANA time zone (config `site.time_zone`), served to the console. */
  siteTimeZone?: string;
  /** The running recorders: each camera's newest frame and stall, for its status. */
  recorders?: { frames(cameraId: string): { lastFrameAtMs: number | undefined; stalled: boolean } | undefined };
  /** The motion detectors' state per camera. */
  motionDetectors?: { status(cameraId: string): { state: string; error: string | null; lastMotionAtMs: number | null } };
  /** Prometheus metrics: served at /metrics, fed by every answered request. */
  metrics: VigilMetrics;
  db: Db;
  clock: Clock;
  log: Logger;
  http: {
    /** PEM contents when Vigil serves HTTPS itself. */
    tls?: { cert: Buffer; key: Buffer } | undefined;
    trustProxy: boolean | number | string[];
    loginRatePerMinute: number;
    /** `metrics.public`: /metrics answers without an identity. */
    metricsPublic: boolean;
    onPasswordChanged?: (username: string) => Promise<void>;
  };
}

/**
 * What the page may load: only our own scripts and styles; video from MediaSource blobs; workers (hls.js)
 * from blobs; connections to ourselves (fetch, WebSocket).
 */
const CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:', 'blob:'],
  mediaSrc: ["'self'", 'blob:'],
  workerSrc: ["'self'", 'blob:'],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  frameAncestors: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
};

/**
 * Helmet's security headers for these options, worked out once: they are the same for every response,
 * and helmet's middleware builds them (the CSP parsed and joined) each time it runs.
 */
export function securityHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: unknown) => void (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => void delete headers[name.toLowerCase()],
  };
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, (err?: unknown) => {
    if (err) throw err;
  });
  return headers;
}

/** What a request line says of the request: never a credential from its query string. */
function requestForLog(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
  return { method: req.method, url: redactQuery(req.url ?? ''), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}

/** The deferred schema compiles of each server built here (a test compiles them all). */
export const routeSchemas = new WeakMap<object, LazySchemas>();

/** The HTTP API as a Fastify instance; tests use `inject()`, `app.ts` listens. */
export async function buildHttpServer(deps: HttpDeps): Promise<FastifyInstance> {
  const trust = deps.http.trustProxy;
  const options: FastifyHttpOptions<Server> = {
    // Request lines name the URL with every credential-like query value masked (`?token=***`).
    loggerInstance: deps.log.child({ component: 'http' }, { serializers: { req: requestForLog } }) as FastifyBaseLogger,
    genReqId: requestIdFor,
    bodyLimit: 64 * 1024,
    // Time to receive a whole request (headers and body): a client trickling bytes is cut off.
    requestTimeout: 30_000,
    // A hop count trusts that many proxies in front of Vigil.
    trustProxy: typeof trust === 'number' ? (_addr: string, hop: number) => hop < trust : trust,
  };
  // With TLS the server is an https.Server, which Fastify types apart; routes and hooks are the same.
  const tlsOptions = deps.http.tls ? { https: { cert: deps.http.tls.cert, key: deps.http.tls.key } } : {};
  // Route schemas compile at their first request, not all before the server is ready (`LazySchemas`).
  const schemas = new LazySchemas();
  const schemaController = { compilersFactory: { buildSerializer: schemas.serializerFactory() } };
  const app = Fastify({ ...options, ...tlsOptions, schemaController } as FastifyHttpOptions<Server>).withTypeProvider<TypeBoxTypeProvider>();
  routeSchemas.set(app, schemas);

  app.setValidatorCompiler((route) => schemas.validator(() => validatorCompiler(route), route.schema as object));
  const security = securityHeaders({
    contentSecurityPolicy: { directives: CSP },
    // HSTS only means something over TLS; a proxy terminating TLS sets its own.
    strictTransportSecurity: deps.http.tls !== undefined,
    crossOriginEmbedderPolicy: false,
  });
  // Every response, 404s and errors included; a route may set its own (a stricter CSP) after this.
  app.addHook('onRequest', (req, reply, done) => {
    reply.headers(security);
    reply.header('x-request-id', req.id);
    done();
  });
  registerErrorHandler(app);
  installRequestMetrics(app, deps.metrics);
  app.addSchema(ErrorBody);
  await app.register(cookie);
  // Before any route: it routes upgrades through Fastify, so hooks (auth, scope) run before the upgrade.
  // Viewers send nothing but control frames; video is never worth compressing.
  await app.register(websocket, { options: { maxPayload: 4096, perMessageDeflate: false } });
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_req, ctx) => ({
      statusCode: 429,
      error: 'too_many_requests',
      message: `too many requests from this address; retry in ${Math.ceil(ctx.ttl / 1000)} s`,
    }),
  });
  const cluster = deps.cluster;
  installAccessControl(app, {
    auth: deps.auth,
    audit: deps.audit,
    db: deps.db,
    nodeAuth: cluster ? async (token, method, path) => verifyNodeRequest(await cluster.secret(), token, method, path, deps.clock.nowMs()) : undefined,
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'Vigil API', version: '1', description: 'Network video recorder: cameras, footage, events.' },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs', staticCSP: true });

  await app.register(
    async (api) => {
      await api.register(healthRoutes, { deps: deps.health });
      await api.register(siteRoutes, { timeZone: deps.siteTimeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone });
      await api.register(authRoutes, {
        auth: deps.auth,
        loginRatePerMinute: deps.http.loginRatePerMinute,
        ...(deps.http.onPasswordChanged ? { onPasswordChanged: deps.http.onPasswordChanged } : {}),
      });
      await api.register(userRoutes, { auth: deps.auth });
      await api.register(auditRoutes, { audit: deps.audit });
      await api.register(cameraRoutes, { cameras: deps.cameras, footage: deps.footage, live: deps.live, clocks: deps.cameraClocks, frames: deps.recorders, motion: deps.motionDetectors });
      await api.register(footageRoutes, { footage: deps.footage, clock: deps.clock });
      await api.register(motionRoutes, { motion: deps.motion, clock: deps.clock });
      await api.register(gapRoutes, { refills: deps.refills });
      await api.register(evidenceRoutes, { evidence: deps.evidence });
      await api.register(exportRoutes, { clips: deps.clips, snapshots: deps.snapshots });
      await api.register(exportJobRoutes, { exports: deps.exports, signingKey: deps.signingKey });
      await api.register(playbackRoutes, { playback: deps.playback });
      await api.register(clusterRoutes, { db: deps.db, clock: deps.clock, playback: deps.playback, node: deps.cluster });
      await api.register(liveRoutes, { live: deps.live, auth: deps.auth, relay: deps.liveRelay });
      await api.register(previewRoutes, { previews: deps.previews, auth: deps.auth });
      await api.register(webhookRoutes, { webhooks: deps.webhooks });
      await api.register(onvifRoutes, { onvif: deps.onvif });
      await api.register(metricsRoutes, { metrics: deps.metrics, public: deps.http.metricsPublic });
    },
    { prefix: '/api/v1' },
  );
  // Also where Prometheus looks by default.
  await app.register(metricsRoutes, { metrics: deps.metrics, public: deps.http.metricsPublic });
  // The operator page (dist/web), outside the API prefix.
  await app.register(webRoutes);
  return app;
}
