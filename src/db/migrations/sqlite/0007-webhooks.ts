import { sql, type Kysely } from 'kysely';

/**
 * Webhooks: subscriptions to the event log and their delivery ledger (docs/design.md, "Webhooks").
 * Each subscription reads the `events` table past its own cursor; a ledger row is written for every
 * matching event in the same transaction that moves the cursor past it, so a crash can neither lose a
 * delivery nor make a second one. The row's id is the delivery's idempotency key, the same on every
 * attempt and across restarts. Secrets are kept in clear: Vigil needs them to sign; the API returns a
 * secret only in the answer that created it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE webhooks (
      id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
      name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      url             TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 2048), -- http(s); its addresses checked at create/update and at every attempt
      secret          TEXT NOT NULL CHECK (length(secret) BETWEEN 16 AND 256), -- HMAC-SHA256 key of X-Vigil-Signature
      event_types     TEXT,                       -- JSON array of event types; NULL = every type
      min_severity    TEXT NOT NULL DEFAULT 'info' CHECK (min_severity IN ('info', 'warning', 'critical')),
      cameras         TEXT,                       -- JSON array of camera ids; NULL = every event, with a camera or not
      enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
      cursor_event_id INTEGER NOT NULL CHECK (cursor_event_id >= 0), -- events.id up to which the ledger has every match
      created_at_ms   INTEGER NOT NULL,
      updated_at_ms   INTEGER NOT NULL
    ) STRICT`.execute(db);

  await sql`
    CREATE TABLE webhook_deliveries (
      id              TEXT PRIMARY KEY,           -- UUID; X-Vigil-Delivery and Idempotency-Key of every attempt
      webhook_id      INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
      event_id        INTEGER NOT NULL REFERENCES events(id),
      status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'abandoned')), -- failed: a retry is due at next_attempt_at_ms
      attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0), -- started attempts, one cut short by a crash included
      next_attempt_at_ms INTEGER,                 -- when the next attempt is due; NULL once delivered or abandoned
      last_attempt_at_ms INTEGER,
      last_error      TEXT,                       -- why the last attempt failed (NULL once delivered)
      response_code   INTEGER,                    -- HTTP status of the last answer; NULL when none came
      created_at_ms   INTEGER NOT NULL,
      updated_at_ms   INTEGER NOT NULL,
      delivered_at_ms INTEGER,
      UNIQUE (webhook_id, event_id),              -- one delivery per subscription and event, whatever happens
      CHECK ((status IN ('pending', 'failed')) = (next_attempt_at_ms IS NOT NULL))
    ) STRICT`.execute(db);
  await sql`CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at_ms) WHERE next_attempt_at_ms IS NOT NULL`.execute(db);
  await sql`CREATE INDEX webhook_deliveries_status ON webhook_deliveries (webhook_id, status, event_id)`.execute(db);
}
