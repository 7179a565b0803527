import { execFile } from 'node:child_process';
import https from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { buildConfig } from '../../src/config/config.js';
import { memoryLogger, removeDir, tempDir } from '../support/harness.js';

const run = promisify(execFile);

function config(dataDir: string, extra: Record<string, unknown>) {
  return buildConfig({ demo: false, retention: { min_free_bytes: 0 }, ...extra }, { source: null, cwd: dataDir, env: {}, overrides: { dataDir } });
}

describe('exposure', () => {
  it('refuses to listen beyond loopback while no user exists, with a clear message; starts once one exists', async () => {
    const dataDir = await tempDir();
    try {
      const app = await createApp(config(dataDir, { listen: '0.0.0.0:0' }), { log: memoryLogger().log, showSecret: () => undefined });
      await expect(app.start()).rejects.toThrow(/refusing to listen on 0\.0\.0\.0: no user exists yet.*vigil users add/);
      await app.stop().catch(() => undefined);
      const again = await createApp(config(dataDir, { listen: '0.0.0.0:0' }), { log: memoryLogger().log });
      await again.auth.createUser({ username: 'owner', password: 'owner-password', role: 'admin' });
      await again.start();
      try {
        expect(again.url).toMatch(/^http:\/\//);
        // No first admin was generated: the only user is the one created.
        expect((await again.auth.listUsers()).map((u) => u.username)).toEqual(['owner']);
      } finally {
        await again.stop();
      }
    } finally {
      await removeDir(dataDir);
    }
  });

  it('serves HTTPS with tls.cert/tls.key: Secure session cookie, HSTS and the security headers', async () => {
    const dataDir = await tempDir();
    const cert = join(dataDir, 'cert.pem');
    const key = join(dataDir, 'key.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1']);
    const app = await createApp(config(dataDir, { listen: '127.0.0.1:0', tls: { cert, key } }), { log: memoryLogger().log });
    await app.auth.createUser({ username: 'owner', password: 'owner-password', role: 'admin' });
    await app.start();
    try {
      expect(app.url).toMatch(/^https:\/\//);
      const res = await new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
        const req = https.request(`${app.url}/api/v1/auth/login`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (r) => {
          r.resume();
          r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers }));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ username: 'owner', password: 'owner-password' }));
      });
      expect(res.status).toBe(200);
      expect(String(res.headers['set-cookie'])).toMatch(/; Secure/i);
      expect(res.headers['strict-transport-security']).toBeDefined();
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(String(res.headers['content-security-policy'])).toContain("script-src 'self'");
    } finally {
      await app.stop();
      await removeDir(dataDir);
    }
  });
});
