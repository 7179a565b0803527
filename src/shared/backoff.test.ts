import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.js';

const HEALTHY_MS = 60_000;

describe('Backoff', () => {
  it('doubles from 1 s after each short run and stays at the 30 s cap', () => {
    const b = new Backoff(1000, 30_000);
    const delays = Array.from({ length: 8 }, () => b.next(500, HEALTHY_MS));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('resets to the initial delay after a run at least as long as the healthy threshold', () => {
    const b = new Backoff(1000, 30_000);
    for (let i = 0; i < 6; i++) b.next(100, HEALTHY_MS);
    expect(b.next(HEALTHY_MS, HEALTHY_MS)).toBe(1000);
    expect(b.next(100, HEALTHY_MS)).toBe(2000);
  });

  it('does not reset after a run just under the healthy threshold', () => {
    const b = new Backoff(1000, 30_000);
    b.next(0, HEALTHY_MS);
    b.next(0, HEALTHY_MS);
    expect(b.next(HEALTHY_MS - 1, HEALTHY_MS)).toBe(4000);
  });

  it('never exceeds the cap when it is not a power-of-two multiple of the start', () => {
    const b = new Backoff(700, 5000);
    const delays = Array.from({ length: 6 }, () => b.next(0, HEALTHY_MS));
    expect(delays).toEqual([700, 1400, 2800, 5000, 5000, 5000]);
  });
});
