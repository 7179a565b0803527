/**
 * On-demand H.264 previews of footage the browser says it cannot play (an H.265 camera in a browser
 * without HEVC decoding): a small transcode, labelled a preview everywhere it shows, bounded by the
 * media-job limiter as clips and snapshots are (a preview holds one slot for as long as it streams).
 * Evidence never goes through it: clips, downloads and exports carry the original stream.
 *
 * Live: the camera's main stream as the live view reads it (the recorder's files, no second camera
 * connection) fed to ffmpeg. Recorded: the stored files from an instant on, read-locked while read.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { cameraIdTaken } from '../db/camera.repo.js';
import type { Db } from '../db/connection.js';
import { listAllSegments } from '../db/segment.repo.js';
import type { LiveStreamKind } from '../live/live-hub.js';
import type { ViewerConnection } from '../live/live-channel.js';
import { buildConcatList } from '../media/clip-args.js';
import { buildPreviewArgs, spawnPreview, type PreviewLauncher, type PreviewProcess } from '../media/preview-args.js';
import type { Clock } from '../shared/clock.js';
import { invalidArgument, notFound, VigilError } from '../shared/errors.js';
import type { FootageStore } from '../storage/footage-store.js';
import { clipParts, type PlacedSegment } from './clip-plan.js';
import type { MediaJobs } from './media-jobs.js';
import { withSegmentsReadLocked } from './read-lock.js';
import { streamFfmpegBody } from './ffmpeg-body.js';

/** How far a recorded preview reaches from its start; the page asks again from where it ended. */
export const RECORDED_PREVIEW_SPAN_MS = 10 * 60_000;

/** The live view as a preview reads it: a viewer of the camera's main stream. */
export interface PreviewLiveSource {
  check(cameraId: string, stream: LiveStreamKind): Promise<unknown>;
  join(cameraId: string, stream: LiveStreamKind, conn: ViewerConnection): Promise<() => void>;
}

export interface PreviewServiceDeps {
  db: Db;
  clock: Clock;
  store: FootageStore;
  log: Logger;
  jobs: MediaJobs;
  live: PreviewLiveSource;
  ffmpegPath: string;
  launch?: PreviewLauncher;
  /** A preview whose client has taken no byte for this long is ended (it holds a job slot). */
  stallMs?: number;
}

export interface Preview {
  /** H.264 fragmented MP4; ends when the source does, destroyed with the error when the transcode fails. */
  body: Readable;
  /** Recorded: the wall-clock instant of the preview's first frame (the asked `from`); live: undefined. */
  fromMs?: number;
  /** Recorded: where the footage this preview covers ends (ask again from there). */
  toMs?: number;
}

export class PreviewService {
  private readonly launch: PreviewLauncher;
  private readonly stallMs: number;

  constructor(private readonly d: PreviewServiceDeps) {
    this.launch = d.launch ?? spawnPreview;
    this.stallMs = d.stallMs ?? 60_000;
  }

  /**
   * A preview of the camera's live main stream. Resolves at the transcode's first byte; the job slot is
   * held until the body ends (the camera stops, a recorder restart starts a new stream: the page asks
   * again) or `signal` aborts.
   */
  async openLive(cameraId: string, height: number, signal?: AbortSignal): Promise<Preview> {
    await this.d.live.check(cameraId, 'main');
    return this.start(signal, (jobSignal, opened) => this.transcodeLive(cameraId, height, jobSignal, opened));
  }

  /** A preview of the stored footage from `fromMs` on (at most RECORDED_PREVIEW_SPAN_MS of it). */
  async openRecorded(cameraId: string, fromMs: number, height: number, signal?: AbortSignal): Promise<Preview> {
    if (!Number.isFinite(fromMs)) throw invalidArgument('from must be a time', 'from');
    const taken = await cameraIdTaken(this.d.db, cameraId);
    if (!taken.live && !taken.deleted) throw notFound(`camera "${cameraId}" not found`, 'id');
    const toMs = fromMs + RECORDED_PREVIEW_SPAN_MS;
    const selected = await listAllSegments(this.d.db, cameraId, fromMs, toMs);
    if (selected.length === 0) throw new VigilError('not_found', 'no footage at or after from (within 10 minutes)', { field: 'from' });
    const ids = selected.map((s) => s.id);
    return this.start(signal, (jobSignal, opened) =>
      withSegmentsReadLocked(this.d, ids, jobSignal, async (lockSignal) => {
        const placed = await this.placed(cameraId, fromMs, toMs, new Set(ids));
        const endMs = Math.min(toMs, placed.at(-1)?.endMs ?? toMs);
        const parts = clipParts(placed, Math.max(fromMs, placed[0]?.startMs ?? fromMs), endMs);
        const proc = this.launch(this.d.ffmpegPath, buildPreviewArgs({ source: 'recorded', height }));
        proc.stdin.end(buildConcatList(parts));
        await this.stream(cameraId, proc, lockSignal ?? jobSignal, (body) => opened({ body, fromMs: Math.max(fromMs, placed[0]?.startMs ?? fromMs), toMs: endMs }));
      }),
    );
  }

