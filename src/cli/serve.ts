import { createApp } from '../app.js';
import { loadConfig } from '../config/config.js';
import { VigilError, errorMessage } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { configReloader } from './config-reload.js';

/**
 * `vigil serve`: runs until SIGINT or SIGTERM — the same shutdown for both (a service manager's stop is
 * a Ctrl-C): requests stop, every recorder closes and indexes its last segment, exit 0; a second
 * signal forces the exit. SIGHUP re-reads the config file (cameras, retention) without a restart.
 */
export async function serve(opts: { config?: string | undefined; data?: string | undefined; listen?: string | undefined }): Promise<number> {
  const load = () => loadConfig({ configPath: opts.config, overrides: { dataDir: opts.data, listen: opts.listen } });
  let config;
  try {
    config = load();
  } catch (err) {
    process.stderr.write(`vigil: ${errorMessage(err)}\n`);
    return 2;
  }
  const log = createLogger(config.logLevel);
  // Without a listener Node would exit on SIGHUP: one sent during start-up (a service manager's reload) is only noted.
  const hupDuringStart = () => log.warn({ sig: 'SIGHUP' }, 'configuration reload ignored: still starting');
  process.on('SIGHUP', hupDuringStart);
  let app;
  try {
    app = await createApp(config, { log });
    await app.start();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'EADDRINUSE' ? ` (is another Vigil running on ${config.listen.host}:${config.listen.port}?)` : '';
    log.fatal({ err }, 'start-up failed');
    process.stderr.write(`vigil: start-up failed: ${errorMessage(err)}${hint}\n`);
    await app?.stop().catch(() => undefined);
    return err instanceof VigilError ? 2 : 1;
  }
  log.info({ url: app.url, dataDir: config.dataDir }, `Vigil is recording; API at ${app.url}/api/v1, docs at ${app.url}/api/docs`);
  const running = app;
  const reload = configReloader(running, load, log);
  return new Promise<number>((resolve) => {
    let stopping = false;
    // Reloads run one after another; the last one asked covers those before it.
    let reloading: Promise<void> = Promise.resolve();
    process.off('SIGHUP', hupDuringStart);
    // During shutdown there is nothing left to reload.
    process.on('SIGHUP', () => {
      if (stopping) return;
      log.info({ sig: 'SIGHUP' }, 'reloading the configuration');
      reloading = reload().catch((err: unknown) => log.error({ err }, 'configuration reload failed'));
    });
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ sig }, 'second signal: exiting at once');
        process.exit(1);
      }
      stopping = true;
      log.info({ sig }, 'shutting down: closing the last segments');
      // A reload under way finishes first: a recorder it starts after the shutdown stopped them all would outlive Vigil.
      reloading.then(() => running.stop()).then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
