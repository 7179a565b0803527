import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { sleep } from './sleep.js';
import { SharedTick } from './shared-tick.js';

describe('SharedTick', () => {
  it('calls every watcher at each tick of one timer, which runs while anyone watches', async () => {
    const tick = new SharedTick(20);
    const calls = [0, 0, 0];
    expect(tick.running).toBe(false);
    const stops = calls.map((_, i) => tick.watch(() => calls[i]!++));
    expect(tick.running).toBe(true);
    await sleep(110);
    // The same count for all: they are called by the same ticks.
    expect(calls[0]).toBeGreaterThanOrEqual(3);
    expect(new Set(calls).size).toBe(1);
    stops[1]!();
    const before = [...calls];
    await sleep(70);
    expect(calls[1]).toBe(before[1]);
    expect(calls[0]).toBeGreaterThan(before[0]!);
    stops[0]!();
    stops[2]!();
    stops[2]!(); // twice: harmless
    expect(tick.running).toBe(false);
  });

  it('counts the same function watched twice as two watchers, and one watcher\'s throw does not cost the others their tick', async () => {
    const tick = new SharedTick(15);
    let n = 0;
    const f = () => n++;
    const a = tick.watch(f);
    const b = tick.watch(f);
    const thrown: unknown[] = [];
    const onUncaught = (err: unknown) => thrown.push(err);
    // vitest reports uncaught errors as failures: listen in its place for this test.
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    let after = 0;
    const c = tick.watch(() => {
      throw new Error('watchdog fault');
    });
    const d = tick.watch(() => after++);
    try {
      await sleep(60);
    } finally {
      c();
      process.removeListener('uncaughtException', onUncaught);
      for (const l of listeners) process.on('uncaughtException', l);
    }
    expect(thrown.length).toBeGreaterThan(0);
    expect((thrown[0] as Error).message).toBe('watchdog fault');
    expect(after).toBeGreaterThanOrEqual(thrown.length);
    expect(n).toBe(2 * after);
    a();
    expect(tick.running).toBe(true);
    b();
    d();
    expect(tick.running).toBe(false);
  });

  it('never keeps the process alive on its own (a watchdog or a sampler watches something else that does)', async () => {
    const script = "import { SharedTick } from './src/shared/shared-tick.ts'; new SharedTick(20).watch(() => undefined); console.log('watching');";
    // Before: the tick's timer held the process open for ever (killed here after 10 s).
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 10_000 });
    expect(stdout.trim()).toBe('watching');
  });
});
