import { describe, expect, it } from 'vitest';
import { firstMediaTimeJump } from './time-jump.js';

const F = 1 / 15;
const TICK = 1 / 15360;
const file = (...fragments: number[][]) => ({ fragments: fragments.map((sampleDurationsSeconds) => ({ sampleDurationsSeconds })) });
const frames = (n: number, d = F) => Array.from({ length: n }, () => d);

describe('firstMediaTimeJump', () => {
  it('finds none in a steady file, one starting with a connection\'s tick-long first frame, or one with a lone repeated timestamp', () => {
    expect(firstMediaTimeJump(file(frames(15), frames(15)))).toBeUndefined();
    expect(firstMediaTimeJump(file([TICK, ...frames(14)], frames(15)))).toBeUndefined();
    expect(firstMediaTimeJump(file([...frames(7), TICK, ...frames(7)]))).toBeUndefined();
    expect(firstMediaTimeJump(file([]))).toBeUndefined();
  });

  it('takes a 1 fps night stretch of a smart codec for frame timing, not a jump', () => {
    expect(firstMediaTimeJump(file(frames(30), frames(5, 1), frames(30)))).toBeUndefined();
  });

  it('ends the footage at the last frame before a forward jump, given its usual interval, and measures the leap', () => {
    const jump = firstMediaTimeJump(file(frames(15), [...frames(4), 10 + F, ...frames(10)]));
    expect(jump?.direction).toBe('forward');
    expect(jump?.endSeconds).toBeCloseTo(20 * F, 9);
    expect(jump?.jumpSeconds).toBeCloseTo(10, 9);
    expect(jump?.frameSeconds).toBeCloseTo(F, 9);
    expect(jump?.framesKept).toBe(20);
  });

  it('ends the footage at the last true frame before a backward jump (frames a tick apart)', () => {
    const jump = firstMediaTimeJump(file([TICK, ...frames(14)], [...frames(5), ...frames(20, TICK)]));
    expect(jump?.direction).toBe('backward');
    // The first frame lasts a tick; 14 + 5 frames follow before the first tick-long one, which is shown for a frame.
    expect(jump?.endSeconds).toBeCloseTo(TICK + 20 * F, 9);
    expect(jump?.jumpSeconds).toBeUndefined();
    expect(jump?.framesKept).toBe(21);
  });
});
