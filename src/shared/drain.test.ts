import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { drained } from './drain.js';

/** A writable that takes nothing until `release` is called: every write past 1 byte reports backpressure. */
function stuck() {
  let release: (() => void) | undefined;
  const w = new Writable({ highWaterMark: 1, write: (_c, _e, done) => void (release = done) });
  return { w, release: () => release?.() };
}

describe('drained', () => {
  it('true once the writable takes more', async () => {
    const { w, release } = stuck();
    expect(w.write(Buffer.alloc(4))).toBe(false);
    const p = drained(w);
    release();
    expect(await p).toBe(true);
  });

  it('false when the writable closes first, when the signal aborts first, and at once when either already happened (it never waits for ever)', async () => {
    const a = stuck();
    a.w.write(Buffer.alloc(4));
    const closed = drained(a.w);
    a.w.destroy();
    expect(await closed).toBe(false);
    expect(await drained(a.w)).toBe(false);

    const b = stuck();
    b.w.write(Buffer.alloc(4));
    const ac = new AbortController();
    const aborted = drained(b.w, ac.signal);
    ac.abort();
    expect(await aborted).toBe(false);
    expect(await drained(b.w, ac.signal)).toBe(false);
    expect(b.w.listenerCount('drain')).toBe(0);
    expect(b.w.listenerCount('close')).toBe(0);
  });
});
