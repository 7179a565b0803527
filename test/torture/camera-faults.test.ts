import { describe, expect, it } from 'vitest';
import { runCameraFaults } from '../../torture/camera-faults.js';
import { printStorm } from '../../torture/storm.js';

describe('camera fault storm (CI size)', () => {
  it('killed, stalled, 404, bad credentials, garbage ×20: clear states, no leaks, counters match', async () => {
    const lines: string[] = [];
    const r = await runCameraFaults({ size: 'ci', log: (l) => lines.push(`${l}\n`) });
    printStorm(r, (s) => lines.push(s));
    expect(r.violations, lines.join('')).toEqual([]);
  }, 500_000);
});
