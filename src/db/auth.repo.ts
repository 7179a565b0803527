import type { Selectable } from 'kysely';
import type { Db } from './connection.js';
import { prepared } from './prepared.js';
import type { ApiKeysTable, AuditLogTable, AuditOutcome, LoginFailuresTable, Role, UsersTable } from './schema.js';
import { redactDeep } from '../shared/redact.js';

export type UserRow = Selectable<UsersTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type AuditRow = Selectable<AuditLogTable>;

// ---- users ----

export async function countUsers(db: Db): Promise<number> {
  const r = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function countEnabledAdmins(db: Db): Promise<number> {
  const r = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('role', '=', 'admin')
    .where('disabled', '=', 0)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function insertUser(
  db: Db,
  u: { username: string; passwordHash: string; role: Role; cameras: string | null },
  nowMs: number,
): Promise<UserRow> {
  return db
    .insertInto('users')
    .values({ username: u.username, password_hash: u.passwordHash, role: u.role, cameras: u.cameras, created_at_ms: nowMs, updated_at_ms: nowMs, password_changed_at_ms: nowMs })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function userById(db: Db, id: number): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function userByName(db: Db, username: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
}

export async function listUsers(db: Db): Promise<UserRow[]> {
  return db.selectFrom('users').selectAll().orderBy('id').execute();
}

export async function updateUser(
  db: Db,
  id: number,
  patch: { role?: Role; cameras?: string | null; passwordHash?: string; disabled?: boolean },
  nowMs: number,
): Promise<UserRow | undefined> {
  return db
    .updateTable('users')
    .set({
      updated_at_ms: nowMs,
      ...(patch.role !== undefined ? { role: patch.role } : {}),
      ...(patch.cameras !== undefined ? { cameras: patch.cameras } : {}),
      ...(patch.passwordHash !== undefined ? { password_hash: patch.passwordHash, password_changed_at_ms: nowMs } : {}),
      ...(patch.disabled !== undefined ? { disabled: patch.disabled ? 1 : 0 } : {}),
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export async function deleteUser(db: Db, id: number): Promise<boolean> {
  const r = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

// ---- sessions ----

export async function insertSession(
  db: Db,
  s: { tokenSha256: string; userId: number; expiresAtMs: number; clientAddr: string | null },
  nowMs: number,
): Promise<void> {
  await db
    .insertInto('sessions')
    .values({ token_sha256: s.tokenSha256, user_id: s.userId, created_at_ms: nowMs, last_seen_at_ms: nowMs, expires_at_ms: s.expiresAtMs, client_addr: s.clientAddr })
    .execute();
}

/** A session by its token's hash, with its user: every request signed in by cookie reads it (compiled once). */
const sessionWithUserQuery = prepared((db, v: { tokenSha256: string }) =>
  db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select([
      'sessions.token_sha256',
      'sessions.last_seen_at_ms',
      'sessions.expires_at_ms',
      'users.id as user_id',
      'users.username',
      'users.role',
      'users.cameras',
      'users.disabled',
    ])
    .where('sessions.token_sha256', '=', v.tokenSha256),
);

export async function sessionWithUser(db: Db, tokenSha256: string) {
  return (await sessionWithUserQuery(db, { tokenSha256 }))[0];
}

export async function touchSession(db: Db, tokenSha256: string, nowMs: number): Promise<void> {
  await db.updateTable('sessions').set({ last_seen_at_ms: nowMs }).where('token_sha256', '=', tokenSha256).execute();
}

export async function deleteSession(db: Db, tokenSha256: string): Promise<void> {
  await db.deleteFrom('sessions').where('token_sha256', '=', tokenSha256).execute();
}

/** Ends a user's sessions, all of them or all but one (the one that changed the password). */
export async function deleteUserSessions(db: Db, userId: number, exceptTokenSha256?: string): Promise<number> {
  let q = db.deleteFrom('sessions').where('user_id', '=', userId);
  if (exceptTokenSha256 !== undefined) q = q.where('token_sha256', '!=', exceptTokenSha256);
  const r = await q.executeTakeFirst();
  return Number(r.numDeletedRows);
}

export async function deleteExpiredSessions(db: Db, nowMs: number, idleCutoffMs: number): Promise<number> {
  const r = await db
    .deleteFrom('sessions')
    .where((eb) => eb.or([eb('expires_at_ms', '<=', nowMs), eb('last_seen_at_ms', '<', idleCutoffMs)]))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

// ---- login failures ----

export async function loginFailures(db: Db, username: string): Promise<Selectable<LoginFailuresTable> | undefined> {
  return db.selectFrom('login_failures').selectAll().where('username', '=', username).executeTakeFirst();
}

export async function putLoginFailures(db: Db, row: Selectable<LoginFailuresTable>): Promise<void> {
  await db
    .insertInto('login_failures')
    .values(row)
    .onConflict((oc) => oc.column('username').doUpdateSet({ failures: row.failures, first_failure_at_ms: row.first_failure_at_ms, locked_until_ms: row.locked_until_ms }))
    .execute();
}

export async function clearLoginFailures(db: Db, username: string): Promise<void> {
  await db.deleteFrom('login_failures').where('username', '=', username).execute();
}

/** Forgets failures older than the window that hold no lock, so the table stays small. */
export async function pruneLoginFailures(db: Db, windowStartMs: number, nowMs: number): Promise<void> {
  await db
    .deleteFrom('login_failures')
    .where('first_failure_at_ms', '<', windowStartMs)
    .where((eb) => eb.or([eb('locked_until_ms', 'is', null), eb('locked_until_ms', '<=', nowMs)]))
    .execute();
}

// ---- API keys ----

export async function insertApiKey(
  db: Db,
  k: { name: string; keySha256: string; prefix: string; role: Role; capabilities: string | null; cameras: string | null; createdBy: number | null; expiresAtMs: number | null },
  nowMs: number,
): Promise<ApiKeyRow> {
  return db
    .insertInto('api_keys')
    .values({
      name: k.name,
      key_sha256: k.keySha256,
      prefix: k.prefix,
      role: k.role,
      capabilities: k.capabilities,
      cameras: k.cameras,
      created_by: k.createdBy,
      created_at_ms: nowMs,
      expires_at_ms: k.expiresAtMs,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Every request signed by an API key reads its row (compiled once). */
const apiKeyByShaQuery = prepared((db, v: { keySha256: string }) => db.selectFrom('api_keys').selectAll().where('key_sha256', '=', v.keySha256));

export async function apiKeyBySha(db: Db, keySha256: string): Promise<ApiKeyRow | undefined> {
  return (await apiKeyByShaQuery(db, { keySha256 }))[0];
}

export async function apiKeyById(db: Db, id: number): Promise<ApiKeyRow | undefined> {
  return db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listApiKeys(db: Db): Promise<ApiKeyRow[]> {
  return db.selectFrom('api_keys').selectAll().orderBy('id').execute();
}

export async function revokeApiKey(db: Db, id: number, nowMs: number): Promise<ApiKeyRow | undefined> {
  await db.updateTable('api_keys').set({ revoked_at_ms: nowMs }).where('id', '=', id).where('revoked_at_ms', 'is', null).execute();
  return apiKeyById(db, id);
}

export async function touchApiKey(db: Db, id: number, nowMs: number): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at_ms: nowMs }).where('id', '=', id).execute();
}

// ---- audit ----

export interface NewAudit {
  tsMs: number;
  actorKind: 'user' | 'api_key' | 'anonymous' | 'system';
  actorId: number | null;
  actorName: string | null;
  action: string;
  target: string | null;
  requestId: string | null;
  clientAddr: string | null;
  outcome: AuditOutcome;
  statusCode: number | null;
  detail: Record<string, unknown> | null;
}

export async function insertAudit(db: Db, a: NewAudit): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      ts_ms: a.tsMs,
      actor_kind: a.actorKind,
      actor_id: a.actorId,
      actor_name: a.actorName,
      action: a.action,
      target: a.target,
      request_id: a.requestId,
      client_addr: a.clientAddr,
      outcome: a.outcome,
      status_code: a.statusCode,
      detail: a.detail === null ? null : JSON.stringify(redactDeep(a.detail)),
    })
    .execute();
}

export interface AuditFilter {
  fromMs?: number;
  toMs?: number;
  actorKind?: string;
  actorId?: number;
  action?: string;
  target?: string;
  requestId?: string;
  outcome?: AuditOutcome;
  /** Rows with an id below this (the keyset cursor: newest first). */
  beforeId?: number;
  limit: number;
}

export async function queryAudit(db: Db, f: AuditFilter): Promise<AuditRow[]> {
  let q = db.selectFrom('audit_log').selectAll();
  if (f.fromMs !== undefined) q = q.where('ts_ms', '>=', f.fromMs);
  if (f.toMs !== undefined) q = q.where('ts_ms', '<', f.toMs);
  if (f.actorKind !== undefined) q = q.where('actor_kind', '=', f.actorKind as AuditRow['actor_kind']);
  if (f.actorId !== undefined) q = q.where('actor_id', '=', f.actorId);
  if (f.action !== undefined) q = q.where('action', '=', f.action);
  if (f.target !== undefined) q = q.where('target', '=', f.target);
  if (f.requestId !== undefined) q = q.where('request_id', '=', f.requestId);
  if (f.outcome !== undefined) q = q.where('outcome', '=', f.outcome);
  if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
  return q.orderBy('id', 'desc').limit(f.limit).execute();
}
