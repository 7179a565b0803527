import { PassThrough, type Readable } from 'node:stream';
import type { Logger } from 'pino';
import { cameraIdTaken } from '../db/camera.repo.js';
import type { Db } from '../db/connection.js';
import { listAllSegments } from '../db/segment.repo.js';
import { buildClipArgs, buildConcatList } from '../media/clip-args.js';
import { spawnMediaJob, type MediaJobLauncher } from '../media/ffmpeg-job.js';
import { invalidArgument, notFound, VigilError } from '../shared/errors.js';
import { clipFileName, clipParts, coverage, type PlacedSegment, type TimeSpan } from './clip-plan.js';
import { FootageFiles } from './footage-files.js';
import type { MediaJobs } from './media-jobs.js';
import { withSegmentsReadLocked } from './read-lock.js';

export interface ClipServiceDeps {
  db: Db;
  dataDir: string;
  log: Logger;
  jobs: MediaJobs;
  ffmpegPath: string;
  /** Longest range one clip may cover (config `media.clip_max_seconds`). */
  clipMaxSeconds: number;
  launch?: MediaJobLauncher;
  /** A download whose client has taken no byte for this long is ended (it holds a job slot and read-locks). */
  stallMs?: number;
}

export interface ClipDownload {
  fileName: string;
  fromMs: number;
  toMs: number;
  /** Milliseconds of the range the clip holds footage for. */
  coveredMs: number;
  /** Holes inside the range (the clip jumps over them). */
  gaps: TimeSpan[];
  segments: number;
  /**
   * The MP4 bytes. It ends only when ffmpeg exited cleanly; when ffmpeg fails it is destroyed with
   * the error, so the HTTP response is cut off instead of looking complete.
   */
  body: Readable;
}


/**
 * Clip export: the segments overlapping a range, read-locked for as long as ffmpeg reads them,
 * remuxed (stream copy) into one fragmented MP4 that streams while it is made.
 */
export class ClipService {
  private readonly files: FootageFiles;
  private readonly launch: MediaJobLauncher;
  private readonly stallMs: number;

  constructor(private readonly d: ClipServiceDeps) {
    this.files = new FootageFiles(d.dataDir);
    this.launch = d.launch ?? spawnMediaJob;
    this.stallMs = d.stallMs ?? 60_000;
  }

  /**
   * Starts a download of [fromMs, toMs). Resolves at ffmpeg's first output byte (the caller then
   * streams `body`); the read-locks and the job slot are held until ffmpeg has exited, and released
   * at once when `signal` aborts (the client went away) or the body is destroyed.
   */
  async open(cameraId: string, range: { fromMs: number; toMs: number }, signal?: AbortSignal): Promise<ClipDownload> {
    const { fromMs, toMs } = range;
    if (fromMs >= toMs) throw invalidArgument('from must be before to', 'from');
    if (toMs - fromMs > this.d.clipMaxSeconds * 1000) {
      throw invalidArgument(`a clip covers at most ${this.d.clipMaxSeconds} s (media.clip_max_seconds); narrow from/to`, 'to');
    }
    const taken = await cameraIdTaken(this.d.db, cameraId);
    if (!taken.live && !taken.deleted) throw notFound(`camera "${cameraId}" not found`, 'id');
    const selected = await listAllSegments(this.d.db, cameraId, fromMs, toMs);
    if (selected.length === 0) throw noFootage(fromMs, toMs);

    let resolveOpen!: (d: ClipDownload) => void;
    let rejectOpen!: (err: unknown) => void;
    const opened = new Promise<ClipDownload>((res, rej) => {
      resolveOpen = res;
      rejectOpen = rej;
    });
    const ids = selected.map((s) => s.id);
    this.d.jobs
      .run(signal, (jobSignal) =>
        withSegmentsReadLocked(this.d, ids, jobSignal, (lockSignal) => this.stream(cameraId, fromMs, toMs, ids, lockSignal ?? jobSignal, resolveOpen)),
      )
      // Before the body is handed out a failure is the caller's error; after it, stream() handled it.
      .catch(rejectOpen);
    return opened;
  }

