import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertExport, markExportRunning } from '../../src/db/export.repo.js';
import type { Segment } from '../../src/db/segment.repo.js';
import { verifyBundle } from '../../src/evidence/verify.js';
import { readZip } from '../support/bundle-fixture.js';
import { readCatalog } from '../support/footage.js';
import { indexFiles, makeSegmentFiles } from '../support/evidence-footage.js';
import { removeDir, tempDir, waitFor } from '../support/harness.js';
import { injectVigil, type InjectVigil } from '../support/http-inject.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const T0 = Date.UTC(2026, 11, 1, 9, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

let vigil: InjectVigil;
let work: string;
let segsA: Segment[];

type Manifest = {
  export_id: string;
  requested_by: string;
  reason: string;
  incident_id: string | null;
  request_id: string;
  signing_key: { fingerprint: string };
  cameras: Array<{
    id: string;
    clip: { file: string; sha256: string } | null;
    delivered_range: { from_ms: number; to_ms: number } | null;
    segments: Array<{ id: number; sha256: string; file: string | null; chain: { seq: number; chain_hash: string } | null }>;
    gaps: unknown[];
  }>;
  files: Array<{ path: string; sha256: string; size_bytes: number }>;
};

async function zipEntries(path: string): Promise<Map<string, Buffer>> {
  return new Map(await readZip(path));
}

/** Starts an export as `key` and waits for it to finish; returns the job. */
async function exportAndWait(body: Record<string, unknown>, key = vigil.adminKey, requestId?: string) {
  const res = await vigil.call(key, 'POST', '/exports', { body, ...(requestId ? { requestId } : {}) });
  expect(res.status, res.text).toBe(202);
  const id = res.json.id as string;
  return waitFor(`export ${id} finished`, async () => {
    const j = (await vigil.call(key, 'GET', `/exports/${id}`)).json;
    return j.state === 'done' || j.state === 'failed' ? j : undefined;
  }, 60_000, 50);
}

async function download(id: string, file: string): Promise<string> {
  const res = await vigil.api('GET', `/exports/${id}/bundle.zip`);
  expect(res.status, res.text).toBe(200);
  expect(res.headers['content-type']).toBe('application/zip');
  const path = join(work, file);
  await writeFile(path, res.rawPayload);
  return path;
}

function cli(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((res) =>
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT }, (err, stdout) =>
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout }),
    ),
  );
}

beforeAll(async () => {
  work = await tempDir('vigil-exports-');
  vigil = await injectVigil({
    cameras: [
      { id: 'cam-a', name: 'Front door', main_url: 'rtsp://127.0.0.1:9/a', enabled: false },
      { id: 'cam-b', main_url: 'rtsp://127.0.0.1:9/b', enabled: false },
    ],
  });
  const files = await makeSegmentFiles(join(work, 'src'), 5);
  segsA = await indexFiles(vigil.app.db, vigil.dataDir, 'cam-a', files, T0, vigil.app.httpDeps.signingKey);
}, 60_000);
afterAll(async () => {
  await vigil?.close();
  await removeDir(work);
});

