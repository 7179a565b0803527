import { sql, type Kysely } from 'kysely';

/**
 * The recording core's tables. Times are integer ms since the Unix epoch (UTC), sizes are bytes,
 * and every state is a CHECK constraint. SQLite keeps these comments in `sqlite_master`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE cameras (
      id                  TEXT PRIMARY KEY,          -- slug: a-z 0-9 _ -, at most 63 chars; names the recordings folder
      name                TEXT NOT NULL,             -- display name
      main_url            TEXT NOT NULL,             -- rtsp(s) URL of the main stream; may hold credentials, never printed
      sub_url             TEXT,                      -- optional sub-stream URL
      segment_seconds     INTEGER NOT NULL CHECK (segment_seconds BETWEEN 2 AND 3600), -- target segment length
      retention_hours     INTEGER CHECK (retention_hours IS NULL OR retention_hours > 0),
      storage_quota_bytes INTEGER CHECK (storage_quota_bytes IS NULL OR storage_quota_bytes > 0),
      enabled             INTEGER NOT NULL CHECK (enabled IN (0, 1)),
      origin              TEXT NOT NULL CHECK (origin IN ('config', 'api', 'demo')), -- who declared it
      created_at_ms       INTEGER NOT NULL,
      updated_at_ms       INTEGER NOT NULL,
      deleted_at_ms       INTEGER                    -- set when deleted; footage is kept until retention removes it
    ) STRICT`.execute(db);

  await sql`
    CREATE TABLE camera_status (
      camera_id          TEXT PRIMARY KEY REFERENCES cameras(id),
      state              TEXT NOT NULL CHECK (state IN ('disabled', 'connecting', 'recording', 'offline', 'error')),
      pid                INTEGER,                    -- recorder ffmpeg pid while it runs; NULL otherwise
      last_error         TEXT CHECK (last_error IS NULL OR length(last_error) <= 800), -- tail of the last failure
      last_started_at_ms INTEGER,                    -- when the current/last recorder process started
      reconnect_count    INTEGER NOT NULL DEFAULT 0 CHECK (reconnect_count >= 0),  -- only moves forward
      segments_written   INTEGER NOT NULL DEFAULT 0 CHECK (segments_written >= 0), -- only moves forward
      last_segment_at_ms INTEGER,                    -- end of the last indexed segment
      bitrate_bps        INTEGER CHECK (bitrate_bps IS NULL OR bitrate_bps >= 0), -- of the last segment
      fps                REAL CHECK (fps IS NULL OR fps >= 0),                     -- of the last segment
      updated_at_ms      INTEGER NOT NULL
    ) STRICT`.execute(db);

  await sql`
    CREATE TABLE segments (
      id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, so a deleted id never comes back
      camera_id       TEXT NOT NULL REFERENCES cameras(id),
      path            TEXT NOT NULL UNIQUE,       -- relative to the data dir: recordings/<camera>/<utc start>.mp4
      start_ms        INTEGER NOT NULL,           -- wall-clock start (UTC), anchored from ffmpeg's media time
      end_ms          INTEGER NOT NULL,           -- start_ms + duration_ms
      duration_ms     INTEGER NOT NULL CHECK (duration_ms >= 0 AND duration_ms <= 7200000), -- media time
      size_bytes      INTEGER NOT NULL CHECK (size_bytes >= 0),
      codec           TEXT,                       -- RFC 6381 codec string of the video track, e.g. avc1.64001f
      width           INTEGER,
      height          INTEGER,
      source          TEXT NOT NULL DEFAULT 'live' CHECK (source IN ('live', 'recovered', 'edge')),
                                                  -- recovered: indexed at start-up from a file a crash left behind
      locked          INTEGER NOT NULL DEFAULT 0 CHECK (locked >= 0), -- transient read-lock reference count
      evidence_locked INTEGER NOT NULL DEFAULT 0 CHECK (evidence_locked IN (0, 1)), -- durable hold
      incident_id     TEXT,                       -- case tag for evidence
      indexed_at_ms   INTEGER NOT NULL,
      CHECK (end_ms = start_ms + duration_ms)
    ) STRICT`.execute(db);
  // Range queries bound start_ms on both sides (a segment is at most 2 h long), so this one index serves them.
  await sql`CREATE INDEX segments_camera_start ON segments (camera_id, start_ms)`.execute(db);

  await sql`
    CREATE TABLE recording_gaps (
      id             INTEGER PRIMARY KEY AUTOINCREMENT,
      camera_id      TEXT NOT NULL REFERENCES cameras(id),
      gap_start_ms   INTEGER NOT NULL,              -- end of the segment before the hole
      gap_end_ms     INTEGER NOT NULL,              -- start of the segment after the hole
      fill_state     TEXT NOT NULL DEFAULT 'pending'
                       CHECK (fill_state IN ('pending', 'filling', 'filled', 'partial', 'failed')),
      fill_attempts  INTEGER NOT NULL DEFAULT 0 CHECK (fill_attempts >= 0),
      last_error     TEXT CHECK (last_error IS NULL OR length(last_error) <= 800),
      detected_at_ms INTEGER NOT NULL,
      CHECK (gap_end_ms - gap_start_ms > 3000),     -- only holes longer than 3 s are gaps
      UNIQUE (camera_id, gap_start_ms)              -- a re-scan never records a gap twice
    ) STRICT`.execute(db);

  await sql`
    CREATE TABLE events (
      id         INTEGER PRIMARY KEY AUTOINCREMENT,
      ts_ms      INTEGER NOT NULL,
      type       TEXT NOT NULL,                      -- e.g. recording_gap, recorder_exited, camera_created
      severity   TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
      camera_id  TEXT,                               -- no foreign key: the log outlives cameras
      payload    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
      request_id TEXT                                -- the request that caused it; NULL when the system acted alone
    ) STRICT`.execute(db);
  await sql`CREATE INDEX events_ts ON events (ts_ms)`.execute(db);
  await sql`CREATE INDEX events_camera_ts ON events (camera_id, ts_ms)`.execute(db);
  await sql`CREATE INDEX events_type_ts ON events (type, ts_ms)`.execute(db);
}
