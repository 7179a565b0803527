import { sql, type Kysely } from 'kysely';

/**
 * Where a segment's footage begins inside its file (docs/design.md, "Time truth"). A row's `start_ms`
 * is the instant of the file's media time `media_offset_ms`, not of its first frame, whenever the
 * file holds footage before the row's start: a row clamped after an earlier segment (an edge refill
 * pulled again over footage already indexed), or a refill pulled from the whole second before its gap.
 * Readers (snapshots, clips) seek to `instant − start_ms + media_offset_ms` in the file.
 */
// A block comment: SQLite splices an added column's text into the stored CREATE TABLE.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE segments ADD COLUMN media_offset_ms INTEGER NOT NULL DEFAULT 0 CHECK (media_offset_ms >= 0) /* media time (ms) in the file at start_ms */`.execute(db);
}
