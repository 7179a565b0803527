import { describe, expect, it } from 'vitest';
import { sleep } from '../shared/sleep.js';
import { quarterSecondTick } from '../shared/shared-tick.js';
import { EventLoopLag, RESOLUTION_MS } from './event-loop-lag.js';

function hold(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // the event loop is held
  }
}

describe('EventLoopLag', () => {
  it('reports a held event loop as at least its length less the period, whenever after a take it begins, and a free one as next to nothing', async () => {
    const lag = new EventLoopLag();
    expect(lag.take()).toBeUndefined();
    lag.start();
    try {
      // Node's own delay monitor missed a stall that began within one period of a take (its reset drops a tick).
      for (const afterTakeMs of [0, 20, 50, 80]) {
        await sleep(2 * RESOLUTION_MS);
        lag.take();
        if (afterTakeMs > 0) await sleep(afterTakeMs);
        hold(400);
        await sleep(2 * RESOLUTION_MS);
        const held = lag.take()!;
        expect(held.maxSeconds, `a stall ${afterTakeMs} ms after a take`).toBeGreaterThanOrEqual((400 - RESOLUTION_MS) / 1000 - 0.005);
        // Not garbage (a loaded machine may add its own delay on top of the 400 ms).
        expect(held.maxSeconds).toBeLessThan(2);
      }
      // Each take starts a new interval: the stall (at least 0.295 s, above) is not reported again.
      await sleep(4 * RESOLUTION_MS);
      expect(lag.take()!.maxSeconds).toBeLessThan(0.25);
    } finally {
      lag.stop();
    }
  });

  it('samples at the ticks the recorders\' watchdogs use, with no timer of its own', () => {
    const lag = new EventLoopLag();
    expect(quarterSecondTick.running).toBe(false);
    lag.start();
    expect(quarterSecondTick.running).toBe(true);
    expect(RESOLUTION_MS).toBe(quarterSecondTick.everyMs);
    lag.stop();
    expect(quarterSecondTick.running).toBe(false);
  });
});
