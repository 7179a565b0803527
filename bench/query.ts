/**
 * Figure 3: segment-list and timeline queries on a catalog seeded with synthetic rows (repository
 * functions vs the same SQL through a bare prepared statement), and API requests/s for the segment
 * list vs a hello-world Fastify route in the same process.
 */
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import Fastify from 'fastify';
import { pino } from 'pino';
import { buildHttpServer } from '../src/api/server.js';
import { createApp } from '../src/app.js';
import { AuthService, type Principal } from '../src/auth/auth.service.js';
import { CAPABILITIES } from '../src/auth/capabilities.js';
import { buildConfig, cameraFromInput } from '../src/config/config.js';
import { upsertDeclaredCamera } from '../src/db/camera.repo.js';
import { openDatabase } from '../src/db/connection.js';
import { listSegments, listSpans, MAX_SEGMENT_MS } from '../src/db/segment.repo.js';
import { benchCredentials } from './auth.js';
import { defer, tempDir } from './cleanup.js';
import { runLoad, type LoadResult } from './load.js';
import { percentile } from './proc.js';
import { fmt, type Row, type SectionResult } from './report.js';

export interface QueryOptions {
  rows: number;
  cameras: number;
  queries: number;
  httpSeconds: number;
  concurrency: number;
  log: (msg: string) => void;
}

const SEGMENT_MS = 60_000;
const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
const PAGE = 100;

function fileStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').slice(0, 15) + 'Z';
}

/** Inserts `rows` contiguous 60 s segments spread over `cameras` cameras, interleaved in time as live recording would. */
function seed(file: string, rows: number, cameras: number, endMs: number): { baseMs: number; perCam: number; seconds: number } {
  const t0 = performance.now();
  const perCam = Math.ceil(rows / cameras);
  const baseMs = Math.floor(endMs / SEGMENT_MS) * SEGMENT_MS - perCam * SEGMENT_MS;
  const db = new BetterSqlite3(file);
  try {
    db.pragma('synchronous = OFF');
    const insert = db.prepare(
      `INSERT INTO segments (camera_id, path, start_ms, end_ms, duration_ms, size_bytes, codec, width, height, source, indexed_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, 'avc1.64001f', 1280, 720, 'live', ?)`,
    );
    const batch = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        for (let c = 0; c < cameras; c++) {
          const start = baseMs + i * SEGMENT_MS + c * 137;
          const id = `cam${c}`;
          insert.run(id, `recordings/${id}/${fileStamp(start)}-seed.mp4`, start, start + SEGMENT_MS, SEGMENT_MS, 15_000_000 + ((i * 7919 + c) % 100_000), start + SEGMENT_MS + 300);
        }
      }
    });
    const step = Math.max(1, Math.floor(50_000 / cameras));
    for (let i = 0; i < perCam; i += step) batch(i, Math.min(perCam, i + step));
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  return { baseMs, perCam, seconds: (performance.now() - t0) / 1000 };
}

interface Timing {
  p50: number;
  p99: number;
  rows: number;
}

type Query = (i: number) => Promise<number> | number;

/**
 * Times `a` and `b` on the same inputs, interleaved (a/b, then b/a, …) so that cache warming and
 * background load favour neither; returns µs percentiles and mean rows returned.
 */
async function timePair(n: number, warmup: number, a: Query, b: Query): Promise<[Timing, Timing]> {
  for (let i = 0; i < warmup; i++) {
    await a(i);
    await b(i);
  }
  const us: [number[], number[]] = [[], []];
  const rows = [0, 0];
  const run = async (k: 0 | 1, i: number) => {
    const t = performance.now();
    rows[k] = (rows[k] as number) + (await (k === 0 ? a : b)(i));
    us[k].push((performance.now() - t) * 1000);
  };
  for (let i = 0; i < n; i++) {
    const first = (i % 2) as 0 | 1;
    await run(first, warmup + i);
    await run((1 - first) as 0 | 1, warmup + i);
  }
  const t = (k: 0 | 1): Timing => ({ p50: percentile(us[k], 50), p99: percentile(us[k], 99), rows: (rows[k] as number) / n });
  return [t(0), t(1)];
}

function rowsLabel(n: number): string {
  return n >= 1_000_000 ? `${n / 1_000_000} M` : `${Math.round(n / 1000)} k`;
}

