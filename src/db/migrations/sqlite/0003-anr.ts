import { sql, type Kysely } from 'kysely';

/**
 * Edge-storage backfill (ANR). Each camera may name a replay source on its own SD card; each gap
 * carries when its next refill attempt is due (exponential backoff after a failure).
 */
// Column comments are block comments: SQLite splices an added column's text into the stored
// CREATE TABLE, where a line comment would swallow the closing parenthesis.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE cameras ADD COLUMN anr_enabled INTEGER NOT NULL DEFAULT 0 CHECK (anr_enabled IN (0, 1)) /* refill gaps from edge storage */`.execute(db);
  await sql`ALTER TABLE cameras ADD COLUMN anr_replay_url_template TEXT CHECK (anr_replay_url_template IS NULL OR (length(anr_replay_url_template) <= 2048 AND (anr_replay_url_template LIKE 'rtsp://%' OR anr_replay_url_template LIKE 'rtsps://%'))) /* replay URL with {start:FMT} {end:FMT} {user} {password} {host} {port}; may hold credentials, never printed */`.execute(db);
  await sql`ALTER TABLE cameras ADD COLUMN anr_timezone TEXT NOT NULL DEFAULT 'UTC' CHECK (length(anr_timezone) BETWEEN 1 AND 64) /* IANA zone of the camera clock (dahua time format) */`.execute(db);
  await sql`ALTER TABLE cameras ADD COLUMN anr_preset TEXT CHECK (anr_preset IS NULL OR anr_preset IN ('hikvision', 'dahua', 'generic')) /* builds the template from main_url; a written template wins */`.execute(db);
  await sql`ALTER TABLE recording_gaps ADD COLUMN next_attempt_at_ms INTEGER /* earliest next refill attempt (UTC ms); NULL = as soon as it is pending */`.execute(db);
  // The refill scan: pending gaps whose attempt is due, oldest first.
  await sql`CREATE INDEX recording_gaps_fill ON recording_gaps (fill_state, gap_start_ms)`.execute(db);
}
