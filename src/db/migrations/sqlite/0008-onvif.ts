import { sql, type Kysely } from 'kysely';

/**
 * A camera's ONVIF device service: Vigil reads its clock (GetSystemDateAndTime) and warns when it
 * drifts, since edge refills render replay URLs from wall-clock times.
 */
// A block comment: SQLite splices an added column's text into the stored CREATE TABLE.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE cameras ADD COLUMN onvif_url TEXT CHECK (onvif_url IS NULL OR (length(onvif_url) <= 2048 AND (onvif_url LIKE 'http://%' OR onvif_url LIKE 'https://%'))) /* ONVIF device service URL; may hold credentials, never printed */`.execute(db);
}
