/**
 * Catalog backup of a large catalog (`--only backup`, `--rows`, default 1 M segment rows): how long it
 * takes and the longest pause it causes to indexing. A writer indexes rows through the repository
 * (as the indexer does) on a fixed pace, and each insert's delay is measured from the instant it was
 * due to its commit, so a blocked event loop counts, not just the SQL. The same writer runs without a
 * backup (baseline), during a scheduled backup as `vigil serve` makes it (copy and integrity check on a
 * worker thread, then the files hashed) and during `vigil backup` (a separate process with its own
 * read-only connection), in one run.
 */
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { cameraFromInput } from '../src/config/config.js';
import { upsertDeclaredCamera } from '../src/db/camera.repo.js';
import { writeBackup } from '../src/backup/backup-writer.js';
import { backupInWorker } from '../src/db/backup.js';
import { openDatabase, type OpenedDb } from '../src/db/connection.js';
import { indexSegment } from '../src/db/segment.repo.js';
import { tempDir } from './cleanup.js';
import { percentile } from './proc.js';
import { REPO_ROOT } from './processes.js';
import { fmt, type SectionResult } from './report.js';

export interface BackupBenchOptions {
  rows: number;
  /** The writer's pace: one insert due every this many ms (a busy Vigil indexes a few segments a second). */
  paceMs: number;
  baselineSeconds: number;
  log: (msg: string) => void;
}

const SEGMENT_MS = 60_000;
const CAMERAS = 10;

function fileStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').slice(0, 15) + 'Z';
}

/** `rows` contiguous 60 s segments over 10 cameras, with a hash and size like real rows, in big transactions. */
function seed(file: string, rows: number, endMs: number): number {
  const t0 = performance.now();
  const perCam = Math.ceil(rows / CAMERAS);
  const baseMs = Math.floor(endMs / SEGMENT_MS) * SEGMENT_MS - perCam * SEGMENT_MS;
  const db = new BetterSqlite3(file);
  try {
    db.pragma('synchronous = OFF');
    const insert = db.prepare(
      `INSERT INTO segments (camera_id, path, start_ms, end_ms, duration_ms, size_bytes, codec, width, height, source, indexed_at_ms, sha256)
       VALUES (?, ?, ?, ?, ?, ?, 'avc1.64001f', 1280, 720, 'live', ?, ?)`,
    );
    const batch = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        for (let c = 0; c < CAMERAS; c++) {
          const start = baseMs + i * SEGMENT_MS + c * 137;
          const hash = (i * 7919 + c).toString(16).padStart(64, '0');
          insert.run(`cam${c}`, `recordings/cam${c}/${fileStamp(start)}-seed.mp4`, start, start + SEGMENT_MS, SEGMENT_MS, 15_000_000 + ((i * 7919 + c) % 100_000), start + SEGMENT_MS + 300, hash);
        }
      }
    });
    for (let i = 0; i < perCam; i += 5000) batch(i, Math.min(perCam, i + 5000));
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  return (performance.now() - t0) / 1000;
}

interface WriterStats {
  inserts: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * Inserts one segment row every `paceMs` until `until` resolves (or `seconds` pass); each insert's
 * delay runs from when it was due (the previous one's commit + pace) to its commit.
 */
async function runWriter(opened: OpenedDb, state: { nextMs: number }, paceMs: number, until: Promise<unknown>): Promise<WriterStats> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  const delays: number[] = [];
  while (!done) {
    const due = performance.now() + paceMs;
    await new Promise((r) => setTimeout(r, paceMs));
    const start = state.nextMs;
    state.nextMs += 2000;
    await indexSegment(opened.db, { cameraId: 'writer', path: `recordings/writer/${fileStamp(start)}-w${start}.mp4`, startMs: start, endMs: start + 2000, sizeBytes: 500_000, codec: null, width: null, height: null, source: 'live', fps: null }, Date.now());
    delays.push(performance.now() - due);
  }
  return { inserts: delays.length, p50Ms: percentile(delays, 50), p99Ms: percentile(delays, 99), maxMs: Math.max(...delays) };
}

function cliBackup(dataDir: string, to: string): Promise<{ wallMs: number; copyMs: number | null; stdout: string }> {
  const t0 = performance.now();
  const args = ['--import', import.meta.resolve('tsx'), join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'backup', '--to', to, '--data', dataDir];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: dataDir, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`vigil backup failed: ${stderr || err.message}`));
      const m = /copied in ([\d.]+) s/.exec(stdout);
      resolve({ wallMs: performance.now() - t0, copyMs: m ? Number(m[1]) * 1000 : null, stdout });
    });
  });
}

