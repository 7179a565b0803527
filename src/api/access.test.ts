import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import cookie from '@fastify/cookie';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../test/support/harness.js';
import { AuditLog } from '../auth/audit.js';
import { AuthService } from '../auth/auth.service.js';
import { buildConfig } from '../config/config.js';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type OpenedDb } from '../db/connection.js';
import { indexSegment } from '../db/segment.repo.js';
import { conflict } from '../shared/errors.js';
import { canSee, installAccessControl, scopedCameraIds, SESSION_COOKIE } from './access.js';
import { registerErrorHandler } from './error-handler.js';
import { requestIdFor } from './request-id.js';

let dir: string;
let opened: OpenedDb;
let auth: AuthService;
let audit: AuditLog;
let app: FastifyInstance;
const key: Record<'admin' | 'viewer' | 'scoped', string> = { admin: '', viewer: '', scoped: '' };
let sessionCookie = '';
let cam2Segment = 0;
const NOW = Date.parse('2026-11-25T10:00:00Z');
const clock = { nowMs: () => NOW };

/** A bare Fastify with the real access control over a real catalog, and one route per access shape. */
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-access-'));
  opened = await openDatabase(join(dir, 'vigil.db'));
  const db = opened.db;
  const cfg = buildConfig({}, { source: null, cwd: dir, env: {}, overrides: { dataDir: dir } });
  auth = new AuthService({ db, clock, config: cfg.auth });
  audit = new AuditLog({ db, clock });
  for (const id of ['cam1', 'cam2']) {
    await upsertDeclaredCamera(db, { id, name: id, mainUrl: `rtsp://127.0.0.1:9/${id}`, subUrl: null, segmentSeconds: 2, retentionHours: null, storageQuotaBytes: null, enabled: true }, 'config', NOW);
  }
  const seg = await indexSegment(db, { cameraId: 'cam2', path: 'recordings/cam2/a.mp4', startMs: NOW - 4000, endMs: NOW - 2000, sizeBytes: 1, codec: null, width: null, height: null, source: 'live', fps: null }, NOW);
  cam2Segment = seg.segment?.id ?? 0;
  key.admin = (await auth.createKey({ name: 'admin', role: 'admin' }, null)).key;
  key.viewer = (await auth.createKey({ name: 'viewer', role: 'viewer' }, null)).key;
  key.scoped = (await auth.createKey({ name: 'scoped', role: 'admin', cameras: ['cam1'] }, null)).key;
  await auth.createUser({ username: 'alice', password: 'alice-password-1', role: 'admin' });
  sessionCookie = `${SESSION_COOKIE}=${(await auth.login('alice', 'alice-password-1', null)).token}`;

  app = Fastify({ loggerInstance: memoryLogger().log as FastifyBaseLogger, genReqId: requestIdFor });
  registerErrorHandler(app);
  await app.register(cookie);
  installAccessControl(app, { auth, audit, db });
  app.get('/api/v1/open', { config: { access: { cap: 'public' } } }, async (req) => ({ principal: req.principal?.name ?? null }));
  app.get('/api/v1/me', { config: { access: { cap: 'authenticated' } } }, async (req) => ({
    name: req.principal?.name,
    via: req.authVia,
    sees: { cam1: canSee(req, 'cam1'), cam2: canSee(req, 'cam2') },
    ids: scopedCameraIds(req) ?? 'all',
  }));
  app.get('/api/v1/events', { config: { access: { cap: 'events.view' } } }, async () => ({ ok: true }));
  app.get('/api/v1/everything', { config: { access: { cap: 'cameras.view', scope: 'all-cameras' } } }, async () => ({ ok: true }));
  app.post('/api/v1/cameras/:id/thing', { config: { access: { cap: 'cameras.manage', scope: 'camera' }, audit: 'camera.thing' } }, async () => ({ ok: true }));
  // A route that takes a body declares its schema (a route without one refuses any body).
  app.post('/api/v1/cameras/:id/form', { schema: { body: { type: 'object' } }, config: { access: { cap: 'cameras.manage', scope: 'camera' }, audit: 'camera.thing' } }, async () => ({ ok: true }));
  app.post('/api/v1/cameras/:id/clash', { config: { access: { cap: 'cameras.manage', scope: 'camera' }, audit: 'camera.clash' } }, async () => {
    throw conflict('already so', 'id');
  });
  app.get('/api/v1/segments/:id', { config: { access: { cap: 'playback', scope: 'segment' } } }, async (req) => ({ id: Number((req.params as { id: string }).id) }));
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await opened.close();
  await rm(dir, { recursive: true, force: true });
});

