import { describe, expect, it } from 'vitest';
import { FORWARD_JUMP_MS, MediaClock } from './media-clock.js';

/** Reports once a second of a camera whose media time 0 was at wall `anchor`, each `delay` ms late. */
function feed(clock: MediaClock, anchor: number, fromS: number, toS: number, delay = (_s: number) => 30, offsetS = 0) {
  const seen = [];
  for (let s = fromS; s <= toS; s++) seen.push(clock.report(anchor + s * 1000 + delay(s), (s + offsetS) * 1e6));
  return seen.filter((j) => j !== undefined);
}

describe('MediaClock', () => {
  it('places media time by the least-delayed report, and sees no jump in a steady run', () => {
    const c = new MediaClock();
    expect(feed(c, 100_000, 1, 20, (s) => 20 + (s % 3) * 40)).toEqual([]);
    expect(c.anchorMs(0)).toBe(100_020);
    expect(c.anchorMs(15)).toBe(100_020);
  });

  it('takes a stall of the reader (reports late, then read at once) or a camera\'s back-dated burst for no jump', () => {
    const stalled = new MediaClock();
    feed(stalled, 0, 1, 5);
    // Vigil's event loop held for 7 s: reports 6..12 read together at 13.03 s, then on time again.
    for (let s = 6; s <= 12; s++) expect(stalled.report(13_030, s * 1e6)).toBeUndefined();
    expect(feed(stalled, 0, 13, 20)).toEqual([]);
    expect(stalled.anchorMs(15)).toBe(30);
    const burst = new MediaClock();
    feed(burst, 0, 1, 5);
    // The camera froze 4 s, then sent what it owed at once: media catches up with the wall clock.
    expect(burst.report(10_000 + 50, 6 * 1e6)).toBeUndefined();
    expect(burst.report(10_100, 10 * 1e6)).toBeUndefined();
    expect(feed(burst, 0, 11, 15)).toEqual([]);
    // A run whose first reports came late (a busy start: reports 1..6 read at 6.5 s) only learns a better anchor.
    const late = new MediaClock();
    for (let s = 1; s <= 6; s++) expect(late.report(6500, s * 1e6)).toBeUndefined();
    expect(feed(late, 0, 7, 12)).toEqual([]);
    expect(late.anchorMs(5)).toBe(30);
  });

  it('on a forward leap starts a new epoch: media before it keeps its anchor, media after it gets its own', () => {
    const c = new MediaClock();
    feed(c, 50_000, 1, 10);
    // At wall second 11 the camera's clock leaps 60 s ahead.
    const jumps = feed(c, 50_000, 11, 20, () => 30, 60);
    expect(jumps).toHaveLength(1);
    expect(jumps[0]).toMatchObject({ direction: 'forward', seenAtMs: 61_030 });
    expect(jumps[0]?.approxJumpMs).toBeGreaterThan(FORWARD_JUMP_MS);
    expect(Math.abs((jumps[0]?.approxJumpMs as number) - 60_000)).toBeLessThan(100);
    expect(c.anchorMs(9.5)).toBe(50_030);
    // Footage at media 75 s was received at wall 50 000 + 15 000 + 30: placed there, not 60 s later.
    expect((c.anchorMs(75) as number) + 75_000).toBe(65_030);
  });

  it('adds two frame intervals to ffmpeg\'s out_time (the frame the muxer holds, the camera\'s send delay), measured inside the epoch, not across the leap', () => {
    const c = new MediaClock();
    // 15 fps: at second s, 10 ms after the frame muxed, frame 15·s, at media (15·s − 1)/15 s, is out_time;
    // the frame it holds and the camera's send delay put the anchor two intervals earlier than 10 ms.
    const at = (s: number, leapS = 0) => c.report(s * 1000 + 10, Math.round(((15 * s - 1) / 15 + leapS) * 1e6), 15 * s);
    for (let s = 1; s <= 10; s++) expect(at(s)).toBeUndefined();
    expect(c.anchorMs(5)).toBeCloseTo(10 - 1000 / 15, 3);
    expect(at(11, 30)?.direction).toBe('forward');
    for (let s = 12; s <= 20; s++) expect(at(s, 30)).toBeUndefined();
    // Placed as before the leap: the intervals added are still 1/15 s, not (out_time ÷ frames) inflated by 30 s.
    expect((c.anchorMs(45) as number) + 30_000).toBeCloseTo(10 - 1000 / 15, 3);
  });

  it('leaps under the threshold are left to the anchor (a camera stepping its clock by a second)', () => {
    const c = new MediaClock();
    feed(c, 0, 1, 10);
    expect(feed(c, 0, 11, 20, () => 30, 2)).toEqual([]);
  });
});
