import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { openDatabase, type OpenedDb } from '../../src/db/connection.js';

/**
 * A fresh catalog (a real SQLite file, migrated) in a temp folder for each test of the calling file:
 * opened before each test and handed to `use`, closed and removed after it (after the file's own
 * afterEach hooks, which run first).
 */
export function tempCatalog(prefix: string, use: (c: { dir: string; opened: OpenedDb }) => void): void {
  let current: { dir: string; opened: OpenedDb } | undefined;
  beforeEach(async () => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    current = { dir, opened: await openDatabase(join(dir, 'vigil.db')) };
    use(current);
  });
  afterEach(async () => {
    if (!current) return;
    await current.opened.close();
    await rm(current.dir, { recursive: true, force: true });
    current = undefined;
  });
}
