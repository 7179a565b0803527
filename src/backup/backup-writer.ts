import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackupProgress, CatalogFacts } from '../db/backup.js';
import { VigilError } from '../shared/errors.js';
import { VIGIL_VERSION } from '../shared/version.js';
import { fsyncPath } from '../storage/fsync.js';

/** The catalog's file name inside a backup (and inside the data dir). */
export const CATALOG_FILE = 'vigil.db';
export const KEY_FILE = 'signing-key.pem';
/** The config file Vigil ran with, under one name whatever its own (the manifest names its source). */
export const CONFIG_FILE = 'config.yml';
export const MANIFEST_FILE = 'manifest.json';
/** `vigil-20261204T223000.123Z`: sorts by time, unique per millisecond. */
export const BACKUP_NAME = /^vigil-\d{8}T\d{6}\.\d{3}Z$/;
const PARTIAL_SUFFIX = '.partial';
/** A partial folder older than this was left by a crash (no backup takes an hour to write). */
const STALE_PARTIAL_MS = 3600_000;

export interface BackupManifest {
  /** The layout of this folder; a restore refuses a format it does not know. */
  format: 1;
  vigil_version: string;
  /** The catalog's last migration: a restore into an older Vigil that lacks it is refused by its migrator. */
  schema_migration: string | null;
  created_at: string;
  created_at_ms: number;
  /** The data dir the catalog came from (for the operator's eyes; a restore may target another). */
  data_dir: string;
  row_counts: Record<string, number>;
  /** sha256 of every file of the backup but this manifest, by name. */
  files: Record<string, { sha256: string; size_bytes: number }>;
  /** Where the config and the key were copied from, when they were. */
  config_source: string | null;
  signing_key_source: string | null;
}

export interface BackupSources {
  dataDir: string;
  /** The config file Vigil was started with, if any. */
  configPath: string | null;
  signingKeyPath: string;
  /** Writes a consistent copy of the catalog to `destFile` (online backup API). */
  copyCatalog: (destFile: string) => Promise<BackupProgress>;
}

export interface BackupResult {
  dir: string;
  manifest: BackupManifest;
  copy: BackupProgress;
  bytes: number;
}

export function backupName(nowMs: number): string {
  return `vigil-${new Date(nowMs).toISOString().replace(/[-:]/g, '')}`;
}

/**
 * Writes one backup into `destDir`: the catalog (online copy), the config and the signing key (0600),
 * and a manifest of hashes — first under a hidden `.partial` name, renamed to `vigil-<stamp>` only when
 * every file is written and synced, so a crash never leaves a folder that looks like a whole backup.
 */
export async function writeBackup(src: BackupSources, destDir: string, nowMs: number): Promise<BackupResult> {
  await mkdir(destDir, { recursive: true });
  const name = backupName(nowMs);
  const partial = join(destDir, `.${name}${PARTIAL_SUFFIX}`);
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { mode: 0o700 });
  try {
    const copy = await src.copyCatalog(join(partial, CATALOG_FILE));
    const facts = copy.facts;
    if (facts.integrity !== 'ok') throw new VigilError('internal', `the catalog copy failed its integrity check: ${facts.integrity}`);
    const files: BackupManifest['files'] = {};
    let configSource: string | null = null;
    if (src.configPath) {
      await copyFile(src.configPath, join(partial, CONFIG_FILE));
      configSource = src.configPath;
    }
    let keySource: string | null = null;
    if (await exists(src.signingKeyPath)) {
      // Created 0600 before the bytes arrive: the private key is never readable by others, even briefly.
      await writeFile(join(partial, KEY_FILE), '', { mode: 0o600 });
      await copyFile(src.signingKeyPath, join(partial, KEY_FILE));
      await chmod(join(partial, KEY_FILE), 0o600);
      keySource = src.signingKeyPath;
    }
    let bytes = 0;
    for (const f of (await readdir(partial)).sort()) {
      const abs = join(partial, f);
      files[f] = { sha256: await sha256File(abs), size_bytes: (await stat(abs)).size };
      bytes += files[f].size_bytes;
      await fsyncPath(abs);
    }
    const manifest = manifestOf(src, facts, files, nowMs, configSource, keySource);
    await writeFile(join(partial, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    await fsyncPath(join(partial, MANIFEST_FILE));
    await fsyncPath(partial);
    const dir = join(destDir, name);
    await rename(partial, dir);
    await fsyncPath(destDir);
    return { dir, manifest, copy, bytes };
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
}

function manifestOf(
  src: BackupSources,
  facts: CatalogFacts,
  files: BackupManifest['files'],
  nowMs: number,
  configSource: string | null,
  keySource: string | null,
): BackupManifest {
  return {
    format: 1,
    vigil_version: VIGIL_VERSION,
    schema_migration: facts.migration,
    created_at: new Date(nowMs).toISOString(),
    created_at_ms: nowMs,
    data_dir: src.dataDir,
    row_counts: facts.rowCounts,
    files,
    config_source: configSource,
    signing_key_source: keySource,
  };
}

/**
 * Keeps the newest `keep` complete backups in `destDir` and removes the older ones (and partial
 * folders a crash left); returns the names removed. Only folders named like a backup are touched.
 */
export async function rotateBackups(destDir: string, keep: number, nowMs: number): Promise<string[]> {
  const names = await readdir(destDir).catch(() => [] as string[]);
  const complete = names.filter((n) => BACKUP_NAME.test(n)).sort().reverse();
  const removed: string[] = [];
  for (const n of complete.slice(keep)) {
    await rm(join(destDir, n), { recursive: true, force: true });
    removed.push(n);
  }
  for (const n of names) {
    if (!n.startsWith('.vigil-') || !n.endsWith(PARTIAL_SUFFIX)) continue;
    const st = await stat(join(destDir, n)).catch(() => undefined);
    if (st && nowMs - st.mtimeMs > STALE_PARTIAL_MS) {
      await rm(join(destDir, n), { recursive: true, force: true });
      removed.push(n);
    }
  }
  if (removed.length > 0) await fsyncPath(destDir);
  return removed;
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => h.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
