/**
 * Motion search on a big catalog: `intervals` motion intervals over `cameras` cameras and `days` days
 * (zones on ~30 %, a stand-in thumbnail on each), then listMotion in the shapes the API runs, each
 * timed `queries` times, against a `SELECT 1` through the same Kysely db as the baseline.
 */
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { openDatabase, type Db } from '../src/db/connection.js';
import { listMotion, motionDensity, type MotionQuery } from '../src/db/motion.repo.js';
import { CAMERA_MOTION_MAX } from '../src/footage/motion-search.js';
import { tempDir } from './cleanup.js';
import { percentile } from './proc.js';
import { check, fmt, goal, type Row, type SectionResult } from './report.js';
// The torture storms' seeded generator (mulberry32): every run seeds the same catalog.
import { prng } from '../torture/storm.js';

export interface MotionSearchOptions {
  intervals: number;
  cameras: number;
  days: number;
  queries: number;
  log: (msg: string) => void;
}

const DAY_MS = 86_400_000;
const ZONES = ['door', 'drive', 'yard'];
const WARMUP = 20;
const GOAL_P99_MS = 5;


/** Seeds in time order, cameras interleaved, as detectors would write them; returns zone rows written. */
function seed(file: string, o: MotionSearchOptions, fromMs: number): number {
  const db = new BetterSqlite3(file);
  const rnd = prng(16);
  let zoneRows = 0;
  try {
    db.pragma('synchronous = OFF');
    db.pragma('foreign_keys = OFF');
    const cam = db.prepare(
      `INSERT INTO cameras (id, name, main_url, segment_seconds, enabled, origin, created_at_ms, updated_at_ms) VALUES (?, ?, 'rtsp://127.0.0.1:1/x', 10, 1, 'api', ?, ?)`,
    );
    for (let c = 0; c < o.cameras; c++) cam.run(`cam${c}`, `Camera ${c}`, fromMs, fromMs);
    const iv = db.prepare('INSERT INTO motion_intervals (id, camera_id, start_ms, end_ms, peak_score, peak_at_ms, zones, has_thumbnail, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)');
    const zone = db.prepare('INSERT INTO motion_zones (interval_id, zone) VALUES (?, ?)');
    const thumb = db.prepare('INSERT INTO motion_thumbnails (interval_id, jpeg) VALUES (?, ?)');
    const jpeg = Buffer.alloc(32, 0xff);
    const perCam = Math.ceil(o.intervals / o.cameras);
    const slotMs = Math.floor((o.days * DAY_MS) / perCam);
    let id = 0;
    const batch = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        for (let c = 0; c < o.cameras && id < o.intervals; c++) {
          const durMs = 1000 + Math.floor(rnd() * Math.min(60_000, slotMs - 2000));
          const start = fromMs + i * slotMs + Math.floor(rnd() * (slotMs - durMs));
          const end = start + durMs;
          id++;
          // As insertMotionInterval writes them: the zones on the row (sorted, joined) and in motion_zones.
          const zones: string[] = [];
          if (rnd() < 0.3) {
            const k = Math.floor(rnd() * ZONES.length);
            zones.push(ZONES[k] as string);
            if (rnd() < 0.3) zones.push(ZONES[(k + 1) % ZONES.length] as string);
          }
          zones.sort();
          iv.run(id, `cam${c}`, start, end, Math.round((0.5 + rnd() * 79.5) * 100) / 100, start + Math.floor(rnd() * durMs), zones.join(','), end + 200);
          thumb.run(id, jpeg);
          for (const z of zones) {
            zone.run(id, z);
            zoneRows++;
          }
        }
      }
    });
    const step = Math.max(1, Math.floor(50_000 / o.cameras));
    for (let i = 0; i < perCam; i += step) batch(i, Math.min(perCam, i + step));
    db.exec('ANALYZE');
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  return zoneRows;
}

interface Timing {
  p50: number;
  p99: number;
  rows: number;
}

