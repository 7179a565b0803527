import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capDetail, AUDIT_DETAIL_MAX_CHARS } from '../../src/api/access.js';
import { redactDeep, redactQuery } from '../../src/shared/redact.js';
import { querySql, readCatalog } from '../support/footage.js';
import { removeDir, startVigil, type TestVigil } from '../support/harness.js';

/**
 * Invariant 12, tested as an attacker would: every change has its audit row or does not happen, the
 * audit trail cannot be blown up, sign-ins and password guesses are throttled and audited, and the log
 * never holds a credential from a query string.
 */
type AuditRow = { action: string; outcome: string; status_code: number | null; request_id: string | null; detail: string | null; actor_kind: string };

/** `{"name":[[[…]]]}` nested `depth` levels deep (within the 64 KiB body limit): deeper than a recursive walk's stack. */
function nested(depth: number): string {
  return `{"name":${'['.repeat(depth)}1${']'.repeat(depth)}}`;
}

const LOGIN_RATE = 5;

describe('hostile requests and the audit trail', () => {
  let vigil: TestVigil;
  const audit = () => querySql(vigil.dataDir, 'SELECT * FROM audit_log ORDER BY id') as AuditRow[];
  const rowFor = (requestId: string) => audit().filter((a) => a.request_id === requestId);

  beforeAll(async () => {
    vigil = await startVigil({
      cameras: [{ id: 'known', main_url: 'rtsp://127.0.0.1:9/none', enabled: false }],
      auth: { login_rate_per_minute: LOGIN_RATE },
    });
  });
  afterAll(async () => {
    await vigil.app.stop();
    await removeDir(vigil.dataDir);
  });

  it('a route that takes no body refuses one (400, field body), changes nothing, and still writes its audit row', async () => {
    // A body nested 30,000 levels deep once made DELETE succeed while its audit row overflowed the stack.
    for (const [method, path] of [
      ['DELETE', '/cameras/known'],
      ['POST', '/auth/logout'],
      ['POST', '/cameras/known/gaps/1/refill'],
    ] as const) {
      const requestId = `nested-${method}-${path.length}`;
      const res = await vigil.api(path, { method, headers: { 'content-type': 'application/json', 'x-request-id': requestId }, body: nested(30_000) });
      const body = (await res.json()) as { error: string; field?: string };
      expect([res.status, body.error, body.field], `${method} ${path}`).toEqual([400, 'invalid_argument', 'body']);
      expect(rowFor(requestId), `${method} ${path}`).toEqual([expect.objectContaining({ outcome: 'failure', status_code: 400 })]);
    }
    expect(readCatalog(vigil.dataDir).status.map((s) => s.camera_id)).toContain('known');
    expect((await vigil.api('/cameras/known')).status).toBe(200);
    // An empty JSON object is no body: the page sends none, other clients may send {}.
    expect((await vigil.api('/cameras/known', { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(204);
  });

  it('audit details are bounded and never deeper than the redaction walks', () => {
    const big = capDetail({ name: 'x'.repeat(10_000), fields: ['name'] });
    expect(JSON.stringify(big).length).toBeLessThanOrEqual(AUDIT_DETAIL_MAX_CHARS);
    expect(big).toMatchObject({ truncated: true, detail_fields: ['fields', 'name'] });
    expect(capDetail({ role: 'viewer' })).toEqual({ role: 'viewer' });
    let deep: unknown = 'rtsp://u:pw123456@h/x';
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    expect(() => JSON.stringify(redactDeep(deep))).not.toThrow();
  });

  it('a throttled sign-in answers 429 and leaves an audit row; so does a throttled password change', async () => {
    const attempts: Response[] = [];
    for (let i = 0; i < LOGIN_RATE + 2; i++) {
      attempts.push(
        await fetch(`${vigil.app.url}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-id': `login-${i}` },
          body: JSON.stringify({ username: 'admin', password: `wrong-${i}-password` }),
        }),
      );
    }
    expect(attempts.map((r) => r.status).slice(-2)).toEqual([429, 429]);
    const throttled = rowFor(`login-${LOGIN_RATE + 1}`);
    expect(throttled).toEqual([expect.objectContaining({ action: 'auth.login', outcome: 'denied', status_code: 429, actor_kind: 'anonymous' })]);

    // A stolen session may not guess the current password at leisure either.
    const session = await fetch(`${vigil.app.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '10.9.9.9' }, body: '{}' });
    expect(session.status).toBeGreaterThanOrEqual(400);
    const statuses: number[] = [];
    for (let i = 0; i < LOGIN_RATE + 2; i++) {
      const r = await vigil.api('/auth/password', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': `pw-${i}` },
        body: JSON.stringify({ current_password: `guess-number-${i}`, new_password: 'a-new-Password-1' }),
      });
      statuses.push(r.status);
    }
    expect(statuses.slice(-2)).toEqual([429, 429]);
    expect(rowFor(`pw-${LOGIN_RATE + 1}`)).toEqual([expect.objectContaining({ action: 'auth.password', outcome: 'denied', status_code: 429 })]);
  });

  it('the log never holds a credential-like query value', async () => {
    await vigil.api('/cameras?token=tok-5ecret-123&api_key=k3y-5ecret&limit=5&access_token=acc-5ecret');
    const logs = vigil.logs();
    expect(logs).toContain('token=***');
    for (const secret of ['tok-5ecret-123', 'k3y-5ecret', 'acc-5ecret']) expect(logs).not.toContain(secret);
    expect(redactQuery('/x?from=2026-01-01&password=hunter2&u=rtsp://a:b3cret@h/x')).toBe('/x?from=2026-01-01&password=***&u=rtsp://a:***@h/x');
  });
});
