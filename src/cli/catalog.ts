import { join } from 'node:path';
import { loadConfig } from '../config/config.js';
import { CatalogCopyError, copyCatalog } from '../db/catalog-copy.js';
import { openDatabase } from '../db/connection.js';
import { errorMessage } from '../shared/errors.js';
import { redactUrl } from '../shared/redact.js';

// The catalog and the config only: neither command loads the recorder or the HTTP server.

interface CommonFlags {
  config?: string | undefined;
  data?: string | undefined;
}

/**
 * `vigil migrate`: applies the catalog's pending migrations (SQLite file or PostgreSQL URL, as the
 * config says) and says which. Exit 0 done (or already up to date), 1 the catalog could not be opened
 * or a migration failed (nothing of that migration kept), 2 bad usage or config.
 */
export async function migrateCommand(flags: CommonFlags): Promise<number> {
  let target: string;
  try {
    const config = loadConfig({ configPath: flags.config, overrides: { dataDir: flags.data } });
    // As buildCore (src/app.ts) opens it.
    target = config.catalogUrl ?? join(config.dataDir, 'vigil.db');
  } catch (err) {
    process.stderr.write(`vigil: ${errorMessage(err)}\n`);
    return 2;
  }
  try {
    const opened = await openDatabase(target);
    await opened.close();
    const where = `${opened.engine} catalog ${redactUrl(target)}`;
    process.stdout.write(opened.applied.length === 0 ? `${where}: up to date\n` : `${where}: applied ${opened.applied.join(', ')}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`vigil: migrate ${redactUrl(target)}: ${errorMessage(err)}\n`);
    return 1;
  }
}

/**
 * `vigil catalog copy --from sqlite:<file> --to postgres://…`: exit 0 copied and every table's count
 * verified; 1 the copy failed (nothing committed in the target); 2 bad usage (a missing source, a URL
 * that is not PostgreSQL); 3 the target catalog is not empty (nothing written).
 */
export async function catalogCopy(opts: { from: string; to: string }): Promise<number> {
  try {
    const report = await copyCatalog(opts.from, opts.to);
    const total = Object.values(report.rows).reduce((a, b) => a + b, 0);
    for (const [table, n] of Object.entries(report.rows)) process.stdout.write(`${table.padEnd(20)} ${n}\n`);
    process.stdout.write(`copied ${total} rows into ${redactUrl(opts.to)}; every table's count verified\n`);
    return 0;
  } catch (err) {
    if (err instanceof CatalogCopyError) {
      process.stderr.write(`vigil: catalog copy: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`vigil: catalog copy failed, nothing was committed: ${errorMessage(err)}\n`);
    return 1;
  }
}
