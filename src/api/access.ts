import type {} from '@fastify/cookie';
import { NODE_HEADER } from '../cluster/peer-auth.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../auth/audit.js';
import type { AuthService, Principal } from '../auth/auth.service.js';
import { inScope, type Capability } from '../auth/capabilities.js';
import { cameraExists } from '../db/camera.repo.js';
import type { Db } from '../db/connection.js';
import { getSegment } from '../db/evidence.repo.js';
import type { AuditOutcome } from '../db/schema.js';
import { notFound, VigilError } from '../shared/errors.js';

/**
 * What a route needs, declared next to it in its options (`config.access`):
 * - `cap`: the capability, or `public` (no identity) or `authenticated` (any identity);
 * - `scope`: how the route's `:id` maps to a camera the caller must have in scope — `camera` (it is a
 *   camera id), `segment` (a segment id), `all-cameras` (only callers scoped to every camera), `none`.
 *   Out of scope answers exactly the 404 of a missing camera or segment.
 */
export interface RouteAccess {
  cap: Capability | 'public' | 'authenticated';
  scope?: 'camera' | 'segment' | 'all-cameras' | 'none';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
    /** Audit action written for every answer of this route (e.g. `footage.export`). */
    audit?: string;
    /** Target prefix for the audit row's `target` (`<prefix>:<params.id>`); camera/segment scopes imply it. */
    auditTarget?: string;
  }
  interface FastifyRequest {
    /** The authenticated caller; null on public routes without credentials. */
    principal: Principal | null;
    /** Set by a handler when the audit row needs it: the name typed at a failed sign-in. */
    auditActorName: string | null;
    /** Set by a handler: what the audit row's `target` is (e.g. a created camera). */
    auditTarget: string | null;
    auditOutcome: AuditOutcome | null;
    /** Set by a handler: the audit action, when it depends on the request (default: the route's). */
    auditAction: string | null;
    /** Set by a handler: this request continues an access already audited (a later byte range of a file). */
    auditSkip: boolean;
    /** How the principal proved itself: the session cookie (CSRF-checked) or an API key. */
    authVia: 'cookie' | 'key' | 'node' | null;
  }
}

export const SESSION_COOKIE = 'vigil_session';
const PUBLIC: RouteAccess = { cap: 'public' };
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Query and body fields copied into audit details: times and tags, never URLs or secrets. */
const DETAIL_FIELDS = ['from', 'to', 'at', 'width', 'incident_id', 'reason', 'role', 'cameras', 'disabled', 'name', 'capabilities', 'expires_at', 'enabled', 'stream'];

export interface AccessDeps {
  auth: AuthService;
  audit: AuditLog;
  db: Db;
  /** In a cluster: the node a signed node request (`X-Vigil-Node`) comes from, undefined when it is not valid. */
  nodeAuth?: ((token: string | undefined, method: string, path: string) => Promise<string | undefined>) | undefined;
}

/**
 * Authentication, authorization and the audit trail, in one place for every route:
 * onRoute refuses at start-up any API route that declares no access (or a state change without an
 * audit action); onRequest authenticates (API key or session cookie), checks the capability and, for
 * cookies, that a state change comes from our own origin; preHandler checks the camera scope once the
 * params are validated; onSend writes the audit row, so it exists before the client sees the answer.
 */
