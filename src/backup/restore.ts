import { chmod, copyFile, mkdir, readdir, readFile, readlink, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { inspectCatalog } from '../db/backup.js';
import { VigilError } from '../shared/errors.js';
import { runningServer } from '../shared/pid-file.js';
import { fsyncPath } from '../storage/fsync.js';
import { CATALOG_FILE, KEY_FILE, MANIFEST_FILE, sha256File, type BackupManifest } from './backup-writer.js';

export interface RestoreResult {
  manifest: BackupManifest;
  /** The previous catalog's files, moved aside (never deleted); empty when the data dir had none. */
  movedAside: string[];
  /** The signing key: copied from the backup (none was there), kept (one was there), or none in either. */
  key: 'restored' | 'kept' | 'none';
}

/**
 * Puts a backup's catalog into a stopped data dir (docs/operations.md, "Backups"): refuses a data dir
 * in use, checks every hash of the manifest and the copy's integrity, moves the current catalog aside
 * as `vigil.db.before-restore-<stamp>` (with its -wal and -shm, under names SQLite pairs with it), and
 * copies the backup in; the signing key only where none is. Footage is never touched here: the caller
 * reconciles rows with the files that exist now.
 */
export async function restoreCatalog(o: { from: string; dataDir: string; signingKeyPath: string; nowMs: number }): Promise<RestoreResult> {
  await refuseIfInUse(o.dataDir);
  const manifest = await verifyBackup(o.from);
  await mkdir(o.dataDir, { recursive: true });
  const stamp = new Date(o.nowMs).toISOString().replace(/[-:]/g, '');
  const catalog = join(o.dataDir, CATALOG_FILE);
  const aside = `${catalog}.before-restore-${stamp}`;
  const movedAside: string[] = [];
  // The database first: a crash after it leaves no catalog (the next step is a restore again), never a
  // backup's catalog paired with the old WAL.
  for (const suffix of ['', '-wal', '-shm']) {
    const from = `${catalog}${suffix}`;
    if (!(await exists(from))) continue;
    await rename(from, `${aside}${suffix}`);
    movedAside.push(`${aside}${suffix}`);
  }
  const incoming = `${catalog}.restoring`;
  await copyFile(join(o.from, CATALOG_FILE), incoming);
  await fsyncPath(incoming);
  await rename(incoming, catalog);
  await fsyncPath(o.dataDir);

  let key: RestoreResult['key'] = 'none';
  if (await exists(o.signingKeyPath)) key = 'kept';
  else if (manifest.files[KEY_FILE]) {
    await mkdir(dirname(o.signingKeyPath), { recursive: true, mode: 0o700 });
    await writeFile(o.signingKeyPath, '', { mode: 0o600, flag: 'wx' });
    await copyFile(join(o.from, KEY_FILE), o.signingKeyPath);
    await chmod(o.signingKeyPath, 0o600);
    await fsyncPath(o.signingKeyPath);
    await fsyncPath(dirname(o.signingKeyPath));
    key = 'restored';
  }
  return { manifest, movedAside, key };
}

/** The manifest, after every file's sha256 and the catalog's integrity are checked. */
export async function verifyBackup(dir: string): Promise<BackupManifest> {
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as BackupManifest;
  } catch (err) {
    throw new VigilError('invalid_argument', `${dir} is not a Vigil backup: ${MANIFEST_FILE} is missing or unreadable`, { field: 'from', cause: err });
  }
  if (manifest.format !== 1 || typeof manifest.files !== 'object' || !manifest.files[CATALOG_FILE]) {
    throw new VigilError('invalid_argument', `${dir}: unknown backup format (manifest format ${String(manifest.format)})`, { field: 'from' });
  }
  for (const [name, f] of Object.entries(manifest.files)) {
    if (name.includes('/') || name.startsWith('.')) throw new VigilError('invalid_argument', `${dir}: the manifest names a file outside the backup: ${name}`, { field: 'from' });
    const actual = await sha256File(join(dir, name)).catch(() => 'missing');
    if (actual !== f.sha256) {
      throw new VigilError('failed_precondition', `${dir}: ${name} does not match the manifest (sha256 ${actual}, manifest ${f.sha256}): the backup is damaged`, { field: 'from' });
    }
  }
  const facts = inspectCatalog(join(dir, CATALOG_FILE));
  if (facts.integrity !== 'ok') throw new VigilError('failed_precondition', `${dir}: the catalog fails its integrity check: ${facts.integrity}`, { field: 'from' });
  return manifest;
}

/**
 * A restore replaces the catalog under whoever has it open: refused while a `vigil serve` holds the pid
 * file, or while any process on this machine has the catalog open (an embedded Vigil, a `vigil check`).
 */
export async function refuseIfInUse(dataDir: string): Promise<void> {
  const pid = (await runningServer(dataDir)) ?? (await processWithOpen(join(dataDir, CATALOG_FILE)));
  if (pid !== undefined) {
    throw new VigilError('failed_precondition', `a running Vigil (pid ${pid}) is using ${dataDir}: stop it before restoring`, { field: 'data' });
  }
}

/** A process other than this one with `file` (or its -wal) open, from /proc (Linux; none found elsewhere). */
async function processWithOpen(file: string): Promise<number | undefined> {
  const targets = new Set([resolve(file), `${resolve(file)}-wal`]);
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (targets.has(target)) return Number(pid);
    }
  }
  return undefined;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
