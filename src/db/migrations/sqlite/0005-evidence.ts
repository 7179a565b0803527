import { sql, type Kysely } from 'kysely';

/**
 * Evidence you can prove (docs/design.md, invariants 10 and 11; docs/evidence.md for the formats).
 *
 * - Every segment indexed from now on carries the SHA-256 of its file's bytes and its link in its
 *   camera's hash chain. Rows indexed before this migration keep NULL (they were never hashed) and are
 *   reported as such by `vigil check --deep`.
 * - `chain_links` is each camera's chain: an append-only log of what the catalog has held — one link
 *   per segment indexed and one per segment deleted (by retention or `check --repair`), each signed
 *   with Vigil's Ed25519 key. Order is insertion order (`seq`), not footage time, so an edge refill that lands in
 *   the past is simply the next link.
 * - `signing_keys` keeps every Ed25519 public key Vigil has signed with, retired ones included, so
 *   old bundles and deletion links stay verifiable after a rotation. Private keys live in files only.
 * - `exports` are the evidence export jobs.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE segments ADD COLUMN sha256 TEXT`.execute(db); // hex SHA-256 of the file; NULL = indexed before hashing
  await sql`ALTER TABLE segments ADD COLUMN chain_seq INTEGER`.execute(db); // its link in chain_links (camera_id, seq)
  await sql`ALTER TABLE segments ADD COLUMN chain_hash TEXT`.execute(db); // that link's chain_hash

  await sql`
    CREATE TABLE chain_links (
      camera_id     TEXT NOT NULL,
      seq           INTEGER NOT NULL CHECK (seq >= 1),   -- 1, 2, 3… per camera, in the order links were appended
      kind          TEXT NOT NULL CHECK (kind IN ('segment', 'deletion')),
      segment_id    INTEGER NOT NULL,                    -- the segment indexed, or deleted
      target_seq    INTEGER,                             -- deletion: the seq of the segment link it ends
      reason        TEXT,                                -- deletion: age, camera_quota, global_cap, disk_floor, repair
      start_ms      INTEGER NOT NULL,
      end_ms        INTEGER NOT NULL,
      size_bytes    INTEGER NOT NULL,
      sha256        TEXT NOT NULL,
      prev_hash     TEXT NOT NULL,                       -- the previous link's chain_hash (64 zeros for seq 1)
      chain_hash    TEXT NOT NULL,                       -- see docs/evidence.md for exactly what is hashed
      signature     TEXT,                                -- base64 Ed25519 signature of chain_hash (NULL only if no key was loaded)
      key_fingerprint TEXT,                              -- the signing key's fingerprint
      at_ms         INTEGER NOT NULL,
      PRIMARY KEY (camera_id, seq)
    ) STRICT`.execute(db);
  await sql`CREATE INDEX chain_links_segment ON chain_links (segment_id)`.execute(db);
  // A signed checkpoint lets the links before it go once every segment they name is gone (retention
  // compacts the chain): the chain then starts at `first_seq`, whose prev_hash is `prev_hash`.
  await sql`
    CREATE TABLE chain_checkpoints (
      camera_id       TEXT NOT NULL,
      first_seq       INTEGER NOT NULL CHECK (first_seq >= 1),
      prev_hash       TEXT NOT NULL,                     -- chain_hash of link first_seq - 1
      signature       TEXT NOT NULL,                     -- base64 Ed25519 of checkpointText(camera, first_seq, prev_hash)
      key_fingerprint TEXT NOT NULL,
      at_ms           INTEGER NOT NULL,
      PRIMARY KEY (camera_id, first_seq)
    ) STRICT`.execute(db);
  // Append-only, like the audit log: Vigil never changes a link, and removes only links a checkpoint
  // has already replaced.
  await sql`CREATE TRIGGER chain_links_no_update BEFORE UPDATE ON chain_links BEGIN SELECT RAISE(ABORT, 'chain_links is append-only'); END`.execute(db);
  await sql`
    CREATE TRIGGER chain_links_no_delete BEFORE DELETE ON chain_links
    WHEN OLD.seq >= (SELECT COALESCE(MAX(first_seq), 1) FROM chain_checkpoints WHERE camera_id = OLD.camera_id)
    BEGIN SELECT RAISE(ABORT, 'chain_links is append-only (only links before a checkpoint may go)'); END`.execute(db);
  await sql`CREATE TRIGGER chain_checkpoints_no_update BEFORE UPDATE ON chain_checkpoints BEGIN SELECT RAISE(ABORT, 'chain_checkpoints is append-only'); END`.execute(db);
  await sql`CREATE INDEX segments_chain ON segments (camera_id, chain_seq) WHERE chain_seq IS NOT NULL`.execute(db);

  await sql`
    CREATE TABLE signing_keys (
      fingerprint    TEXT PRIMARY KEY,                   -- hex SHA-256 of the raw 32-byte public key
      public_key_pem TEXT NOT NULL,
      created_at_ms  INTEGER NOT NULL,
      retired_at_ms  INTEGER                             -- NULL = the key Vigil signs with now
    ) STRICT`.execute(db);

  await sql`
    CREATE TABLE exports (
      id              TEXT PRIMARY KEY,                  -- random, url-safe
      state           TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'deleted')),
      camera_ids      TEXT NOT NULL CHECK (json_valid(camera_ids)),
      from_ms         INTEGER NOT NULL,
      to_ms           INTEGER NOT NULL CHECK (to_ms > from_ms),
      incident_id     TEXT,
      reason          TEXT NOT NULL,
      include_segments INTEGER NOT NULL DEFAULT 0 CHECK (include_segments IN (0, 1)),
      requested_by    TEXT NOT NULL,                     -- actor name (user or API key) at the time
      request_id      TEXT,
      progress        REAL NOT NULL DEFAULT 0,           -- 0..100
      size_bytes      INTEGER,                           -- of bundle.zip, once done
      sha256          TEXT,                              -- of bundle.zip, once done
      manifest_sha256 TEXT,                              -- of manifest.json inside it
      error           TEXT,
      attempts        INTEGER NOT NULL DEFAULT 0,
      created_at_ms   INTEGER NOT NULL,
      started_at_ms   INTEGER,
      finished_at_ms  INTEGER,
      deleted_at_ms   INTEGER
    ) STRICT`.execute(db);
  await sql`CREATE INDEX exports_incident ON exports (incident_id) WHERE incident_id IS NOT NULL`.execute(db);
}