export function installAccessControl(app: FastifyInstance, deps: AccessDeps): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('auditActorName', null);
  app.decorateRequest('auditTarget', null);
  app.decorateRequest('auditOutcome', null);
  app.decorateRequest('auditAction', null);
  app.decorateRequest('auditSkip', false);
  app.decorateRequest('authVia', null);

  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/v1/')) return;
    const config = (route.config ?? {}) as { access?: RouteAccess; audit?: string };
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!config.access) throw new Error(`route ${methods.join(',')} ${route.url} declares no access (config.access)`);
    if (methods.some((m) => !SAFE_METHODS.has(m)) && !config.audit) {
      throw new Error(`route ${methods.join(',')} ${route.url} changes state but declares no audit action (config.audit)`);
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    const access = accessOf(req);
    const principal = await authenticate(req);
    req.principal = principal ?? null;
    if (access.cap === 'public') return;
    if (!principal) {
      reply.header('www-authenticate', 'Bearer realm="vigil"');
      throw new VigilError('unauthenticated', 'sign in (POST /api/v1/auth/login) or send an API key (Authorization: Bearer vgl_…)');
    }
    if (req.authVia === 'cookie') checkSameOrigin(req);
    if (access.cap !== 'authenticated' && !principal.capabilities.has(access.cap)) {
      req.auditOutcome = 'denied';
      throw new VigilError('forbidden', `not allowed: needs the "${access.cap}" capability, which ${principal.kind === 'user' ? 'your role' : principal.kind === 'node' ? 'a relaying node' : 'this API key'} (${principal.role}) lacks`);
    }
    if (access.scope === 'all-cameras' && principal.cameras !== 'all') {
      req.auditOutcome = 'denied';
      throw new VigilError('forbidden', 'not allowed: your access is limited to some cameras');
    }
  });

  // A route that takes no body refuses one: nothing a client sends goes unvalidated into a handler or
  // the audit row (a deeply nested body once overflowed the stack while the row was written).
  app.addHook('preValidation', async (req) => {
    if (SAFE_METHODS.has(req.method) || !req.url.startsWith('/api/v1/') || req.routeOptions.schema?.body !== undefined) return;
    if (!isEmptyBody(req.body)) throw new VigilError('invalid_argument', `${req.method} ${req.routeOptions.url ?? ''} takes no request body`, { field: 'body' });
  });

  app.addHook('preHandler', async (req) => {
    const access = accessOf(req);
    const p = req.principal;
    if (!p || access.cap === 'public') return;
    const id = (req.params as { id?: unknown } | undefined)?.id;
    if (access.scope === 'camera' && typeof id === 'string') {
      // The lookup is made either way, so that out of scope and missing take the same time.
      await cameraExists(deps.db, id);
      if (!inScope(p.cameras, id)) {
        req.auditOutcome = 'denied';
        throw notFound(`camera "${id}" not found`, 'id');
      }
    } else if (access.scope === 'segment' && id !== undefined) {
      const seg = await getSegment(deps.db, Number(id));
      if (seg && !inScope(p.cameras, seg.cameraId)) {
        req.auditOutcome = 'denied';
        throw notFound(`segment ${String(id)} not found`, 'id');
      }
    }
  });

  app.addHook('onSend', async (req, reply, payload) => {
    await writeAudit(req, reply);
    return payload;
  });

  /** One row per request, even when a WebSocket route answers with an error after its upgrade row. */
  const auditWritten = new WeakSet<FastifyRequest>();

  async function writeAudit(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (req.auditSkip && reply.statusCode < 400) return;
    const action = req.auditAction ?? req.routeOptions.config?.audit;
    // Anonymous requests are audited when a sign-in names its user, or when they were throttled (429).
    if (!action || auditWritten.has(req) || (!req.principal && req.auditActorName === null && reply.statusCode !== 429)) return;
    auditWritten.add(req);
    const status = reply.statusCode;
    const outcome: AuditOutcome = req.auditOutcome ?? (status < 400 ? 'success' : status === 401 || status === 403 || status === 429 ? 'denied' : 'failure');
    try {
      await deps.audit.write({
        principal: req.principal,
        actorName: req.auditActorName,
        action,
        target: req.auditTarget ?? targetOf(req),
        requestId: req.id,
        clientAddr: req.ip,
        outcome,
        statusCode: status,
        detail: detailOf(req),
      });
    } catch (err) {
      req.log.error({ err, action }, 'audit row not written');
    }
  }

  /** A WebSocket upgrade never reaches onSend: its audit row is written once access is granted. */
  app.addHook('preHandler', async (req, reply) => {
    if ((req as FastifyRequest & { ws?: boolean }).ws) await writeAudit(req, reply);
  });

  async function authenticate(req: FastifyRequest): Promise<Principal | undefined> {
    // Another node of the cluster relaying a live viewer: a request signed for this very path.
    const nodeHeader = req.headers[NODE_HEADER];
    if (nodeHeader !== undefined) {
      const nodeId = deps.nodeAuth ? await deps.nodeAuth(Array.isArray(nodeHeader) ? nodeHeader[0] : nodeHeader, req.method, req.url.split('?')[0] ?? '') : undefined;
      if (!nodeId) return undefined;
      req.authVia = 'node';
      // The entry node wrote the viewer's audit row.
      req.auditSkip = true;
      return { kind: 'node', id: 0, name: `node:${nodeId}`, role: 'viewer', capabilities: new Set(['live']), cameras: 'all' };
    }
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      const p = m?.[1] ? await deps.auth.byApiKey(m[1]) : undefined;
      if (p) req.authVia = 'key';
      return p;
    }
    const token = req.cookies[SESSION_COOKIE];
    if (!token) return undefined;
    const p = await deps.auth.bySession(token);
    if (p) req.authVia = 'cookie';
    return p;
  }
}

