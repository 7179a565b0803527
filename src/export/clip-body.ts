/**
 * A joined clip's body (`clip-join.ts`) and the read windows it sends from. Piped into Node's own HTTP
 * response, the body writes each chunk itself and takes a read window back for the next reads once
 * every write that sent a view of it has called back (the kernel holds a copy of those bytes by then).
 * A new 2-MB window costs its pages' first touch on each read: ~13 ms of page faults in a 10-min clip's
 * ~75 ms, which reusing a few windows saves. Any other consumer (the evidence bundle's builder, a
 * test, a compression stream) gets a plain Readable whose chunks are its own to keep: its windows are
 * never reused, since nothing tells when it has let a chunk go.
 */
import { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { drained } from '../shared/drain.js';

/**
 * Buffers of `bytes` for a body's positioned reads. With `recycle`, a window is held by its reader
 * from `take` and by each write of a view of it (`hold`), and once nobody holds it (`drop`) `take`
 * hands it out again; without, every `take` is a new buffer and holds are not counted.
 */
export class WindowPool {
  /** Windows handed out, by their memory: the window and how many holds it has. */
  private readonly held = new Map<ArrayBufferLike, { window: Buffer; holds: number }>();
  private readonly free: Buffer[] = [];
  /** Windows made, and windows handed out again. */
  readonly counts = { made: 0, reused: 0 };

  constructor(
    readonly bytes: number,
    private readonly recycle = false,
    /** Free windows kept for reuse at most; more are let go to the collector. */
    private readonly keep = 4,
  ) {}

  /** A window of `length` (at most `bytes`), held once by the caller. */
  take(length = this.bytes): Buffer {
    if (!this.recycle) {
      this.counts.made++;
      return Buffer.allocUnsafe(length);
    }
    // A window of its own memory (never a slice of Node's shared pool of small buffers), since
    // views are traced back to their window by that memory.
    const reused = this.free.pop();
    const window = reused ?? Buffer.allocUnsafeSlow(this.bytes);
    if (reused) this.counts.reused++;
    else this.counts.made++;
    this.held.set(window.buffer, { window, holds: 1 });
    return window.subarray(0, length);
  }

  /** One more hold on the window `view` lies in (nothing for bytes that are not a window's). */
  hold(view: Buffer): void {
    const entry = this.held.get(view.buffer);
    if (entry) entry.holds++;
  }

  /** Lets go of one hold on the window `view` lies in; a window nobody holds is free for `take`. */
  drop(view: Buffer): void {
    const entry = this.held.get(view.buffer);
    if (!entry || --entry.holds > 0) return;
    this.held.delete(view.buffer);
    if (this.free.length < this.keep) this.free.push(entry.window);
  }
}

/** What makes the body's bytes, reading from the windows given. */
export type ClipBytes = (windows: WindowPool) => AsyncGenerator<Buffer>;

/**
 * The body. `pipe` into Node's HTTP response sends the bytes itself, from recycled windows; anything
 * else reads it as a Readable (from windows never reused). Either way it ends with 'end' after the last
 * byte, and a failure or `destroy` ends the bytes' generator (closing its files) before 'close'.
 */
export class ClipBody extends Readable {
  private bytes: AsyncGenerator<Buffer> | undefined;
  private pool: WindowPool | undefined;
  private direct = false;
  private pulling = false;
  /** Aborted when the body is destroyed: a write waiting for the response to drain stops waiting. */
  private readonly closing = new AbortController();

  constructor(
    private readonly make: ClipBytes,
    private readonly windowBytes: number,
    highWaterMark: number,
  ) {
    super({ highWaterMark });
  }

  override pipe<T extends NodeJS.WritableStream>(dest: T, options?: { end?: boolean }): T {
    // Only Node's own response: a subclass (an injected test response, say) may keep the chunks.
    if (this.bytes || Object.getPrototypeOf(dest) !== ServerResponse.prototype) return super.pipe(dest, options);
    this.direct = true;
    const pool = new WindowPool(this.windowBytes, true);
    this.pool = pool;
    this.bytes = this.make(pool);
    void this.send(dest as unknown as ServerResponse, pool, options?.end !== false);
    return dest;
  }

  /** The windows read into, once reading has begun. */
  get windows(): WindowPool | undefined {
    return this.pool;
  }

  override _read(): void {
    if (this.direct || this.pulling) return;
    if (!this.bytes) {
      this.pool = new WindowPool(this.windowBytes);
      this.bytes = this.make(this.pool);
    }
    this.pulling = true;
    void this.pull(this.bytes);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.closing.abort();
    const bytes = this.bytes;
    if (!bytes) return callback(err);
    // Waits for a pull under way, then runs the generator's finally blocks (files closed).
    bytes.return(undefined).then(
      () => callback(err),
      (e: unknown) => callback(err ?? (e as Error)),
    );
  }

  private async pull(bytes: AsyncGenerator<Buffer>): Promise<void> {
    try {
      for (;;) {
        const r = await bytes.next();
        if (this.destroyed) return;
        if (r.done) {
          this.push(null);
          return;
        }
        if (!this.push(r.value)) return;
      }
    } catch (err) {
      this.destroy(err as Error);
    } finally {
      this.pulling = false;
    }
  }

  /** Writes every chunk to `res`; a window is reused once each write of it has called back. */
  private async send(res: ServerResponse, pool: WindowPool, end: boolean): Promise<void> {
    const bytes = this.bytes as AsyncGenerator<Buffer>;
    try {
      for (;;) {
        const r = await bytes.next();
        // The response gone (the client left): the body goes too, its reading ended, as a pipeline does.
        if (this.destroyed || res.destroyed) return void this.destroy();
        if (r.done) break;
        const chunk = r.value;
        pool.hold(chunk);
        if (!res.write(chunk, () => pool.drop(chunk)) && !(await drained(res, this.closing.signal))) return void this.destroy();
      }
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    // As a pipe ends: the body's 'end', then the response's.
    if (end) this.once('end', () => res.end());
    this.push(null);
    this.resume();
  }
}
