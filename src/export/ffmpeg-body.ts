import { PassThrough, type Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { ExitInfo } from '../media/child.js';
import type { Clock } from '../shared/clock.js';
import { VigilError } from '../shared/errors.js';

/** What an ffmpeg writing an HTTP body offers: its output, its exit, a way to end it. */
export interface BodyProcess {
  readonly stdout: Readable;
  readonly exited: Promise<ExitInfo>;
  kill(): Promise<unknown>;
}

export interface FfmpegBody {
  cameraId: string;
  /** Names it in logs: 'clip export' / 'preview' ("… failed mid-stream"). */
  what: string;
  /** Names its ffmpeg in errors: 'clip' / 'preview' ("clip ffmpeg exited with 1"). */
  job: string;
  /** The warning logged when a stalled client ends it. */
  stallMessage: string;
  clock: Clock;
  log: Logger;
  /** A client that takes no data for this long ends it. */
  stallMs: number;
  /** Bytes the body holds while the socket drains. */
  highWaterMark: number;
  /** True when the client's silence counts as a stall: a live preview's output idles while its camera does, so only a full body counts. */
  stalled(body: PassThrough): boolean;
}

/**
 * Streams an ffmpeg's output as an HTTP body (clips remuxed by ffmpeg, H.264 previews). `opened` is
 * called at the first output byte, so a failure before it is still an error response; an abort, the
 * body closed by the client or a client that takes nothing for `stallMs` kill ffmpeg. Returns once
 * ffmpeg has exited; ffmpeg never outlives it.
 */
export async function streamFfmpegBody(o: FfmpegBody, proc: BodyProcess, signal: AbortSignal, opened: (body: Readable) => void): Promise<void> {
  const body = new PassThrough({ highWaterMark: o.highWaterMark });
  proc.stdout.pipe(body, { end: false });
  let exited = false;
  let stalled = false;
  let lastProgress = o.clock.nowMs();
  // ffmpeg's output moves only as fast as the client takes it (backpressure through the body).
  proc.stdout.on('data', () => {
    lastProgress = o.clock.nowMs();
  });
  const firstByte = new Promise<void>((resolve) => proc.stdout.once('data', () => resolve()));
  const stop = () => {
    if (!exited) void proc.kill();
  };
  signal.addEventListener('abort', stop, { once: true });
  // The consumer went away (Fastify destroys the body when the response closes early).
  body.once('close', stop);
  const watchdog = setInterval(() => {
    const idleMs = o.clock.nowMs() - lastProgress;
    if (idleMs > o.stallMs && o.stalled(body)) {
      o.log.warn({ cameraId: o.cameraId, stalledMs: idleMs }, o.stallMessage);
      stalled = true;
      stop();
    }
  }, Math.min(5000, o.stallMs));
  try {
    const started = await Promise.race([firstByte.then(() => true), proc.exited.then(() => false)]);
    if (!started) {
      const exit = await proc.exited;
      exited = true;
      signal.throwIfAborted();
      o.log.error({ cameraId: o.cameraId, code: exit.code, signal: exit.signal, stderr: exit.stderrTail }, `${o.what} failed before its first byte`);
      throw new VigilError('internal', `${o.job} ffmpeg exited with ${exit.code ?? exit.signal} before any output`);
    }
    opened(body);
    const exit = await proc.exited;
    exited = true;
    if (exit.code === 0) {
      body.end();
      return;
    }
    if (!signal.aborted && !body.destroyed && !stalled) {
      o.log.error({ cameraId: o.cameraId, code: exit.code, signal: exit.signal, stderr: exit.stderrTail }, `${o.what} failed mid-stream`);
    }
    body.destroy(new VigilError('internal', `${o.job} ffmpeg exited with ${exit.code ?? exit.signal}`));
  } finally {
    clearInterval(watchdog);
    signal.removeEventListener('abort', stop);
    if (!exited) await proc.kill();
  }
}
