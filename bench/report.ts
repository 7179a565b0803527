/** The figures table (stdout) and bench/results/latest.json. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type as osType } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './processes.js';

export interface Row {
  figure: string;
  value: string;
  baseline?: string;
  ratio?: string;
  goal?: string;
}

export interface SectionResult {
  name: string;
  rows: Row[];
  /** Raw numbers for the JSON file. */
  data: Record<string, unknown>;
  error?: string;
}

export function machineInfo(): Record<string, unknown> {
  const c = cpus();
  let ffmpeg = 'unknown';
  try {
    ffmpeg = execFileSync('ffmpeg', ['-version'], { encoding: 'utf8' }).split('\n')[0] ?? ffmpeg;
  } catch {
    /* not installed */
  }
  let gitHead: string | null = null;
  try {
    gitHead = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  } catch {
    /* not a checkout */
  }
  return {
    os: `${osType()} ${release()}`,
    cpuModel: c[0]?.model ?? 'unknown',
    cpuCount: c.length,
    totalMemBytes: totalmem(),
    node: process.version,
    ffmpeg,
    gitHead,
    /** 1/5/15-minute load when the bench started: other work on the machine skews CPU figures. */
    loadAvgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export function renderTable(sections: SectionResult[]): string {
  const header: Row = { figure: 'figure', value: 'value', baseline: 'baseline', ratio: 'ratio', goal: 'goal' };
  const rows: Array<Row | 'sep' | string> = [header, 'sep'];
  for (const s of sections) {
    if (s.error) rows.push(`${s.name}: FAILED — ${s.error.split('\n')[0] ?? ''}`);
    rows.push(...s.rows);
  }
  const cols: Array<keyof Row> = ['figure', 'value', 'baseline', 'ratio', 'goal'];
  const width = (k: keyof Row) => Math.max(...rows.map((r) => (typeof r === 'object' ? (r[k] ?? '').length : 0)));
  const widths = cols.map(width);
  const line = (r: Row) => cols.map((k, i) => (r[k] ?? '').padEnd(widths[i] as number)).join('  ').trimEnd();
  const sepLine = widths.map((w) => '-'.repeat(w)).join('  ');
  return rows.map((r) => (r === 'sep' ? sepLine : typeof r === 'string' ? r : line(r))).join('\n');
}

export function writeJson(payload: Record<string, unknown>): string {
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'latest.json');
  writeFileSync(file, JSON.stringify(payload, null, 2) + '\n');
  return file;
}

/** `goal` with ✓ or ✗ appended (nothing when the value could not be measured). */
export function goal(text: string, met: boolean | undefined): string {
  return met === undefined ? text : `${text} ${met ? '✓' : '✗'}`;
}

/** undefined when `v` is not a finite number, else `test(v)`. */
export function check(v: number, test: (v: number) => boolean): boolean | undefined {
  return Number.isFinite(v) ? test(v) : undefined;
}

export const fmt = {
  ms: (v: number, digits = 0) => (Number.isFinite(v) ? `${v.toFixed(digits)} ms` : 'n/a'),
  us: (v: number) => (Number.isFinite(v) ? `${v.toFixed(0)} µs` : 'n/a'),
  mib: (bytes: number) => (Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : 'n/a'),
  pct: (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} % core` : 'n/a'),
  ratio: (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : 'n/a'),
  num: (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a'),
};
