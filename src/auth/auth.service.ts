import type { AuthConfig } from '../config/config.js';
import * as repo from '../db/auth.repo.js';
import type { Db } from '../db/connection.js';
import type { Role } from '../db/schema.js';
import type { Clock } from '../shared/clock.js';
import { conflict, invalidArgument, notFound, VigilError } from '../shared/errors.js';
import {
  isCapability,
  ROLE_CAPABILITIES,
  scopeFromJson,
  scopeToJson,
  type CameraScope,
  type Capability,
} from './capabilities.js';
import { API_KEY_PREFIX, hashPassword, newApiKey, newToken, sha256, verifyPassword } from './secrets.js';
import { USERNAME_PATTERN } from './names.js';

/** Who is asking, once authenticated: a signed-in user or an API key. */
export interface Principal {
  /** `node`: another node of the cluster relaying a viewer it authorized itself (live view only). */
  kind: 'user' | 'api_key' | 'node';
  id: number;
  name: string;
  role: Role;
  capabilities: ReadonlySet<Capability>;
  cameras: CameraScope;
  /** The session's token hash when signed in with a cookie (logout ends it). */
  sessionSha256?: string;
}

export const MIN_PASSWORD_LENGTH = 10;
/** Last-seen times are written at most this often, so authenticated reads do not all write. */
const TOUCH_EVERY_MS = 60_000;

export interface NewUser {
  username: string;
  password: string;
  role: Role;
  cameras?: 'all' | string[];
}

export interface UserPatch {
  role?: Role;
  cameras?: 'all' | string[];
  password?: string;
  disabled?: boolean;
}

export interface NewApiKey {
  name: string;
  role: Role;
  capabilities?: string[] | null;
  cameras?: 'all' | string[];
  expiresAtMs?: number | null;
}

export interface LoginResult {
  token: string;
  principal: Principal;
  expiresAtMs: number;
}

/**
 * Users, sessions, API keys and login throttling. Secrets never leave this module except once, to their
 * owner: the session token (as a cookie) and a new API key (in the create response).
 */
export class AuthService {
  constructor(private readonly d: { db: Db; clock: Clock; config: AuthConfig }) {}

  async userCount(): Promise<number> {
    return repo.countUsers(this.d.db);
  }

  // ---- sign-in ----

  /**
   * Same answer (401, "invalid username or password") and the same argon2 work for an unknown user,
   * a wrong password and a disabled account. Failures are counted per name typed, known or not, so a
   * lockout says nothing about whether the account exists either.
   */
  async login(usernameRaw: string, password: string, clientAddr: string | null): Promise<LoginResult> {
    const now = this.d.clock.nowMs();
    const username = usernameRaw.toLowerCase();
    const windowMs = this.d.config.lockoutMinutes * 60_000;
    const fails = await repo.loginFailures(this.d.db, username);
    if (fails?.locked_until_ms != null && fails.locked_until_ms > now) {
      const minutes = Math.ceil((fails.locked_until_ms - now) / 60_000);
      throw new VigilError('too_many_requests', `too many failed sign-ins for this username; try again in ${minutes} min`, {
        field: 'username',
        retryAfterSeconds: Math.ceil((fails.locked_until_ms - now) / 1000),
      });
    }
    const user = await repo.userByName(this.d.db, username);
    const ok = (await verifyPassword(user?.password_hash, password)) && user !== undefined && user.disabled === 0;
    if (!ok || !user) {
      const fresh = !fails || fails.first_failure_at_ms < now - windowMs || fails.locked_until_ms != null;
      const failures = (fresh ? 0 : fails.failures) + 1;
      const locked = failures >= this.d.config.lockoutFailures;
      await repo.putLoginFailures(this.d.db, {
        username,
        failures: locked ? 0 : failures,
        first_failure_at_ms: fresh ? now : fails.first_failure_at_ms,
        locked_until_ms: locked ? now + windowMs : null,
      });
      await repo.pruneLoginFailures(this.d.db, now - windowMs, now);
      throw new VigilError('unauthenticated', 'invalid username or password');
    }
    if (fails) await repo.clearLoginFailures(this.d.db, username);
    const token = newToken();
    const expiresAtMs = now + this.d.config.sessionMaxHours * 3600_000;
    await repo.insertSession(this.d.db, { tokenSha256: sha256(token), userId: user.id, expiresAtMs, clientAddr }, now);
    await repo.deleteExpiredSessions(this.d.db, now, now - this.idleMs());
    return { token, expiresAtMs, principal: userPrincipal(user, sha256(token)) };
  }

  async logout(sessionSha256: string): Promise<void> {
    await repo.deleteSession(this.d.db, sessionSha256);
  }