function accessOf(req: FastifyRequest): RouteAccess {
  return req.routeOptions.config?.access ?? PUBLIC;
}

/**
 * Cookie-authenticated state changes (and WebSocket upgrades) must come from a page of this origin:
 * SameSite=Strict already keeps the cookie off cross-site requests; this is the second lock.
 */
function checkSameOrigin(req: FastifyRequest): void {
  const upgrade = req.headers.upgrade?.toLowerCase() === 'websocket';
  if (SAFE_METHODS.has(req.method) && !upgrade) return;
  const origin = req.headers.origin;
  const expected = `${req.protocol}://${req.host}`;
  if (origin !== expected || req.headers['sec-fetch-site'] === 'cross-site') {
    req.auditOutcome = 'denied';
    throw new VigilError('forbidden', `cross-site request refused: a signed-in change must come from ${expected} (Origin: ${origin ?? 'none'})`);
  }
}

function targetOf(req: FastifyRequest): string | null {
  const config = req.routeOptions.config;
  const params = (req.params ?? {}) as Record<string, unknown>;
  const prefix = config?.auditTarget ?? (config?.access?.scope === 'camera' ? 'camera' : config?.access?.scope === 'segment' ? 'segment' : undefined);
  if (!prefix || params.id === undefined) return null;
  return `${prefix}:${String(params.id)}`;
}

/** An audit row's detail is at most this long (as JSON); a longer one keeps only the field names. */
export const AUDIT_DETAIL_MAX_CHARS = 2048;

function detailOf(req: FastifyRequest): Record<string, unknown> | null {
  const out: Record<string, unknown> = {};
  const params = (req.params ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(params)) if (k !== 'id') out[k] = v;
  const query = (req.query ?? {}) as Record<string, unknown>;
  // Only a body the route's schema validated is read; any other body was refused before the handler.
  const validated = req.routeOptions.schema?.body !== undefined;
  const body = validated && req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? (req.body as Record<string, unknown>) : {};
  for (const k of DETAIL_FIELDS) {
    if (query[k] !== undefined) out[k] = query[k];
    if (body[k] !== undefined) out[k] = body[k];
  }
  const fields = Object.keys(body);
  if (fields.length > 0 && !SAFE_METHODS.has(req.method)) out.fields = fields.sort();
  if (Object.keys(out).length === 0) return null;
  // Redacted where it is stored (db/auth.repo.ts); capped here, before anything else holds it.
  return capDetail(out);
}

/** The detail itself when short enough, else which fields it had (so a row never grows without bound). */
export function capDetail(detail: Record<string, unknown>): Record<string, unknown> {
  let json: string;
  try {
    json = JSON.stringify(detail);
  } catch {
    json = '';
  }
  if (json !== '' && json.length <= AUDIT_DETAIL_MAX_CHARS) return detail;
  const names = Object.keys(detail).sort();
  return { truncated: true, detail_fields: names.slice(0, 64), original_chars: json.length };
}

function isEmptyBody(body: unknown): boolean {
  if (body === undefined || body === null || body === '') return true;
  return typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0;
}

/** Whether the caller may see this camera (lists filter with it). */
export function canSee(req: FastifyRequest, cameraId: string): boolean {
  return req.principal !== null && inScope(req.principal.cameras, cameraId);
}

/** The camera ids a scoped caller may see, for list queries; undefined when it sees every camera. */
export function scopedCameraIds(req: FastifyRequest): string[] | undefined {
  const scope = req.principal?.cameras;
  if (scope === undefined) return [];
  return scope === 'all' ? undefined : [...scope];
}
