import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
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

async function login(username: string, password: string) {
  return fetch(`${vigil.app.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
}

function cookieOf(res: Response): string {
  return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

/** Headers that may differ between two answers of the same shape. */
const VARYING = new Set(['x-request-id', 'date']);
function sameHeaders(a: Headers, b: Headers): void {
  const pick = (h: Headers) => [...h.entries()].filter(([k]) => !VARYING.has(k)).sort();
  expect(pick(a)).toEqual(pick(b));
}

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

  it('answers out of scope exactly like missing: same status, body (but for the id) and headers', async () => {
    const cam2Seg = segs.cam2[0] as { id: number; start_ms: number };
    const at = iso(cam2Seg.start_ms + 500);
    const pairs: Array<[string, string, string, Json | undefined]> = [
      ['GET', '/cameras/cam2', '/cameras/camx', undefined],
      ['GET', '/cameras/cam2/status', '/cameras/camx/status', undefined],
      ['GET', '/cameras/cam2/segments', '/cameras/camx/segments', undefined],
      ['GET', '/cameras/cam2/timeline', '/cameras/camx/timeline', undefined],
      ['GET', '/cameras/cam2/gaps', '/cameras/camx/gaps', undefined],
      ['GET', `/cameras/cam2/snapshot.jpg?at=${at}`, `/cameras/camx/snapshot.jpg?at=${at}`, undefined],
      ['GET', `/cameras/cam2/clip.mp4?from=${at}&to=${iso(cam2Seg.start_ms + 1500)}`, `/cameras/camx/clip.mp4?from=${at}&to=${iso(cam2Seg.start_ms + 1500)}`, undefined],
      ['POST', '/cameras/cam2/evidence-lock', '/cameras/camx/evidence-lock', { from: at, to: iso(cam2Seg.start_ms + 1500) }],
      ['POST', '/cameras/cam2/gaps/1/refill', '/cameras/camx/gaps/1/refill', undefined],
    ];
    for (const [method, hidden, missing, body] of pairs) {
      const a = await call(keys.scoped, method, hidden, body === undefined ? {} : { body });
      const b = await call(keys.scoped, method, missing, body === undefined ? {} : { body });
      expect(a.status, hidden).toBe(404);
      expect(b.status, missing).toBe(404);
      expect(a.text.replaceAll('cam2', 'camx'), hidden).toBe(b.text);
      sameHeaders(a.headers, b.headers);
    }
    // A segment of another camera: the same 404 as a segment id that does not exist (same digit count).
    const rows = readCatalog(vigil.dataDir).segments;
    const digits = String(cam2Seg.id).length;
    const missingId = [...Array(10 ** digits).keys()].reverse().find((n) => String(n).length === digits && !rows.some((r) => r.id === n));
    expect(missingId).toBeDefined();
    for (const [method, suffix, body] of [['GET', '', undefined], ['POST', '/evidence-lock', {}]] as const) {
      const a = await call(keys.scoped, method, `/segments/${cam2Seg.id}${suffix}`, body === undefined ? {} : { body });
      const b = await call(keys.scoped, method, `/segments/${missingId}${suffix}`, body === undefined ? {} : { body });
      expect(a.status).toBe(404);
      expect(a.text.replace(String(cam2Seg.id), String(missingId))).toBe(b.text);
      sameHeaders(a.headers, b.headers);
    }
    // Nothing was changed through the hidden camera.
    expect(readCatalog(vigil.dataDir).segments.filter((s) => s.camera_id === 'cam2' && s.evidence_locked)).toEqual([]);
  });

  it('lets a scoped key list only its cameras, events and incidents', async () => {
    const cams = JSON.parse((await call(keys.scoped, 'GET', '/cameras')).text) as { cameras: Array<{ id: string }> };
    expect(cams.cameras.map((c) => c.id)).toEqual(['cam1']);
    const events = JSON.parse((await call(keys.scoped, 'GET', '/events?limit=1000')).text) as { events: Array<{ camera_id: string | null }> };
    expect(events.events.length).toBeGreaterThan(0);
    expect(events.events.every((e) => e.camera_id === 'cam1')).toBe(true);
    // An incident that only cam2 holds is invisible, and its segments answer like an unknown incident.
    const tag = await call(keys.admin, 'PATCH', `/segments/${(segs.cam2[0] as { id: number }).id}/incident`, { body: { incident_id: 'case-22' } });
    expect(tag.status).toBe(200);
    const incidents = JSON.parse((await call(keys.scoped, 'GET', '/incidents')).text) as { incidents: Array<{ id: string }> };
    expect(incidents.incidents.map((i) => i.id)).not.toContain('case-22');
    const hidden = await call(keys.scoped, 'GET', '/incidents/case-22/segments');
    const missing = await call(keys.scoped, 'GET', '/incidents/case-99/segments');
    expect(hidden.status).toBe(404);
    expect(hidden.text.replace('case-22', 'case-99')).toBe(missing.text);
    const adminView = JSON.parse((await call(keys.admin, 'GET', '/incidents')).text) as { incidents: Array<{ id: string }> };
    expect(adminView.incidents.map((i) => i.id)).toContain('case-22');
  });

  it('rejects a revoked key at once, and an expired key as soon as it expires', async () => {
    const key = await createKey({ name: 'short', role: 'viewer' });
    expect((await call(key, 'GET', '/cameras')).status).toBe(200);
    const list = JSON.parse((await call(keys.admin, 'GET', '/api-keys')).text) as { api_keys: Array<{ id: number; name: string; prefix: string }> };
    const row = list.api_keys.find((k) => k.name === 'short');
    expect(row && key.startsWith(row.prefix)).toBe(true);
    expect(JSON.stringify(list)).not.toContain(key);
    expect((await call(keys.admin, 'DELETE', `/api-keys/${row?.id}`)).status).toBe(200);
    expect((await call(key, 'GET', '/cameras')).status).toBe(401);

    const expiring = await createKey({ name: 'expiring', role: 'viewer', expires_at: iso(Date.now() + 1500) });
    expect((await call(expiring, 'GET', '/cameras')).status).toBe(200);
    await waitFor('the key to expire', async () => (await call(expiring, 'GET', '/cameras')).status === 401, 10_000, 200);
  });

  it('keeps a capability subset: a key without export cannot export though its role could', async () => {
    const key = await createKey({ name: 'snap-only', role: 'operator', capabilities: ['cameras.view', 'snapshot'] });
    const s = segs.cam1[0] as { start_ms: number; end_ms: number };
    expect((await call(key, 'GET', `/cameras/cam1/clip.mp4?from=${iso(s.start_ms)}&to=${iso(s.end_ms)}`)).status).toBe(403);
    expect((await call(key, 'GET', '/cameras')).status).toBe(200);
    const bad = await call(keys.admin, 'POST', '/api-keys', { body: { name: 'x', role: 'viewer', capabilities: ['export'] } });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toMatchObject({ field: 'capabilities[0]' });
  });

  it('signs in with a session cookie that the database only holds hashed; logout ends it everywhere', async () => {
    const res = await login(vigil.admin.username, vigil.admin.password);
    expect(res.status).toBe(200);
    const setCookie = res.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    const cookie = cookieOf(res);
    const token = cookie.split('=')[1] ?? '';
    expect(token.length).toBeGreaterThan(30);
    const me = await fetch(`${vigil.app.url}/api/v1/auth/me`, { headers: { cookie } });
    expect(await me.json()).toMatchObject({ kind: 'user', user: { username: 'admin', role: 'admin', cameras: 'all' } });
    // The token is nowhere in the database files; its SHA-256 is.
    const db = Buffer.concat([await readFile(join(vigil.dataDir, 'vigil.db')), await readFile(join(vigil.dataDir, 'vigil.db-wal')).catch(() => Buffer.alloc(0))]);
    expect(db.includes(Buffer.from(token))).toBe(false);
    const sessions = querySql(vigil.dataDir, 'SELECT token_sha256 FROM sessions') as Array<{ token_sha256: string }>;
    expect(sessions.map((s) => s.token_sha256)).toContain(createHash('sha256').update(token).digest('hex'));
    const out = await fetch(`${vigil.app.url}/api/v1/auth/logout`, { method: 'POST', headers: { cookie, origin: vigil.app.url } });
    expect(out.status).toBe(204);
    expect((await fetch(`${vigil.app.url}/api/v1/auth/me`, { headers: { cookie } })).status).toBe(401);
  });

  it('refuses a cookie-authenticated change from another origin (or none), accepts it from ours', async () => {
    const cookie = cookieOf(await login(vigil.admin.username, vigil.admin.password));
    const s = segs.cam1[0] as { id: number };
    const path = `${vigil.app.url}/api/v1/segments/${s.id}/incident`;
    const patch = (headers: Record<string, string>) =>
      fetch(path, { method: 'PATCH', headers: { cookie, 'content-type': 'application/json', ...headers }, body: JSON.stringify({ incident_id: 'csrf' }) });
    expect((await patch({})).status).toBe(403);
    expect((await patch({ origin: 'http://evil.example' })).status).toBe(403);
    expect(readCatalog(vigil.dataDir).segments.find((r) => r.id === s.id)?.incident_id).not.toBe('csrf');
    expect((await patch({ origin: vigil.app.url })).status).toBe(200);
    // Reads need no Origin.
    expect((await fetch(`${vigil.app.url}/api/v1/cameras`, { headers: { cookie } })).status).toBe(200);
  });

  it('locks a username after 5 failed sign-ins, known or not, with the same answers for both', async () => {
    await call(keys.admin, 'POST', '/users', { body: { username: 'lock-me', password: 'lock-me-password', role: 'viewer' } });
    const answers = async (username: string) => {
      const out: Array<{ status: number; body: string }> = [];
      for (let i = 0; i < 6; i++) {
        const r = await login(username, 'wrong-password!');
        out.push({ status: r.status, body: (await r.text()).replace(username, 'NAME') });
      }
      return out;
    };
    const known = await answers('lock-me');
    const unknown = await answers('nobody-here');
    expect(known.map((a) => a.status)).toEqual([401, 401, 401, 401, 401, 429]);
    expect(unknown).toEqual(known);
    // Locked: even the right password is refused until the window ends (unit-tested with a clock).
    expect((await login('lock-me', 'lock-me-password')).status).toBe(429);
    const failures = querySql(vigil.dataDir, "SELECT outcome, actor_name FROM audit_log WHERE action = 'auth.login' AND actor_name = 'lock-me'") as Array<{ outcome: string }>;
    expect(failures.length).toBe(7);
    expect(failures.every((f) => f.outcome !== 'success')).toBe(true);
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

  it('keeps the audit trail append-only, even for a direct UPDATE', async () => {
    expect(() => querySql(vigil.dataDir, "UPDATE audit_log SET outcome = 'success'", { write: true })).toThrow(/append-only/);
    expect(() => querySql(vigil.dataDir, 'DELETE FROM audit_log', { write: true })).toThrow(/append-only/);
  });

  it('answers bad input on every new endpoint with a 400 naming the field, and changes nothing', async () => {
    const count = (table: string) => (querySql(vigil.dataDir, `SELECT count(*) AS n FROM ${table}`) as Array<{ n: number }>)[0]?.n;
    const users = count('users');
    const apiKeys = count('api_keys');
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/auth/login', { username: 'admin' }, 'password'],
      ['POST', '/auth/login', { username: 'admin', password: 'x', extra: 1 }, 'extra'],
      ['POST', '/users', { username: 'a b', password: 'long-enough-1', role: 'viewer' }, 'username'],
      ['POST', '/users', { username: 'short', password: 'short', role: 'viewer' }, 'password'],
      ['POST', '/users', { username: 'role', password: 'long-enough-1', role: 'root' }, 'role'],
      ['POST', '/users', { username: 'scope', password: 'long-enough-1', role: 'viewer', cameras: ['../etc'] }, 'cameras'],
      ['PATCH', '/users/1', {}, ''],
      ['PATCH', '/users/abc', { role: 'viewer' }, 'id'],
      ['POST', '/api-keys', { name: '', role: 'viewer' }, 'name'],
      ['POST', '/api-keys', { name: 'k', role: 'viewer', expires_at: 'tomorrow' }, 'expires_at'],
      ['POST', '/api-keys', { name: 'k', role: 'viewer', expires_at: iso(Date.now() - 60_000) }, 'expires_at'],
      ['POST', '/api-keys', { name: 'k', role: 'viewer', capabilities: ['fly'] }, 'capabilities'],
      ['GET', '/audit?outcome=maybe', undefined, 'outcome'],
      ['GET', '/audit?from=yesterday', undefined, 'from'],
      ['POST', '/auth/password', { current_password: 'x' }, 'new_password'],
    ];
    for (const [method, path, body, field] of cases) {
      const r = await call(keys.admin, method, path, body === undefined ? {} : { body });
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}: ${r.text}`).toBe(400);
      const parsed = JSON.parse(r.text) as { error: string; field?: string };
      expect(parsed.error).toBe('invalid_argument');
      if (field) expect(parsed.field ?? '', `${method} ${path}`).toContain(field);
    }
    expect(count('users')).toBe(users);
    expect(count('api_keys')).toBe(apiKeys);
  });

  it('never lets the last admin be demoted, disabled or deleted', async () => {
    const users = JSON.parse((await call(keys.admin, 'GET', '/users')).text) as { users: Array<{ id: number; username: string }> };
    const admin = users.users.find((u) => u.username === 'admin');
    expect((await call(keys.admin, 'PATCH', `/users/${admin?.id}`, { body: { role: 'viewer' } })).status).toBe(409);
    expect((await call(keys.admin, 'PATCH', `/users/${admin?.id}`, { body: { disabled: true } })).status).toBe(409);
    expect((await call(keys.admin, 'DELETE', `/users/${admin?.id}`)).status).toBe(409);
  });
});
