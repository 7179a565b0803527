import { generateKeyPairSync, sign as edSign } from 'node:crypto';
import { join } from 'node:path';
import { sql } from 'kysely';
import { upsertDeclaredCamera } from '../src/db/camera.repo.js';
import { openDatabase, type Db, type OpenedDb } from '../src/db/connection.js';
import { indexSegment, listSegments } from '../src/db/segment.repo.js';
import type { Signer } from '../src/shared/evidence-hash.js';
import { startPgCluster } from '../test/support/pg-cluster.js';
import { defer, tempDir } from './cleanup.js';
import { percentile } from './proc.js';
import { fmt, type SectionResult } from './report.js';

/**
 * The catalog on both engines (issue 19): how many segments a second each indexes for 500 simulated
 * cameras with 10 s segments (what 500 cameras need: 50/s), and listSegments' p95 (a page of 100 of a
 * camera's hour) on PostgreSQL ÷ SQLite. Both through Vigil's own repositories: each segment is one
 * `indexSegment` transaction (clamp, insert, counters, gap check, a signed chain link), the cameras'
 * writers concurrent, as the indexer runs them. SQLite: WAL, synchronous=NORMAL (Vigil's settings);
 * PostgreSQL 15 on loopback with the server's defaults (fsync on, synchronous_commit on: every commit
 * waits for its WAL flush, which SQLite's NORMAL does not).
 */
export interface CatalogBenchOptions {
  cameras: number;
  /** Segments indexed per camera in the write figure. */
  segmentsPerCamera: number;
  /** Rows per camera in the table the query figure reads. */
  rowsPerCamera: number;
  queries: number;
  log: (msg: string) => void;
}

const SEGMENT_MS = 10_000;
const T0 = Date.UTC(2026, 0, 1);

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const fingerprint = publicKey.export({ type: 'spki', format: 'der' }).subarray(-32).toString('hex');
const signer: Signer = { sign: (data) => ({ signature: edSign(null, data, privateKey).toString('base64'), fingerprint }) };

const cameraId = (i: number) => `cam${String(i).padStart(3, '0')}`;

async function seedCameras(db: Db, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await upsertDeclaredCamera(db, { id: cameraId(i), name: cameraId(i), mainUrl: `rtsp://10.0.0.1/${i}`, subUrl: null, segmentSeconds: 10, retentionHours: null, storageQuotaBytes: null, enabled: true }, 'config', T0);
  }
}

/** Every camera's writer indexes its next segment as soon as its last one is in: segments/s over the whole run. */
async function writeRate(db: Db, o: CatalogBenchOptions, firstSegment: number): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: o.cameras }, async (_, c) => {
      for (let k = firstSegment; k < firstSegment + o.segmentsPerCamera; k++) {
        const start = T0 + k * SEGMENT_MS;
        await indexSegment(
          db,
          { cameraId: cameraId(c), path: `recordings/${cameraId(c)}/${start}.mp4`, startMs: start, endMs: start + SEGMENT_MS, sizeBytes: 2_500_000, codec: 'avc1.64001f', width: 1920, height: 1080, source: 'live', fps: 25, sha256: 'ab'.repeat(32) },
          start + SEGMENT_MS,
          undefined,
          signer,
        );
      }
    }),
  );
  return (o.cameras * o.segmentsPerCamera) / ((performance.now() - t0) / 1000);
}

/** The rows the queries read, written in bulk (the write figure is the one above). */
async function fill(db: Db, o: CatalogBenchOptions, firstSegment: number): Promise<void> {
  const BATCH = 1000;
  let rows: Array<Record<string, unknown>> = [];
  const flush = async () => {
    if (rows.length > 0) await db.insertInto('segments').values(rows as never).execute();
    rows = [];
  };
  for (let c = 0; c < o.cameras; c++) {
    for (let k = firstSegment; k < firstSegment + o.rowsPerCamera; k++) {
      const start = T0 + k * SEGMENT_MS;
      rows.push({ camera_id: cameraId(c), path: `recordings/${cameraId(c)}/${start}.mp4`, start_ms: start, end_ms: start + SEGMENT_MS, duration_ms: SEGMENT_MS, size_bytes: 2_500_000, codec: 'avc1.64001f', width: 1920, height: 1080, source: 'live', indexed_at_ms: start + SEGMENT_MS, sha256: 'ab'.repeat(32) });
      if (rows.length >= BATCH) await flush();
    }
  }
  await flush();
}

