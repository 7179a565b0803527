import { isAbsolute, resolve } from 'node:path';
import type { ConfigFile } from './config.schema.js';

/** The `backup:` section (docs/operations.md, "Backups"): scheduled copies of the catalog with rotation. */
export interface BackupConfig {
  /** Where `vigil-<UTC stamp>/` folders are written (resolved against the working directory). */
  dir: string;
  /** A backup this often, the first one this long after start-up. */
  everyHours: number;
  /** The newest this many backups are kept; older ones are removed after each new one is complete. */
  keep: number;
}

type BackupFile = NonNullable<ConfigFile['backup']>;

/** Null when there is no `backup:` section: no scheduled backups (`vigil backup` still works). */
export function backupConfigFrom(file: BackupFile | undefined, cwd: string): BackupConfig | null {
  if (!file) return null;
  return {
    dir: isAbsolute(file.dir) ? file.dir : resolve(cwd, file.dir),
    everyHours: file.every_hours ?? 24,
    keep: file.keep ?? 7,
  };
}
