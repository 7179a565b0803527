import { buildCore } from '../app.js';
import { loadConfig, type Config } from '../config/config.js';
import { checkCatalog, type CheckReport } from '../storage/check.js';
import { systemClock } from '../shared/clock.js';
import { errorMessage } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { runningServer } from '../shared/pid-file.js';
import { reconcileCamera } from '../indexer/reconcile.js';

export interface CommonFlags {
  config?: string | undefined;
  data?: string | undefined;
}

/** The config for a maintenance command, or undefined after saying on stderr why it does not load. */
export function loadForCommand(flags: CommonFlags): Config | undefined {
  try {
    return loadConfig({ configPath: flags.config, overrides: { dataDir: flags.data } });
  } catch (err) {
    process.stderr.write(`vigil: ${errorMessage(err)}\n`);
    return undefined;
  }
}

/** `vigil check [--repair]`: exit 0 when consistent (or repaired), 1 when problems remain, 2 on bad usage. */
export async function check(flags: CommonFlags & { repair?: boolean; deep?: boolean }): Promise<number> {
  const config = loadForCommand(flags);
  if (!config) return 2;
  const log = createLogger(process.env['VIGIL_LOG_LEVEL'] || 'warn');
  const online = (await runningServer(config.dataDir)) !== undefined;
  const core = await buildCore(config, systemClock, log);
  try {
    const deps = {
      db: core.db,
      store: core.store,
      events: core.events,
      batchSize: config.retention.batchSize,
      signer: core.signingKey,
      reindex: (cameraId: string) => reconcileCamera({ db: core.db, indexer: core.indexer, events: core.events }, cameraId),
    };
    let report = await checkCatalog(deps, { repair: !!flags.repair, online, nowMs: systemClock.nowMs(), deep: !!flags.deep });
    printReport(report);
    if (flags.repair && report.repaired.length > 0) {
      report = await checkCatalog(deps, { repair: false, online, nowMs: systemClock.nowMs(), deep: !!flags.deep });
      process.stdout.write('after repair:\n');
      printReport(report);
    }
    return report.problems.length === 0 ? 0 : 1;
  } finally {
    await core.close();
  }
}

function printReport(r: CheckReport): void {
  const counts = new Map<string, number>();
  for (const p of r.problems) counts.set(p.kind, (counts.get(p.kind) ?? 0) + 1);
  const lines = [
    `vigil check (${r.online ? 'online: a running Vigil owns this data dir' : 'offline'})`,
    `  rows ${r.rows}, files ${r.files}${r.online ? `, being written ${r.inProgress}` : ''}${r.notPlaced ? `, ${r.notPlaced} not readable as fMP4 (placement not checked)` : ''}`,
    ...(r.deep
      ? [`  deep: re-hashed ${r.deep.rehashed} files (${(r.deep.bytesHashed / 1e6).toFixed(1)} MB), verified ${r.deep.links} chain links${r.deep.unhashed ? `, ${r.deep.unhashed} segments indexed before hashing (not provable)` : ''}`]
      : []),
    ...(r.problems.length === 0 ? ['  no problems'] : [...counts].map(([k, n]) => `  ${k}: ${n}`)),
    ...r.problems.slice(0, 50).map((p) => `    ${p.kind} ${p.path ?? ''}${p.segmentId ? ` (segment ${p.segmentId})` : ''}: ${p.detail}`),
    ...r.repaired.map((x) => `  repaired: ${x}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `vigil retention --dry-run|--run`: one sweep now, with the configured policy. */
export async function retention(flags: CommonFlags & { dryRun?: boolean; run?: boolean }): Promise<number> {
  if (!!flags.dryRun === !!flags.run) {
    process.stderr.write('vigil: retention: give exactly one of --dry-run or --run\n');
    return 2;
  }
  const config = loadForCommand(flags);
  if (!config) return 2;
  const core = await buildCore(config, systemClock, createLogger(process.env['VIGIL_LOG_LEVEL'] || 'warn'));
  try {
    const report = await core.retention.sweepOnce({ dryRun: !!flags.dryRun });
    const rows = Object.entries(report.byReason).map(([reason, t]) => `  ${reason}: ${t.segments} segments, ${t.bytes} bytes`);
    process.stdout.write(
      [`retention ${report.dryRun ? '(dry run: nothing deleted)' : 'sweep'}`, ...(rows.length ? rows : ['  nothing to delete'])].join('\n') + '\n',
    );
    if (report.blocked) process.stdout.write(`  BLOCKED (${report.blocked.reason}): ${report.blocked.detail}\n`);
    return report.blocked ? 1 : 0;
  } finally {
    await core.close();
  }
}
