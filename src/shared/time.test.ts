import { describe, expect, it } from 'vitest';
import { toIso } from './time.js';

describe('toIso', () => {
  it('equals Date.prototype.toISOString for every kind of instant, in any order', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const day = 86_400_000;
    const samples: number[] = [0, -1, 1, day - 1, day, -day, -day - 1, 1.5, -1.5, 999.999, 8.64e15, -8.64e15, -62_198_755_200_000, 253_402_300_799_999, 253_402_300_800_000];
    for (let i = 0; i < 20_000; i++) {
      const base = Math.floor(rand() * 4e12) - 1e12;
      // Runs inside one day (the kept prefix), across midnights, and jumps between days.
      samples.push(base, base + 1, base + Math.floor(rand() * day), Math.floor(base / day) * day - 1, Math.floor(base / day) * day);
    }
    for (const ms of samples) expect(toIso(ms), String(ms)).toBe(new Date(ms).toISOString());
  });

  it('throws on an instant Date cannot print, as toISOString does', () => {
    expect(() => toIso(Number.NaN)).toThrow(RangeError);
    expect(() => toIso(8.64e15 + 1)).toThrow(RangeError);
  });
});
