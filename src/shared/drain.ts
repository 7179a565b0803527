import type { Writable } from 'node:stream';

/**
 * After a write to `w` returned false: resolves true when `w` takes more ('drain'), false when it
 * closes or `signal` aborts first (or already has), so a writer waiting on a reader that went away
 * never waits for ever.
 */
export function drained(w: Writable, signal?: AbortSignal): Promise<boolean> {
  if (w.destroyed || signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const settle = (more: boolean) => () => {
      w.off('drain', onDrain);
      w.off('close', onStop);
      signal?.removeEventListener('abort', onStop);
      resolve(more);
    };
    const onDrain = settle(true);
    const onStop = settle(false);
    w.once('drain', onDrain);
    w.once('close', onStop);
    signal?.addEventListener('abort', onStop, { once: true });
  });
}
