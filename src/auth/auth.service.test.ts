import { beforeEach, describe, expect, it } from 'vitest';
import type { AuthConfig } from '../config/config.js';
import { type OpenedDb } from '../db/connection.js';
import { VigilError } from '../shared/errors.js';
import { AuthService } from './auth.service.js';
import { tempCatalog } from '../../test/support/temp-catalog.js';

const T0 = Date.UTC(2026, 10, 26, 8, 0, 0);
const CONFIG: AuthConfig = { sessionIdleMinutes: 60, sessionMaxHours: 24, lockoutFailures: 5, lockoutMinutes: 15, loginRatePerMinute: 100 };

let opened: OpenedDb;
let now: number;
let auth: AuthService;

tempCatalog('vigil-auth-', (c) => (opened = c.opened));

beforeEach(async () => {
  now = T0;
  auth = new AuthService({ db: opened.db, clock: { nowMs: () => now }, config: CONFIG });
  await auth.createUser({ username: 'Alice', password: 'alice-password', role: 'operator', cameras: ['front'] });
});


async function kindOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof VigilError) return err.kind;
    throw err;
  }
}

describe('AuthService', () => {
  it('signs in case-insensitively; the principal carries the role and camera scope', async () => {
    const r = await auth.login('ALICE', 'alice-password', '127.0.0.1');
    expect(r.principal).toMatchObject({ kind: 'user', name: 'alice', role: 'operator' });
    expect([...(r.principal.cameras as Set<string>)]).toEqual(['front']);
    expect(r.principal.capabilities.has('export')).toBe(true);
    expect(r.principal.capabilities.has('cameras.manage')).toBe(false);
    expect((await auth.bySession(r.token))?.name).toBe('alice');
  });

  it('locks a name after 5 failures within the window, refuses even the right password, and unlocks after it', async () => {
    for (let i = 0; i < 5; i++) expect(await kindOf(auth.login('alice', 'wrong', null))).toBe('unauthenticated');
    expect(await kindOf(auth.login('alice', 'alice-password', null))).toBe('too_many_requests');
    now += 15 * 60_000 - 1000;
    expect(await kindOf(auth.login('alice', 'alice-password', null))).toBe('too_many_requests');
    now += 1000;
    expect(await kindOf(auth.login('alice', 'alice-password', null))).toBe('ok');
    // A success forgets earlier failures: four more failures do not lock.
    for (let i = 0; i < 4; i++) await kindOf(auth.login('alice', 'wrong', null));
    expect(await kindOf(auth.login('alice', 'alice-password', null))).toBe('ok');
  });

  it('counts only failures inside the window', async () => {
    for (let i = 0; i < 4; i++) await kindOf(auth.login('alice', 'wrong', null));
    now += 16 * 60_000;
    await kindOf(auth.login('alice', 'wrong', null));
    expect(await kindOf(auth.login('alice', 'alice-password', null))).toBe('ok');
  });

  it('gives an unknown name, a wrong password and a disabled account the same error', async () => {
    const messages: string[] = [];
    const u = await auth.userByName('alice');
    await auth.createUser({ username: 'bob', password: 'bob-password!', role: 'viewer' });
    const bob = await auth.userByName('bob');
    await auth.updateUser(bob?.id as number, { disabled: true });
    for (const [name, pw] of [['nobody', 'whatever-pw'], ['alice', 'wrong-pw'], ['bob', 'bob-password!']]) {
      try {
        await auth.login(name as string, pw as string, null);
      } catch (err) {
        messages.push(`${(err as VigilError).kind}: ${(err as VigilError).message}`);
      }
    }
    expect(u).toBeDefined();
    expect(new Set(messages).size).toBe(1);
    expect(messages[0]).toBe('unauthenticated: invalid username or password');
  });

  it('ends sessions when idle, at their maximum age, on a new password and when the user is disabled', async () => {
    const a = await auth.login('alice', 'alice-password', null);
    now += 59 * 60_000;
    expect(await auth.bySession(a.token)).toBeDefined(); // the request refreshes last-seen
    now += 59 * 60_000;
    expect(await auth.bySession(a.token)).toBeDefined();
    now += 61 * 60_000;
    expect(await auth.bySession(a.token)).toBeUndefined(); // idle

    const b = await auth.login('alice', 'alice-password', null);
    for (let i = 0; i < 25; i++) {
      now += 59 * 60_000;
      await auth.bySession(b.token);
    }
    expect(await auth.bySession(b.token)).toBeUndefined(); // older than 24 h

    const c = await auth.login('alice', 'alice-password', null);
    const d = await auth.login('alice', 'alice-password', null);
    const alice = await auth.userByName('alice');
    await auth.changeOwnPassword(alice?.id as number, 'alice-password', 'alice-password-2', c.principal.sessionSha256);
    expect(await auth.bySession(c.token)).toBeDefined(); // the session that changed it stays
    expect(await auth.bySession(d.token)).toBeUndefined();
    await auth.createUser({ username: 'root', password: 'root-password', role: 'admin' });
    await auth.updateUser(alice?.id as number, { disabled: true });
    expect(await auth.bySession(c.token)).toBeUndefined();
  });

  it('keys: capabilities never exceed the role; revoked and expired keys stop at once', async () => {
    const { key, row } = await auth.createKey({ name: 'nvr-sync', role: 'viewer', capabilities: ['playback'], cameras: ['front'], expiresAtMs: T0 + 60_000 }, null);
    expect(key.startsWith('vgl_')).toBe(true);
    expect(row.key_sha256).not.toContain(key);
    const p = await auth.byApiKey(key);
    expect([...(p?.capabilities ?? [])]).toEqual(['playback']);
    now = T0 + 60_000;
    expect(await auth.byApiKey(key)).toBeUndefined();
    const other = await auth.createKey({ name: 'x', role: 'admin' }, null);
    expect(await auth.byApiKey(other.key)).toBeDefined();
    await auth.revokeKey(other.row.id);
    expect(await auth.byApiKey(other.key)).toBeUndefined();
    expect(await kindOf(auth.createKey({ name: 'y', role: 'viewer', capabilities: ['export'] }, null))).toBe('invalid_argument');
    expect(await auth.byApiKey('vgl_not-a-key')).toBeUndefined();
  });

  it('refuses to remove the last enabled admin in any way', async () => {
    const admin = await auth.createUser({ username: 'root', password: 'root-password', role: 'admin' });
    expect(await kindOf(auth.updateUser(admin.id, { role: 'viewer' }))).toBe('failed_precondition');
    expect(await kindOf(auth.updateUser(admin.id, { disabled: true }))).toBe('failed_precondition');
    expect(await kindOf(auth.deleteUser(admin.id))).toBe('failed_precondition');
    await auth.createUser({ username: 'root2', password: 'root-password', role: 'admin' });
    expect(await kindOf(auth.updateUser(admin.id, { role: 'viewer' }))).toBe('ok');
  });

  it('stores no password, only argon2id hashes', async () => {
    const u = await auth.userByName('alice');
    expect(u?.password_hash.startsWith('$argon2id$')).toBe(true);
    expect(u?.password_hash).not.toContain('alice-password');
  });
});
