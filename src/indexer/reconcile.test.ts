import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KyselyPlugin } from 'kysely';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../../test/support/harness.js';
import { buildCore, type Core } from '../app.js';
import { buildConfig, cameraFromInput } from '../config/config.js';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { indexSegment, pathsUnderQuery } from '../db/segment.repo.js';
import { systemClock } from '../shared/clock.js';
import { reconcileCamera } from './reconcile.js';

const T0 = Date.UTC(2026, 10, 26, 9, 0, 0);
let dataDir: string;
let core: Core;

beforeEach(async () => {
  dataDir = await tempDir();
  const config = buildConfig({ retention: { min_free_bytes: 0 } }, { source: null, cwd: dataDir, env: {}, overrides: { dataDir } });
  core = await buildCore(config, systemClock, pino({ level: 'silent' }));
  await upsertDeclaredCamera(core.db, cameraFromInput({ id: 'cam1', main_url: 'rtsp://127.0.0.1:9/x', enabled: false }), 'config', T0);
});

afterEach(async () => {
  await core.close();
  await removeDir(dataDir);
});

/** The SQL of every query run through the returned catalog handle. */
function watched(): { db: Core['db']; sql: string[] } {
  const sql: string[] = [];
  const plugin: KyselyPlugin = {
    transformQuery: (a) => {
      sql.push(core.db.getExecutor().compileQuery(a.node, a.queryId).sql);
      return a.node;
    },
    transformResult: async (a) => a.result,
  };
  return { db: core.db.withPlugin(plugin), sql };
}

describe("a recorder run's reconciliation", () => {
  it("looks up that run's files alone, not the camera's whole listing of indexed paths", async () => {
    const dir = join(dataDir, 'recordings', 'cam1');
    await mkdir(dir, { recursive: true });
    // An earlier run's indexed segments, and the ended run's file under ffmpeg's name (no MP4 in it).
    for (let i = 0; i < 3; i++) {
      const path = `recordings/cam1/20261126T0900${i}0Z-r1-00000${i}.mp4`;
      await writeFile(join(dataDir, path), Buffer.alloc(100));
      await indexSegment(core.db, { cameraId: 'cam1', path, startMs: T0 + i * 10_000, endMs: T0 + (i + 1) * 10_000, sizeBytes: 100, codec: null, width: null, height: null, source: 'live', fps: null }, T0);
    }
    await writeFile(join(dir, 'r2-000000.mp4'), Buffer.alloc(64, 7));
    const w = watched();
    const report = await reconcileCamera({ db: w.db, indexer: core.indexer, events: core.events }, 'cam1', { runId: 'r2' });
    expect(report).toEqual({ recovered: 0, discarded: 1, missing: 0 });
    expect(w.sql).not.toContain(pathsUnderQuery(core.db, 'recordings/cam1/').compile().sql);
    // The earlier run's rows and files are untouched.
    const rows = await core.db.selectFrom('segments').select('path').execute();
    expect(rows).toHaveLength(3);
  });

  it("at start-up still compares the camera's whole folder with its rows (rows whose file is gone are reported)", async () => {
    const path = 'recordings/cam1/20261126T090000Z-r1-000000.mp4';
    await mkdir(join(dataDir, 'recordings', 'cam1'), { recursive: true });
    await indexSegment(core.db, { cameraId: 'cam1', path, startMs: T0, endMs: T0 + 10_000, sizeBytes: 100, codec: null, width: null, height: null, source: 'live', fps: null }, T0);
    const report = await reconcileCamera({ db: core.db, indexer: core.indexer, events: core.events }, 'cam1', { reportMissing: true });
    expect(report).toEqual({ recovered: 0, discarded: 0, missing: 1 });
  });
});