  /** The principal of a session cookie's token, or undefined when it is unknown, expired, idle or its user disabled. */
  async bySession(token: string): Promise<Principal | undefined> {
    const key = sha256(token);
    const s = await repo.sessionWithUser(this.d.db, key);
    if (!s) return undefined;
    const now = this.d.clock.nowMs();
    if (s.expires_at_ms <= now || s.last_seen_at_ms < now - this.idleMs() || s.disabled !== 0) {
      await repo.deleteSession(this.d.db, key);
      return undefined;
    }
    if (now - s.last_seen_at_ms >= TOUCH_EVERY_MS) await repo.touchSession(this.d.db, key, now);
    return userPrincipal({ id: s.user_id, username: s.username, role: s.role, cameras: s.cameras }, key);
  }

  /** The principal of an API key, or undefined when it is unknown, revoked or expired (checked on every request). */
  async byApiKey(key: string): Promise<Principal | undefined> {
    if (!key.startsWith(API_KEY_PREFIX)) return undefined;
    const k = await repo.apiKeyBySha(this.d.db, sha256(key));
    const now = this.d.clock.nowMs();
    if (!k || k.revoked_at_ms !== null || (k.expires_at_ms !== null && k.expires_at_ms <= now)) return undefined;
    if (k.last_used_at_ms === null || now - k.last_used_at_ms >= TOUCH_EVERY_MS) await repo.touchApiKey(this.d.db, k.id, now);
    return { kind: 'api_key', id: k.id, name: k.name, role: k.role, capabilities: keyCapabilities(k), cameras: scopeFromJson(k.cameras) };
  }

  /**
   * A principal authenticated earlier, as it stands now (for connections that outlive their request,
   * such as live view): undefined once its key is revoked or expired, its session ended (logout,
   * password change, maximum age) or its user disabled or deleted; else with its current role,
   * capabilities and camera scope. Reads only: watching does not keep a session alive.
   */
  async recheck(p: Principal): Promise<Principal | undefined> {
    // A node's relay: the entry node checks its viewer's access and closes the relay when it ends.
    if (p.kind === 'node') return p;
    const now = this.d.clock.nowMs();
    if (p.kind === 'api_key') {
      const k = await repo.apiKeyById(this.d.db, p.id);
      if (!k || k.revoked_at_ms !== null || (k.expires_at_ms !== null && k.expires_at_ms <= now)) return undefined;
      return { kind: 'api_key', id: k.id, name: k.name, role: k.role, capabilities: keyCapabilities(k), cameras: scopeFromJson(k.cameras) };
    }
    if (p.sessionSha256 === undefined) return undefined;
    const s = await repo.sessionWithUser(this.d.db, p.sessionSha256);
    if (!s || s.expires_at_ms <= now || s.disabled !== 0) return undefined;
    return userPrincipal({ id: s.user_id, username: s.username, role: s.role, cameras: s.cameras }, p.sessionSha256);
  }

  // ---- users ----

  async listUsers(): Promise<repo.UserRow[]> {
    return repo.listUsers(this.d.db);
  }

  async getUser(id: number): Promise<repo.UserRow> {
    const u = await repo.userById(this.d.db, id);
    if (!u) throw notFound(`user ${id} not found`, 'id');
    return u;
  }

  async userByName(username: string): Promise<repo.UserRow | undefined> {
    return repo.userByName(this.d.db, username.toLowerCase());
  }

  async createUser(u: NewUser): Promise<repo.UserRow> {
    checkUsername(u.username);
    checkPassword(u.password, 'password');
    const username = u.username.toLowerCase();
    if (await repo.userByName(this.d.db, username)) throw conflict(`user "${username}" already exists`, 'username');
    const passwordHash = await hashPassword(u.password);
    return repo.insertUser(this.d.db, { username, passwordHash, role: u.role, cameras: scopeToJson(u.cameras ?? 'all') }, this.d.clock.nowMs());
  }

  /**
   * A new password or a disabled account ends the user's sessions (but the caller's own, when users change
   * their own password). The last enabled admin can be neither demoted nor disabled.
   */
  async updateUser(id: number, patch: UserPatch, keepSessionSha256?: string): Promise<repo.UserRow> {
    const before = await this.getUser(id);
    if (patch.password !== undefined) checkPassword(patch.password, 'password');
    const losesAdmin = before.role === 'admin' && before.disabled === 0 && ((patch.role !== undefined && patch.role !== 'admin') || patch.disabled === true);
    if (losesAdmin && (await repo.countEnabledAdmins(this.d.db)) <= 1) {
      throw new VigilError('failed_precondition', 'the last enabled admin cannot be demoted or disabled', { field: patch.disabled ? 'disabled' : 'role' });
    }
    const passwordHash = patch.password === undefined ? undefined : await hashPassword(patch.password);
    const after = await repo.updateUser(
      this.d.db,
      id,
      {
        ...(patch.role !== undefined ? { role: patch.role } : {}),
        ...(patch.cameras !== undefined ? { cameras: scopeToJson(patch.cameras) } : {}),
        ...(passwordHash !== undefined ? { passwordHash } : {}),
        ...(patch.disabled !== undefined ? { disabled: patch.disabled } : {}),
      },
      this.d.clock.nowMs(),
    );
    if (!after) throw notFound(`user ${id} not found`, 'id');
    if (passwordHash !== undefined || patch.disabled === true) await repo.deleteUserSessions(this.d.db, id, keepSessionSha256);
    return after;
  }

