import { execFile } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Mounting needs root (CAP_SYS_ADMIN); the storm is skipped, not failed, without it. */
export class MountRefused extends Error {}

/** Mounts a tmpfs of `sizeBytes` on `dir` (which must exist). */
export async function mountTmpfs(dir: string, sizeBytes: number): Promise<void> {
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', dir]);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    const text = `${e.stderr ?? ''} ${e.message}`;
    if (e.code === 'ENOENT' || /permission denied|operation not permitted|must be superuser|EPERM/i.test(text)) {
      throw new MountRefused(`cannot mount a tmpfs: needs root (${text.trim().split('\n')[0]})`);
    }
    throw err;
  }
}

/** Unmounts `dir`; a filesystem still busy (a straggling reader) is detached lazily instead. */
export async function unmount(dir: string): Promise<void> {
  try {
    await run('umount', [dir]);
  } catch {
    await run('umount', ['-l', dir]);
  }
}

export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