  /**
   * Runs ffmpeg over the locked segments. `opened` is called at ffmpeg's first output byte, so a
   * failure before it (an unreadable first file) is still an error response, not a cut-off 200.
   * Returns once ffmpeg has exited; the locks are released after that.
   */
  private async stream(
    cameraId: string,
    fromMs: number,
    toMs: number,
    lockedIds: number[],
    signal: AbortSignal,
    opened: (d: ClipDownload) => void,
  ): Promise<void> {
    const placed = await this.placeLocked(cameraId, fromMs, toMs, lockedIds);
    signal.throwIfAborted();
    const proc = this.launch(this.d.ffmpegPath, buildClipArgs(), { stdin: buildConcatList(clipParts(placed, fromMs, toMs)) });
    // ffmpeg's stdout arrives in 64 KiB chunks; a buffer of a few keeps it writing while the socket drains.
    const body = new PassThrough({ highWaterMark: 512 * 1024 });
    proc.stdout.pipe(body, { end: false });
    let exited = false;
    let stalled = false;
    let lastProgress = Date.now();
    // ffmpeg's output moves only as fast as the client takes it (backpressure through the body).
    proc.stdout.on('data', () => {
      lastProgress = Date.now();
    });
    const firstByte = new Promise<void>((resolve) => proc.stdout.once('data', () => resolve()));
    const stop = () => {
      if (!exited) void proc.kill();
    };
    signal.addEventListener('abort', stop, { once: true });
    // The consumer went away (Fastify destroys the body when the response closes early).
    body.once('close', stop);
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > this.stallMs) {
        this.d.log.warn({ cameraId, stalledMs: Date.now() - lastProgress }, 'clip client took no data; download ended');
        stalled = true;
        stop();
      }
    }, Math.min(5000, this.stallMs));
    try {
      const started = await Promise.race([firstByte.then(() => true), proc.exited.then(() => false)]);
      if (!started) {
        const exit = await proc.exited;
        exited = true;
        signal.throwIfAborted();
        this.d.log.error({ cameraId, code: exit.code, signal: exit.signal, stderr: exit.stderrTail }, 'clip export failed before its first byte');
        throw new VigilError('internal', `clip ffmpeg exited with ${exit.code ?? exit.signal} before any output`);
      }
      const cover = coverage(placed, fromMs, toMs);
      opened({ fileName: clipFileName(cameraId, fromMs, toMs), fromMs, toMs, coveredMs: cover.coveredMs, gaps: cover.gaps, segments: placed.length, body });
      const exit = await proc.exited;
      exited = true;
      if (exit.code === 0) {
        body.end();
        return;
      }
      if (!signal.aborted && !body.destroyed && !stalled) {
        this.d.log.error({ cameraId, code: exit.code, signal: exit.signal, stderr: exit.stderrTail }, 'clip export failed mid-stream');
      }
      body.destroy(new VigilError('internal', `clip ffmpeg exited with ${exit.code ?? exit.signal}`));
    } finally {
      clearInterval(watchdog);
      signal.removeEventListener('abort', stop);
      if (!exited) await proc.kill();
    }
  }

  /**
   * The locked segments of the range still in the catalog, with their files' real paths. Retention
   * may have deleted a row between selection and locking: only rows still there (now locked, so
   * they stay) and whose file exists are read.
   */
  private async placeLocked(cameraId: string, fromMs: number, toMs: number, lockedIds: number[]): Promise<PlacedSegment[]> {
    const locked = new Set(lockedIds);
    const placed: PlacedSegment[] = [];
    for (const s of await listAllSegments(this.d.db, cameraId, fromMs, toMs)) {
      if (!locked.has(s.id)) continue;
      const absPath = await this.files.resolve(s.path);
      if (absPath === undefined) {
        this.d.log.warn({ cameraId, segmentId: s.id, path: s.path }, 'segment file missing; left out of the clip');
        continue;
      }
      placed.push({ absPath, startMs: s.startMs, endMs: s.endMs });
    }
    if (placed.length === 0) throw noFootage(fromMs, toMs);
    return placed;
  }

}

function noFootage(fromMs: number, toMs: number): VigilError {
  return new VigilError('not_found', 'no footage in [from, to)', {
    field: 'from',
    details: { gaps: [{ start: new Date(fromMs).toISOString(), end: new Date(toMs).toISOString() }] },
  });
}
