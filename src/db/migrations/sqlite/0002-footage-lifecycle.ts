import { sql, type Kysely } from 'kysely';

/**
 * Crash-ordered deletion. Deleting a segment is: (1) in one transaction, delete the row — only if
 * it is neither read-locked nor evidence-locked — and write a tombstone for its path; (2) unlink the
 * file and fsync its folder; (3) drop the tombstone. Start-up finishes every tombstone left by a
 * crash, and reconciliation never indexes a tombstoned path, so deleted footage never comes back.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE segment_tombstones (
      path          TEXT PRIMARY KEY,          -- relative to the data dir; the file still to unlink
      camera_id     TEXT NOT NULL,
      segment_id    INTEGER NOT NULL,          -- the deleted row's id (ids are never reused)
      size_bytes    INTEGER NOT NULL CHECK (size_bytes >= 0),
      reason        TEXT NOT NULL CHECK (reason IN ('age', 'camera_quota', 'global_cap', 'disk_floor', 'orphan', 'repair')),
      created_at_ms INTEGER NOT NULL
    ) STRICT`.execute(db);
  // Retention walks segments oldest first across cameras.
  await sql`CREATE INDEX segments_start ON segments (start_ms)`.execute(db);
  await sql`CREATE INDEX segments_incident ON segments (incident_id) WHERE incident_id IS NOT NULL`.execute(db);
}