export async function runBackupBench(o: BackupBenchOptions): Promise<SectionResult[]> {
  const dir = await tempDir('vigil-bench-backup-');
  const dataDir = dir.path;
  const dbFile = join(dataDir, 'vigil.db');
  const opened0 = await openDatabase(dbFile);
  for (const id of [...Array.from({ length: CAMERAS }, (_, c) => `cam${c}`), 'writer']) {
    await upsertDeclaredCamera(opened0.db, cameraFromInput({ id, main_url: `rtsp://127.0.0.1:9/${id}`, enabled: false, segment_seconds: 60 }), 'config', Date.now());
  }
  await opened0.close();
  o.log(`  seeding ${o.rows} segment rows…`);
  const seedSeconds = seed(dbFile, o.rows, Date.now() - 86_400_000);
  const dbBytes = statSync(dbFile).size;
  o.log(`  seeded in ${seedSeconds.toFixed(1)} s (${(dbBytes / 1e6).toFixed(0)} MB)`);

  const opened = await openDatabase(dbFile);
  try {
    const state = { nextMs: Date.now() };
    // Warm-up (first statements prepared, pages cached): not counted.
    await runWriter(opened, state, o.paceMs, new Promise((r) => setTimeout(r, 1000)));
    o.log(`  writer alone for ${o.baselineSeconds} s…`);
    const baseline = await runWriter(opened, state, o.paceMs, new Promise((r) => setTimeout(r, o.baselineSeconds * 1000)));

    o.log('  scheduled backup (in vigil serve: copy on a worker thread, then hashes)…');
    const sources = { dataDir, configPath: null, signingKeyPath: join(dataDir, 'no-key.pem'), copyCatalog: (dest: string) => backupInWorker(dbFile, dest) };
    const tScheduled = performance.now();
    const scheduled = writeBackup(sources, join(dataDir, 'scheduled'), Date.now());
    const duringScheduled = await runWriter(opened, state, o.paceMs, scheduled);
    const scheduledResult = await scheduled;
    const scheduledMs = performance.now() - tScheduled;

    o.log('  vigil backup (separate process)…');
    const cli = cliBackup(dataDir, join(dataDir, 'backups'));
    const duringCli = await runWriter(opened, state, o.paceMs, cli);
    const cliResult = await cli;

    const label = o.rows >= 1_000_000 ? `${o.rows / 1_000_000} M` : `${Math.round(o.rows / 1000)} k`;
    const ms = (x: number) => fmt.ms(x, x < 10 ? 1 : 0);
    const rows = [
      { figure: `backup of a ${label}-segment catalog (${(dbBytes / 1e6).toFixed(0)} MB), scheduled in vigil serve`, value: `${fmt.num(scheduledMs / 1000, 1)} s`, goal: `copy ${fmt.num(scheduledResult.copy.durationMs / 1000, 1)} s on a worker, then sha256` },
      { figure: '  concurrent insert delay max / p99 (indexing\'s longest pause)', value: `${ms(duringScheduled.maxMs)} / ${ms(duringScheduled.p99Ms)}`, baseline: `${ms(baseline.maxMs)} / ${ms(baseline.p99Ms)} alone`, goal: `${duringScheduled.inserts} inserts` },
      { figure: `backup of a ${label}-segment catalog: vigil backup (own process)`, value: `${fmt.num((cliResult.copyMs ?? NaN) / 1000, 1)} s copy`, goal: `${fmt.num(cliResult.wallMs / 1000, 1)} s with start-up and hashing` },
      { figure: '  concurrent insert delay max / p99', value: `${ms(duringCli.maxMs)} / ${ms(duringCli.p99Ms)}`, baseline: `${ms(baseline.maxMs)} / ${ms(baseline.p99Ms)} alone`, goal: `${duringCli.inserts} inserts` },
    ];
    return [{ name: 'backup', rows, data: { rows: o.rows, dbBytes, seedSeconds, paceMs: o.paceMs, baseline, scheduled: { wallMs: scheduledMs, copyMs: scheduledResult.copy.durationMs, writer: duringScheduled }, cli: { copyMs: cliResult.copyMs, wallMs: cliResult.wallMs, writer: duringCli } } }];
  } finally {
    await opened.close();
    await dir.remove();
  }
}
