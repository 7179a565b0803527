import { describe, expect, it } from 'vitest';
import { runDiskFull } from '../../torture/disk-full.js';
import { printStorm } from '../../torture/storm.js';

describe('disk-full storm (CI size)', () => {
  it('recordings disk filled with everything held: reported, freed once holds are released, recording resumes, catalog consistent', async () => {
    const lines: string[] = [];
    const r = await runDiskFull({ size: 'ci', log: (l) => lines.push(`${l}\n`) });
    printStorm(r, (s) => lines.push(s));
    if (r.skipped) {
      process.stderr.write(lines.join(''));
      return;
    }
    expect(r.violations, lines.join('')).toEqual([]);
    // The storm really filled the disk and saw recording come back (not a vacuous pass).
    expect(r.summary.some(([k]) => k === 'cycle 1: disk filled in')).toBe(true);
    expect(r.summary.some(([k]) => k === 'cycle 1: recording again')).toBe(true);
  }, 180_000);
});
