import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/web at the package root, from src/api (tsx) and from dist/api (built) alike. */
export const DEFAULT_WEB_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'web');

const NOT_BUILT =
  "Vigil's web page is not built. Run `npm run build` (or `node scripts/build-web.mjs`) in the Vigil folder, then reload.\n";

/**
 * The operator page, outside /api/v1: `/` is index.html (revalidated every time, so a new build is
 * picked up at once), `/assets/*` are content-hashed bundles cached for a year. The page's routes live
 * in the URL hash, so no other path needs the document. Public: the page holds no data; every API
 * call it makes is checked. The CSP for it comes from helmet in server.ts.
 */
export const webRoutes: FastifyPluginAsync<{ root?: string }> = async (app, opts) => {
  const root = opts.root ?? DEFAULT_WEB_ROOT;
  const access = { access: { cap: 'public' as const, scope: 'none' as const } };
  await app.register(fastifyStatic, { root, serve: false });

  app.get('/', { config: access, schema: { hide: true } }, async (_req, reply) => {
    if (!existsSync(join(root, 'index.html'))) {
      return reply.code(503).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(NOT_BUILT);
    }
    reply.header('cache-control', 'no-cache');
    return reply.sendFile('index.html', root, { cacheControl: false });
  });

  app.get('/assets/*', { config: access, schema: { hide: true } }, async (req, reply) => {
    const file = (req.params as { '*': string })['*'];
    return reply.sendFile(file, join(root, 'assets'), { maxAge: '365d', immutable: true });
  });
};
