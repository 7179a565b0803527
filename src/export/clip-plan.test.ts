import { describe, expect, it } from 'vitest';
import { clipFileName, clipParts, coverage } from './clip-plan.js';

const T = Date.UTC(2026, 10, 25, 10, 0, 0);
const s = (a: number, b: number) => ({ startMs: T + a * 1000, endMs: T + b * 1000 });

describe('coverage', () => {
  it('contiguous segments covering the range: all covered, no gap', () => {
    expect(coverage([s(0, 10), s(10, 20), s(20, 30)], T + 5000, T + 25_000)).toEqual({ coveredMs: 20_000, gaps: [] });
  });

  it('lists the holes inside the range, including at either end', () => {
    const c = coverage([s(10, 20), s(25, 30)], T, T + 40_000);
    expect(c.coveredMs).toBe(15_000);
    expect(c.gaps).toEqual([
      { startMs: T, endMs: T + 10_000 },
      { startMs: T + 20_000, endMs: T + 25_000 },
      { startMs: T + 30_000, endMs: T + 40_000 },
    ]);
  });

  it('nothing recorded: one gap, the whole range', () => {
    expect(coverage([], T, T + 1000)).toEqual({ coveredMs: 0, gaps: [{ startMs: T, endMs: T + 1000 }] });
  });
});

describe('clipParts', () => {
  const seg = (a: number, b: number, name: string) => ({ ...s(a, b), absPath: `/d/recordings/c/${name}.mp4` });

  it('cuts the first file at from and the last at to, in each file\'s own media time', () => {
    const parts = clipParts([seg(0, 10, 'a'), seg(10, 20, 'b'), seg(20, 30, 'c')], T + 2500, T + 21_250);
    expect(parts).toEqual([
      { absPath: '/d/recordings/c/a.mp4', inpointSeconds: 2.5 },
      { absPath: '/d/recordings/c/b.mp4' },
      { absPath: '/d/recordings/c/c.mp4', outpointSeconds: 1.25 },
    ]);
  });

  it('enters a refill that starts mid-GOP after live footage at its keyframe, ending the footage before it there (even across a short last segment)', () => {
    // Live a [0, 10 s), live b [10 s, 10.133 s) (a short last segment before an outage), then a refill
    // whose row starts at 10.133 s, 0.49 s into its file (keyframes at 0 and 1 s of its media time).
    const edge = { ...seg(10.133, 18, 'e'), mediaOffsetMs: 490 };
    const keys = (p: string) => (p.endsWith('e.mp4') ? [0, 1, 2] : undefined);
    const parts = clipParts([seg(0, 10, 'a'), seg(10, 10.133, 'b'), edge], T + 5000, T + 12_000, keys);
    // The refill's keyframe lies at 10.133 − 0.49 = 9.643 s: b is wholly inside the overlap, a ends there.
    expect(parts).toEqual([
      { absPath: '/d/recordings/c/a.mp4', inpointSeconds: 5, outpointSeconds: expect.closeTo(9.643, 6) },
      { absPath: '/d/recordings/c/e.mp4', outpointSeconds: expect.closeTo(2.357, 6) },
    ]);
    // Same duration as the range: 4.643 + 2.357 = 7 s, every frame at its own instant.
    // Without the keyframes (e.g. the first part of a clip) the row's offset is the inpoint, as before.
    expect(clipParts([seg(0, 10, 'a'), seg(10, 10.133, 'b'), edge], T + 5000, T + 12_000)[2]).toEqual({ absPath: '/d/recordings/c/e.mp4', inpointSeconds: 0.49, outpointSeconds: expect.closeTo(2.357, 6) });
  });

  it('a range inside one file cuts it at both ends; a range past the ends does not cut', () => {
    expect(clipParts([seg(0, 10, 'a')], T + 1000, T + 2000)).toEqual([{ absPath: '/d/recordings/c/a.mp4', inpointSeconds: 1, outpointSeconds: 2 }]);
    expect(clipParts([seg(0, 10, 'a')], T - 5000, T + 15_000)).toEqual([{ absPath: '/d/recordings/c/a.mp4' }]);
  });
});

describe('clipParts with a media offset (time truth, defect 2)', () => {
  it('enters a file that holds footage before its row at that offset, and cuts it at its row\'s end', () => {
    const seg = { absPath: '/e.mp4', startMs: 10_000, endMs: 20_000, mediaOffsetMs: 700 };
    expect(clipParts([seg], 12_000, 30_000)).toEqual([{ absPath: '/e.mp4', inpointSeconds: 2.7, outpointSeconds: 10.7 }]);
    expect(clipParts([seg], 5_000, 15_000)).toEqual([{ absPath: '/e.mp4', inpointSeconds: 0.7, outpointSeconds: 5.7 }]);
  });
});

describe('clipFileName', () => {
  it('is <camera>_<from>_<to>.mp4 in UTC, safe characters only', () => {
    expect(clipFileName('front-door', T, T + 90_000)).toBe('front-door_20261125T100000Z_20261125T100130Z.mp4');
    expect(clipFileName('cam_1', T + 250, T + 1250)).toBe('cam_1_20261125T100000.250Z_20261125T100001.250Z.mp4');
    expect(clipFileName('we"ird/../x', T, T + 1000)).toMatch(/^[A-Za-z0-9._-]+$/);
  });
});
