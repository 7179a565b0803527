import { describe, expect, it } from 'vitest';
import { runTamperStorm } from '../../torture/tamper.js';
import { printStorm } from '../../torture/storm.js';

describe('tamper storm (CI size)', () => {
  it('detects every one of 400 random alterations of bundles and catalogs, and raises no false alarm on 60 untouched bundles', async () => {
    const lines: string[] = [];
    const r = await runTamperStorm({ size: 'ci', log: (l) => lines.push(l) });
    printStorm(r, (s) => lines.push(s));
    expect(r.violations, lines.join('')).toEqual([]);
    expect(r.summary.find(([k]) => k === 'mutations')?.[1]).toMatch(/^400, 400 detected/);
    expect(r.summary.find(([k]) => k === 'untouched bundles')?.[1]).toBe('60, 0 false alarms');
  }, 240_000);
});
