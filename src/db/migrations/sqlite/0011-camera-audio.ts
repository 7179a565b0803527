import { sql, type Kysely } from 'kysely';

/**
 * Whether a camera's audio is recorded with its video: 'auto' (the default: recorded when the camera
 * sends audio, AAC as sent, other codecs transcoded to AAC) or 'off' (video only, as before).
 */
// A block comment: SQLite splices an added column's text into the stored CREATE TABLE.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE cameras ADD COLUMN audio TEXT NOT NULL DEFAULT 'auto' CHECK (audio IN ('auto', 'off')) /* record the camera's audio: auto or off */`.execute(db);
}
