import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { buildWarmSnapshotArgs } from '../media/snapshot-args.js';
import { spawnWarmDecoder, type WarmDecoderProcess } from '../media/warm-decoder.js';
import { sleep } from '../shared/sleep.js';
import { zombieChildren } from '../../test/support/harness.js';
import { WarmDecoderPool } from './warm-decoders.js';
import { systemClock } from '../shared/clock.js';

/** The pool with real ffmpeg processes idle on stdin (the argv the snapshot service uses). */

/** The state letter of a process (/proc/<pid>/stat), or undefined once it is gone and reaped. */
async function procState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined ? undefined : /\) (\S) /.exec(stat)?.[1];
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

let pools: WarmDecoderPool[] = [];

function pool(size: number, program = 'ffmpeg', backoffInitialMs = 200) {
  const spawned: WarmDecoderProcess[] = [];
  const p = new WarmDecoderPool({
    size,
    log: pino({ level: 'silent' }),
    clock: systemClock,
    backoffInitialMs,
    backoffMaxMs: 10_000,
    spawn: () => {
      const proc = spawnWarmDecoder(program, buildWarmSnapshotArgs());
      spawned.push(proc);
      return proc;
    },
  });
  pools.push(p);
  return { p, spawned };
}

afterEach(async () => {
  await Promise.all(pools.map((p) => p.stop()));
  pools = [];
});

describe('WarmDecoderPool', () => {
  it('keeps `size` ffmpeg processes started and idle, blocked reading stdin', async () => {
    const { p, spawned } = pool(2);
    p.start();
    expect(p.idleCount).toBe(2);
    // Once started (a loaded machine takes a while), sleeping in read(2) on the empty pipe: not spinning, not exited.
    for (const proc of spawned) await until('an idle decoder', async () => (await procState(proc.pid)) === 'S', 20_000);
    await sleep(300);
    for (const proc of spawned) expect(await procState(proc.pid)).toBe('S');
    expect(spawned).toHaveLength(2);
  });

  it('take() hands one out and starts its replacement once its input is written, not while it is; 0 keeps none', async () => {
    const { p, spawned } = pool(1);
    p.start();
    const taken = p.take();
    expect(taken).toBe(spawned[0]);
    // Starting a child holds the event loop: not while the request writes the decoder's input.
    taken?.stdin.write(Buffer.alloc(1000));
    await sleep(50);
    expect(spawned).toHaveLength(1);
    expect(p.idleCount).toBe(0);
    expect(p.take()).toBeUndefined();
    // The input ends: the decoder works on it, and its replacement starts loading meanwhile.
    taken?.stdin.end();
    await until('the replacement', () => spawned.length === 2);
    expect(p.idleCount).toBe(1);
    await taken?.kill();
    // One replacement only, though the taken one then exits too.
    await sleep(50);
    expect(spawned).toHaveLength(2);
    const none = pool(0);
    none.p.start();
    expect(none.p.take()).toBeUndefined();
    expect(none.spawned).toHaveLength(0);
  });

  it('a decoder that dies while idle is reaped and replaced after a backoff that doubles', async () => {
    const { p, spawned } = pool(1, 'ffmpeg', 300);
    p.start();
    const first = spawned[0] as WarmDecoderProcess;
    let t = Date.now();
    process.kill(first.pid, 'SIGKILL');
    await first.exited;
    await until('the replacement', () => spawned.length === 2);
    expect(Date.now() - t).toBeGreaterThanOrEqual(280);
    expect(await procState(first.pid)).toBeUndefined();
    t = Date.now();
    process.kill((spawned[1] as WarmDecoderProcess).pid, 'SIGKILL');
    await until('the second replacement', () => spawned.length === 3);
    expect(Date.now() - t).toBeGreaterThanOrEqual(580);
    expect(p.idleCount).toBe(1);
    expect(await zombieChildren()).toEqual([]);
  });

  it('a program that cannot start is retried with backoff, not in a loop', async () => {
    const { p, spawned } = pool(1, '/nonexistent/ffmpeg', 100);
    p.start();
    await sleep(1000);
    // 0, +100, +200, +400 ms: four attempts in a second at most (a loop would make thousands).
    expect(spawned.length).toBeGreaterThanOrEqual(2);
    expect(spawned.length).toBeLessThanOrEqual(4);
    await p.stop();
    const after = spawned.length;
    await sleep(500);
    expect(spawned.length).toBe(after);
  });

  it('stop() kills the idle decoders, awaits them, and starts no more', async () => {
    const { p, spawned } = pool(2);
    p.start();
    await p.stop();
    for (const proc of spawned) {
      expect((await proc.exited).signal).toBe('SIGKILL');
      expect(await procState(proc.pid)).toBeUndefined();
    }
    expect(p.idleCount).toBe(0);
    expect(p.take()).toBeUndefined();
    await sleep(300);
    expect(spawned).toHaveLength(2);
    expect(await zombieChildren()).toEqual([]);
  });
});
