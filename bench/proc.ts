/** /proc readers for the benchmarks: CPU ticks of process trees, RSS, and small stats helpers. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Clock ticks per second of utime/stime in /proc/<pid>/stat (usually 100). */
export const CLK_TCK: number = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

export interface ProcStat {
  pid: number;
  ppid: number;
  state: string;
  /** utime + stime, in clock ticks. */
  ticks: number;
  /** Start time since boot, in ticks: with the pid, identifies one process across pid reuse. */
  starttime: number;
}

export function readStat(pid: number): ProcStat | undefined {
  const f = statFields(`/proc/${pid}/stat`);
  if (!f) return undefined;
  const num = (fieldNo: number) => Number(f[fieldNo - 3]);
  return { pid, ppid: num(4), state: f[0] ?? '?', ticks: num(14) + num(15), starttime: num(22) };
}

/** Fields 3.. of a /proc stat file (comm, field 2, may hold spaces and parentheses: they follow the last ')'). */
function statFields(path: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime of one thread of `pid` (the main thread when `tid` is the pid), in clock ticks; undefined if gone. */
export function readThreadTicks(pid: number, tid = pid): number | undefined {
  const f = statFields(`/proc/${pid}/task/${tid}/stat`);
  return f ? Number(f[11]) + Number(f[12]) : undefined;
}

/** VmRSS in bytes, or undefined if the process is gone. */
export function readRssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Every live process's stat, for building process trees. */
export function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const s = readStat(Number(e));
    if (s && s.state !== 'Z') out.push(s);
  }
  return out;
}

/** The roots and all their descendants (zombies excluded). */
export function processTree(roots: number[], stats: ProcStat[] = allStats()): ProcStat[] {
  const byParent = new Map<number, ProcStat[]>();
  const byPid = new Map<number, ProcStat>();
  for (const s of stats) {
    byPid.set(s.pid, s);
    const list = byParent.get(s.ppid);
    if (list) list.push(s);
    else byParent.set(s.ppid, [s]);
  }
  const out: ProcStat[] = [];
  const queue = roots.map((p) => byPid.get(p)).filter((s): s is ProcStat => s !== undefined);
  const seen = new Set<number>();
  while (queue.length > 0) {
    const s = queue.shift() as ProcStat;
    if (seen.has(s.pid)) continue;
    seen.add(s.pid);
    out.push(s);
    queue.push(...(byParent.get(s.pid) ?? []));
  }
  return out;
}

/**
 * CPU used by process trees over a window. Call `start()`, then `sample()` periodically (so that a
 * process dying mid-window still counts up to its last sample), then `stop()`. A process first seen
 * after `start()` was born inside the window and counts from zero.
 */
export class CpuTracker {
  private readonly first = new Map<string, number>();
  private readonly last = new Map<string, number>();
  private started = false;
  private t0 = 0;
  private t1 = 0;

  /** `tree: false` counts the roots only, not their descendants. */
  constructor(
    private readonly roots: () => number[],
    private readonly tree = true,
  ) {}

  start(stats: ProcStat[] = allStats()): void {
    this.started = false;
    this.first.clear();
    this.last.clear();
    this.take(stats);
    this.started = true;
    this.t0 = performance.now();
  }

  sample(stats: ProcStat[] = allStats()): void {
    this.take(stats);
  }

  stop(stats: ProcStat[] = allStats()): void {
    this.take(stats);
    this.t1 = performance.now();
  }

  /** Distinct processes seen in the window. */
  get processes(): number {
    return this.last.size;
  }

  /** Total CPU seconds over the window. */
  get cpuSeconds(): number {
    let ticks = 0;
    for (const [k, v] of this.last) ticks += v - (this.first.get(k) ?? 0);
    return ticks / CLK_TCK;
  }

  get wallSeconds(): number {
    return (this.t1 - this.t0) / 1000;
  }

  /** Mean CPU over the window, in % of one core. */
  get percentOfCore(): number {
    return this.wallSeconds > 0 ? (100 * this.cpuSeconds) / this.wallSeconds : 0;
  }

  private take(stats: ProcStat[]): void {
    const roots = this.roots();
    const procs = this.tree ? processTree(roots, stats) : stats.filter((s) => roots.includes(s.pid));
    for (const s of procs) {
      const key = `${s.pid}:${s.starttime}`;
      if (!this.first.has(key)) this.first.set(key, this.started ? 0 : s.ticks);
      this.last.set(key, s.ticks);
    }
  }
}

/** RSS samples of one process, in sampling order. */
export class RssTracker {
  readonly samples: number[] = [];
  constructor(private readonly pid: () => number | undefined) {}
  sample(): void {
    const pid = this.pid();
    const rss = pid === undefined ? undefined : readRssBytes(pid);
    if (rss !== undefined) this.samples.push(rss);
  }
  get meanBytes(): number {
    return mean(this.samples);
  }
  get maxBytes(): number {
    return this.samples.length > 0 ? Math.max(...this.samples) : NaN;
  }
}

export function mean(xs: number[]): number {
  return xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `fn` until truthy; the tests' helper, shared. */
export { waitFor as waitUntil } from '../test/support/harness.js';
