import { sql, type Kysely } from 'kysely';

/**
 * Motion detection (docs/design.md, "Motion"): a camera's detector settings and its separate retention
 * for footage with motion; the motion intervals found, the zones each touched, and the JPEG of each
 * interval's peak frame. An interval's zones are kept twice on purpose: on its row, so that a day of
 * intervals is read in one indexed range scan, and in motion_zones, so that a zone filter is indexed. An interval is written when its motion ends; retention deletes it once no
 * footage of its camera is left from its time.
 */
// Block comments on added columns: SQLite splices an added column's text into the stored CREATE TABLE.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE cameras ADD COLUMN motion TEXT CHECK (motion IS NULL OR json_valid(motion)) /* JSON detector settings; NULL = detection off */`.execute(db);
  await sql`ALTER TABLE cameras ADD COLUMN retention_hours_motion INTEGER CHECK (retention_hours_motion IS NULL OR retention_hours_motion >= 1) /* footage with motion kept this long; NULL = no separate rule */`.execute(db);

  await sql`
    CREATE TABLE motion_intervals (
      id            INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
      camera_id     TEXT NOT NULL REFERENCES cameras(id),
      start_ms      INTEGER NOT NULL,                  -- first frame with motion (wall clock, UTC ms)
      end_ms        INTEGER NOT NULL CHECK (end_ms >= start_ms), -- last frame with motion
      peak_score    REAL NOT NULL CHECK (peak_score >= 0 AND peak_score <= 100), -- % of the unmasked picture changed, at the peak
      peak_at_ms    INTEGER NOT NULL CHECK (peak_at_ms BETWEEN start_ms AND end_ms),
      zones         TEXT NOT NULL DEFAULT '',           -- the zones touched, sorted, joined by ',' (names are slugs): read with the row; motion_zones is for filtering
      has_thumbnail INTEGER NOT NULL DEFAULT 0 CHECK (has_thumbnail IN (0, 1)),
      created_at_ms INTEGER NOT NULL
    ) STRICT`.execute(db);
  await sql`CREATE INDEX motion_intervals_camera_start ON motion_intervals (camera_id, start_ms)`.execute(db);
  await sql`CREATE INDEX motion_intervals_start ON motion_intervals (start_ms)`.execute(db);

  await sql`
    CREATE TABLE motion_zones (
      interval_id INTEGER NOT NULL REFERENCES motion_intervals(id) ON DELETE CASCADE,
      zone        TEXT NOT NULL,                       -- a zone name of the camera's settings when it was written
      PRIMARY KEY (interval_id, zone)
    ) STRICT, WITHOUT ROWID`.execute(db);
  await sql`CREATE INDEX motion_zones_zone ON motion_zones (zone, interval_id)`.execute(db);

  await sql`
    CREATE TABLE motion_thumbnails (
      interval_id INTEGER PRIMARY KEY REFERENCES motion_intervals(id) ON DELETE CASCADE,
      jpeg        BLOB NOT NULL CHECK (length(jpeg) <= 262144) -- the peak frame, small
    ) STRICT`.execute(db);
}