  /** Users change their own password by proving the current one. */
  async changeOwnPassword(userId: number, current: string, next: string, keepSessionSha256?: string): Promise<repo.UserRow> {
    const u = await this.getUser(userId);
    if (!(await verifyPassword(u.password_hash, current))) throw new VigilError('invalid_argument', 'the current password is wrong', { field: 'current_password' });
    checkPassword(next, 'new_password');
    return this.updateUser(userId, { password: next }, keepSessionSha256);
  }

  async deleteUser(id: number): Promise<repo.UserRow> {
    const u = await this.getUser(id);
    if (u.role === 'admin' && u.disabled === 0 && (await repo.countEnabledAdmins(this.d.db)) <= 1) {
      throw new VigilError('failed_precondition', 'the last enabled admin cannot be deleted', { field: 'id' });
    }
    await repo.deleteUser(this.d.db, id);
    return u;
  }

  // ---- API keys ----

  async listKeys(): Promise<repo.ApiKeyRow[]> {
    return repo.listApiKeys(this.d.db);
  }

  async createKey(k: NewApiKey, createdBy: number | null): Promise<{ key: string; row: repo.ApiKeyRow }> {
    let capabilities: string | null = null;
    if (k.capabilities != null) {
      const allowed = ROLE_CAPABILITIES[k.role];
      for (const [i, c] of k.capabilities.entries()) {
        if (!isCapability(c) || !allowed.includes(c)) {
          throw invalidArgument(`"${c}" is not a capability of the ${k.role} role (${allowed.join(', ')})`, `capabilities[${i}]`);
        }
      }
      capabilities = JSON.stringify([...new Set(k.capabilities)].sort());
    }
    const now = this.d.clock.nowMs();
    if (k.expiresAtMs != null && k.expiresAtMs <= now) throw invalidArgument('expires_at is in the past', 'expires_at');
    const key = newApiKey();
    const row = await repo.insertApiKey(
      this.d.db,
      {
        name: k.name,
        keySha256: sha256(key),
        prefix: key.slice(0, API_KEY_PREFIX.length + 6),
        role: k.role,
        capabilities,
        cameras: scopeToJson(k.cameras ?? 'all'),
        createdBy,
        expiresAtMs: k.expiresAtMs ?? null,
      },
      now,
    );
    return { key, row };
  }

  async revokeKey(id: number): Promise<repo.ApiKeyRow> {
    const k = await repo.revokeApiKey(this.d.db, id, this.d.clock.nowMs());
    if (!k) throw notFound(`API key ${id} not found`, 'id');
    return k;
  }

  private idleMs(): number {
    return this.d.config.sessionIdleMinutes * 60_000;
  }
}

export function userPrincipal(u: Pick<repo.UserRow, 'id' | 'username' | 'role' | 'cameras'>, sessionSha256?: string): Principal {
  return {
    kind: 'user',
    id: u.id,
    name: u.username,
    role: u.role,
    capabilities: new Set(ROLE_CAPABILITIES[u.role]),
    cameras: scopeFromJson(u.cameras),
    ...(sessionSha256 !== undefined ? { sessionSha256 } : {}),
  };
}

export function keyCapabilities(k: repo.ApiKeyRow): ReadonlySet<Capability> {
  const role = ROLE_CAPABILITIES[k.role];
  if (k.capabilities === null) return new Set(role);
  const subset = JSON.parse(k.capabilities) as string[];
  // A key never exceeds its role, even if the role's capabilities shrink later.
  return new Set(role.filter((c) => subset.includes(c)));
}

function checkUsername(username: string): void {
  if (!new RegExp(USERNAME_PATTERN).test(username)) {
    throw invalidArgument('must be 1-64 characters: letters, digits, and . _ @ - (not first)', 'username');
  }
}

function checkPassword(password: string, field: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw invalidArgument(`must be at least ${MIN_PASSWORD_LENGTH} characters`, field);
  if (password.length > 1024) throw invalidArgument('must be at most 1024 characters', field);
}
