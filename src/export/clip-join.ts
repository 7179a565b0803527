/**
 * Streams a clip planned by `clip-join-plan.ts`: the init segment, then for each fragment its new
 * moof, an mdat header and the payload (its video, then its audio bytes) copied from the segment file with positioned reads into large
 * buffers, then the mfra. Bytes are read only as fast as the client takes them (the body is pulled),
 * so memory stays at a few buffers whatever the clip's length.
 */
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Logger } from 'pino';
import { mdatHeader } from './clip-join-boxes.js';
import { VigilError } from '../shared/errors.js';
import type { JoinPlan } from './clip-join-plan.js';
import type { Clock } from '../shared/clock.js';

/** Bytes per read and per chunk handed to the HTTP response. */
const CHUNK_BYTES = 1024 * 1024;

/** The clip's bytes in order. `onPull` is called each time the consumer asks for more. */
export async function* joinedClipBytes(plan: JoinPlan, onPull: () => void = () => undefined, chunkBytes = CHUNK_BYTES): AsyncGenerator<Buffer> {
  onPull();
  yield plan.init;
  let chunk = Buffer.allocUnsafe(chunkBytes);
  let used = 0;
  for (const part of plan.parts) {
    const fh = await open(part.absPath, 'r');
    try {
      for (const piece of part.pieces) {
        const head = Buffer.concat([piece.moof, mdatHeader(piece.payloadBytes)]);
        if (chunk.length - used < head.length) {
          if (used > 0) {
            onPull();
            yield chunk.subarray(0, used);
          }
          chunk = Buffer.allocUnsafe(Math.max(chunkBytes, head.length));
          used = 0;
        }
        used += head.copy(chunk, used);
        for (const range of piece.ranges) {
          let position = range.offset;
          let left = range.bytes;
          while (left > 0) {
            if (used === chunk.length) {
              onPull();
              yield chunk;
              chunk = Buffer.allocUnsafe(chunkBytes);
              used = 0;
            }
            const { bytesRead } = await fh.read(chunk, used, Math.min(left, chunk.length - used), position);
            if (bytesRead === 0) throw new VigilError('internal', `segment file ended before its last fragment: ${part.absPath}`);
            used += bytesRead;
            position += bytesRead;
            left -= bytesRead;
          }
        }
      }
    } finally {
      await fh.close();
    }
  }
  onPull();
  yield Buffer.concat([chunk.subarray(0, used), plan.mfra]);
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
  const body = Readable.from(
    joinedClipBytes(plan, () => {
      lastProgress = run.clock.nowMs();
    }),
    { objectMode: false, highWaterMark: 2 * CHUNK_BYTES },
  );
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
  }
}
