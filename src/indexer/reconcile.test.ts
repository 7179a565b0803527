import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KyselyPlugin } from 'kysely';
import { describe, expect, it } from 'vitest';
import { tempCore } from '../../test/support/temp-core.js';
import type { Core } from '../app.js';
import { indexSegment, pathsUnderQuery } from '../db/segment.repo.js';
import { reconcileCamera } from './reconcile.js';

const T0 = Date.UTC(2026, 10, 26, 9, 0, 0);
let dataDir: string;
let core: Core;
tempCore((c) => ({ dataDir, core } = c), T0);

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
