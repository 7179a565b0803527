import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { upsertDeclaredCamera } from '../../src/db/camera.repo.js';
import { openDatabase } from '../../src/db/connection.js';
import { indexSegment } from '../../src/db/segment.repo.js';
import { sleep } from '../../src/shared/sleep.js';
import { startChildVigil } from '../support/child-vigil.js';
import { checkConsistency, readCatalog } from '../support/footage.js';
import { removeDir, tempDir, waitFor } from '../support/harness.js';

const run = promisify(execFile);
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SEGMENTS = 3000;

async function seed(dataDir: string): Promise<void> {
  const { db, close } = await openDatabase(join(dataDir, 'vigil.db'));
  const start = Date.now() - 10 * 24 * 3600_000;
  await upsertDeclaredCamera(db, { id: 'old', name: 'old', mainUrl: 'rtsp://127.0.0.1:9/x', subUrl: null, segmentSeconds: 60, retentionHours: 24, storageQuotaBytes: null, enabled: false }, 'config', Date.now());
  await mkdir(join(dataDir, 'recordings', 'old'), { recursive: true });
  for (let i = 0; i < SEGMENTS; i++) {
    const t = start + i * 60_000;
    const path = `recordings/old/${new Date(t).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-seed.mp4`;
    await writeFile(join(dataDir, path), 'x');
    await indexSegment(db, { cameraId: 'old', path, startMs: t, endMs: t + 60_000, sizeBytes: 1, codec: null, width: null, height: null, source: 'live', fps: null }, Date.now());
  }
  // A few held segments that must survive everything.
  await db.updateTable('segments').set({ evidence_locked: 1, incident_id: 'case-7' }).where('id', 'in', [5, 500, 2500]).execute();
  await close();
}

describe('kill -9 of Vigil during a retention sweep', () => {
  it('at several points: after restart the catalog is consistent, nothing deleted comes back, evidence stays', async () => {
    const dataDir = await tempDir();
    await seed(dataDir);
    const config = { cameras: [], retention: { min_free_bytes: 0, batch_size: 50 } };
    const gone = new Set<number>();
    const seen = new Set(readCatalog(dataDir).segments.map((s) => s.id));
    try {
      for (const delayMs of [0, 40, 120, 300]) {
        const vigil = await startChildVigil(dataDir, config);
        await sleep(delayMs);
        await vigil.kill9();
        const now = new Set(readCatalog(dataDir).segments.map((s) => s.id));
        for (const id of seen) if (!now.has(id)) gone.add(id);
        for (const id of gone) expect(now.has(id)).toBe(false);
      }
      // The last start finishes the sweep; then an orderly stop.
      const vigil = await startChildVigil(dataDir, config);
      await waitFor('sweep done', () => readCatalog(dataDir).segments.length === 3, 30_000);
      expect(await vigil.term()).toBe(0);
      const cat = readCatalog(dataDir);
      expect(cat.segments.map((s) => s.id)).toEqual([5, 500, 2500]);
      expect(await checkConsistency(dataDir)).toEqual([]);
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check', '--data', dataDir], { cwd: ROOT });
      expect(stdout).toContain('no problems');
    } finally {
      await removeDir(dataDir);
    }
  });
});