/** listSegments of a random camera's random hour, a page of 100: per-query ms, one at a time. */
async function queryTimes(db: Db, o: CatalogBenchOptions, spanSegments: number): Promise<number[]> {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const hour = 3_600_000;
  const spanMs = spanSegments * SEGMENT_MS;
  for (let i = 0; i < 20; i++) await listSegments(db, { cameraId: cameraId(0), fromMs: T0, toMs: T0 + hour, limit: 100 });
  const times: number[] = [];
  for (let i = 0; i < o.queries; i++) {
    const from = T0 + Math.floor(rnd() * Math.max(1, spanMs - hour));
    const cam = cameraId(Math.floor(rnd() * o.cameras));
    const t = performance.now();
    const page = await listSegments(db, { cameraId: cam, fromMs: from, toMs: from + hour, limit: 100 });
    times.push(performance.now() - t);
    if (page.length === 0) throw new Error(`no segments for ${cam} at ${from}`);
  }
  return times;
}

async function measure(opened: OpenedDb, o: CatalogBenchOptions, label: string): Promise<{ rate: number; p50: number; p95: number }> {
  await seedCameras(opened.db, o.cameras);
  o.log(`  ${label}: indexing ${o.cameras} cameras × ${o.segmentsPerCamera} segments …`);
  const rate = await writeRate(opened.db, o, 0);
  o.log(`  ${label}: ${rate.toFixed(0)} segments/s; filling ${o.cameras * o.rowsPerCamera} rows for the queries …`);
  await fill(opened.db, o, o.segmentsPerCamera);
  // Statistics for the planner after a bulk load, on both (PostgreSQL's autovacuum would gather them a while later).
  await sql`ANALYZE`.execute(opened.db);
  const times = await queryTimes(opened.db, o, o.segmentsPerCamera + o.rowsPerCamera);
  return { rate, p50: percentile(times, 50), p95: percentile(times, 95) };
}

export async function runCatalogBench(o: CatalogBenchOptions): Promise<SectionResult[]> {
  const { path: dir } = await tempDir('vigil-bench-catalog-');
  const cluster = await startPgCluster({ durable: true });
  const stopCluster = defer('PostgreSQL cluster', () => cluster.stop());
  try {
    const lite = await openDatabase(join(dir, 'vigil.db'));
    const sqliteFig = await measure(lite, o, 'SQLite').finally(() => lite.close());
    const post = await openDatabase(cluster.adminUrl);
    const pgFig = await measure(post, o, 'PostgreSQL').finally(() => post.close());
    const need = o.cameras / (SEGMENT_MS / 1000);
    const rows = o.cameras * (o.segmentsPerCamera + o.rowsPerCamera);
    return [
      {
        name: 'catalog',
        rows: [
          {
            figure: `Catalog write rate, ${o.cameras} simulated cameras, 10 s segments (indexSegment: row, counters, gap check, signed chain link), PostgreSQL 15`,
            value: `${fmt.num(pgFig.rate)} segments/s`,
            baseline: `SQLite ${fmt.num(sqliteFig.rate)} segments/s`,
            ratio: fmt.ratio(pgFig.rate / sqliteFig.rate),
            goal: `≥ ${need} segments/s (what ${o.cameras} cameras write)`,
          },
          {
            figure: `listSegments p95 (a camera's hour, page of 100; ${rows} rows), PostgreSQL ÷ SQLite`,
            value: `${fmt.ms(pgFig.p95, 2)} (p50 ${fmt.ms(pgFig.p50, 2)})`,
            baseline: `SQLite ${fmt.ms(sqliteFig.p95, 2)} (p50 ${fmt.ms(sqliteFig.p50, 2)})`,
            ratio: fmt.ratio(pgFig.p95 / sqliteFig.p95),
          },
        ],
        data: { cameras: o.cameras, segmentsPerCamera: o.segmentsPerCamera, rows, queries: o.queries, sqlite: sqliteFig, postgres: pgFig },
      },
    ];
  } finally {
    await stopCluster();
  }
}
