import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { VIGIL_VERSION } from '../../src/shared/version.js';
import { readZip } from '../support/bundle-fixture.js';
import { BUILT_ENTRY, startChildVigil, type ChildVigil } from '../support/child-vigil.js';
import { removeDir, tempDir, waitFor } from '../support/harness.js';

function built(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BUILT_ENTRY, ...args], (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

/**
 * What a service runs is the built bundle (dist/cli/main.js and its chunks), not the sources the other
 * tests load through tsx: everything that finds a file at run time (the version, the page, the API
 * docs, the backup worker, the verifier page an evidence bundle carries) must find it from there too.
 */
describe('the built server bundle', () => {
  let cams: RtspServer;
  let dir: string;
  let vigil: ChildVigil;
  let cookie: string;

  beforeAll(async () => {
    if (!existsSync(BUILT_ENTRY)) throw new Error(`${BUILT_ENTRY} is missing: run npm run build`);
    cams = await RtspServer.start({ mounts: [{ name: 'cam' }] });
    dir = await tempDir();
    vigil = await startChildVigil(join(dir, 'data'), { cameras: [{ id: 'cam', name: 'Door', main_url: cams.url('cam'), segment_seconds: 2 }] }, { entry: 'built' });
    const password = (await readFile(join(dir, 'data', 'initial-admin-password'), 'utf8')).trim();
    const login = await fetch(`${vigil.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) });
    expect(login.status).toBe(200);
    cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  }, 60_000);

  afterAll(async () => {
    await vigil?.term();
    await cams?.stop();
    if (dir) await removeDir(dir);
  });

  const api = (path: string, init: RequestInit = {}) => fetch(`${vigil.url}/api/v1${path}`, { ...init, headers: { cookie, origin: vigil.url, 'content-type': 'application/json', ...init.headers } });

  it('is one module plus chunks: main.js loads none of tsc\'s per-file modules', async () => {
    const main = await readFile(BUILT_ENTRY, 'utf8');
    const statics = [...main.matchAll(/^\s*(?:import|export)\b[^;]*?from\s*["'](\.[^"']+)["']/gm)].map((m) => m[1]!);
    const dynamics = [...main.matchAll(/\bimport\(\s*["'](\.[^"']+)["']\s*\)/g)].map((m) => m[1]!);
    const relative = [...statics, ...dynamics];
    expect(dynamics.length, 'each command loads its own chunk').toBeGreaterThan(5);
    expect(relative.length).toBeGreaterThan(0);
    for (const r of relative) expect(r).toMatch(/^\.\/bundle-[\w-]+\.js$/);
    expect((await readdir(join(BUILT_ENTRY, '..'))).some((f) => /^bundle-serve-\w+\.js$/.test(f))).toBe(true);
  });

  it('records, serves the page and the API docs, and says its version', async () => {
    await waitFor('recording', async () => ((await (await api('/cameras/cam/status')).json()) as { segments_written: number }).segments_written >= 2, 30_000, 250);
    const page = await fetch(`${vigil.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<script type="module" src="\/?assets\/app-\w+\.js"/);
    const docs = await fetch(`${vigil.url}/api/docs/json`);
    expect(docs.status).toBe(200);
    expect(((await docs.json()) as { paths: Record<string, unknown> }).paths).toHaveProperty('/api/v1/cameras');
    // prom-client and the recorder's metrics, from inside the bundle.
    const metrics = await fetch(`${vigil.url}/metrics`, { headers: { cookie } });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^vigil_camera_segments_written_total\{camera="cam"\} [1-9]/m);
    const v = await built(['--version']);
    expect(v.stdout.trim()).toBe(VIGIL_VERSION);
  });

  it('backs up the catalog on its worker thread while recording (vigil backup)', async () => {
    const out = await built(['backup', '--to', join(dir, 'backups'), '--data', join(dir, 'data')]);
    expect(out.code, out.stderr).toBe(0);
    const [folder] = await readdir(join(dir, 'backups'));
    expect(await readdir(join(dir, 'backups', folder!))).toContain('vigil.db');
  });

  it('builds an evidence bundle that carries the offline verifier page', async () => {
    const to = Date.now() - 500;
    const res = await api('/exports', { method: 'POST', body: JSON.stringify({ camera_ids: ['cam'], from: new Date(to - 2500).toISOString(), to: new Date(to).toISOString(), reason: 'bundle test' }) });
    expect(res.status, await res.clone().text()).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await waitFor('the export', async () => ((await (await api(`/exports/${id}`)).json()) as { state: string }).state === 'done', 60_000, 250);
    const zip = Buffer.from(await (await api(`/exports/${id}/bundle.zip`)).arrayBuffer());
    const entries = new Map(await readZip(zip));
    expect(entries.get('verify.html')?.toString('utf8')).toMatch(/<html/i);
  });
});