const bearer = (k: string) => ({ authorization: `Bearer ${k}` });
const auditRows = () => audit.query({ limit: 1000 });

describe('access control (api/access.ts)', () => {
  it('refuses at start-up an API route that declares no access, or a state change with no audit action', async () => {
    const bare = Fastify();
    installAccessControl(bare, { auth, audit, db: opened.db });
    expect(() => bare.get('/api/v1/forgot', async () => 'x')).toThrow(/declares no access/);
    expect(() => bare.post('/api/v1/unaudited', { config: { access: { cap: 'cameras.manage' } } }, async () => 'x')).toThrow(/declares no audit action/);
    // Outside the API (the web page) nothing is declared.
    expect(() => bare.get('/index.html', async () => 'x')).not.toThrow();
    await bare.close();
  });

  it('lets anyone reach a public route, and still knows who called', async () => {
    expect((await app.inject({ url: '/api/v1/open' })).json()).toEqual({ principal: null });
    expect((await app.inject({ url: '/api/v1/open', headers: bearer(key.viewer) })).json()).toEqual({ principal: 'viewer' });
  });

  it('authenticates by API key (Bearer, any case, trailing space) or session cookie; a bad Authorization header never falls back to the cookie', async () => {
    expect((await app.inject({ url: '/api/v1/me', headers: { authorization: `bearer ${key.admin}  ` } })).json()).toMatchObject({ name: 'admin', via: 'key' });
    expect((await app.inject({ url: '/api/v1/me', headers: { cookie: sessionCookie } })).json()).toMatchObject({ name: 'alice', via: 'cookie' });
    for (const authorization of ['Basic YWxpY2U6eA==', 'Bearer', 'Bearer a b', `Bearer ${key.admin}x`]) {
      const res = await app.inject({ url: '/api/v1/me', headers: { authorization, cookie: sessionCookie } });
      expect(res.statusCode, authorization).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="vigil"');
      expect(res.json()).toMatchObject({ error: 'unauthenticated' });
    }
  });

  it('refuses a missing capability with 403 naming it, and a partial camera scope on an every-camera route', async () => {
    const res = await app.inject({ url: '/api/v1/events', headers: bearer(key.viewer) });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual({ error: 'forbidden', message: 'not allowed: needs the "events.view" capability, which this API key (viewer) lacks' });
    expect((await app.inject({ url: '/api/v1/everything', headers: bearer(key.scoped) })).statusCode).toBe(403);
    expect((await app.inject({ url: '/api/v1/everything', headers: bearer(key.viewer) })).statusCode).toBe(200);
  });

  it('tells lists what a scoped caller sees', async () => {
    expect((await app.inject({ url: '/api/v1/me', headers: bearer(key.scoped) })).json()).toMatchObject({ sees: { cam1: true, cam2: false }, ids: ['cam1'] });
    expect((await app.inject({ url: '/api/v1/me', headers: bearer(key.admin) })).json()).toMatchObject({ sees: { cam1: true, cam2: true }, ids: 'all' });
  });

  it('hides an out-of-scope camera or segment behind the 404 of a missing one', async () => {
    const hidden = await app.inject({ method: 'POST', url: '/api/v1/cameras/cam2/thing', headers: bearer(key.scoped) });
    expect(hidden.statusCode).toBe(404);
    expect(hidden.json()).toEqual({ error: 'not_found', message: 'camera "cam2" not found', field: 'id' });
    const seg = await app.inject({ url: `/api/v1/segments/${cam2Segment}`, headers: bearer(key.scoped) });
    expect(seg.statusCode).toBe(404);
    expect(seg.json()).toEqual({ error: 'not_found', message: `segment ${cam2Segment} not found`, field: 'id' });
    // A segment that does not exist is the handler's to answer; one in scope passes.
    expect((await app.inject({ url: '/api/v1/segments/999999', headers: bearer(key.scoped) })).json()).toEqual({ id: 999999 });
    expect((await app.inject({ url: `/api/v1/segments/${cam2Segment}`, headers: bearer(key.admin) })).json()).toEqual({ id: cam2Segment });
  });

  it('requires a cookie-authenticated change to come from our own origin; an API key needs no Origin', async () => {
    const post = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/api/v1/cameras/cam1/thing', headers });
    expect((await post({ cookie: sessionCookie })).statusCode).toBe(403);
    expect((await post({ cookie: sessionCookie, origin: 'http://evil.example' })).statusCode).toBe(403);
    expect((await post({ cookie: sessionCookie, origin: 'http://localhost:80', 'sec-fetch-site': 'cross-site' })).statusCode).toBe(403);
    expect((await post({ cookie: sessionCookie, origin: 'http://localhost:80' })).statusCode).toBe(200);
    expect((await post(bearer(key.admin))).statusCode).toBe(200);
    expect((await app.inject({ url: '/api/v1/me', headers: { cookie: sessionCookie, origin: 'http://evil.example' } })).statusCode).toBe(200);
  });

  it('writes one audit row per audited request: who, target, request id, status, outcome, and only the detail fields that are safe', async () => {
    const before = (await auditRows()).length;
    const send = (url: string, headers: Record<string, string>, body?: unknown) =>
      app.inject({ method: 'POST', url, headers: { 'x-request-id': `r-${url.split('/').at(-2)}-${Object.keys(headers).join('')}`, ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
    await send('/api/v1/cameras/cam1/form', bearer(key.admin), { main_url: 'rtsp://u:secret-pw@h/x', from: '2026-11-25T09:00:00Z', incident_id: 'case-1' });
    await send('/api/v1/cameras/cam1/thing', bearer(key.viewer));
    await send('/api/v1/cameras/cam1/clash', bearer(key.admin));
    await send('/api/v1/cameras/cam2/thing', bearer(key.scoped));
    // No identity at all: nobody to write a row about.
    await send('/api/v1/cameras/cam1/thing', {});
    const rows = (await auditRows()).slice(0, (await auditRows()).length - before).reverse();
    expect(rows.map((r) => [r.action, r.actor_name, r.target, r.status_code, r.outcome])).toEqual([
      ['camera.thing', 'admin', 'camera:cam1', 200, 'success'],
      ['camera.thing', 'viewer', 'camera:cam1', 403, 'denied'],
      ['camera.clash', 'admin', 'camera:cam1', 409, 'failure'],
      ['camera.thing', 'scoped', 'camera:cam2', 404, 'denied'],
    ]);
    expect(rows[0]?.request_id).toBe('r-cam1-authorization');
    expect(rows[0]?.client_addr).toBe('127.0.0.1');
    expect(JSON.parse(rows[0]?.detail ?? 'null')).toEqual({ from: '2026-11-25T09:00:00Z', incident_id: 'case-1', fields: ['from', 'incident_id', 'main_url'] });
    expect(JSON.stringify(rows)).not.toContain('secret-pw');
    // Reads that are not audited leave no row.
    const n = (await auditRows()).length;
    await app.inject({ url: '/api/v1/me', headers: bearer(key.admin) });
    expect((await auditRows()).length).toBe(n);
  });
});
