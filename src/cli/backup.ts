import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildCore } from '../app.js';
import { writeBackup } from '../backup/backup-writer.js';
import { restoreCatalog } from '../backup/restore.js';
import type { Config } from '../config/config.js';
import { backupCatalogFile } from '../db/backup.js';
import { cameraIdTaken } from '../db/camera.repo.js';
import { reconcileCamera } from '../indexer/reconcile.js';
import { systemClock } from '../shared/clock.js';
import { errorMessage, VigilError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { checkCatalog, type CheckReport } from '../storage/check.js';
import { loadForCommand, type CommonFlags } from './maintenance.js';

/** Usage and precondition errors exit 2 (like the other commands), everything else 1. */
function fail(what: string, err: unknown): number {
  process.stderr.write(`vigil: ${what}: ${errorMessage(err)}\n`);
  return err instanceof VigilError && (err.kind === 'invalid_argument' || err.kind === 'failed_precondition') ? 2 : 1;
}

/**
 * `vigil backup --to DIR`: an online copy of the catalog beside a running Vigil (its own read-only
 * connection, never the pid lock), with the config and the signing key, in `DIR/vigil-<stamp>/`.
 */
export async function backup(flags: CommonFlags & { to: string }): Promise<number> {
  const config = loadForCommand(flags);
  if (!config) return 2;
  if (config.catalogUrl !== undefined) {
    process.stderr.write(`vigil: backup: the catalog is on PostgreSQL (catalog.url): vigil backup and restore copy the SQLite catalog only; back PostgreSQL up with its own tools (pg_dump, base backups: docs/operations.md, "PostgreSQL catalog")\n`);
    return 2;
  }
  const catalog = join(config.dataDir, 'vigil.db');
  if (!existsSync(catalog)) {
    process.stderr.write(`vigil: backup: no catalog at ${catalog} (is --data right?)\n`);
    return 2;
  }
  try {
    const sources = {
      dataDir: config.dataDir,
      configPath: config.source,
      signingKeyPath: config.evidence.signingKeyPath,
      copyCatalog: (dest: string) => backupCatalogFile(catalog, dest),
    };
    const r = await writeBackup(sources, resolve(flags.to), systemClock.nowMs());
    const files = Object.keys(r.manifest.files).join(', ');
    process.stdout.write(
      [
        `backup written to ${r.dir}`,
        `  ${files} (${(r.bytes / 1e6).toFixed(1)} MB), catalog at migration ${r.manifest.schema_migration ?? 'none'}, ${r.manifest.row_counts['segments'] ?? 0} segments`,
        `  copied in ${(r.copy.durationMs / 1000).toFixed(2)} s`,
        ...(r.manifest.signing_key_source ? [] : ['  no signing key found: none in the backup']),
      ].join('\n') + '\n',
    );
    return 0;
  } catch (err) {
    return fail('backup failed', err);
  }
}

/**
 * `vigil restore --from DIR/vigil-<stamp>`: the backup's catalog into a stopped data dir, then the
 * reconciliation `vigil check --repair` does, so the catalog agrees with the files that exist now.
 */
export async function restore(flags: CommonFlags & { from: string }): Promise<number> {
  const config = loadForCommand(flags);
  if (!config) return 2;
  if (config.catalogUrl !== undefined) {
    process.stderr.write(`vigil: restore: the catalog is on PostgreSQL (catalog.url): vigil backup and restore copy the SQLite catalog only; back PostgreSQL up with its own tools (pg_dump, base backups: docs/operations.md, "PostgreSQL catalog")\n`);
    return 2;
  }
  const from = resolve(flags.from);
  let restored;
  try {
    restored = await restoreCatalog({ from, dataDir: config.dataDir, signingKeyPath: config.evidence.signingKeyPath, nowMs: systemClock.nowMs() });
  } catch (err) {
    return fail('restore refused', err);
  }
  const m = restored.manifest;
  process.stdout.write(
    [
      `restored the catalog of ${m.created_at} (${m.row_counts['segments'] ?? 0} segments) into ${config.dataDir}`,
      ...restored.movedAside.map((p) => `  previous catalog kept as ${p}`),
      `  signing key: ${restored.key === 'restored' ? 'restored from the backup' : restored.key === 'kept' ? `kept the one at ${config.evidence.signingKeyPath}` : 'none (a new one is made at the next start)'}`,
    ].join('\n') + '\n',
  );
  try {
    return await reconcile(config);
  } catch (err) {
    return fail('restore: reconciliation failed (the restored catalog is in place; run vigil check --repair)', err);
  }
}

async function reconcile(config: Config): Promise<number> {
  const log = createLogger(process.env['VIGIL_LOG_LEVEL'] || 'warn');
  const core = await buildCore(config, systemClock, log);
  try {
    const unknown: string[] = [];
    const deps = {
      db: core.db,
      store: core.store,
      events: core.events,
      batchSize: config.retention.batchSize,
      signer: core.signingKey,
      // A camera added after the backup is not in the restored catalog: its files wait for the camera
      // (from the config at the next start, or added again), as start-up reconciliation does.
      reindex: async (cameraId: string) => {
        const taken = await cameraIdTaken(core.db, cameraId);
        if (!taken.live && !taken.deleted) {
          unknown.push(cameraId);
          return { recovered: 0, discarded: 0 };
        }
        return reconcileCamera({ db: core.db, indexer: core.indexer, events: core.events }, cameraId);
      },
    };
    const found = await checkCatalog(deps, { repair: true, online: false, nowMs: systemClock.nowMs() });
    const after = await checkCatalog(deps, { repair: false, online: false, nowMs: systemClock.nowMs() });
    process.stdout.write(`${summary(found, after, unknown).join('\n')}\n`);
    return after.problems.length === 0 ? 0 : 1;
  } finally {
    await core.close();
  }
}

function summary(found: CheckReport, after: CheckReport, unknown: string[]): string[] {
  const count = (r: CheckReport, kind: string) => r.problems.filter((p) => p.kind === kind).length;
  const lines = [
    'reconciled with the recordings:',
    `  files with no row in the backup (recorded after it): ${count(found, 'unindexed_file')}`,
    `  rows whose file is gone (deleted after the backup): ${count(found, 'missing_file')}`,
    ...found.repaired.slice(0, 50).map((x) => `  ${x}`),
    ...unknown.map((c) => `  recordings/${c}: camera not in the restored catalog; its files are indexed once the camera exists again`),
    `  now: ${after.rows} rows, ${after.files} files, ${after.problems.length === 0 ? 'no problems' : `${after.problems.length} problems`}`,
    ...after.problems.slice(0, 50).map((p) => `    ${p.kind} ${p.path ?? ''}${p.segmentId ? ` (segment ${p.segmentId})` : ''}: ${p.detail}`),
  ];
  return lines;
}
