import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db } from '../db/connection.js';
import { dropTombstones, isTombstoned, tombstoneOrphan } from '../db/retention.repo.js';
import { listPathsUnder } from '../db/segment.repo.js';
import { unlinkAndSync } from './unlink.js';
import type { RetentionConfig } from '../config/config.js';

/**
 * Files in the recordings folder with no row and older than the grace period (longer than any
 * segment, so never a file still being written) are reclaimed, through a tombstone like any delete.
 * Files a crash left are indexed at start-up before this could ever see them.
 */
export async function reclaimOrphans(
  d: { db: Db; dataDir: string; config: RetentionConfig },
  nowMs: number,
): Promise<{ segments: number; bytes: number }> {
  const root = join(d.dataDir, 'recordings');
  const result = { segments: 0, bytes: 0 };
  const cams = await readdir(root, { withFileTypes: true }).catch(() => []);
  for (const cam of cams) {
    if (!cam.isDirectory()) continue;
    const prefix = `recordings/${cam.name}/`;
    const indexed = await listPathsUnder(d.db, prefix);
    const names = await readdir(join(root, cam.name)).catch(() => [] as string[]);
    const unindexed = names.map((n) => prefix + n).filter((p) => !indexed.has(p));
    const tombstoned = await isTombstoned(d.db, unindexed);
    const old: Array<{ path: string; size: number }> = [];
    for (const p of unindexed) {
      if (tombstoned.has(p)) continue;
      const st = await stat(join(d.dataDir, p)).catch(() => undefined);
      if (!st?.isFile() || nowMs - st.mtimeMs < d.config.orphanGraceSeconds * 1000) continue;
      old.push({ path: p, size: st.size });
    }
    for (const o of old) await tombstoneOrphan(d.db, o.path, cam.name, o.size, nowMs);
    await unlinkAndSync(d.dataDir, old.map((o) => o.path));
    await dropTombstones(d.db, old.map((o) => o.path));
    result.segments += old.length;
    result.bytes += old.reduce((a, o) => a + o.size, 0);
  }
  return result;
}
