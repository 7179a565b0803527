import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { get, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInto } from '../media/fmp4/walk.js';
import { ClipBody, WindowPool } from './clip-body.js';
import { servePiped, slowDownload } from '../../test/support/slow-client.js';

/**
 * The clip body's two ways out: into Node's HTTP response it writes itself and reuses a read window
 * only once every write of it has called back; into anything else its chunks are the consumer's to
 * keep. A window reused too early would put other bytes on the wire where a slow client has not yet
 * taken them: the file sent here is far larger than the sockets' buffers, so writes wait.
 */
const WINDOW = 64 * 1024;
/** Not a divisor of the window or of the response's 16-KiB high-water mark, so a window's last writes can be pending. */
const VIEW = 5000;
let dir: string;
let source: Buffer;
let sourcePath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-clip-body-'));
  source = randomBytes(24 * 1024 * 1024);
  sourcePath = join(dir, 'source.bin');
  await writeFile(sourcePath, source);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The file's bytes as the clip's body reads a segment file: a window at a time, sent as views of it, let go when passed. */
function fileBytes(state: { closed: boolean; failAfter?: number }) {
  return async function* (pool: WindowPool): AsyncGenerator<Buffer> {
    const fh = await open(sourcePath, 'r');
    try {
      for (let at = 0, n = 0; at < source.length; at += pool.bytes, n++) {
        if (state.failAfter !== undefined && n === state.failAfter) throw new Error('segment file ended before its last fragment');
        const window = await readInto(fh, pool.take(Math.min(pool.bytes, source.length - at)), at);
        // Views below the response's high-water mark: a write of one can be pending yet not hold the body back.
        for (let v = 0; v < window.length; v += VIEW) yield window.subarray(v, v + VIEW);
        pool.drop(window);
      }
    } finally {
      await fh.close();
      state.closed = true;
    }
  };
}

describe('a clip body piped into an HTTP response', () => {
  it('reuses its read windows once their writes have called back, and a client slow to read gets exactly the file', async () => {
    const state = { closed: false };
    const { url, server, bodies } = await servePiped(() => new ClipBody(fileBytes(state), WINDOW, WINDOW), source.length);
    try {
      const got = await slowDownload(url, 200);
      expect(got.complete).toBe(true);
      expect(got.bytes.length).toBe(source.length);
      expect(got.bytes.equals(source)).toBe(true);
      const body = bodies[0] as ClipBody;
      if (!body.readableEnded) await once(body, 'end');
      const counts = body.windows?.counts;
      // 384 windows read; only a handful made, the rest handed out again.
      expect(counts?.reused).toBeGreaterThan(300);
      expect(counts?.made).toBeLessThan(64);
      expect(state.closed).toBe(true);
    } finally {
      server.close();
    }
  });

  it('a client that leaves mid-body: the body is destroyed and its reading ends (file closed)', async () => {
    const state = { closed: false };
    const { url, server, bodies } = await servePiped(() => new ClipBody(fileBytes(state), WINDOW, WINDOW), source.length);
    try {
      const res = await new Promise<IncomingMessage>((resolve, reject) => get(url, resolve).once('error', reject));
      await once(res, 'data');
      res.destroy();
      const body = bodies[0] as ClipBody;
      if (!body.closed) await once(body, 'close');
      expect(body.destroyed).toBe(true);
      expect(state.closed).toBe(true);
    } finally {
      server.close();
    }
  });

  it('a read failing mid-body destroys it with the error: the response is cut short, never complete-looking', async () => {
    const state = { closed: false, failAfter: 100 };
    const { url, server, bodies } = await servePiped(() => new ClipBody(fileBytes(state), WINDOW, WINDOW), source.length);
    try {
      const got = await slowDownload(url, 0);
      expect(got.complete).toBe(false);
      expect(got.bytes.length).toBeLessThan(source.length);
      expect(got.bytes.equals(source.subarray(0, got.bytes.length))).toBe(true);
      expect((bodies[0] as ClipBody).errored?.message).toMatch(/ended before its last fragment/);
      expect(state.closed).toBe(true);
    } finally {
      server.close();
    }
  });
});

describe('a clip body read by anything else', () => {
  it('gives chunks the consumer may keep: no window is reused', async () => {
    const state = { closed: false };
    const body = new ClipBody(fileBytes(state), WINDOW, WINDOW);
    const kept: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        kept.push(chunk);
        setImmediate(done);
      },
    });
    body.pipe(sink);
    await once(sink, 'finish');
    expect(Buffer.concat(kept).equals(source)).toBe(true);
    expect(body.windows?.counts.reused).toBe(0);
    expect(state.closed).toBe(true);
  });

  it('as an async iterable, the same bytes', async () => {
    const chunks: Buffer[] = [];
    for await (const c of new ClipBody(fileBytes({ closed: false }), WINDOW, WINDOW)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(source)).toBe(true);
  });
});

describe('a window pool', () => {
  const overlaps = (x: Buffer, y: Buffer) => x.buffer === y.buffer && x.byteOffset < y.byteOffset + y.length && y.byteOffset < x.byteOffset + x.length;

  it('hands a window out again only once its reader and every write of it have let go, small windows too', () => {
    // 997 bytes: Node would slice buffers this small from one shared block, which must not confuse the pool.
    const pool = new WindowPool(997, true);
    const a = pool.take();
    const b = pool.take();
    expect(overlaps(a, b)).toBe(false);
    const pending = b.subarray(100, 200);
    pool.hold(pending); // a write of part of b, not yet called back
    pool.drop(b);
    pool.drop(a);
    const c = pool.take();
    expect(overlaps(c, b)).toBe(false);
    expect(overlaps(c, a)).toBe(true);
    expect(overlaps(pool.take(), b)).toBe(false);
    pool.drop(pending);
    expect(overlaps(pool.take(), b)).toBe(true);
    expect(pool.counts).toEqual({ made: 3, reused: 2 });
  });

  it('without recycling, every window is new', () => {
    const pool = new WindowPool(4096);
    const a = pool.take(100);
    pool.drop(a);
    expect(a.length).toBe(100);
    expect(overlaps(pool.take(), a)).toBe(false);
    expect(pool.counts).toEqual({ made: 2, reused: 0 });
  });
});
