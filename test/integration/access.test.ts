import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { querySql, readCatalog } from '../support/footage.js';
import { removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';

type Json = Record<string, unknown>;
const iso = (ms: number) => new Date(ms).toISOString();
const CAMERA_PASSWORD = 'cam-Pa55word-xyz';

let server: RtspServer;
let vigil: TestVigil;
/** API keys per role (every camera), and one operator key scoped to cam1. */
const keys: Record<'viewer' | 'operator' | 'admin' | 'scoped', string> = { viewer: '', operator: '', admin: '', scoped: '' };
let segs: { cam1: { id: number; start_ms: number; end_ms: number }[]; cam2: { id: number; start_ms: number; end_ms: number }[] };

async function call(key: string | null, method: string, path: string, opts: { body?: unknown; requestId?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...opts.headers };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.requestId) headers['x-request-id'] = opts.requestId;
  const res = await fetch(`${vigil.app.url}/api/v1${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, text: buf.toString('utf8'), bytes: buf.length };
}

async function createKey(body: Json): Promise<string> {
  const r = await call(keys.admin || (vigil.auth.authorization ?? '').slice(7), 'POST', '/api-keys', { body });
  expect(r.status).toBe(201);
  return (JSON.parse(r.text) as { key: string }).key;
}

// The cases that need no recorded footage (scope hiding, key revocation and expiry, capability
// subsets, sessions, CSRF, lockout, the append-only audit table, bad input, the last admin) run on
// inject() in test/api/access.test.ts. These two read real clips and snapshots.
describe('access control', () => {
  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam1' }, { name: 'cam2' }] });
    vigil = await startVigil({
      cameras: [
        { id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 },
        { id: 'cam2', main_url: server.url('cam2').replace('rtsp://', `rtsp://u:${CAMERA_PASSWORD}@`), segment_seconds: 2 },
      ],
    });
    keys.admin = (vigil.auth.authorization ?? '').slice('Bearer '.length);
    keys.viewer = await createKey({ name: 'viewer', role: 'viewer' });
    keys.operator = await createKey({ name: 'operator', role: 'operator' });
    keys.scoped = await createKey({ name: 'scoped', role: 'operator', cameras: ['cam1'] });
    await waitFor('segments of both cameras', () => {
      const rows = readCatalog(vigil.dataDir).segments;
      return rows.filter((s) => s.camera_id === 'cam1').length >= 3 && rows.filter((s) => s.camera_id === 'cam2').length >= 3;
    }, 40_000);
    const rows = readCatalog(vigil.dataDir).segments;
    segs = { cam1: rows.filter((s) => s.camera_id === 'cam1'), cam2: rows.filter((s) => s.camera_id === 'cam2') };
  }, 90_000);

  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('checks each role against each route class: allowed 2xx, forbidden 403, no identity 401', async () => {
    const s = segs.cam1[1] as { start_ms: number; end_ms: number; id: number };
    const range = `from=${iso(s.start_ms)}&to=${iso(s.end_ms)}`;
    const rangeBody = { from: iso(s.start_ms), to: iso(s.end_ms), incident_id: 'matrix' };
    type Row = [string, string, Json | undefined, { viewer: number; operator: number; admin: number }];
    const all = (n: number) => ({ viewer: n, operator: n, admin: n });
    const ops = (n: number) => ({ viewer: 403, operator: n, admin: n });
    const admin = (n: number) => ({ viewer: 403, operator: 403, admin: n });
    const matrix: Row[] = [
      ['GET', '/cameras', undefined, all(200)],
      ['GET', '/cameras/cam1', undefined, all(200)],
      ['GET', '/cameras/cam1/status', undefined, all(200)],
      ['GET', '/cameras/cam1/timeline', undefined, all(200)],
      ['GET', '/cameras/cam1/segments', undefined, all(200)],
      ['GET', `/segments/${s.id}`, undefined, all(200)],
      ['GET', '/cameras/cam1/gaps', undefined, all(200)],
      ['GET', '/events', undefined, ops(200)],
      ['GET', `/cameras/cam1/snapshot.jpg?at=${iso(s.start_ms + 500)}`, undefined, ops(200)],
      ['GET', `/cameras/cam1/clip.mp4?${range}`, undefined, ops(200)],
      ['POST', '/cameras/cam1/evidence-lock', rangeBody, ops(200)],
      ['DELETE', '/cameras/cam1/evidence-lock', rangeBody, ops(200)],
      ['GET', '/incidents', undefined, ops(200)],
      ['POST', '/cameras', { id: 'cam9', main_url: 'rtsp://127.0.0.1:1/x', enabled: false }, admin(201)],
      ['PATCH', '/cameras/cam9', { name: 'Nine' }, admin(200)],
      ['DELETE', '/cameras/cam9', undefined, admin(204)],
      ['GET', '/users', undefined, admin(200)],
      ['GET', '/api-keys', undefined, admin(200)],
      ['GET', '/audit', undefined, admin(200)],
    ];
    for (const [method, path, body, expected] of matrix) {
      expect((await call(null, method, path, body === undefined ? {} : { body })).status, `${method} ${path} anonymous`).toBe(401);
      for (const role of ['viewer', 'operator', 'admin'] as const) {
        const r = await call(keys[role], method, path, body === undefined ? {} : { body });
        expect(r.status, `${method} ${path} as ${role}: ${r.text.slice(0, 200)}`).toBe(expected[role]);
        if (expected[role] === 403) expect(JSON.parse(r.text)).toMatchObject({ error: 'forbidden' });
        // The camera created by the admin must be gone before the next role tries.
        if (role === 'admin' && method === 'POST' && path === '/cameras') {
          /* created: PATCH and DELETE rows follow */
        }
      }
    }
    // Public routes need no identity.
    expect((await call(null, 'GET', '/healthz')).status).toBe(200);
  });

  it('writes exactly one audit row per footage access and state change, with the request id, and no secret anywhere', async () => {
    const s = segs.cam1[2] as { start_ms: number; end_ms: number; id: number };
    const requests: Array<[string, string, Json | undefined]> = [
      ['GET', `/cameras/cam1/clip.mp4?from=${iso(s.start_ms)}&to=${iso(s.end_ms)}`, undefined],
      ['GET', `/cameras/cam1/snapshot.jpg?at=${iso(s.start_ms + 200)}`, undefined],
      ['POST', `/segments/${s.id}/evidence-lock`, { incident_id: 'audit-case' }],
      ['DELETE', `/segments/${s.id}/evidence-lock`, {}],
      ['POST', '/cameras', { id: 'audited', main_url: `rtsp://user:${CAMERA_PASSWORD}@127.0.0.1:1/x`, enabled: false }],
      ['DELETE', '/cameras/audited', undefined],
      ['POST', '/users', { username: 'auditee', password: 'auditee-Secret-1', role: 'viewer' }],
    ];
    const ids: string[] = [];
    for (const [i, [method, path, body]] of requests.entries()) {
      const requestId = `audit-${i}-${Date.now()}`;
      ids.push(requestId);
      const r = await call(keys.admin, method, path, { requestId, ...(body === undefined ? {} : { body }) });
      expect(r.status, `${method} ${path}: ${r.text.slice(0, 200)}`).toBeLessThan(300);
    }
    const audit = querySql(vigil.dataDir, 'SELECT * FROM audit_log') as Array<Record<string, unknown>>;
    for (const [i, id] of ids.entries()) {
      const rows = audit.filter((a) => a.request_id === id);
      expect(rows.length, `${requests[i]?.[0]} ${requests[i]?.[1]}`).toBe(1);
      expect(rows[0]).toMatchObject({ actor_kind: 'api_key', outcome: 'success', client_addr: expect.any(String) });
    }
    expect(audit.find((a) => a.request_id === ids[0])).toMatchObject({ action: 'footage.export', target: 'camera:cam1' });
    expect(audit.find((a) => a.request_id === ids[4])).toMatchObject({ action: 'camera.create', target: 'camera:audited' });
    // Reads that are not footage are not audited.
    const before = audit.length;
    await call(keys.admin, 'GET', '/cameras');
    expect((querySql(vigil.dataDir, 'SELECT count(*) AS n FROM audit_log') as Array<{ n: number }>)[0]?.n).toBe(before);
    // The audit API shows them to admins, newest first, filterable by request id.
    const q = JSON.parse((await call(keys.admin, 'GET', `/audit?request_id=${ids[1]}`)).text) as { entries: Array<{ action: string }> };
    expect(q.entries.map((e) => e.action)).toEqual(['footage.snapshot']);

    const secrets = [CAMERA_PASSWORD, 'auditee-Secret-1', vigil.admin.password, keys.admin, keys.scoped, keys.operator];
    const dumps = [
      JSON.stringify(querySql(vigil.dataDir, 'SELECT * FROM audit_log')),
      JSON.stringify(readCatalog(vigil.dataDir).events),
      vigil.logs(),
    ];
    for (const dump of dumps) for (const secret of secrets) expect(dump).not.toContain(secret);
  });
});
