import { stat } from 'node:fs/promises';
import type { RetentionConfig } from '../config/config.js';
import type { Db } from '../db/connection.js';
import { isTombstoned, tombstoneOrphan } from '../db/retention.repo.js';
import { listPathsUnder } from '../db/segment.repo.js';
import type { FootageStore } from './footage-store.js';

/**
 * Files in the recordings folder with no row and older than the grace period (longer than any
 * segment, so never a file still being written) are reclaimed, through a tombstone like any delete.
 * Files a crash left are indexed at start-up before this may see them: the sweeper reclaims none
 * until start-up reconciliation is done (RetentionService.start's `reclaimOrphansAfter`).
 */
export async function reclaimOrphans(
  d: { db: Db; store: FootageStore; config: RetentionConfig },
  nowMs: number,
): Promise<{ segments: number; bytes: number }> {
  const result = { segments: 0, bytes: 0 };
  for (const cameraId of await d.store.cameraIds()) {
    const prefix = d.store.cameraPrefix(cameraId);
    const indexed = await listPathsUnder(d.db, prefix);
    const names = await d.store.fileNames(cameraId);
    const unindexed = names.map((n) => prefix + n).filter((p) => !indexed.has(p));
    const tombstoned = await isTombstoned(d.db, unindexed);
    const old: Array<{ path: string; size: number }> = [];
    for (const p of unindexed) {
      if (tombstoned.has(p)) continue;
      const st = await stat(d.store.absPath(p)).catch(() => undefined);
      if (!st?.isFile() || nowMs - st.mtimeMs < d.config.orphanGraceSeconds * 1000) continue;
      old.push({ path: p, size: st.size });
    }
    for (const o of old) await tombstoneOrphan(d.db, o.path, cameraId, o.size, nowMs, d.store.nodeId);
    await d.store.deleteTombstoned(d.db, old.map((o) => o.path));
    result.segments += old.length;
    result.bytes += old.reduce((a, o) => a + o.size, 0);
  }
  return result;
}
