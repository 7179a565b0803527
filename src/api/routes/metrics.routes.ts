import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { MediaKind, VigilMetrics } from '../../metrics/vigil-metrics.js';
import type { RouteAccess } from '../access.js';
import { ErrorRef } from '../schemas/common.js';
import { binaryResponse } from '../schemas/export.schemas.js';

/** Routes whose answers are footage: their durations also go to `vigil_media_duration_seconds`. */
const MEDIA_ROUTES: Readonly<Record<string, MediaKind>> = {
  '/api/v1/cameras/:id/clip.mp4': 'clip',
  '/api/v1/cameras/:id/snapshot.jpg': 'snapshot',
  '/api/v1/cameras/:id/playback.m3u8': 'playlist',
  '/api/v1/segments/:id/media.mp4': 'segment',
};

/**
 * Counts every answered request by its route's template (`request.routeOptions.url`), never its URL:
 * ids, paths and query values a client sends never become label values, so the series stay bounded.
 * onResponse runs once the last byte is sent, so a clip's duration is its whole download.
 */
export function installRequestMetrics(app: FastifyInstance, metrics: VigilMetrics): void {
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url;
    metrics.observeRequest(route, req.method, reply.statusCode);
    const kind = route === undefined ? undefined : MEDIA_ROUTES[route];
    if (kind) metrics.observeMedia(kind, reply.elapsedTime / 1000, reply.statusCode < 400);
  });
}

/**
 * `GET /metrics` in the Prometheus text format. It shows every camera, so it needs the `metrics`
 * capability with access to all cameras (an API key with only `metrics` is the scraper's identity),
 * or no identity at all with `metrics.public: true`. Not audited: it shows no footage.
 */
export const metricsRoutes: FastifyPluginAsyncTypebox<{ metrics: VigilMetrics; public: boolean }> = async (app, opts) => {
  const access: RouteAccess = opts.public ? { cap: 'public' } : { cap: 'metrics', scope: 'all-cameras' };
  app.get('/metrics', {
    config: { access },
    schema: {
      tags: ['health'],
      summary: 'Prometheus metrics (text format 0.0.4): cameras, footage, gaps, retention, disks, jobs, ffmpeg processes, HTTP.',
      response: {
        200: binaryResponse('text/plain', 'The exposition, one line per series.'),
        401: ErrorRef,
        403: ErrorRef,
      },
    },
  }, async (_req, reply) => {
    const text = await opts.metrics.scrape();
    return reply.type(opts.metrics.contentType).header('cache-control', 'no-store').send(text);
  });
};
