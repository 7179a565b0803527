import { describe, expect, it } from 'vitest';
import { VigilError } from '../shared/errors.js';
import { sleep } from '../shared/sleep.js';
import { MediaJobs } from './media-jobs.js';

/** A job that runs until `finish()` is called. */
function heldJob() {
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  return { finish, fn: () => done };
}

describe('MediaJobs', () => {
  it('runs at most maxJobs at once; the next waits and runs when a slot frees', async () => {
    const jobs = new MediaJobs({ maxJobs: 2, waitMs: 5000 });
    const a = heldJob();
    const b = heldJob();
    const pa = jobs.run(undefined, a.fn);
    const pb = jobs.run(undefined, b.fn);
    let cRan = false;
    const pc = jobs.run(undefined, async () => {
      cRan = true;
    });
    await sleep(20);
    expect(jobs.active).toBe(2);
    expect(jobs.waiting).toBe(1);
    expect(cRan).toBe(false);
    a.finish();
    await pa;
    await pc;
    expect(cRan).toBe(true);
    b.finish();
    await pb;
    expect(jobs.active).toBe(0);
  });

  it('serves waiters in arrival order', async () => {
    const jobs = new MediaJobs({ maxJobs: 1, waitMs: 5000 });
    const first = heldJob();
    const p0 = jobs.run(undefined, first.fn);
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) => jobs.run(undefined, async () => void order.push(n)));
    first.finish();
    await Promise.all([p0, ...waiters]);
    expect(order).toEqual([1, 2, 3]);
  });

  it('when saturated past the wait, refuses with unavailable and a Retry-After, and frees nothing it did not take', async () => {
    const jobs = new MediaJobs({ maxJobs: 1, waitMs: 50, retryAfterSeconds: 7 });
    const held = heldJob();
    const p = jobs.run(undefined, held.fn);
    const t0 = Date.now();
    const err = await jobs.run(undefined, async () => 'never').catch((e: unknown) => e);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(err).toBeInstanceOf(VigilError);
    expect((err as VigilError).kind).toBe('unavailable');
    expect((err as VigilError).retryAfterSeconds).toBe(7);
    expect(jobs.active).toBe(1);
    expect(jobs.waiting).toBe(0);
    held.finish();
    await p;
    expect(jobs.active).toBe(0);
  });

  it('a waiter whose client goes away leaves the queue at once', async () => {
    const jobs = new MediaJobs({ maxJobs: 1, waitMs: 5000 });
    const held = heldJob();
    const p = jobs.run(undefined, held.fn);
    const client = new AbortController();
    const waiting = jobs.run(client.signal, async () => 'never');
    await sleep(10);
    client.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    expect(jobs.waiting).toBe(0);
    held.finish();
    await p;
    expect(jobs.active).toBe(0);
  });

  it('a slot is freed when the job throws', async () => {
    const jobs = new MediaJobs({ maxJobs: 1, waitMs: 100 });
    await expect(jobs.run(undefined, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(jobs.active).toBe(0);
    await expect(jobs.run(undefined, async () => 'ok')).resolves.toBe('ok');
  });

  it('the job sees the client going away through its signal', async () => {
    const jobs = new MediaJobs({ maxJobs: 1 });
    const client = new AbortController();
    const p = jobs.run(client.signal, (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))));
    client.abort(new Error('client left'));
    await expect(p).rejects.toThrow('client left');
    expect(jobs.active).toBe(0);
  });

  it('stop() aborts running jobs and refuses waiting and later ones', async () => {
    const jobs = new MediaJobs({ maxJobs: 1, waitMs: 5000 });
    const running = jobs.run(undefined, (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))));
    const waiting = jobs.run(undefined, async () => 'never');
    await sleep(10);
    jobs.stop();
    await expect(running).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(waiting).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(jobs.run(undefined, async () => 'never')).rejects.toMatchObject({ kind: 'unavailable' });
    expect(jobs.active).toBe(0);
  });
});
