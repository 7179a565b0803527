import { describe, expect, it } from 'vitest';
import { runCrashStorm } from '../../torture/crash-storm.js';
import { printStorm } from '../../torture/storm.js';

describe('crash storm (CI size)', () => {
  it('kill -9 at random instants while recording, sweeping and exporting: vigil check clean after every restart', async () => {
    const lines: string[] = [];
    const r = await runCrashStorm({ size: 'ci', log: (l) => lines.push(`${l}\n`) });
    printStorm(r, (s) => lines.push(s));
    expect(r.violations, lines.join('')).toEqual([]);
    expect(r.summary.find(([k]) => k === 'restarts')?.[1]).toBe('5');
    // Counters were read before every kill and after every restart (invariant 7).
    expect(r.summary.find(([k]) => k.startsWith('counters checked'))?.[1]).toMatch(/^1[1-9] times, 0 wrong$/);
  }, 400_000);
});
