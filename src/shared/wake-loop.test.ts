import { describe, expect, it } from 'vitest';
import { sleep } from './sleep.js';
import { WakeLoop } from './wake-loop.js';

describe('WakeLoop', () => {
  it('steps, sleeps until woken (a wake during a step is not lost), goes on after a failing step, and ends on abort', async () => {
    const abort = new AbortController();
    const errors: unknown[] = [];
    let steps = 0;
    let wakeDuringStep = false;
    const loop = new WakeLoop({
      step: async () => {
        steps++;
        if (wakeDuringStep) {
          wakeDuringStep = false;
          loop.wake();
        }
        if (steps === 3) throw new Error('boom');
      },
      untilNextMs: async () => 60_000,
      onError: (err) => errors.push(err),
      signal: abort.signal,
    });
    loop.start();
    loop.start();
    await sleep(30);
    expect(steps).toBe(1);
    wakeDuringStep = true;
    loop.wake();
    await sleep(30);
    // Woken once from its sleep; the wake made during that step ends the next sleep at once.
    expect(steps).toBe(3);
    expect(errors).toHaveLength(1);
    loop.wake();
    await sleep(30);
    expect(steps).toBe(4);
    abort.abort();
    await loop.ended();
    loop.wake();
    await sleep(10);
    expect(steps).toBe(4);
  });
});