export async function runQuery(o: QueryOptions): Promise<SectionResult[]> {
  const dir = await tempDir('vigil-bench-query-');
  try {
    const dbFile = join(dir.path, 'vigil.db');
    const ids = Array.from({ length: o.cameras }, (_, c) => `cam${c}`);
    const camInputs = ids.map((id) => ({ id, main_url: `rtsp://127.0.0.1:9/${id}`, enabled: false, segment_seconds: 60 }));
    const opened = await openDatabase(dbFile);
    for (const c of camInputs) await upsertDeclaredCamera(opened.db, cameraFromInput(c), 'config', Date.now());
    await opened.close();
    o.log(`  seeding ${o.rows} segment rows for ${o.cameras} cameras…`);
    const seeded = seed(dbFile, o.rows, o.cameras, Date.now());
    o.log(`  seeded in ${seeded.seconds.toFixed(1)} s`);
    const spanMs = seeded.perCam * SEGMENT_MS;

    const config = buildConfig(
      { demo: false, listen: '127.0.0.1:0', log_level: 'info', cameras: camInputs },
      { source: null, cwd: dir.path, env: {}, overrides: { dataDir: dir.path } },
    );
    // Vigil's own logger settings (info, request logging on), written to /dev/null instead of stdout.
    const log = pino({ level: 'info', base: { app: 'vigil' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination('/dev/null'));
    const app = await createApp(config, { log });
    const stopApp = defer('in-process Vigil', () => app.stop());
    const { key, username, password } = await benchCredentials(app);
    const admin = { username, password };
    // The baseline for the cost of authentication: the same server and route, whose credentials are not looked up.
    const everything: Principal = { kind: 'api_key', id: 0, name: 'bench', role: 'admin', capabilities: new Set(CAPABILITIES), cameras: 'all' };
    class TrustingAuth extends AuthService {
      override async byApiKey(): Promise<Principal> {
        return everything;
      }
    }
    const bare = await buildHttpServer({ ...app.httpDeps, auth: new TrustingAuth({ db: app.db, clock: { nowMs: Date.now }, config: config.auth }) });
    const bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });
    const stopBare = defer('unauthenticated twin server', () => bare.close());
    const hello = Fastify();
    hello.get('/bench-hello', async () => ({ hello: 'world' }));
    const helloUrl = await hello.listen({ host: '127.0.0.1', port: 0 });
    const stopHello = defer('hello-world Fastify', () => hello.close());
    const raw = new BetterSqlite3(dbFile, { readonly: true });
    const stopRaw = defer('raw sqlite', () => void raw.close());
    try {
      await app.start();
      // The same random windows for the repository function and its bare-SQL baseline.
      let seedRand = 42;
      const rand = () => ((seedRand = (seedRand * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const windows = (len: number) =>
        Array.from({ length: o.queries + 20 }, () => ({ cam: ids[Math.floor(rand() * ids.length)] as string, from: seeded.baseMs + Math.floor(rand() * (spanMs - len)) }));
      const segSql = raw.prepare(
        'SELECT * FROM segments WHERE camera_id = ? AND start_ms > ? AND start_ms < ? AND end_ms > ? ORDER BY start_ms, end_ms, id LIMIT ?',
      );
      const spanSql = raw.prepare(
        'SELECT start_ms, end_ms FROM segments WHERE camera_id = ? AND start_ms > ? AND start_ms < ? AND end_ms > ? ORDER BY start_ms',
      );
      const cases: Array<{ label: string; key: string; repo: Timing; raw: Timing }> = [];
      for (const [len, lenLabel] of [[HOUR_MS, '1 h'], [DAY_MS, '24 h']] as const) {
        const w = windows(len);
        const at = (i: number) => w[i % w.length] as { cam: string; from: number };
        const [segRepo, segRaw] = await timePair(
          o.queries,
          20,
          async (i) => (await listSegments(app.db, { cameraId: at(i).cam, fromMs: at(i).from, toMs: at(i).from + len, limit: PAGE + 1 })).length,
          (i) => segSql.all(at(i).cam, at(i).from - MAX_SEGMENT_MS, at(i).from + len, at(i).from, PAGE + 1).length,
        );
        cases.push({ label: `listSegments ${lenLabel}, limit ${PAGE}`, key: `listSegments_${lenLabel.replace(' ', '')}`, repo: segRepo, raw: segRaw });
        const [spanRepo, spanRaw] = await timePair(
          o.queries,
          20,
          async (i) => (await listSpans(app.db, at(i).cam, at(i).from, at(i).from + len)).length,
          (i) => spanSql.all(at(i).cam, at(i).from - MAX_SEGMENT_MS, at(i).from + len, at(i).from).length,
        );
        cases.push({ label: `listSpans (timeline) ${lenLabel}`, key: `listSpans_${lenLabel.replace(' ', '')}`, repo: spanRepo, raw: spanRaw });
      }

      const w = windows(DAY_MS);
      const segPaths = w.map((x) => `/api/v1/cameras/cam0/segments?from=${new Date(x.from).toISOString()}&to=${new Date(x.from + DAY_MS).toISOString()}&limit=${PAGE}`);
      const segUrls = segPaths.map((p) => `${app.url}${p}`);
      const bareUrls = segPaths.map((p) => `${bareUrl}${p}`);
      const keyHeaders = { authorization: `Bearer ${key}` };
      const login = await fetch(`${app.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(admin) });
      const sessionHeaders = { cookie: (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '' };
      const helloUrls = [`${helloUrl}/bench-hello`];
      o.log(`  HTTP: ${o.concurrency} concurrent fetch loops, ${o.httpSeconds} s per route`);
      // Alternating slices (hello, segments, hello, …) so that a change in background load hits both alike.
      await runLoad(helloUrls, o.concurrency, 1);
      await runLoad(segUrls, o.concurrency, 1, keyHeaders);
      await runLoad(bareUrls, o.concurrency, 1, keyHeaders);
      const rounds = Math.max(1, Math.round(o.httpSeconds / 2.5));
      const helloSlices: LoadResult[] = [];
      const segSlices: LoadResult[] = [];
      const sessionSlices: LoadResult[] = [];
      const bareSlices: LoadResult[] = [];
      for (let r = 0; r < rounds; r++) {
        helloSlices.push(await runLoad(helloUrls, o.concurrency, o.httpSeconds / rounds));
        segSlices.push(await runLoad(segUrls, o.concurrency, o.httpSeconds / rounds, keyHeaders));
        sessionSlices.push(await runLoad(segUrls, o.concurrency, o.httpSeconds / rounds, sessionHeaders));
        bareSlices.push(await runLoad(bareUrls, o.concurrency, o.httpSeconds / rounds, keyHeaders));
      }
      const helloRes = mergeLoad(helloSlices);
      const segRes = mergeLoad(segSlices);
      const sessionRes = mergeLoad(sessionSlices);
      const bareRes = mergeLoad(bareSlices);
      for (const [name, r] of [['segments (API key)', segRes], ['segments (session)', sessionRes], ['segments (no auth)', bareRes], ['hello', helloRes]] as const) {
        if (r.errors > 0) o.log(`  HTTP errors: ${name} ${r.errors} (${r.firstError ?? ''})`);
      }

      const label = rowsLabel(o.rows);
      const rows: Row[] = cases.map((c) => ({
        figure: `${c.label} (${label} rows; p50 / p99)`,
        value: `${fmt.us(c.repo.p50)} / ${fmt.us(c.repo.p99)}`,
        baseline: `${fmt.us(c.raw.p50)} / ${fmt.us(c.raw.p99)} (bare SQL)`,
        ratio: fmt.ratio(c.repo.p50 / c.raw.p50),
      }));
      rows.push({
        figure: `API segment list req/s (24 h window, page of ${PAGE}, ${o.concurrency} loops)`,
        value: `${fmt.num(segRes.rps)} req/s`,
        baseline: `${fmt.num(helloRes.rps)} req/s (hello-world)`,
        ratio: fmt.ratio(segRes.rps / helloRes.rps),
      });
      rows.push({
        figure: `Authenticated segment list, API key (${o.concurrency} loops)`,
        value: `${fmt.num(segRes.rps)} req/s`,
        baseline: `${fmt.num(bareRes.rps)} req/s (same route, credentials not looked up)`,
        ratio: fmt.ratio(segRes.rps / bareRes.rps),
      });
      rows.push({
        figure: `Authenticated segment list, session cookie (${o.concurrency} loops)`,
        value: `${fmt.num(sessionRes.rps)} req/s`,
        baseline: `${fmt.num(bareRes.rps)} req/s (same route, credentials not looked up)`,
        ratio: fmt.ratio(sessionRes.rps / bareRes.rps),
      });
      const data: Record<string, unknown> = {
        rows: o.rows,
        cameras: o.cameras,
        segmentMs: SEGMENT_MS,
        seedSeconds: seeded.seconds,
        queriesPerCase: o.queries,
        timingsMicroseconds: Object.fromEntries(cases.map((c) => [c.key, { repo: c.repo, bareSql: c.raw, ratioP50: c.repo.p50 / c.raw.p50 }])),
        http: { concurrency: o.concurrency, seconds: o.httpSeconds, segments: loadJson(segRes), hello: loadJson(helloRes), ratio: segRes.rps / helloRes.rps },
        auth: { apiKey: loadJson(segRes), session: loadJson(sessionRes), unauthenticated: loadJson(bareRes), keyRatio: segRes.rps / bareRes.rps, sessionRatio: sessionRes.rps / bareRes.rps },
      };
      return [{ name: 'query', rows, data }];
    } finally {
      await stopRaw();
      await stopBare();
      await stopHello();
      await stopApp();
    }
  } finally {
    await dir.remove();
  }
}

function mergeLoad(slices: LoadResult[]): LoadResult {
  const sum = (f: (r: LoadResult) => number) => slices.reduce((a, r) => a + f(r), 0);
  const ok = sum((r) => r.ok);
  const elapsedSeconds = sum((r) => r.elapsedSeconds);
  const latencies = slices.flatMap((r) => r.latencies);
  return {
    ok,
    errors: sum((r) => r.errors),
    firstError: slices.find((r) => r.firstError)?.firstError ?? null,
    bytes: sum((r) => r.bytes),
    elapsedSeconds,
    rps: ok / elapsedSeconds,
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
    latencies,
  };
}

function loadJson(r: LoadResult): Record<string, unknown> {
  return { rps: r.rps, ok: r.ok, errors: r.errors, seconds: r.elapsedSeconds, firstError: r.firstError, bytesPerResponse: r.ok ? r.bytes / r.ok : 0, latencyMs: r.latencyMs };
}
