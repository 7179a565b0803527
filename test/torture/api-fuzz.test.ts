import { describe, expect, it } from 'vitest';
import { runApiFuzz } from '../../torture/api-fuzz.js';
import { printStorm } from '../../torture/storm.js';

describe('API fuzz storm (CI size)', () => {
  it('answers thousands of malformed and hostile requests without a 5xx or any change', async () => {
    const lines: string[] = [];
    const r = await runApiFuzz({ size: 'ci', log: (l) => lines.push(l) });
    printStorm(r, (s) => lines.push(s));
    expect(r.violations, lines.join('')).toEqual([]);
    expect(Number(r.summary.find(([k]) => k === 'requests')?.[1].split(' ')[0])).toBeGreaterThanOrEqual(3000);
  }, 240_000);
});
