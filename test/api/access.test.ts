import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { querySql, readCatalog } from '../support/footage.js';
import { waitFor } from '../support/harness.js';
import { injectVigil, type InjectResponse, type InjectVigil } from '../support/http-inject.js';

// Moved from test/integration/access.test.ts: every case that needs no recorded footage (the role
// matrix and the audit-row test read real clips and snapshots, and stay there). Segment rows are
// written by the indexer's repository; no case here reads their files.

type Json = Record<string, unknown>;
const iso = (ms: number) => new Date(ms).toISOString();
const CAMERA_PASSWORD = 'cam-Pa55word-xyz';

let vigil: InjectVigil;
/** API keys per role (every camera), and one operator key scoped to cam1. */
const keys: Record<'viewer' | 'operator' | 'admin' | 'scoped', string> = { viewer: '', operator: '', admin: '', scoped: '' };
let segs: { cam1: { id: number; start_ms: number; end_ms: number }[]; cam2: { id: number; start_ms: number; end_ms: number }[] };

const call = (key: string | null, method: string, path: string, opts: { body?: unknown; requestId?: string; headers?: Record<string, string> } = {}) =>
  vigil.call(key, method, path, opts);
const createKey = (body: Json) => vigil.createKey(body);
const login = (username: string, password: string) => call(null, 'POST', '/auth/login', { body: { username, password } });

function cookieOf(res: InjectResponse): string {
  const set = res.headers['set-cookie'];
  return (String(Array.isArray(set) ? set[0] : set ?? '')).split(';')[0] ?? '';
}

/** Headers that may differ between two answers of the same shape. */
const VARYING = new Set(['x-request-id', 'date']);
function sameHeaders(a: InjectResponse['headers'], b: InjectResponse['headers']): void {
  const pick = (h: InjectResponse['headers']) => Object.entries(h).filter(([k]) => !VARYING.has(k)).sort();
  expect(pick(a)).toEqual(pick(b));
}

