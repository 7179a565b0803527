/**
 * Retention sweep figure: event-loop lag p99 while the sweeper deletes N synthetic segments (real
 * rows in a real SQLite file, real files unlinked, tombstones and fsyncs included), against the lag
 * of the same process idling for as long; and deletions per second.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { buildConfig } from '../src/config/config.js';
import { openDatabase } from '../src/db/connection.js';
import { EventLog } from '../src/events/event-log.js';
import { RetentionService } from '../src/retention/retention.service.js';
import { systemClock } from '../src/shared/clock.js';
import { tempDir } from './cleanup.js';
import type { SectionResult } from './report.js';
import { FootageStore } from '../src/storage/footage-store.js';

export interface RetentionBenchOptions {
  segments: number;
  log: (msg: string) => void;
}

async function lagDuring(work: () => Promise<unknown>): Promise<{ p99Ms: number; maxMs: number; ms: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  h.disable();
  return { p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6, ms };
}

export async function runRetention(o: RetentionBenchOptions): Promise<SectionResult[]> {
  const work = await tempDir('vigil-bench-retention-');
  const dataDir = work.path;
  try {
    const opened = await openDatabase(join(dataDir, 'vigil.db'));
    await opened.close();
    o.log(`  seeding ${o.segments} segment rows and files …`);
    const camDir = join(dataDir, 'recordings', 'cam0');
    await mkdir(camDir, { recursive: true });
    const raw = new Database(join(dataDir, 'vigil.db'));
    const now = Date.now();
    raw.prepare(`INSERT INTO cameras (id, name, main_url, segment_seconds, retention_hours, enabled, origin, created_at_ms, updated_at_ms)
                 VALUES ('cam0', 'cam0', 'rtsp://127.0.0.1:9/x', 2, 1, 0, 'config', ?, ?)`).run(now, now);
    const insert = raw.prepare(`INSERT INTO segments (camera_id, path, start_ms, end_ms, duration_ms, size_bytes, indexed_at_ms)
                                VALUES ('cam0', ?, ?, ?, 2000, 1, ?)`);
    const start = now - 30 * 24 * 3600_000;
    const paths: string[] = [];
    raw.transaction(() => {
      for (let i = 0; i < o.segments; i++) {
        const path = `recordings/cam0/s${String(i).padStart(7, '0')}-bench.mp4`;
        paths.push(path);
        insert.run(path, start + i * 2000, start + i * 2000 + 2000, now);
      }
    })();
    raw.close();
    for (let i = 0; i < paths.length; i += 1000) {
      await Promise.all(paths.slice(i, i + 1000).map((p) => writeFile(join(dataDir, p), 'x')));
    }

    const { db, close } = await openDatabase(join(dataDir, 'vigil.db'));
    const log = pino({ level: 'silent' });
    const config = buildConfig({ retention: { min_free_bytes: 0 } }, { source: null, cwd: dataDir, env: {}, overrides: { dataDir } });
    const svc = new RetentionService({ db, store: new FootageStore(dataDir), clock: systemClock, events: new EventLog(db, systemClock, log), log, config: config.retention });
    o.log('  sweeping …');
    const sweep = await lagDuring(() => svc.sweepOnce({ dryRun: false }));
    const idle = await lagDuring(() => new Promise((r) => setTimeout(r, Math.min(sweep.ms, 10_000))));
    await close();
    const perSecond = o.segments / (sweep.ms / 1000);
    return [
      {
        name: 'retention',
        rows: [
          {
            figure: `Event-loop lag p99 while sweeping ${o.segments} segments (max)`,
            value: `${sweep.p99Ms.toFixed(1)} ms (${sweep.maxMs.toFixed(1)} ms)`,
            baseline: `${idle.p99Ms.toFixed(1)} ms idle`,
            ratio: `${(sweep.p99Ms / Math.max(idle.p99Ms, 0.001)).toFixed(2)}×`,
            goal: `p99 ≤ 50 ms ${sweep.p99Ms <= 50 ? '✓' : '✗'}`,
          },
          { figure: 'Retention deletions per second (row + tombstone + unlink + fsync)', value: `${Math.round(perSecond)} /s` },
        ],
        data: { segments: o.segments, sweepMs: sweep.ms, lagP99Ms: sweep.p99Ms, lagMaxMs: sweep.maxMs, idleP99Ms: idle.p99Ms, deletionsPerSecond: perSecond },
      },
    ];
  } finally {
    await work.remove();
  }
}
