import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { filesUnder } from './harness.js';

const execFileP = promisify(execFile);

export interface SegRow {
  id: number;
  camera_id: string;
  path: string;
  start_ms: number;
  end_ms: number;
  duration_ms: number;
  size_bytes: number;
  source: string;
  evidence_locked: number;
  incident_id: string | null;
  /** Media time (ms) in the file at the row's start: what an earlier row already covers. */
  media_offset_ms: number;
}

/** Runs one SQL statement on the data dir's database through a second connection (read-only unless `write`). */
export function querySql(dataDir: string, sql: string, opts: { write?: boolean } = {}): unknown[] {
  const db = new Database(join(dataDir, 'vigil.db'), { readonly: !opts.write, fileMustExist: true });
  try {
    const stmt = db.prepare(sql);
    if (stmt.reader) return stmt.all();
    stmt.run();
    return [];
  } finally {
    db.close();
  }
}

/**
 * The counters of every camera and how many segment rows were ever inserted (the AUTOINCREMENT
 * sequence, which deletions never lower), read in one snapshot.
 */
export function readCounters(dataDir: string): { cameras: Map<string, { reconnects: number; written: number }>; rowsEverInserted: number } {
  const db = new Database(join(dataDir, 'vigil.db'), { readonly: true, fileMustExist: true });
  try {
    return db.transaction(() => {
      const rows = db.prepare('SELECT camera_id, reconnect_count, segments_written FROM camera_status').all() as Array<{ camera_id: string; reconnect_count: number; segments_written: number }>;
      const seq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'segments'").get() as { seq: number } | undefined;
      return {
        cameras: new Map(rows.map((r) => [r.camera_id, { reconnects: r.reconnect_count, written: r.segments_written }])),
        rowsEverInserted: seq?.seq ?? 0,
      };
    })();
  } finally {
    db.close();
  }
}

/** Reads the catalog straight from the SQLite file (a second connection, as an auditor would). */
export function readCatalog(dataDir: string) {
  const db = new Database(join(dataDir, 'vigil.db'), { readonly: true, fileMustExist: true });
  try {
    return {
      segments: db.prepare('SELECT * FROM segments ORDER BY camera_id, start_ms').all() as SegRow[],
      gaps: db.prepare('SELECT * FROM recording_gaps ORDER BY camera_id, gap_start_ms').all() as Array<Record<string, number | string>>,
      events: db.prepare('SELECT * FROM events ORDER BY id').all() as Array<{ type: string; camera_id: string | null; request_id: string | null; payload: string; ts_ms: number }>,
      status: db.prepare('SELECT * FROM camera_status').all() as Array<Record<string, number | string | null>>,
      audit: db.prepare('SELECT * FROM audit_log ORDER BY id').all() as Array<Record<string, number | string | null>>,
    };
  } finally {
    db.close();
  }
}

/** The invariants the catalog and the disk must satisfy once no recorder is writing. */
export async function checkConsistency(dataDir: string): Promise<string[]> {
  const problems: string[] = [];
  const { segments } = readCatalog(dataDir);
  const files = new Set((await filesUnder(join(dataDir, 'recordings'))).map((f) => f.slice(dataDir.length + 1)));
  const rows = new Set<string>();
  for (const s of segments) {
    if (rows.has(s.path)) problems.push(`two rows for ${s.path}`);
    rows.add(s.path);
    if (!existsSync(join(dataDir, s.path))) problems.push(`row ${s.id} without file ${s.path}`);
  }
  for (const f of files) if (!rows.has(f)) problems.push(`file without row ${f}`);
  const byCam = new Map<string, SegRow[]>();
  for (const s of segments) byCam.set(s.camera_id, [...(byCam.get(s.camera_id) ?? []), s]);
  for (const [cam, list] of byCam) {
    for (let i = 1; i < list.length; i++) {
      const a = list[i - 1] as SegRow;
      const b = list[i] as SegRow;
      if (a.end_ms > b.start_ms) problems.push(`${cam}: segment ${a.id} overlaps ${b.id} by ${a.end_ms - b.start_ms} ms`);
    }
  }
  return problems;
}

/**
 * The NAL unit types of each video sample of an MP4 file (H.264: 1–5 carry a picture, 9 is an access
 * unit delimiter, 6 SEI, 7/8 parameter sets; H.265: type = (byte >> 1) & 63, 0–31 a picture), read from
 * ffprobe's packet data: samples are NAL units behind 4-byte lengths.
 */
export async function sampleNalTypes(file: string, codec: 'h264' | 'h265' = 'h264'): Promise<number[][]> {
  const { stdout } = await execFileP('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_data', '-show_entries', 'packet=data', '-of', 'json', file], { maxBuffer: 256 * 1024 * 1024 });
  const packets = (JSON.parse(stdout) as { packets: { data: string }[] }).packets;
  return packets.map((p) => {
    const hex = p.data
      .split('\n')
      .map((line) => line.replace(/^[0-9a-f]{8}: /, '').slice(0, 40).replace(/\s+/g, ''))
      .join('');
    const bytes = Buffer.from(hex, 'hex');
    const types: number[] = [];
    for (let o = 0; o + 4 < bytes.length; ) {
      const len = bytes.readUInt32BE(o);
      const b = bytes[o + 4] as number;
      types.push(codec === 'h265' ? (b >> 1) & 63 : b & 31);
      o += 4 + len;
    }
    return types;
  });
}