describe('access control', () => {
  beforeAll(async () => {
    vigil = await injectVigil({
      cameras: [
        { id: 'cam1', main_url: 'rtsp://127.0.0.1:9/cam1', segment_seconds: 2 },
        { id: 'cam2', main_url: `rtsp://u:${CAMERA_PASSWORD}@127.0.0.1:9/cam2`, segment_seconds: 2 },
      ],
    });
    keys.admin = vigil.adminKey;
    keys.viewer = await createKey({ name: 'viewer', role: 'viewer' });
    keys.operator = await createKey({ name: 'operator', role: 'operator' });
    keys.scoped = await createKey({ name: 'scoped', role: 'operator', cameras: ['cam1'] });
    // Both recorders report progress (their events carry their camera), and three 2 s segments each are indexed.
    for (const cam of ['cam1', 'cam2']) (await vigil.recorders.started(cam)).handlers.onProgress(1_000_000, 15, vigil.clock.nowMs());
    const t0 = vigil.clock.nowMs() - 60_000;
    for (const cam of ['cam1', 'cam2']) for (let i = 0; i < 3; i++) await vigil.addSegment(cam, t0 + i * 2000, t0 + (i + 1) * 2000);
    await waitFor('recording_started of both cameras', () => readCatalog(vigil.dataDir).events.filter((e) => e.type === 'recording_started').length === 2, 5_000, 10);
    const rows = readCatalog(vigil.dataDir).segments;
    segs = { cam1: rows.filter((s) => s.camera_id === 'cam1'), cam2: rows.filter((s) => s.camera_id === 'cam2') };
  });

  afterAll(async () => {
    await vigil?.close();
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

    // The clock is moved instead of waited for: the last millisecond before expiry still works, the expiry itself not.
    const expiring = await createKey({ name: 'expiring', role: 'viewer', expires_at: iso(vigil.clock.nowMs() + 1500) });
    expect((await call(expiring, 'GET', '/cameras')).status).toBe(200);
    vigil.clock.advance(1499);
    expect((await call(expiring, 'GET', '/cameras')).status).toBe(200);
    vigil.clock.advance(1);
    expect((await call(expiring, 'GET', '/cameras')).status).toBe(401);
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
    const setCookie = String(res.headers['set-cookie'] ?? '');
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    const cookie = cookieOf(res);
    const token = cookie.split('=')[1] ?? '';
    expect(token.length).toBeGreaterThan(30);
    const me = await call(null, 'GET', '/auth/me', { headers: { cookie } });
    expect(me.json).toMatchObject({ kind: 'user', user: { username: 'admin', role: 'admin', cameras: 'all' } });
    // The token is nowhere in the database files; its SHA-256 is.
    const db = Buffer.concat([await readFile(join(vigil.dataDir, 'vigil.db')), await readFile(join(vigil.dataDir, 'vigil.db-wal')).catch(() => Buffer.alloc(0))]);
    expect(db.includes(Buffer.from(token))).toBe(false);
    const sessions = querySql(vigil.dataDir, 'SELECT token_sha256 FROM sessions') as Array<{ token_sha256: string }>;
    expect(sessions.map((s) => s.token_sha256)).toContain(createHash('sha256').update(token).digest('hex'));
    const out = await call(null, 'POST', '/auth/logout', { headers: { cookie, origin: vigil.origin } });
    expect(out.status).toBe(204);
    expect((await call(null, 'GET', '/auth/me', { headers: { cookie } })).status).toBe(401);
  });

  it('refuses a cookie-authenticated change from another origin (or none), accepts it from ours', async () => {
    const cookie = cookieOf(await login(vigil.admin.username, vigil.admin.password));
    const s = segs.cam1[0] as { id: number };
    const path = `/segments/${s.id}/incident`;
    const patch = (headers: Record<string, string>) => call(null, 'PATCH', path, { headers: { cookie, ...headers }, body: { incident_id: 'csrf' } });
    expect((await patch({})).status).toBe(403);
    expect((await patch({ origin: 'http://evil.example' })).status).toBe(403);
    expect(readCatalog(vigil.dataDir).segments.find((r) => r.id === s.id)?.incident_id).not.toBe('csrf');
    expect((await patch({ origin: vigil.origin })).status).toBe(200);
    // Reads need no Origin.
    expect((await call(null, 'GET', '/cameras', { headers: { cookie } })).status).toBe(200);
  });

  it('locks a username after 5 failed sign-ins, known or not, with the same answers for both', async () => {
    await call(keys.admin, 'POST', '/users', { body: { username: 'lock-me', password: 'lock-me-password', role: 'viewer' } });
    const answers = async (username: string) => {
      const out: Array<{ status: number; body: string }> = [];
      for (let i = 0; i < 6; i++) {
        const r = await login(username, 'wrong-password!');
        out.push({ status: r.status, body: r.text.replace(username, 'NAME') });
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
      ['POST', '/api-keys', { name: 'k', role: 'viewer', expires_at: iso(vigil.clock.nowMs() - 60_000) }, 'expires_at'],
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

  // Added with the move.
  it('refuses every non-public route without an identity (401, WWW-Authenticate), and changes nothing', async () => {
    const doc = (await call(null, 'GET', '/api/docs/json')).json as { paths: Record<string, Record<string, unknown>> };
    // GET /site: the site's time zone, which the login page shows too (src/api/routes/site.routes.ts).
    const PUBLIC = new Set(['GET /api/v1/healthz', 'GET /api/v1/readyz', 'POST /api/v1/auth/login', 'GET /api/v1/site']);
    // Between cluster nodes: answered only to a request signed with the cluster's key, 404 to anyone else
    // (and always on a single Vigil): they say nothing, not even that they need an identity.
    const NODE_ONLY = new Set(['GET /api/v1/cluster/segments/{id}/file', 'GET /api/v1/cluster/segments/{id}/head']);
    for (const route of NODE_ONLY) {
      const [m, p] = route.split(' ') as [string, string];
      const r = await call(null, m, p.replace('{id}', String(segs.cam1[0]?.id)));
      expect(r.status, route).toBe(404);
      expect((await call(keys.admin, m, p.replace('{id}', String(segs.cam1[0]?.id)))).status, `${route} with an admin key`).toBe(404);
    }
    const before = readCatalog(vigil.dataDir);
    const audited = querySql(vigil.dataDir, 'SELECT count(*) AS n FROM audit_log');
    let checked = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const method of Object.keys(methods).map((m) => m.toUpperCase())) {
        if (PUBLIC.has(`${method} ${path}`) || NODE_ONLY.has(`${method} ${path}`) || method === 'HEAD') continue;
        const url = path.replace('{id}', path.startsWith('/api/v1/users') || path.startsWith('/api/v1/api-keys') ? '1' : path.startsWith('/api/v1/segments') ? String(segs.cam1[0]?.id) : 'cam1').replace('{gapId}', '1');
        const body = ['POST', 'PATCH', 'DELETE', 'PUT'].includes(method) ? { bogus: true } : undefined;
        const r = await call(null, method, url, body === undefined ? {} : { body });
        expect(r.status, `${method} ${url}`).toBe(401);
        expect(r.json, `${method} ${url}`).toMatchObject({ error: 'unauthenticated' });
        expect(r.headers['www-authenticate'], `${method} ${url}`).toBe('Bearer realm="vigil"');
        // A malformed or unknown credential is no identity either.
        expect((await call('vgl_not-a-key', method, url, body === undefined ? {} : { body })).status, `${method} ${url} bad key`).toBe(401);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(30);
    expect(readCatalog(vigil.dataDir)).toEqual(before);
    expect(querySql(vigil.dataDir, 'SELECT count(*) AS n FROM audit_log')).toEqual(audited);
  });

  it('refuses a cookie-authenticated live upgrade from another origin', async () => {
    const cookie = cookieOf(await login(vigil.admin.username, vigil.admin.password));
    const upgrade = { cookie, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
    const r = await call(null, 'GET', '/cameras/cam1/live', { headers: { ...upgrade, origin: 'http://evil.example' } });
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ error: 'forbidden' });
    expect(vigil.app.live.stats('cam1').viewers).toBe(0);
  });

  it('gives a scoped key its cameras only, on writes too: it cannot create cameras or manage users', async () => {
    expect((await call(keys.scoped, 'POST', '/cameras', { body: { id: 'cam7', main_url: 'rtsp://127.0.0.1:1/x', enabled: false } })).status).toBe(403);
    const admin = await createKey({ name: 'scoped-admin', role: 'admin', cameras: ['cam1'] });
    expect((await call(admin, 'GET', '/users')).status).toBe(403);
    expect((await call(admin, 'GET', '/audit')).status).toBe(403);
    expect((await call(admin, 'POST', '/api-keys', { body: { name: 'wider', role: 'admin' } })).status).toBe(403);
    expect((await call(admin, 'GET', '/cameras/cam1')).status).toBe(200);
    expect((await call(admin, 'GET', '/cameras/cam2')).status).toBe(404);
    expect(readCatalog(vigil.dataDir).status.map((s) => s.camera_id).sort()).toEqual(['cam1', 'cam2']);
  });
});
