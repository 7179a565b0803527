/**
 * What every storm returns: a summary table for people and the list of violations for the exit code.
 * A storm never throws for a violation it can describe; it throws only when it could not run at all.
 */
export interface StormResult {
  name: string;
  /** [what, value] pairs printed as the storm's summary table. */
  summary: Array<[string, string]>;
  /** One line per broken promise (an invariant, a 5xx, a leaked process…); empty = passed. */
  violations: string[];
  /** Set when the storm could not run on this machine (e.g. no permission to mount a filesystem). */
  skipped?: string;
}

export type StormSize = 'ci' | 'full';

export interface StormOptions {
  size: StormSize;
  log: (line: string) => void;
}

export function printStorm(r: StormResult, write: (s: string) => void = (s) => process.stdout.write(s)): void {
  write(`\n== ${r.name}: ${r.skipped ? `SKIPPED (${r.skipped})` : r.violations.length === 0 ? 'PASSED' : `FAILED (${r.violations.length} violations)`}\n`);
  const width = Math.max(10, ...r.summary.map(([k]) => k.length));
  for (const [k, v] of r.summary) write(`  ${k.padEnd(width)}  ${v}\n`);
  for (const v of r.violations.slice(0, 50)) write(`  ✗ ${v}\n`);
  if (r.violations.length > 50) write(`  … and ${r.violations.length - 50} more\n`);
}

/** A small seeded PRNG (mulberry32), so a failing storm can be replayed with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
