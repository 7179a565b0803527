import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../../test/support/harness.js';
import { buildCore, type Core } from '../app.js';
import { buildConfig, cameraFromInput } from '../config/config.js';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { deleteRowWithoutFile } from '../db/check.repo.js';
import { indexSegment } from '../db/segment.repo.js';
import { systemClock } from '../shared/clock.js';
import { checkCatalog } from './check.js';

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

async function segment(i: number): Promise<{ id: number; path: string }> {
  const path = `recordings/cam1/20261126T0900${String(i * 10).padStart(2, '0')}Z-r1-00000${i}.mp4`;
  await mkdir(join(dataDir, 'recordings', 'cam1'), { recursive: true });
  await writeFile(join(dataDir, path), Buffer.alloc(100));
  const r = await indexSegment(core.db, { cameraId: 'cam1', path, startMs: T0 + i * 10_000, endMs: T0 + (i + 1) * 10_000, sizeBytes: 100, codec: null, width: null, height: null, source: 'live', fps: null }, T0);
  return { id: r.segment?.id ?? -1, path };
}

/** What the check needs, with `statFile` as given (a seam to race a deletion or rename against the check). */
function checkDeps(statFile?: (absPath: string) => Promise<{ size: number; mtimeMs: number } | undefined>) {
  return { db: core.db, store: core.store, events: core.events, batchSize: 10, reindex: async () => ({ recovered: 0, discarded: 0 }), ...(statFile ? { statFile } : {}) };
}

describe('vigil check while Vigil runs', () => {
  it('does not report a row that retention deleted, with its file, between reading the rows and the stat', async () => {
    await segment(0);
    const doomed = await segment(1);
    // The sweeper deletes the row and the file just as the check gets to that file.
    const deps = checkDeps(async (absPath) => {
      if (absPath.endsWith(doomed.path)) {
        await deleteRowWithoutFile(core.db, doomed.id, Date.now());
        await rm(absPath);
        return undefined;
      }
      return { size: 100, mtimeMs: T0 };
    });
    const online = await checkCatalog(deps, { repair: false, online: true, nowMs: T0 + 10 * 3600_000 });
    expect(online.problems).toEqual([]);
    expect(online.rows).toBe(1);
  });

  it('still reports a row whose file is gone while the row stays', async () => {
    const lost = await segment(0);
    await rm(join(dataDir, lost.path));
    const deps = checkDeps();
    for (const online of [true, false]) {
      const r = await checkCatalog(deps, { repair: false, online, nowMs: T0 + 10 * 3600_000 });
      expect(r.problems.map((p) => [p.kind, p.segmentId])).toEqual([['missing_file', lost.id]]);
    }
  });

  it('does not report a file the indexer renamed to its indexed name between listing the folder and the stat', async () => {
    await segment(0);
    // ffmpeg's name for a segment that has just closed; the indexer renames it as the check reaches it.
    const open = join(dataDir, 'recordings', 'cam1', 'mx93n8sy-000000.mp4');
    await writeFile(open, Buffer.alloc(100));
    const deps = checkDeps(async (absPath) => {
      if (absPath === open) {
        await rm(absPath);
        return undefined;
      }
      return { size: 100, mtimeMs: T0 };
    });
    const online = await checkCatalog(deps, { repair: false, online: true, nowMs: T0 + 10 * 3600_000 });
    expect(online.problems).toEqual([]);
  });
});
