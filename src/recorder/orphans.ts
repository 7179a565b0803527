import { readdir, readFile } from 'node:fs/promises';
import type { Clock } from '../shared/clock.js';
import { sleep } from '../shared/sleep.js';

/**
 * Finds ffmpeg processes writing into this data dir's recordings folder that no live Vigil owns:
 * a previous Vigil killed with -9 on a system without `setpriv`, or one whose pdeathsig was lost.
 * Two writers on one camera would make overlapping files, so they are killed before recording starts.
 */
export async function findOrphanRecorders(recordingsDir: string): Promise<number[]> {
  const marker = recordingsDir.endsWith('/') ? recordingsDir : `${recordingsDir}/`;
  const pids: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const argv = cmdline.split('\0');
    if (!argv.some((a) => /(^|\/)ffmpeg$/.test(a))) continue;
    if (argv.some((a) => a.startsWith(marker))) pids.push(pid);
  }
  return pids;
}

/** SIGKILLs `pids` and waits (at most `timeoutMs` by `clock`) until none of them runs any more. */
export async function killAndWait(pids: number[], clock: Clock, timeoutMs = 5000): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  const deadline = clock.nowMs() + timeoutMs;
  while (clock.nowMs() < deadline) {
    const alive = await Promise.all(pids.map(isRunning));
    if (!alive.some(Boolean)) return;
    await sleep(20);
  }
}

async function isRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // A zombie (state Z) no longer writes anything; its parent or init will reap it.
  return stat !== '' && !/^\d+ \(.*\) Z/.test(stat);
}
