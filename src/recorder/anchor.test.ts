import { describe, expect, it } from 'vitest';
import { AnchorEstimator } from './anchor.js';

describe('AnchorEstimator', () => {
  it('has no anchor before the first report', () => {
    expect(new AnchorEstimator().anchorMs()).toBeUndefined();
  });

  it('is the smallest wall − media over the reports (the least-delayed one)', () => {
    const a = new AnchorEstimator(30_000);
    // True anchor 10_000; each report arrives late by a different amount.
    a.add(10_000 + 500 + 80, 500_000);
    a.add(10_000 + 750 + 12, 750_000);
    a.add(10_000 + 1000 + 300, 1_000_000);
    a.add(10_000 + 1250 + 40, 1_250_000);
    expect(a.anchorMs()).toBe(10_012);
  });

  it('ignores reports with no media time yet (zero, negative or NaN)', () => {
    const a = new AnchorEstimator();
    a.add(5_000, 0);
    a.add(5_000, -1_000_000);
    a.add(5_000, NaN);
    expect(a.anchorMs()).toBeUndefined();
    a.add(6_000, 1_000_000);
    a.add(6_100, 0);
    expect(a.anchorMs()).toBe(5_000);
  });

  it('keeps the minimum while it is inside the window', () => {
    const a = new AnchorEstimator(30_000);
    a.add(1_000 + 100, 100_000); // anchor 1_000 at wall 1_100
    for (let t = 2_000; t <= 31_000; t += 1_000) a.add(t, (t - 1_200) * 1000); // anchor 1_200
    expect(a.anchorMs()).toBe(1_000);
  });

  it('follows a drift once the older samples leave the window', () => {
    const windowMs = 30_000;
    const a = new AnchorEstimator(windowMs);
    // Up to wall 20_000 the anchor is 1_000; from 21_000 on the camera clock has slipped by 500 ms.
    for (let t = 2_000; t <= 20_000; t += 1_000) a.add(t, (t - 1_000) * 1000);
    for (let t = 21_000; t <= 50_000; t += 1_000) a.add(t, (t - 1_500) * 1000);
    // The last 1_000-sample (wall 20_000) is exactly windowMs old: still counted.
    expect(a.anchorMs()).toBe(1_000);
    a.add(51_000, (51_000 - 1_500) * 1000);
    expect(a.anchorMs()).toBe(1_500);
  });

  it('follows a drift downwards at once (a smaller bound is always better)', () => {
    const a = new AnchorEstimator(30_000);
    a.add(2_000, 1_000_000); // 1_000
    a.add(3_000, 2_200_000); // 800
    expect(a.anchorMs()).toBe(800);
  });

  it('keeps the last sample even when reports stop for longer than the window', () => {
    const a = new AnchorEstimator(1_000);
    a.add(10_000, 5_000_000);
    expect(a.anchorMs()).toBe(5_000);
    a.add(100_000, 94_000_000); // 6_000, the only sample in the window
    expect(a.anchorMs()).toBe(6_000);
  });
});
