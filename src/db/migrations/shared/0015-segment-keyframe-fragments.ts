import { sql, type Kysely } from 'kysely';
import type { CatalogEngine, SharedMigration } from '../types.js';

/**
 * `segments.keyframe_fragments`: how many of the file's fragments start with a keyframe (the recorder
 * puts at most one keyframe in a fragment, at its start), counted by the indexer from the scan it
 * already makes of every closed file. NULL for rows indexed before this migration.
 *
 * A clip joined in Node lists one random access point per such fragment in its closing mfra
 * (`src/export/clip-join-plan.ts`). With the count in the row, a file the clip takes whole is planned
 * from its two ends and its own mfra (a few reads) instead of from every one of its moofs, and is read
 * in full only as the clip streams it; the clip's `Content-Length` is still known before its first byte.
 *
 * On SQLite the covering index of segment rows (0014) is made again with the new column, or every page
 * of segments would read the table again (`src/db/segment-index.test.ts` keeps them equal).
 */
export const migration: SharedMigration = {
  async up(db: Kysely<unknown>, engine: CatalogEngine): Promise<void> {
    await sql`ALTER TABLE segments ADD COLUMN keyframe_fragments INTEGER`.execute(db);
    if (engine !== 'sqlite') return;
    await sql`DROP INDEX segments_camera_rows`.execute(db);
    await sql.raw(
      'CREATE INDEX segments_camera_rows ON segments (camera_id, start_ms, end_ms, id, path, duration_ms, size_bytes, codec, width, height, source, locked, evidence_locked, incident_id, indexed_at_ms, sha256, chain_seq, chain_hash, media_offset_ms, node_id, keyframe_fragments)',
    ).execute(db);
  },
};
