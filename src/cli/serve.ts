import { createApp } from '../app.js';
import { loadConfig } from '../config/config.js';
import { VigilError, errorMessage } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';

/** `vigil serve`: runs until SIGINT/SIGTERM, then shuts down in order (a second signal forces it). */
export async function serve(opts: { config?: string | undefined; data?: string | undefined; listen?: string | undefined }): Promise<number> {
  let config;
  try {
    config = loadConfig({ configPath: opts.config, overrides: { dataDir: opts.data, listen: opts.listen } });
  } catch (err) {
    process.stderr.write(`vigil: ${errorMessage(err)}\n`);
    return 2;
  }
  const log = createLogger(config.logLevel);
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
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ sig }, 'second signal: exiting at once');
        process.exit(1);
      }
      stopping = true;
      log.info({ sig }, 'shutting down: closing the last segments');
      running.stop().then(
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
