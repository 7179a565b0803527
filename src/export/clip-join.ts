/**
 * Streams a clip planned by `clip-join-plan.ts`: the init segment, then for each fragment its new
 * moof, an mdat header and the payload (its video, then its audio bytes) taken from the segment file,
 * then the mfra. A part's file is read in large positioned reads with the next one already under way
 * (each read is a thread-pool round trip and a copy: a read per fragment, one at a time, took ~45 ms
 * of reading a 10-min clip's bytes, these ~27); the payloads are handed on as views of those reads,
 * never copied again. Fragments taken whole (all but those cut at the clip's ends or whose audio is
 * stitched: the plan's `span`) go out as the file's own bytes, a whole read window at a time, with
 * each new moof written over the old one in the window: a write per window instead of two per
 * fragment.
 * Bytes are read only as fast as the client takes them (the body is pulled), so memory stays at a few
 * windows whatever the clip's length.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Logger } from 'pino';
import { mdatHeader } from './clip-join-boxes.js';
import { ClipBody, WindowPool } from './clip-body.js';
import { readInto } from '../media/fmp4/walk.js';
import { VigilError } from '../shared/errors.js';
import { middleBytes } from './clip-join-middle.js';
import { partPieces, type JoinPiece, type JoinPlan, type JoinPlanPart } from './clip-join-plan.js';
import type { RandomAccessEntry } from './clip-join-init.js';
import type { Clock } from '../shared/clock.js';

/** Bytes per positioned read of a segment file. */
const WINDOW_BYTES = 2 * 1024 * 1024;
/** Reads under way beyond the one being sent. */
const READ_AHEAD = 1;
/** What the HTTP body buffers ahead of the client. */
const BODY_BUFFER_BYTES = 2 * 1024 * 1024;

/**
 * The clip's bytes in order, segment files read into `pool`'s windows (a chunk is a view of one when it
 * holds a file's bytes). `onPull` is called each time the consumer asks for more.
 */
export async function* joinedClipBytes(plan: JoinPlan, onPull: () => void = () => undefined, pool = new WindowPool(WINDOW_BYTES)): AsyncGenerator<Buffer> {
  onPull();
  yield plan.init;
  // A part the plan did not keep (a long clip's later parts) is made again from its file: the next
  // one is made while this one streams, and is waited for when the body ends early (the client left),
  // so no read of a part outlives the body and the read-locks held for it. A file the plan sized by its
  // ends (`whole`) goes out as its bytes, its moofs rewritten on the way (`clip-join-middle.ts`).
  const tfra: RandomAccessEntry[] = [];
  const made = (part: JoinPlanPart | undefined) => (part === undefined ? undefined : part.whole ? Promise.resolve(undefined) : settled(partPieces(part)));
  let next = made(plan.parts[0]);
  try {
    for (const [index, part] of plan.parts.entries()) {
      const own = await next;
      next = made(plan.parts[index + 1]);
      const w = part.whole;
      const pieces = w ? [w.first, w.last] : (own?.pieces ?? []);
      if (pieces.length === 0) continue;
      const fh = await open(part.absPath, 'r');
      const windows = new FileWindows(fh, part.absPath, pieces, pool);
      try {
        if (w) {
          yield* piecesBytes([w.first], windows, onPull);
          for (const entry of w.firstTfra) tfra.push(entry);
          for await (const view of middleBytes(part.absPath, windows, w.middle, tfra)) {
            onPull();
            yield view;
          }
          yield* piecesBytes([w.last], windows, onPull);
          for (const entry of w.lastTfra) tfra.push(entry);
        } else {
          yield* piecesBytes(pieces, windows, onPull);
          for (const entry of own?.tfra ?? []) tfra.push(entry);
        }
      } finally {
        // A read still under way (the client left) finishes first: FileHandle.close waits for it.
        await fh.close();
        windows.close();
      }
    }
  } finally {
    await next?.catch(() => undefined);
  }
  onPull();
  yield plan.closing(tfra);
}

/** A part's pieces, in order, from its file's read windows. */
async function* piecesBytes(pieces: readonly JoinPiece[], windows: FileWindows, onPull: () => void): AsyncGenerator<Buffer> {
  for (let i = 0; i < pieces.length; ) {
    const piece = pieces[i] as JoinPiece;
    if (piece.span) {
      // A run of whole fragments, one after the other in the file: its bytes as read, each moof
      // replaced by its new one (same length) in the read window before the window is handed on.
      let j = i + 1;
      let end = piece.span.offset + piece.span.bytes;
      for (let following = pieces[j]?.span; following?.offset === end; following = pieces[++j]?.span) end += following.bytes;
      const run = pieces.slice(i, j) as Array<Required<JoinPiece>>;
      let k = 0; // the first moof not yet wholly written into a window
      for (let position = piece.span.offset; position < end; ) {
        windows.keepFrom(position);
        const view = await windows.view(position, end - position);
        const viewEnd = position + view.length;
        for (; k < run.length; k++) {
          const { moof, span } = run[k] as Required<JoinPiece>;
          if (span.offset >= viewEnd) break;
          const from = Math.max(span.offset, position);
          const to = Math.min(span.offset + moof.length, viewEnd);
          if (to > from) moof.copy(view, from - position, from - span.offset, to - span.offset);
          if (span.offset + moof.length > viewEnd) break;
        }
        onPull();
        yield view;
        position = viewEnd;
      }
      i = j;
      continue;
    }
    windows.keepFrom(Math.min(...piece.ranges.map((r) => r.offset)));
    onPull();
    yield Buffer.concat([piece.moof, mdatHeader(piece.payloadBytes)]);
    for (const range of piece.ranges) {
      let position = range.offset;
      let left = range.bytes;
      while (left > 0) {
        const view = await windows.view(position, left);
        onPull();
        yield view;
        position += view.length;
        left -= view.length;
      }
    }
    i++;
  }
}