describe('evidence exports (invariant 11)', () => {
  let job: Record<string, unknown>;
  let bundle: string;

  it('builds a signed bundle in the background: 202, then done with its size and hash', async () => {
    const hold = await vigil.api('POST', '/cameras/cam-a/evidence-lock', { body: { from: iso(T0), to: iso(T0 + 6000), incident_id: 'case-9' }, requestId: 'req-hold-1' });
    expect(hold.status, hold.text).toBe(200);
    job = await exportAndWait(
      { camera_ids: ['cam-a', 'cam-b'], from: iso(T0 + 1000), to: iso(T0 + 7000), reason: 'insurance claim 4711', incident_id: 'case-9', include_segments: true },
      vigil.adminKey,
      'req-export-1',
    );
    expect(job).toMatchObject({ state: 'done', progress: 100, error: null, requested_by: 'tests', incident_id: 'case-9', bundle_url: `/api/v1/exports/${job.id as string}/bundle.zip` });
    bundle = await download(job.id as string, 'bundle.zip');
    expect((await stat(bundle)).size).toBe(job.size_bytes);
  });

  it('the bundle holds the clips, the original segments, the key, VERIFY.txt, verify.html and a signed manifest with every fact', async () => {
    const entries = await zipEntries(bundle);
    const segFiles = segsA.slice(0, 4).map((s) => `segments/cam-a/${s.path.split('/').pop()!}`);
    expect([...entries.keys()]).toEqual(['clips/cam-a.mp4', ...segFiles, 'public-key.pem', 'VERIFY.txt', 'verify.html', 'manifest.json', 'manifest.sig']);
    const m = JSON.parse(entries.get('manifest.json')!.toString()) as Manifest;
    const key = (await vigil.api('GET', '/signing-key')).json;
    expect(m).toMatchObject({ export_id: job.id, requested_by: 'tests', reason: 'insurance claim 4711', incident_id: 'case-9', request_id: 'req-export-1' });
    expect(m.signing_key.fingerprint).toBe(key.fingerprint);
    const [a, b] = m.cameras;
    // Segments 0..3 overlap [T0+1 s, T0+7 s); each with its hash and its signed chain link.
    expect(a!.segments.map((s) => [s.id, s.sha256, s.chain?.seq, s.chain?.chain_hash])).toEqual(segsA.slice(0, 4).map((s) => [s.id, s.sha256, s.chainSeq, s.chainHash]));
    expect(a!.delivered_range).toEqual({ from: iso(T0 + 1000), to: iso(T0 + 7000), from_ms: T0 + 1000, to_ms: T0 + 7000 });
    expect(b).toMatchObject({ id: 'cam-b', clip: null, delivered_range: null, segments: [] });
    // The clip is the clip route's cut of the same range, byte for byte.
    const clip = await vigil.api('GET', `/cameras/cam-a/clip.mp4?from=${iso(T0 + 1000)}&to=${iso(T0 + 7000)}`);
    expect(clip.status).toBe(200);
    expect(Buffer.compare(entries.get('clips/cam-a.mp4')!, clip.rawPayload)).toBe(0);
    expect(entries.get('VERIFY.txt')!.toString()).toContain(key.fingerprint as string);
  });

  it('vigil verify passes the untouched bundle (exit 0) and names what was altered in a changed one (exit 1)', async () => {
    expect(await verifyBundle(bundle)).toMatchObject({ valid: true, findings: [] });
    const ok = await cli(['verify', '--fingerprint', (await vigil.api('GET', '/signing-key')).json.fingerprint as string, bundle]);
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(/^VALID/);

    // One bit of the clip's media data, inside the zip.
    const bytes = await readFile(bundle);
    const entries = await zipEntries(bundle);
    const clip = entries.get('clips/cam-a.mp4')!;
    const at = bytes.indexOf(clip.subarray(clip.length - 64, clip.length - 32));
    expect(at).toBeGreaterThan(0);
    bytes[at + 5]! ^= 0x10;
    const altered = join(work, 'altered.zip');
    await writeFile(altered, bytes);
    const bad = await cli(['verify', altered]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('INVALID');
    expect(bad.stdout).toContain('clips/cam-a.mp4: SHA-256 does not match the manifest');

    const wrongKey = await cli(['verify', '--fingerprint', 'ab'.repeat(32), bundle]);
    expect(wrongKey.code).toBe(1);
    expect((await cli(['verify', join(work, 'nope.zip')])).code).toBe(2);
    expect((await cli(['verify', '--fingerprint', 'not-hex', bundle])).code, 'a malformed fingerprint is a usage error').toBe(2);
  });

  it('every step is audited and logged as an event with the request id', async () => {
    const cat = readCatalog(vigil.dataDir);
    const audit = cat.audit;
    expect(audit.filter((r) => r.action === 'footage.export_bundle').map((r) => [r.target, r.outcome, r.request_id])).toContainEqual([`export:${job.id as string}`, 'success', 'req-export-1']);
    expect(audit.some((r) => r.action === 'footage.export_download' && r.target === `export:${job.id as string}`)).toBe(true);
    const types = cat.events.filter((e) => JSON.parse(e.payload).export_id === job.id).map((e) => e.type);
    expect(types).toEqual(['export_requested', 'export_completed']);
  });

  it('the incident report shows the holds, the export with its hashes, every access to the footage, and the gaps', async () => {
    // A clip of another time (not the incident's) must not be listed as an access to it.
    await vigil.api('GET', `/cameras/cam-a/clip.mp4?from=${iso(T0 + 8100)}&to=${iso(T0 + 9000)}`);
    const res = await vigil.api('GET', '/incidents/case-9/report.html');
    expect(res.status, res.text).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    const html = res.text;
    expect(html).toContain('Incident case-9: chain of custody');
    expect(html).toMatch(/evidence\.lock.*req-hold-1/s);
    expect(html).toContain(job.id as string);
    expect(html).toContain(job.sha256 as string);
    expect(html).toContain(job.manifest_sha256 as string);
    expect(html).toContain('footage.export_download');
    expect(html).toContain(`from=${iso(T0 + 1000)}`); // the clip the test compared against (overlaps the incident)
    expect(html).not.toContain(`from=${iso(T0 + 8100)}`);
    for (const s of segsA.slice(0, 3)) expect(html).toContain(s.sha256!);
    const op = await vigil.createKey({ name: 'op-report', role: 'operator' });
    expect((await vigil.call(op, 'GET', '/incidents/case-9/report.html')).status).toBe(403);
    expect((await vigil.api('GET', '/incidents/no-such-case/report.html')).status).toBe(404);
  });

  it('DELETE removes the bundle file (audited); the record stays, and the download answers 409', async () => {
    const del = await vigil.api('DELETE', `/exports/${job.id as string}`);
    expect(del.status, del.text).toBe(200);
    expect(del.json).toMatchObject({ state: 'deleted', bundle_url: null });
    await expect(stat(join(vigil.dataDir, 'exports', `${job.id as string}.zip`))).rejects.toThrow();
    expect((await vigil.api('GET', `/exports/${job.id as string}/bundle.zip`)).status).toBe(409);
    const audit = readCatalog(vigil.dataDir).audit;
    expect(audit.some((r) => r.action === 'export.delete' && r.target === `export:${job.id as string}` && r.outcome === 'success')).toBe(true);
  });

  it('refuses bad requests with the field at fault, and creates nothing', async () => {
    const before = (await vigil.api('GET', '/exports')).json.exports as unknown[];
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ camera_ids: ['cam-a'], from: iso(T0), to: iso(T0 + 1000) }, 400, 'reason'],
      [{ camera_ids: [], from: iso(T0), to: iso(T0 + 1000), reason: 'x' }, 400, 'camera_ids'],
      [{ camera_ids: ['cam-a'], from: iso(T0 + 1000), to: iso(T0), reason: 'x' }, 400, 'from'],
      [{ camera_ids: ['cam-a'], from: 'yesterday', to: iso(T0), reason: 'x' }, 400, 'from'],
      [{ camera_ids: ['nope'], from: iso(T0), to: iso(T0 + 1000), reason: 'x' }, 404, 'camera_ids[0]'],
      [{ camera_ids: ['cam-a', 'cam-a'], from: iso(T0), to: iso(T0 + 1000), reason: 'x' }, 400, 'camera_ids'],
      [{ camera_ids: ['cam-a'], from: iso(T0), to: iso(T0 + 1000), reason: 'x', extra: 1 }, 400, 'extra'],
    ];
    for (const [body, status, field] of cases) {
      const r = await vigil.api('POST', '/exports', { body });
      expect([r.status, r.json.field], JSON.stringify(body)).toEqual([status, field]);
    }
    expect((await vigil.api('GET', '/exports')).json.exports).toEqual(before);
    for (const [q, field] of [['?cursor=bm9wZQ', 'cursor'], ['?limit=0', 'limit'], ['?limit=9999', 'limit'], ['?extra=1', 'extra']] as const) {
      const r = await vigil.api('GET', `/exports${q}`);
      expect([r.status, r.json.field], q).toEqual([400, field]);
    }
    for (const path of ['/exports/nope', '/exports/exp_x/bundle.zip', '/exports/exp_missing']) {
      expect((await vigil.api('GET', path)).status, path).toBe(path.endsWith('missing') ? 404 : path.includes('nope') ? 400 : 404);
    }
    expect((await vigil.api('POST', '/signing-key/rotate?now=1')).status).toBe(400);
  });

  it('needs the export capability, and hides exports of cameras outside the caller\'s scope', async () => {
    const viewer = await vigil.createKey({ name: 'viewer', role: 'viewer' });
    expect((await vigil.call(viewer, 'POST', '/exports', { body: { camera_ids: ['cam-a'], from: iso(T0), to: iso(T0 + 1000), reason: 'x' } })).status).toBe(403);
    const scoped = await vigil.createKey({ name: 'b-only', role: 'operator', cameras: ['cam-b'] });
    expect((await vigil.call(scoped, 'POST', '/exports', { body: { camera_ids: ['cam-a'], from: iso(T0), to: iso(T0 + 1000), reason: 'x' } })).status).toBe(404);
    expect((await vigil.call(scoped, 'GET', `/exports/${job.id as string}`)).status).toBe(404);
    expect(((await vigil.call(scoped, 'GET', '/exports')).json.exports as unknown[]).length).toBe(0);
  });

  it('a job a stop interrupted is built again at start-up, its partial file discarded; after 3 attempts it fails clearly', async () => {
    const db = vigil.app.db;
    const exports = vigil.app.httpDeps.exports;
    const base = { cameraIds: ['cam-a'], fromMs: T0, toMs: T0 + 4000, incidentId: null, reason: 'resume', includeSegments: false, requestedBy: 'tests', requestId: null };
    await insertExport(db, { ...base, id: 'exp_resumed' }, Date.now());
    await markExportRunning(db, 'exp_resumed', Date.now());
    const partial = join(vigil.dataDir, 'exports', 'exp_resumed.zip.partial');
    await writeFile(partial, 'half a bundle');
    await insertExport(db, { ...base, id: 'exp_doomed' }, Date.now());
    for (let i = 0; i < 3; i++) await markExportRunning(db, 'exp_doomed', Date.now());
    await exports.start();
    const resumed = await waitFor('resumed export done', async () => {
      const j = (await vigil.api('GET', '/exports/exp_resumed')).json;
      return j.state === 'done' ? j : undefined;
    }, 60_000, 50);
    expect(resumed.attempts).toBe(2);
    expect((await verifyBundle(await download('exp_resumed', 'resumed.zip'))).valid).toBe(true);
    expect((await vigil.api('GET', '/exports/exp_doomed')).json).toMatchObject({ state: 'failed', error: expect.stringMatching(/interrupted 3 times/) });
    await expect(stat(partial)).rejects.toThrow();
  });

  it('GET /signing-key shows the key; rotation (admin only) keeps the old one listed and old bundles verifiable', async () => {
    const before = (await vigil.api('GET', '/signing-key')).json;
    expect(before.public_key_pem).toMatch(/BEGIN PUBLIC KEY/);
    const op = await vigil.createKey({ name: 'op', role: 'operator' });
    expect((await vigil.call(op, 'POST', '/signing-key/rotate')).status).toBe(403);
    const after = await vigil.api('POST', '/signing-key/rotate');
    expect(after.status, after.text).toBe(200);
    expect(after.json.fingerprint).not.toBe(before.fingerprint);
    expect((after.json.retired as Array<{ fingerprint: string }>).map((k) => k.fingerprint)).toContain(before.fingerprint);
    expect((await verifyBundle(join(work, 'resumed.zip'), { fingerprint: before.fingerprint as string })).valid).toBe(true);
    const j = await exportAndWait({ camera_ids: ['cam-a'], from: iso(T0), to: iso(T0 + 3000), reason: 'after rotation' });
    const r = await verifyBundle(await download(j.id as string, 'rotated.zip'));
    expect(r).toMatchObject({ valid: true, fingerprint: after.json.fingerprint });
  });
});
