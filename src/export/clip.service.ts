import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { cameraIdTaken } from '../db/camera.repo.js';
import type { Db } from '../db/connection.js';
import { listAllSegments } from '../db/segment.repo.js';
import { buildClipArgs, buildConcatList, type ClipPart } from '../media/clip-args.js';
import { codecFamily, type VideoCodecFamily } from '../media/video-codec.js';
import { spawnMediaJob, type MediaJobLauncher } from '../media/ffmpeg-job.js';
import { invalidArgument, notFound, VigilError } from '../shared/errors.js';
import { scanFmp4 } from '../media/fmp4/scan.js';
import { clipFileName, clipParts, coverage, type PlacedSegment, type TimeSpan } from './clip-plan.js';
import { runJoinedClip } from './clip-join.js';
import { planFmp4Join } from './clip-join-plan.js';
import type { FootageStore } from '../storage/footage-store.js';
import type { MediaJobs } from './media-jobs.js';
import { withSegmentsReadLocked } from './read-lock.js';
import { streamFfmpegBody } from './ffmpeg-body.js';
import type { Clock } from '../shared/clock.js';

export interface ClipServiceDeps {
  db: Db;
  clock: Clock;
  /** Where footage is read from (paths resolved inside the recordings folder only). */
  store: FootageStore;
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
   * The clip's length in bytes when it is known before the first byte (fragments joined in Node: the
   * plan sizes every box); undefined when ffmpeg remuxes. Sent as Content-Length, so a browser shows
   * the download's progress and a cut-off response is known as one.
   */
  sizeBytes?: number;
  /**
   * The MP4 bytes. It ends only when the whole clip was made; when reading or ffmpeg fails it is
   * destroyed with the error, so the HTTP response is cut off instead of looking complete.
   */
  body: Readable;
}


/**
 * Clip export: the segments overlapping a range, read-locked for as long as they are read, made into
 * one fragmented MP4 that streams while it is made: joined fragment by fragment in Node when the
 * files allow it (no transcoding, no process), else remuxed (stream copy) by ffmpeg.
 */
export class ClipService {
  private readonly files: FootageStore;
  private readonly launch: MediaJobLauncher;
  private readonly stallMs: number;

  constructor(private readonly d: ClipServiceDeps) {
    this.files = d.store;
    this.launch = d.launch ?? spawnMediaJob;
    this.stallMs = d.stallMs ?? 60_000;
  }

  /**
   * Starts a download of [fromMs, toMs). Resolves once the clip's first bytes are ready (the caller
   * then streams `body`); the read-locks and the job slot are held until the body is done, and released
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
    // The footage's codec as indexed: an ffmpeg remux of H.265 keeps its hvc1 entry.
    const videoCodec = selected.some((s) => codecFamily(s.codec) === 'h265') ? 'h265' : undefined;
    this.d.jobs
      .run(signal, (jobSignal) =>
        withSegmentsReadLocked(this.d, ids, jobSignal, (lockSignal) => this.stream(cameraId, fromMs, toMs, ids, lockSignal ?? jobSignal, resolveOpen, videoCodec)),
      )
      // Before the body is handed out a failure is the caller's error; after it, stream() handled it.
      .catch(rejectOpen);
    return opened;
  }

  /**
   * Makes the clip from the locked segments: joined in Node when every part is recorder fMP4 with
   * one codec configuration (`clip-join-plan.ts`), otherwise remuxed by ffmpeg. `opened` is called
   * once the body exists, so a failure before it is still an error response, not a cut-off 200.
   * Returns once the body has ended or failed; the locks are released after that.
   */
  private async stream(
    cameraId: string,
    fromMs: number,
    toMs: number,
    lockedIds: number[],
    signal: AbortSignal,
    opened: (d: ClipDownload) => void,
    videoCodec?: VideoCodecFamily,
  ): Promise<void> {
    const placed = await this.placeLocked(cameraId, fromMs, toMs, lockedIds);
    signal.throwIfAborted();
    const parts = clipParts(placed, fromMs, toMs, await this.innerKeyframes(placed, fromMs));
    const cover = coverage(placed, fromMs, toMs);
    const download = (body: Readable, sizeBytes?: number): ClipDownload => ({
      fileName: clipFileName(cameraId, fromMs, toMs),
      fromMs,
      toMs,
      coveredMs: cover.coveredMs,
      gaps: cover.gaps,
      segments: placed.length,
      ...(sizeBytes === undefined ? {} : { sizeBytes }),
      body,
    });
    // A file that cannot be read here fails the same way under ffmpeg, which then reports it.
    const plan = await planFmp4Join(parts).catch((err: unknown) => ({ ok: false as const, reason: `read failed: ${String(err)}` }));
    signal.throwIfAborted();
    if (plan.ok) {
      // partsReadAsSent: parts whose pieces are made as the clip streams (files sized by their ends, a long clip's later parts).
      const partsReadAsSent = plan.value.parts.filter((part) => part.pieces === undefined).length;
      this.d.log.debug({ cameraId, path: 'join', parts: parts.length, partsReadAsSent, bytes: plan.value.totalBytes }, 'clip export path');
      await runJoinedClip(plan.value, { cameraId, log: this.d.log, signal, stallMs: this.stallMs, clock: this.d.clock, opened: (body) => opened(download(body, plan.value.totalBytes)) });
      return;
    }
    this.d.log.debug({ cameraId, path: 'ffmpeg', reason: plan.reason }, 'clip export path');
    await this.remux(cameraId, parts, signal, (body) => opened(download(body)), videoCodec);
  }

