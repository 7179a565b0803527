import type { VigilApp } from '../app.js';
import type { Config } from '../config/config.js';
import { diffConfigs, type ConfigChanges } from '../config/reload.js';
import { errorMessage, VigilError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

/**
 * SIGHUP: re-read the config file and apply what a running Vigil can apply — the cameras (added ones
 * start recording, removed ones stop, changed ones restart only their own recorder) and the retention
 * settings. A file that does not load changes nothing. Other keys are reported as waiting for a
 * restart, at every reload until then. Reloads run one at a time, in the order asked.
 */
export function configReloader(app: VigilApp, load: () => Config, log: Logger): () => Promise<void> {
  // What is in force: the start-up config with the cameras and retention of the last good reload.
  let current: Config = app.config;
  let chain = Promise.resolve();

  async function reloadOnce(): Promise<void> {
    let next: Config;
    try {
      next = load();
    } catch (err) {
      await refuse(err, current.source);
      return;
    }
    const changes = diffConfigs(current, next);
    let removed: string[];
    try {
      removed = await app.cameras.applyFromFile([...changes.added, ...changes.changed.map((c) => c.camera)], changes.removed);
    } catch (err) {
      // The catalog refused a write: what was written is re-applied by the next reload (upserts), or the next start.
      await refuse(err, next.source);
      return;
    }
    if (changes.retention) app.retention.setConfig(next.retention);
    current = { ...current, cameras: next.cameras, retention: next.retention };
    const payload = describe(changes, removed);
    log.info(payload, 'configuration reloaded');
    if (changes.needRestart.length > 0) {
      log.warn({ keys: changes.needRestart }, `configuration reloaded; ignored until restart: ${changes.needRestart.join(', ')}`);
    }
    await app.events.emit({ type: 'config_reloaded', requestId: null, payload });
  }

  async function refuse(err: unknown, file: string | null): Promise<void> {
    const message = errorMessage(err);
    const field = err instanceof VigilError ? (err.field ?? null) : null;
    log.error({ err, field }, `configuration reload refused, nothing changed: ${message}`);
    await app.events.emit({ type: 'config_reload_failed', severity: 'warning', requestId: null, payload: { file, field, message } });
  }

  return () => {
    const run = chain.then(reloadOnce);
    chain = run.catch(() => undefined);
    return run;
  };
}

function describe(c: ConfigChanges, removed: string[]) {
  return {
    cameras_added: c.added.map((cam) => cam.id),
    cameras_removed: removed,
    cameras_changed: c.changed.map((ch) => ({ id: ch.camera.id, fields: ch.fields })),
    retention_changed: c.retention,
    ignored_until_restart: c.needRestart,
  };
}
