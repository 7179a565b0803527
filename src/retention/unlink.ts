import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fsyncPath } from '../indexer/fsync.js';

/**
 * Step 2 of a crash-ordered delete: unlink the files (already gone is fine: a previous attempt got
 * there) and fsync their folders, so that dropping the tombstones afterwards is safe.
 */
export async function unlinkAndSync(dataDir: string, relPaths: readonly string[]): Promise<void> {
  const dirs = new Set<string>();
  const CONCURRENCY = 16;
  for (let i = 0; i < relPaths.length; i += CONCURRENCY) {
    await Promise.all(
      relPaths.slice(i, i + CONCURRENCY).map(async (p) => {
        const abs = join(dataDir, p);
        await rm(abs, { force: true });
        dirs.add(dirname(abs));
      }),
    );
  }
  for (const d of dirs) await fsyncPath(d).catch(() => undefined);
}
