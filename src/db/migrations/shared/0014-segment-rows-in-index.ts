import { sql, type Kysely } from 'kysely';
import type { CatalogEngine, SharedMigration } from '../types.js';

/**
 * A second index of a camera's segments in time order, `segments_camera_rows`, holding the whole row
 * (SQLite), for the pages of segments (`listSegments`: the segment list, playback, clip plans).
 *
 * Segment rows are written in the order they close, every camera's between every other's: a camera's
 * consecutive segments lie in different pages of the table, one page read each. A page of 100 segments
 * read ~100 table pages by rowid after the index; from an index holding every column it reads the few
 * pages its entries lie in, in order (the clustering Moonfire NVR gets from its composite row id).
 * Measured on 1 M rows of 16 cameras: a page of a 24 h window 0.33 → 0.25–0.29 ms (docs/proof.md). Paid
 * for in catalog size (the segments' columns stored a second time: 132 MB beside the table's 117 MB on
 * those rows) and one more index entry per write; built once at the upgrade (~2 s per million segments). `id` comes fourth, as the page's
 * order (start, end, id) needs. `segments_camera_start_end` stays: the timeline's spans read it alone,
 * and its narrow entries are six times fewer pages than these.
 *
 * Not on PostgreSQL: an index entry there cannot exceed ~2.7 kB, so a row with long text would fail to
 * insert, and an index-only scan depends on vacuum's visibility map. The name exists on both engines
 * (one schema, docs/design.md "Catalog engines"): on PostgreSQL it is (camera_id, start_ms, end_ms, id).
 */
export const migration: SharedMigration = {
  async up(db: Kysely<unknown>, engine: CatalogEngine): Promise<void> {
    const rest = engine === 'sqlite'
      ? ', path, duration_ms, size_bytes, codec, width, height, source, locked, evidence_locked, incident_id, indexed_at_ms, sha256, chain_seq, chain_hash, media_offset_ms, node_id'
      : '';
    await sql.raw(`CREATE INDEX segments_camera_rows ON segments (camera_id, start_ms, end_ms, id${rest})`).execute(db);
  },
};