  /** Runs `work` in a media-job slot; resolves with what it hands to `opened`, rejects with what fails before. */
  private start(signal: AbortSignal | undefined, work: (jobSignal: AbortSignal, opened: (p: Preview) => void) => Promise<void>): Promise<Preview> {
    return new Promise<Preview>((resolve, reject) => {
      this.d.jobs.run(signal, (jobSignal) => work(jobSignal, resolve)).catch(reject);
    });
  }

  private async transcodeLive(cameraId: string, height: number, signal: AbortSignal, opened: (p: Preview) => void): Promise<void> {
    const proc = this.launch(this.d.ffmpegPath, buildPreviewArgs({ source: 'live', height }));
    let inits = 0;
    let ended = false;
    const endInput = () => {
      if (ended) return;
      ended = true;
      proc.stdin.end();
    };
    // A viewer like any other: the live channel's back-pressure policy applies to what ffmpeg has not read.
    const conn: ViewerConnection = {
      bufferedBytes: () => proc.stdin.writableLength,
      sendText: (text) => {
        // A second init is a new recorder run (a new stream): the preview ends, and the page asks again.
        if (messageType(text) === 'init' && ++inits > 1) endInput();
      },
      sendBinary: (data) => {
        if (!ended) proc.stdin.write(data);
      },
      close: () => endInput(),
    };
    let leave: (() => void) | undefined;
    try {
      leave = await this.d.live.join(cameraId, 'main', conn);
    } catch (err) {
      await proc.kill();
      throw err;
    }
    try {
      await this.stream(cameraId, proc, signal, (body) => opened({ body }));
    } catch (err) {
      // Nothing came to transcode (the camera is offline: the live view gave up on it after its wait).
      if (inits === 0 && !signal.aborted) throw new VigilError('unavailable', 'the camera sends no video now; retry once it records', { retryAfterSeconds: 5 });
      throw err;
    } finally {
      leave();
      endInput();
    }
  }

  /**
   * Streams ffmpeg's output as the body. `opened` is called at the first output byte, so a failure
   * before it is still an error response. Returns once ffmpeg has exited.
   */
  private async stream(cameraId: string, proc: PreviewProcess, signal: AbortSignal, opened: (body: Readable) => void): Promise<void> {
    await streamFfmpegBody({
      cameraId,
      what: 'preview',
      job: 'preview',
      stallMessage: 'preview client took no data; preview ended',
      clock: this.d.clock,
      log: this.d.log,
      stallMs: this.stallMs,
      highWaterMark: 256 * 1024,
      // A live preview idles while its camera does: only a client that leaves the body full has stalled.
      stalled: (body) => body.writableNeedDrain,
    }, proc, signal, opened);
  }


  /** The locked rows still in the catalog whose files exist, placed for the concat list. */
  private async placed(cameraId: string, fromMs: number, toMs: number, locked: Set<number>): Promise<PlacedSegment[]> {
    const rows = (await listAllSegments(this.d.db, cameraId, fromMs, toMs)).filter((s) => locked.has(s.id));
    const paths = await Promise.all(rows.map((s) => this.d.store.resolveSegment(s)));
    const placed: PlacedSegment[] = [];
    for (const [i, s] of rows.entries()) {
      const absPath = paths[i];
      if (absPath !== undefined) placed.push({ absPath, startMs: s.startMs, endMs: s.endMs, mediaOffsetMs: s.mediaOffsetMs });
    }
    if (placed.length === 0) throw new VigilError('not_found', 'no footage at or after from (within 10 minutes)', { field: 'from' });
    return placed;
  }
}

/** The `type` of a live-protocol text message (undefined for anything else). */
function messageType(text: string): string | undefined {
  try {
    const msg = JSON.parse(text) as { type?: unknown };
    return typeof msg.type === 'string' ? msg.type : undefined;
  } catch {
    return undefined;
  }
}
