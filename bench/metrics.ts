/**
 * `/metrics` scrape time with many cameras: p50/p95 of scrapes of a Vigil with `cameras` cameras
 * configured (pointed at a closed port: they never record, but each has its status row and gaps, so
 * every per-camera series is there), against `GET /api/v1/healthz` in the same run, interleaved so
 * that background load hits both alike. No scrape query reads the segments table (bytes written are
 * counted as rows are written), so footage rows are not seeded: their number does not matter.
 */
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { pino } from 'pino';
import { createApp } from '../src/app.js';
import { buildConfig, cameraFromInput } from '../src/config/config.js';
import { upsertDeclaredCamera } from '../src/db/camera.repo.js';
import { openDatabase } from '../src/db/connection.js';
import { benchCredentials } from './auth.js';
import { defer, tempDir } from './cleanup.js';
import { percentile, sleep } from './proc.js';
import { fmt, type SectionResult } from './report.js';

export interface MetricsBenchOptions {
  cameras: number;
  /** Timed scrapes (and as many health requests). */
  scrapes: number;
  log: (msg: string) => void;
}

const GAPS_PER_CAMERA = 4;
const WARMUP = 5;
const OFFLINE = /^vigil_camera_state\{[^}]*state="offline"\} 1$/gm;

/** A few gaps for every camera in the last day, so the gap families hold real sums. */
function seedGaps(file: string, ids: readonly string[], endMs: number): void {
  const db = new BetterSqlite3(file);
  try {
    const gap = db.prepare('INSERT INTO recording_gaps (camera_id, gap_start_ms, gap_end_ms, last_error, detected_at_ms) VALUES (?, ?, ?, NULL, ?)');
    db.transaction(() => {
      for (const id of ids) {
        for (let g = 1; g <= GAPS_PER_CAMERA; g++) {
          const start = endMs - g * 3600_000;
          gap.run(id, start, start + 20_000, start + 30_000);
        }
      }
    })();
  } finally {
    db.close();
  }
}

/** Milliseconds to fetch `url` and read its whole body. */
async function timed(url: string, headers: Record<string, string>): Promise<{ ms: number; text: string }> {
  const t = performance.now();
  const res = await fetch(url, { headers });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${text.slice(0, 200)}`);
  return { ms: performance.now() - t, text };
}

export async function runMetrics(o: MetricsBenchOptions): Promise<SectionResult[]> {
  const dir = await tempDir('vigil-bench-metrics-');
  try {
    const dbFile = join(dir.path, 'vigil.db');
    const ids = Array.from({ length: o.cameras }, (_, c) => `cam${c}`);
    // Port 9 (discard) is closed here: each recorder fails to connect once, then waits out its backoff.
    const camInputs = ids.map((id) => ({ id, main_url: `rtsp://127.0.0.1:9/${id}`, segment_seconds: 60 }));
    const opened = await openDatabase(dbFile);
    for (const c of camInputs) await upsertDeclaredCamera(opened.db, cameraFromInput(c), 'config', Date.now());
    await opened.close();
    seedGaps(dbFile, ids, Date.now());

    const config = buildConfig(
      {
        demo: false,
        listen: '127.0.0.1:0',
        log_level: 'info',
        // One failed connection per camera, then quiet: the scrape is what is measured.
        recorder: { backoff_initial_ms: 600_000, backoff_max_ms: 600_000 },
        retention: { min_free_bytes: 0 },
        media: { warm_decoders: 0 },
        cameras: camInputs,
      },
      { source: null, cwd: dir.path, env: {}, overrides: { dataDir: dir.path } },
    );
    const log = pino({ level: 'info' }, pino.destination('/dev/null'));
    const app = await createApp(config, { log });
    const stopApp = defer('in-process Vigil', () => app.stop());
    const { headers } = await benchCredentials(app);
    try {
      await app.start();
      // Let every recorder's first attempt fail and settle (state offline, one reconnect each).
      for (let i = 0; i < 60; i++) {
        const offline = (await (await fetch(`${app.url}/metrics`, { headers })).text()).match(OFFLINE)?.length ?? 0;
        if (offline >= o.cameras) break;
        await sleep(500);
      }
      const metricsUrl = `${app.url}/metrics`;
      const healthUrl = `${app.url}/api/v1/healthz`;
      for (let i = 0; i < WARMUP; i++) {
        await timed(metricsUrl, headers);
        await timed(healthUrl, headers);
      }
      const scrapeMs: number[] = [];
      const healthMs: number[] = [];
      let text = '';
      for (let i = 0; i < o.scrapes; i++) {
        // Alternate which goes first, so neither always follows the other's garbage.
        const pair = i % 2 === 0 ? [metricsUrl, healthUrl] : [healthUrl, metricsUrl];
        for (const url of pair) {
          const r = await timed(url, headers);
          if (url === metricsUrl) {
            scrapeMs.push(r.ms);
            text = r.text;
          } else healthMs.push(r.ms);
        }
      }
      const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
      const offline = text.match(OFFLINE)?.length ?? 0;
      const s = { p50: percentile(scrapeMs, 50), p95: percentile(scrapeMs, 95) };
      const h = { p50: percentile(healthMs, 50), p95: percentile(healthMs, 95) };
      const label = `/metrics scrape, ${o.cameras} cameras (${series} series, ${(text.length / 1024).toFixed(0)} KiB)`;
      return [
        {
          name: 'metrics',
          rows: [
            { figure: `${label} p50`, value: fmt.ms(s.p50, 1), baseline: `${fmt.ms(h.p50, 1)} healthz`, ratio: fmt.ratio(s.p50 / h.p50) },
            { figure: `${label} p95`, value: fmt.ms(s.p95, 1), baseline: `${fmt.ms(h.p95, 1)} healthz`, ratio: fmt.ratio(s.p95 / h.p95) },
          ],
          data: { cameras: o.cameras, camerasOffline: offline, gaps: GAPS_PER_CAMERA * o.cameras, scrapes: o.scrapes, series, scrapeBytes: text.length, scrapeMs: s, healthzMs: h },
        },
      ];
    } finally {
      await stopApp();
    }
  } finally {
    await dir.remove();
  }
}
