import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AuthService, Principal } from '../../auth/auth.service.js';
import { keyCapabilities } from '../../auth/auth.service.js';
import { scopeFromJson, scopeOut } from '../../auth/capabilities.js';
import type { ApiKeyRow, UserRow } from '../../db/auth.repo.js';
import { toIso, toIsoOrNull } from '../../shared/time.js';
import { ErrorRef } from '../schemas/common.js';
import { ApiKeyCreate, ApiKeyCreated, ApiKeyOut, NumericIdParams, UserCreate, UserOut, UserPatch } from '../schemas/auth.schemas.js';
import { parseTime } from '../time-params.js';

export const userOut = (u: UserRow) => ({
  id: u.id,
  username: u.username,
  role: u.role,
  cameras: scopeOut(scopeFromJson(u.cameras)),
  disabled: u.disabled !== 0,
  created_at: toIso(u.created_at_ms),
  updated_at: toIso(u.updated_at_ms),
});

export const apiKeyOut = (k: ApiKeyRow) => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  role: k.role,
  capabilities: [...keyCapabilities(k)],
  cameras: scopeOut(scopeFromJson(k.cameras)),
  created_by: k.created_by,
  created_at: toIso(k.created_at_ms),
  expires_at: toIsoOrNull(k.expires_at_ms),
  revoked_at: toIsoOrNull(k.revoked_at_ms),
  last_used_at: toIsoOrNull(k.last_used_at_ms),
});

/** Users and API keys: admins scoped to every camera only (a scoped admin could otherwise widen its own scope). */
export const userRoutes: FastifyPluginAsyncTypebox<{ auth: AuthService }> = async (app, { auth }) => {
  const manage = { cap: 'users.manage', scope: 'all-cameras' } as const;

  app.get('/users', {
    config: { access: manage },
    schema: { tags: ['users'], summary: 'List users.', response: { 200: Type.Object({ users: Type.Array(UserOut) }), 401: ErrorRef, 403: ErrorRef } },
  }, async () => ({ users: (await auth.listUsers()).map(userOut) }));

  app.post('/users', {
    config: { access: manage, audit: 'user.create' },
    schema: { tags: ['users'], summary: 'Add a user.', body: UserCreate, response: { 201: UserOut, 400: ErrorRef, 401: ErrorRef, 403: ErrorRef, 409: ErrorRef } },
  }, async (req, reply) => {
    const u = await auth.createUser(req.body);
    req.auditTarget = `user:${u.id}`;
    return reply.code(201).header('location', `/api/v1/users/${u.id}`).send(userOut(u));
  });

  app.get('/users/:id', {
    config: { access: manage },
    schema: { tags: ['users'], summary: 'One user.', params: NumericIdParams, response: { 200: UserOut, 400: ErrorRef, 404: ErrorRef } },
  }, async (req) => userOut(await auth.getUser(req.params.id)));

  app.patch('/users/:id', {
    config: { access: manage, audit: 'user.update', auditTarget: 'user' },
    schema: {
      tags: ['users'],
      summary: 'Change a user\'s role, camera scope, password or disabled flag; a new password or disabling ends their sessions.',
      params: NumericIdParams,
      body: UserPatch,
      response: { 200: UserOut, 400: ErrorRef, 404: ErrorRef, 409: ErrorRef },
    },
  }, async (req) => {
    const self = req.principal as Principal;
    const keep = self.kind === 'user' && self.id === req.params.id ? self.sessionSha256 : undefined;
    return userOut(await auth.updateUser(req.params.id, req.body, keep));
  });

  app.delete('/users/:id', {
    config: { access: manage, audit: 'user.delete', auditTarget: 'user' },
    schema: { tags: ['users'], summary: 'Delete a user and end their sessions.', params: NumericIdParams, response: { 204: Type.Null(), 400: ErrorRef, 404: ErrorRef, 409: ErrorRef } },
  }, async (req, reply) => {
    await auth.deleteUser(req.params.id);
    return reply.code(204).send(null);
  });

  app.get('/api-keys', {
    config: { access: manage },
    schema: { tags: ['api-keys'], summary: 'List API keys (never the keys themselves).', response: { 200: Type.Object({ api_keys: Type.Array(ApiKeyOut) }) } },
  }, async () => ({ api_keys: (await auth.listKeys()).map(apiKeyOut) }));

  app.post('/api-keys', {
    config: { access: manage, audit: 'api_key.create' },
    schema: {
      tags: ['api-keys'],
      summary: 'Create an API key for an integration: a role, optionally fewer capabilities, a camera scope and an expiry. The key is shown once.',
      body: ApiKeyCreate,
      response: { 201: ApiKeyCreated, 400: ErrorRef },
    },
  }, async (req, reply) => {
    const p = req.principal as Principal;
    const b = req.body;
    const expiresAtMs = b.expires_at == null ? null : parseTime(b.expires_at, 'expires_at');
    const { key, row } = await auth.createKey(
      { name: b.name, role: b.role, capabilities: b.capabilities ?? null, ...(b.cameras !== undefined ? { cameras: b.cameras } : {}), expiresAtMs },
      p.kind === 'user' ? p.id : null,
    );
    req.auditTarget = `api_key:${row.id}`;
    return reply.code(201).header('location', `/api/v1/api-keys/${row.id}`).send({ ...apiKeyOut(row), key });
  });

  app.delete('/api-keys/:id', {
    config: { access: manage, audit: 'api_key.revoke', auditTarget: 'api_key' },
    schema: { tags: ['api-keys'], summary: 'Revoke an API key: it stops working at once.', params: NumericIdParams, response: { 200: ApiKeyOut, 400: ErrorRef, 404: ErrorRef } },
  }, async (req) => apiKeyOut(await auth.revokeKey(req.params.id)));
};
