import { pino } from 'pino';
import { afterEach, beforeEach } from 'vitest';
import { buildCore, type Core } from '../../src/app.js';
import { buildConfig, cameraFromInput } from '../../src/config/config.js';
import { upsertDeclaredCamera } from '../../src/db/camera.repo.js';
import { systemClock } from '../../src/shared/clock.js';
import { removeDir, tempDir } from './harness.js';

/**
 * A fresh data dir and Vigil's core on it (catalog, footage store, indexer, events; no recorder, no
 * HTTP) for each test of the calling file, with camera `cam1` declared (disabled; `camera` adds to its
 * config input, e.g. `{ retention_hours: 1 }`), declared at `atMs`. Handed to `use` before each test;
 * closed and removed after it.
 */
export function tempCore(use: (c: { dataDir: string; core: Core }) => void, atMs: number, camera: Record<string, unknown> = {}): void {
  let current: { dataDir: string; core: Core } | undefined;
  beforeEach(async () => {
    const dataDir = await tempDir();
    const config = buildConfig({ retention: { min_free_bytes: 0 } }, { source: null, cwd: dataDir, env: {}, overrides: { dataDir } });
    const core = await buildCore(config, systemClock, pino({ level: 'silent' }));
    await upsertDeclaredCamera(core.db, cameraFromInput({ id: 'cam1', main_url: 'rtsp://127.0.0.1:9/x', enabled: false, ...camera }), 'config', atMs);
    current = { dataDir, core };
    use(current);
  });
  afterEach(async () => {
    if (!current) return;
    await current.core.close();
    await removeDir(current.dataDir);
    current = undefined;
  });
}