/** `p`, with a failure seen even when nobody awaits it (the client left before its part). */
function settled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/**
 * A part's payload span [first range, last range end) read as consecutive windows of `pool`, the next
 * `READ_AHEAD` requested before they are needed. Windows below the piece being sent are let go (given
 * back to the pool, which reuses them once no write of theirs is pending).
 */
class FileWindows {
  private readonly reads = new Map<number, Promise<Buffer>>();
  private readonly base: number;
  private readonly end: number;
  private readonly size: number;

  constructor(
    private readonly fh: FileHandle,
    private readonly absPath: string,
    pieces: readonly JoinPiece[],
    private readonly pool: WindowPool,
  ) {
    this.size = pool.bytes;
    let base = Infinity;
    let end = 0;
    for (const piece of pieces) {
      for (const r of piece.span ? [piece.span] : piece.ranges) {
        base = Math.min(base, r.offset);
        end = Math.max(end, r.offset + r.bytes);
      }
    }
    this.base = base === Infinity ? 0 : base;
    this.end = end;
  }

  /** Up to `bytes` of the file from `position`, as a view of one window (at least one byte). */
  async view(position: number, bytes: number): Promise<Buffer> {
    const k = Math.floor((position - this.base) / this.size);
    for (let j = k; j <= k + READ_AHEAD; j++) this.request(j);
    const window = await (this.reads.get(k) as Promise<Buffer>);
    const at = position - (this.base + k * this.size);
    if (at >= window.length) throw new VigilError('internal', `segment file ended before its last fragment: ${this.absPath}`);
    return window.subarray(at, at + Math.min(bytes, window.length - at));
  }

  /** Windows wholly below `position` are no longer needed. */
  keepFrom(position: number): void {
    for (const [k, read] of this.reads) {
      if (this.base + (k + 1) * this.size <= position) this.let(k, read);
    }
  }

  /** Every window is let go (the file is done with, its reads settled). */
  close(): void {
    for (const [k, read] of this.reads) this.let(k, read);
  }

  private let(k: number, read: Promise<Buffer>): void {
    this.reads.delete(k);
    // A window whose read failed is not given back: nothing is known of what still reads into it.
    read.then((window) => this.pool.drop(window), () => undefined);
  }

  private request(k: number): void {
    const from = this.base + k * this.size;
    if (this.reads.has(k) || k < 0 || from >= this.end) return;
    const read = readInto(this.fh, this.pool.take(Math.min(this.size, this.end - from)), from);
    // Awaited by view() when needed; a read-ahead nobody needs (the client left) must not fail unseen.
    read.catch(() => undefined);
    this.reads.set(k, read);
  }
}

export interface JoinedClipRun {
  cameraId: string;
  log: Logger;
  /** Aborts when the client goes away or Vigil shuts down. */
  signal: AbortSignal;
  /** The download is ended when the client takes no byte for this long (by `clock`). */
  stallMs: number;
  clock: Clock;
  /** Called with the body as soon as it exists (the plan already read every part's boxes). */
  opened(body: Readable): void;
}

/**
 * Serves `plan` and resolves once the body has ended, failed or been destroyed, so the caller's
 * read-locks and job slot are held exactly as long as the files are read. A read error destroys the
 * body with it (the HTTP response is cut off, never complete-looking) and is logged.
 */
export async function runJoinedClip(plan: JoinPlan, run: JoinedClipRun): Promise<void> {
  let lastProgress = run.clock.nowMs();
  let stalled = false;
  const onPull = () => {
    lastProgress = run.clock.nowMs();
  };
  const body = new ClipBody((pool) => joinedClipBytes(plan, onPull, pool), WINDOW_BYTES, BODY_BUFFER_BYTES);
  const stop = () => body.destroy(new VigilError('internal', 'clip download ended before its end'));
  run.signal.addEventListener('abort', stop, { once: true });
  const watchdog = setInterval(() => {
    const idleMs = run.clock.nowMs() - lastProgress;
    if (idleMs <= run.stallMs) return;
    run.log.warn({ cameraId: run.cameraId, stalledMs: idleMs }, 'clip client took no data; download ended');
    stalled = true;
    stop();
  }, Math.min(5000, run.stallMs));
  try {
    run.opened(body);
    await finished(body);
  } catch (err) {
    const consumerLeft = (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
    if (!run.signal.aborted && !stalled && !consumerLeft) {
      run.log.error({ cameraId: run.cameraId, err }, 'clip export failed mid-stream');
    }
  } finally {
    clearInterval(watchdog);
    run.signal.removeEventListener('abort', stop);
    if (!body.destroyed) body.destroy();
    // Windows made and handed out again (reused only when the body wrote into Node's HTTP response itself).
    const windows = body.windows?.counts;
    if (windows) run.log.debug({ cameraId: run.cameraId, windowsMade: windows.made, windowsReused: windows.reused }, 'clip read windows');
  }
}
