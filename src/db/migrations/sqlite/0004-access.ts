import { sql, type Kysely } from 'kysely';

/**
 * Access control: users, their sessions, API keys, per-name login failures and the audit trail.
 * Secrets are never stored: passwords as argon2id PHC strings, session tokens and API keys as SHA-256.
 * Camera scopes are JSON arrays of camera ids, or NULL for every camera.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE users (
      id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
      username        TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64), -- stored lower-case
      password_hash   TEXT NOT NULL,              -- argon2id PHC string
      role            TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
      cameras         TEXT,                       -- JSON array of camera ids in scope; NULL = all cameras
      disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
      created_at_ms   INTEGER NOT NULL,
      updated_at_ms   INTEGER NOT NULL,
      password_changed_at_ms INTEGER NOT NULL
    ) STRICT`.execute(db);

  await sql`
    CREATE TABLE sessions (
      token_sha256    TEXT PRIMARY KEY,           -- hex SHA-256 of the cookie's token; the token itself is never stored
      user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      created_at_ms   INTEGER NOT NULL,
      last_seen_at_ms INTEGER NOT NULL,           -- refreshed at most once a minute
      expires_at_ms   INTEGER NOT NULL,           -- absolute end; idle sessions end earlier (see auth config)
      client_addr     TEXT                        -- address the session was opened from
    ) STRICT`.execute(db);
  await sql`CREATE INDEX sessions_user ON sessions (user_id)`.execute(db);

  await sql`
    CREATE TABLE api_keys (
      id              INTEGER PRIMARY KEY AUTOINCREMENT,
      name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      key_sha256      TEXT NOT NULL UNIQUE,       -- hex SHA-256 of the whole key; the key is shown once
      prefix          TEXT NOT NULL,              -- first characters of the key, to recognise it in lists
      role            TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
      capabilities    TEXT,                       -- JSON array: a subset of the role's; NULL = all of the role's
      cameras         TEXT,                       -- JSON array of camera ids in scope; NULL = all cameras
      created_by      INTEGER REFERENCES users(id) ON DELETE SET NULL,
      created_at_ms   INTEGER NOT NULL,
      expires_at_ms   INTEGER,                    -- NULL = never
      revoked_at_ms   INTEGER,
      last_used_at_ms INTEGER                     -- refreshed at most once a minute
    ) STRICT`.execute(db);

  await sql`
    CREATE TABLE login_failures (
      username        TEXT PRIMARY KEY,           -- as typed, lower-case: counted whether or not the user exists
      failures        INTEGER NOT NULL CHECK (failures >= 0),
      first_failure_at_ms INTEGER NOT NULL,
      locked_until_ms INTEGER                     -- no login for this name before then
    ) STRICT`.execute(db);

  await sql`
    CREATE TABLE audit_log (
      id              INTEGER PRIMARY KEY AUTOINCREMENT,
      ts_ms           INTEGER NOT NULL,
      actor_kind      TEXT NOT NULL CHECK (actor_kind IN ('user', 'api_key', 'anonymous', 'system')),
      actor_id        INTEGER,                    -- users.id or api_keys.id
      actor_name      TEXT,                       -- username or key name at the time
      action          TEXT NOT NULL,              -- e.g. camera.create, footage.export, auth.login
      target          TEXT,                       -- e.g. camera:front, segment:42, user:7
      request_id      TEXT,
      client_addr     TEXT,
      outcome         TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
      status_code     INTEGER,                    -- the HTTP status answered
      detail          TEXT                        -- JSON, never secrets
    ) STRICT`.execute(db);
  await sql`CREATE INDEX audit_log_ts ON audit_log (ts_ms)`.execute(db);
  // Append-only: rows are never changed or removed, not even by a bug elsewhere in Vigil.
  await sql`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`.execute(db);
  await sql`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`.execute(db);
}
