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

  it('minFrames sets the run that starts an interval; the start is the run\'s first frame', () => {
    const t = new MotionTracker({ postRollMs: 1000, minFrames: 3 });
    const r = feed(t, [5, 5, 0, 5, 5, 0, 5, 5, 5, 5]);
    expect(r.started).toEqual([1200]);
    expect(new MotionTracker({ postRollMs: 1000, minFrames: 1 }).push(det(0, 5)).started).toEqual({ startMs: 0, zones: [] });
  });

  it('the start names the zones of the run that started it; the end names every zone of the interval', () => {
    const t = new MotionTracker({ postRollMs: 400 });
    const steps = [[3, ['a']], [3, ['b']], [3, ['c']], [0, []], [0, []], [0, []]].map(([s, z], i) => t.push(det(i * 200, s as number, z as string[])));
    expect(steps[1]!.started).toEqual({ startMs: 0, zones: ['a', 'b'] });
    expect(steps.filter((s) => s.ended).map((s) => s.ended!.zones)).toEqual([['a', 'b', 'c']]);
  });

  it('the peak is marked while the run forms too, and each interval has its own', () => {
    const t = new MotionTracker({ postRollMs: 400 });
    const marks = [8, 3, 0, 0, 0, 2, 4, 1].map((s, i) => !!t.push(det(i * 200, s)).peak);
    expect(marks).toEqual([true, false, false, false, false, true, true, false]);
    expect(t.flush(2000)).toEqual({ startMs: 1000, endMs: 1400, peakScore: 4, peakAtMs: 1200, zones: [] });
  });

  it('an interval closed at maxIntervalMs in a pause ends at its last active frame, and motion after it needs a new run', () => {
    const t = new MotionTracker({ postRollMs: 1000, maxIntervalMs: 1000 });
    const steps = [3, 3, 3, 3, 0, 0, 5, 5].map((s, i) => t.push(det(i * 200, s)));
    expect(steps[5]!.ended).toEqual({ startMs: 0, endMs: 600, peakScore: 3, peakAtMs: 0, zones: [] });
    expect(steps[6]!.started).toBeUndefined();
    expect(steps[7]!.started).toEqual({ startMs: 1200, zones: [] });
  });

  it('no interval is longer than maxIntervalMs, and consecutive pieces of one long motion leave no hole', () => {
    const t = new MotionTracker({ postRollMs: 2000, maxIntervalMs: 3000 });
    const ended: Array<{ startMs: number; endMs: number }> = [];
    for (let i = 0; i < 100; i++) {
      const e = t.push(det(i * 200, 5)).ended;
      if (e) ended.push(e);
    }
    ended.push(t.flush(20_000)!);
    expect(ended.length).toBe(7);
    expect(ended[0]).toEqual({ startMs: 0, endMs: 3000, peakScore: 5, peakAtMs: 0, zones: [] });
    for (const e of ended) expect(e.endMs - e.startMs).toBeLessThanOrEqual(3000);
    for (let k = 1; k < ended.length; k++) expect(ended[k]!.startMs).toBe(ended[k - 1]!.endMs);
    expect(ended.at(-1)!.endMs).toBe(99 * 200);
  });

  it('flush() drops a run too short to have started, and the tracker goes on afterwards', () => {
    const t = new MotionTracker({ postRollMs: 1000 });
    t.push(det(0, 5));
    expect(t.flush(200)).toBeUndefined();
    // The dropped run does not count toward the next one.
    expect(t.push(det(400, 5)).started).toBeUndefined();
    expect(t.push(det(600, 5)).started).toEqual({ startMs: 400, zones: [] });
  });

  it('options are checked, naming the field', () => {
    expect(() => new MotionTracker({ postRollMs: -1 })).toThrow(/^postRollMs/);
    expect(() => new MotionTracker({ postRollMs: Number.NaN })).toThrow(/^postRollMs/);
    expect(() => new MotionTracker({ postRollMs: 0, minFrames: 0 })).toThrow(/^minFrames/);
    expect(() => new MotionTracker({ postRollMs: 0, minFrames: 1.5 })).toThrow(/^minFrames/);
    expect(() => new MotionTracker({ postRollMs: 0, maxIntervalMs: 0 })).toThrow(/^maxIntervalMs/);
  });
});
