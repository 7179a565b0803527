import { describe, expect, it } from 'vitest';
import type { Detection } from './detector.js';
import { MotionTracker } from './motion-tracker.js';

const det = (atMs: number, score: number, zones: string[] = []): Detection => ({ atMs, score, active: score >= 1, regions: [], zones });

/** Feeds one detection per 200 ms from a list of scores; returns what the tracker said. */
function feed(t: MotionTracker, scores: Array<number | [number, string[]]>) {
  const started: number[] = [];
  const ended: ReturnType<MotionTracker['flush']>[] = [];
  scores.forEach((s, i) => {
    const [score, zones] = Array.isArray(s) ? s : [s, []];
    const step = t.push(det(i * 200, score, zones));
    if (step.started) started.push(step.started.startMs);
    if (step.ended) ended.push(step.ended);
  });
  return { started, ended };
}

describe('MotionTracker', () => {
  it('one active frame alone is not motion; two in a row start at the first', () => {
    const t = new MotionTracker({ postRollMs: 1000 });
    const r = feed(t, [0, 5, 0, 0, 5, 6, 0]);
    expect(r.started).toEqual([800]);
    expect(t.open).toBe(true);
  });

  it('pauses shorter than the post-roll join one interval; it ends at the last active frame, with the peak and every zone', () => {
    const t = new MotionTracker({ postRollMs: 1000 });
    const r = feed(t, [0, 3, [9, ['a']], 0, 0, 0, [4, ['b']], 2, 0, 0, 0, 0, 0, 0]);
    expect(r.started).toEqual([200]);
    expect(r.ended).toEqual([{ startMs: 200, endMs: 1400, peakScore: 9, peakAtMs: 400, zones: ['a', 'b'] }]);
  });

  it('a pause as long as the post-roll makes two intervals', () => {
    const t = new MotionTracker({ postRollMs: 600 });
    const r = feed(t, [3, 3, 0, 0, 0, 3, 3, 0, 0, 0]);
    expect(r.started).toEqual([0, 1000]);
    expect(r.ended.map((m) => [m!.startMs, m!.endMs])).toEqual([[0, 200], [1000, 1200]]);
  });

  it('marks each new peak, closes an interval at maxIntervalMs and opens the next, and flushes an open one', () => {
    const t = new MotionTracker({ postRollMs: 1000, maxIntervalMs: 1000 });
    const peaks: number[] = [];
    const steps = [2, 5, 3, 7, 4, 4, 4, 9].map((s, i) => t.push(det(i * 200, s)));
    steps.forEach((s, i) => s.peak && peaks.push(i));
    expect(peaks).toEqual([0, 1, 3, 5, 7]);
    const ended = steps.flatMap((s) => (s.ended ? [s.ended] : []));
    expect(ended.map((m) => [m.startMs, m.endMs, m.peakScore])).toEqual([[0, 1000, 7]]);
    expect(steps[5]!.started).toEqual({ startMs: 1000, zones: [] });
    expect(t.flush(2000)).toEqual({ startMs: 1000, endMs: 1400, peakScore: 9, peakAtMs: 1400, zones: [] });
    expect(t.open).toBe(false);
    expect(t.flush(3000)).toBeUndefined();
  });
});