/** Times `shape(i)` and `SELECT 1` alternately (so background load hits both alike); ms percentiles and mean rows. */
async function timeShape(db: Db, n: number, shape: (i: number) => Promise<number>): Promise<[Timing, Timing]> {
  const select1 = async () => (await sql`SELECT 1 AS one`.execute(db)).rows.length;
  for (let i = 0; i < WARMUP; i++) {
    await shape(i);
    await select1();
  }
  const ms: [number[], number[]] = [[], []];
  let rows = 0;
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    rows += await shape(WARMUP + i);
    ms[0].push(performance.now() - t);
    t = performance.now();
    await select1();
    ms[1].push(performance.now() - t);
  }
  const timing = (xs: number[], r: number): Timing => ({ p50: percentile(xs, 50), p99: percentile(xs, 99), rows: r });
  return [timing(ms[0], rows / n), timing(ms[1], 1)];
}

export async function runMotionSearch(o: MotionSearchOptions): Promise<SectionResult> {
  const dir = await tempDir('vigil-bench-motion-search-');
  try {
    const file = join(dir.path, 'vigil.db');
    const nowMs = Date.now();
    const fromMs = nowMs - o.days * DAY_MS;
    // Migrations through the product's own opening; the rows through raw prepared statements for speed.
    await (await openDatabase(file)).close();
    o.log(`  seeding ${o.intervals} motion intervals over ${o.cameras} cameras and ${o.days} days…`);
    const t0 = performance.now();
    const zoneRows = seed(file, o, fromMs);
    const seedSeconds = (performance.now() - t0) / 1000;
    const opened = await openDatabase(file);
    try {
      const db = opened.db;
      const rnd = prng(7);
      const camera = () => `cam${Math.floor(rnd() * o.cameras)}`;
      // A `to` somewhere in the last days - 7 days, so that every query has a full 7-day range behind it.
      const searchTo = () => nowMs - Math.floor(rnd() * (o.days - 7) * DAY_MS);
      const search = (extra: Partial<MotionQuery>): MotionQuery => {
        const toMs = searchTo();
        return { fromMs: toMs - 7 * DAY_MS, toMs, limit: 101, order: 'desc', ...extra };
      };
      const shapes: Array<{ label: string; run: (i: number) => Promise<number> }> = [
        {
          // What the console's timeline asks at 24 h: the day's motion counted in 300 buckets (288 s each).
          label: 'one camera, one day as density (GET /cameras/:id/motion?bucket_seconds=288)',
          run: async () => {
            const fromMs = nowMs - Math.ceil(rnd() * (o.days - 1)) * DAY_MS;
            return (await motionDensity(db, { cameraId: camera(), fromMs, toMs: fromMs + DAY_MS, bucketMs: 288_000 })).length;
          },
        },
        {
          // The console's motion list at 24 h (and each "More"): the newest 60 of the day.
          label: 'one camera, one day, newest 60 (GET /motion?camera_id&limit=60)',
          run: async () => {
            const fromMs = nowMs - Math.ceil(rnd() * (o.days - 1)) * DAY_MS;
            return (await listMotion(db, { cameraId: camera(), fromMs, toMs: fromMs + DAY_MS, limit: 61, order: 'desc' })).length;
          },
        },
        {
          // "Next motion" (N) from an instant: the first interval after it.
          label: 'one camera, next motion after an instant (GET /cameras/:id/motion?from&limit=2)',
          run: async () => {
            const fromMs = nowMs - Math.floor(rnd() * (o.days - 1) * DAY_MS);
            return (await listMotion(db, { cameraId: camera(), fromMs, toMs: fromMs + DAY_MS, limit: 2, order: 'asc' })).length;
          },
        },
        {
          // "Previous motion" (P) from an instant: the last interval before it.
          label: 'one camera, previous motion before an instant (GET /motion?camera_id&to&limit=1)',
          run: async () => {
            const toMs = nowMs - Math.floor(rnd() * (o.days - 1) * DAY_MS);
            return (await listMotion(db, { cameraId: camera(), fromMs: toMs - DAY_MS, toMs, limit: 2, order: 'desc' })).length;
          },
        },
        {
          // For reference: every interval of the day, as the console asked before the density answer.
          label: 'one camera, one day, every interval (reference: no longer what the console asks)',
          run: async () => {
            const fromMs = nowMs - Math.ceil(rnd() * (o.days - 1)) * DAY_MS;
            return (await listMotion(db, { cameraId: camera(), fromMs, toMs: fromMs + DAY_MS, limit: CAMERA_MOTION_MAX, order: 'asc' })).length;
          },
        },
        { label: 'all cameras, newest 100 in 7 days (GET /motion)', run: async () => (await listMotion(db, search({}))).length },
        { label: 'all cameras, 7 days, zone=door', run: async () => (await listMotion(db, search({ zone: 'door' }))).length },
        { label: 'all cameras, 7 days, min_score=60', run: async () => (await listMotion(db, search({ minScore: 60 }))).length },
        {
          label: 'all cameras, 7 days, next page by cursor',
          run: async () => {
            // The first page is what the client already has; only the next one is timed.
            const q = search({});
            const first = await listMotion(db, q);
            const last = first[99];
            if (!last) return 0;
            const t = performance.now();
            const next = await listMotion(db, { ...q, after: { startMs: last.startMs, id: last.id } });
            pageMs.push(performance.now() - t);
            return next.length;
          },
        },
      ];
      const pageMs: number[] = [];
      const rows: Row[] = [];
      const results: Record<string, { p50Ms: number; p99Ms: number; meanRows: number; baselineP50Ms: number; baselineP99Ms: number }> = {};
      for (const s of shapes) {
        o.log(`  ${o.queries} × ${s.label}`);
        pageMs.length = 0;
        let [t, base] = await timeShape(db, o.queries, s.run);
        // The cursor shape's timing is the next page alone (the first page was not part of it).
        if (pageMs.length > 0) {
          const timed = pageMs.slice(-o.queries);
          t = { p50: percentile(timed, 50), p99: percentile(timed, 99), rows: t.rows };
        }
        results[s.label] = { p50Ms: t.p50, p99Ms: t.p99, meanRows: t.rows, baselineP50Ms: base.p50, baselineP99Ms: base.p99 };
        rows.push({
          figure: `Motion search ${rowsLabel(o.intervals)}: ${s.label}, ${Math.round(t.rows)} rows (p50 / p99)`,
          value: `${fmt.ms(t.p50, 2)} / ${fmt.ms(t.p99, 2)}`,
          baseline: `${fmt.ms(base.p50, 3)} / ${fmt.ms(base.p99, 3)} SELECT 1`,
          ratio: fmt.ratio(t.p50 / base.p50),
          goal: goal(`p99 ≤ ${GOAL_P99_MS} ms`, check(t.p99, (p) => p <= GOAL_P99_MS)),
        });
      }
      return {
        name: 'motion-search',
        rows,
        data: {
          intervals: o.intervals,
          cameras: o.cameras,
          days: o.days,
          zoneRows,
          thumbnails: 'a 32-byte stand-in per interval (the queries only test that one exists)',
          seedSeconds,
          queriesPerShape: o.queries,
          warmup: WARMUP,
          method: 'listMotion / motionDensity (src/db/motion.repo.ts) with the arguments the API passes; each query alternated with a SELECT 1 through the same Kysely db; the ratio is p50 over SELECT 1 p50',
          shapes: results,
          goalP99Ms: GOAL_P99_MS,
        },
      };
    } finally {
      await opened.close();
    }
  } finally {
    await dir.remove();
  }
}

function rowsLabel(n: number): string {
  return n >= 1_000_000 ? `${n / 1_000_000} M` : `${Math.round(n / 1000)} k`;
}
