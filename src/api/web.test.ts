import Fastify from 'fastify';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../../test/support/harness.js';
import { webRoutes } from './web.js';

describe('serving the web page', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await removeDir(dir);
  });

  it('answers 503 with the build command while dist/web is missing, and serves it once built', async () => {
    dir = await tempDir('vigil-web-');
    const app = Fastify();
    await app.register(webRoutes, { root: dir });
    const missing = await app.inject({ url: '/' });
    expect(missing.statusCode).toBe(503);
    expect(missing.body).toContain('npm run build');

    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>Vigil</title>');
    await writeFile(join(dir, 'assets', 'app-ABC123.js'), 'console.log(1)');
    const index = await app.inject({ url: '/' });
    expect(index.statusCode).toBe(200);
    expect(index.headers['content-type']).toMatch(/^text\/html/);
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(index.body).toContain('<title>Vigil</title>');
    const asset = await app.inject({ url: '/assets/app-ABC123.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['content-type']).toMatch(/javascript/);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    // Nothing outside the assets folder is reachable through it.
    expect((await app.inject({ url: '/assets/../index.html' })).statusCode).not.toBe(200);
    expect((await app.inject({ url: '/assets/%2e%2e/index.html' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/assets/nope.js' })).statusCode).toBe(404);
    await app.close();
  });
});
