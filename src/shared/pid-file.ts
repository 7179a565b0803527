import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const NAME = 'vigil.pid';

/** The pid of a live `vigil serve` using this data dir, if any (a stale file from a crash is ignored). */
export async function runningServer(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(dataDir, NAME), 'utf8').catch(() => '');
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').includes('serve') ? pid : undefined;
}

export async function writePidFile(dataDir: string): Promise<void> {
  await writeFile(join(dataDir, NAME), `${process.pid}\n`);
}

export async function removePidFile(dataDir: string): Promise<void> {
  await rm(join(dataDir, NAME), { force: true });
}
