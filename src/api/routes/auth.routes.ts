import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AuthService, Principal } from '../../auth/auth.service.js';
import { scopeOut } from '../../auth/capabilities.js';
import { VigilError } from '../../shared/errors.js';
import { SESSION_COOKIE } from '../access.js';
import { ErrorRef } from '../schemas/common.js';
import { LoginBody, MeOut, PasswordBody } from '../schemas/auth.schemas.js';

export const meOut = (p: Principal) => ({
  kind: p.kind,
  user: { id: p.id, username: p.name, role: p.role, cameras: scopeOut(p.cameras) },
  capabilities: [...p.capabilities],
});

export interface AuthRouteOptions {
  auth: AuthService;
  loginRatePerMinute: number;
  /** Called after a user changed their own password (the first admin's password file is removed then). */
  onPasswordChanged?: (username: string) => Promise<void>;
}

export const authRoutes: FastifyPluginAsyncTypebox<AuthRouteOptions> = async (app, { auth, loginRatePerMinute, onPasswordChanged }) => {
  const tags = ['auth'];

  app.post('/auth/login', {
    config: {
      access: { cap: 'public' },
      audit: 'auth.login',
      rateLimit: { max: loginRatePerMinute, timeWindow: 60_000 },
    },
    schema: {
      tags,
      summary: 'Sign in: sets an HttpOnly, SameSite=Strict session cookie. 5 failures lock the username for 15 minutes.',
      body: LoginBody,
      response: { 200: MeOut, 400: ErrorRef, 401: ErrorRef, 429: ErrorRef },
    },
  }, async (req, reply) => {
    req.auditActorName = req.body.username.toLowerCase();
    req.auditTarget = `user:${req.body.username.toLowerCase()}`;
    const r = await auth.login(req.body.username, req.body.password, req.ip);
    req.principal = r.principal;
    reply.setCookie(SESSION_COOKIE, r.token, {
      path: '/',
      httpOnly: true,
      sameSite: 'strict',
      secure: req.protocol === 'https',
      expires: new Date(r.expiresAtMs),
    });
    return meOut(r.principal);
  });

  app.post('/auth/logout', {
    config: { access: { cap: 'authenticated' }, audit: 'auth.logout' },
    schema: { tags, summary: 'Sign out: the session ends at once (its token no longer works anywhere).', response: { 204: Type.Null(), 401: ErrorRef } },
  }, async (req, reply) => {
    const p = req.principal;
    if (p?.sessionSha256) await auth.logout(p.sessionSha256);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.code(204).send(null);
  });

  app.get('/auth/me', {
    config: { access: { cap: 'authenticated' } },
    schema: { tags, summary: 'Who is signed in (or whose API key this is), and what they may do.', response: { 200: MeOut, 401: ErrorRef } },
  }, async (req) => meOut(req.principal as Principal));

  app.post('/auth/password', {
    // As throttled as a sign-in: a stolen session must not be able to guess the current password.
    config: { access: { cap: 'authenticated' }, audit: 'auth.password', auditTarget: 'user', rateLimit: { max: loginRatePerMinute, timeWindow: 60_000 } },
    schema: {
      tags,
      summary: 'Change your own password; your other sessions end.',
      body: PasswordBody,
      response: { 204: Type.Null(), 400: ErrorRef, 401: ErrorRef, 403: ErrorRef, 429: ErrorRef },
    },
  }, async (req, reply) => {
    const p = req.principal as Principal;
    if (p.kind !== 'user') throw new VigilError('forbidden', 'an API key has no password');
    req.auditTarget = `user:${p.id}`;
    await auth.changeOwnPassword(p.id, req.body.current_password, req.body.new_password, p.sessionSha256);
    await onPasswordChanged?.(p.name);
    return reply.code(204).send(null);
  });
};