  /**
   * The keyframes (media seconds from the file's first frame) of each file after the clip's first that
   * holds footage before its row's start (an edge refill): where `clipParts` may enter it.
   */
  private async innerKeyframes(placed: readonly PlacedSegment[], fromMs: number): Promise<(absPath: string) => readonly number[] | undefined> {
    const found = new Map<string, number[]>();
    const inner = placed.filter((s, i) => i > 0 && s.startMs > fromMs && (s.mediaOffsetMs ?? 0) > 0);
    for (const s of inner) {
      const scan = await scanFmp4(s.absPath).catch(() => undefined);
      if (!scan) continue;
      const first = scan.firstDecodeTimeSeconds ?? 0;
      found.set(s.absPath, scan.fragments.filter((f) => f.startsWithKeyframe && f.decodeTimeSeconds !== undefined).map((f) => (f.decodeTimeSeconds as number) - first));
    }
    return (absPath) => found.get(absPath);
  }

  /**
   * Runs ffmpeg over the parts. `opened` is called at ffmpeg's first output byte, so a failure
   * before it (an unreadable first file) is still an error response. Returns once ffmpeg has exited.
   */
  private async remux(cameraId: string, parts: ClipPart[], signal: AbortSignal, opened: (body: Readable) => void, videoCodec?: VideoCodecFamily): Promise<void> {
    const proc = this.launch(this.d.ffmpegPath, buildClipArgs({ videoCodec }), { stdin: buildConcatList(parts) });
    await streamFfmpegBody({
      cameraId,
      what: 'clip export',
      job: 'clip',
      stallMessage: 'clip client took no data; download ended',
      clock: this.d.clock,
      log: this.d.log,
      stallMs: this.stallMs,
      // ffmpeg's stdout arrives in 64 KiB chunks; a buffer of a few keeps it writing while the socket drains.
      highWaterMark: 512 * 1024,
      // ffmpeg reads files: it always has output, so no progress means the client takes none.
      stalled: () => true,
    }, proc, signal, opened);
  }


  /**
   * The locked segments of the range still in the catalog, with their files' real paths. Retention
   * may have deleted a row between selection and locking: only rows still there (now locked, so
   * they stay) and whose file exists are read.
   */
  private async placeLocked(cameraId: string, fromMs: number, toMs: number, lockedIds: number[]): Promise<PlacedSegment[]> {
    const locked = new Set(lockedIds);
    const rows = (await listAllSegments(this.d.db, cameraId, fromMs, toMs)).filter((s) => locked.has(s.id));
    // All at once: the first byte waits for these, one file system round trip per segment.
    const paths = await Promise.all(rows.map((s) => this.files.resolveSegment(s)));
    const placed: PlacedSegment[] = [];
    for (const [i, s] of rows.entries()) {
      const absPath = paths[i];
      if (absPath === undefined) {
        this.d.log.warn({ cameraId, segmentId: s.id, path: s.path }, 'segment file missing; left out of the clip');
        continue;
      }
      placed.push({ absPath, startMs: s.startMs, endMs: s.endMs, mediaOffsetMs: s.mediaOffsetMs, ...(s.keyframeFragments !== null ? { keyframeFragments: s.keyframeFragments } : {}) });
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
