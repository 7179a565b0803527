import { open, type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { cameraIdTaken } from '../db/camera.repo.js';
import type { Db } from '../db/connection.js';
import { listSegments } from '../db/segment.repo.js';
import { spawnMediaJob, type MediaJobLauncher, type MediaJobProcess } from '../media/ffmpeg-job.js';
import { fileSource, scanFmp4, scanFmp4Source } from '../media/fmp4/scan.js';
import { buildSnapshotArgs, snapshotSeek } from '../media/snapshot-args.js';
import { planSnapshot, type SnapshotFeed, type SnapshotPlan } from '../media/snapshot-feed.js';
import type { WarmDecoderProcess } from '../media/warm-decoder.js';
import { drained } from '../shared/drain.js';
import { notFound, VigilError } from '../shared/errors.js';
import type { FootageStore } from '../storage/footage-store.js';
import type { MediaJobs } from './media-jobs.js';
import type { UnindexedFileRef } from './playback.service.js';
import { withSegmentsReadLocked } from './read-lock.js';
import type { WarmDecoderPool } from './warm-decoders.js';

export interface SnapshotServiceDeps {
  db: Db;
  /** Where footage is read from (paths resolved inside the recordings folder only). */
  store: FootageStore;
  log: Logger;
  jobs: MediaJobs;
  ffmpegPath: string;
  launch?: MediaJobLauncher;
  /** Longest a decode may take once it runs. */
  timeoutMs?: number;
  /** Decoders started ahead of need; without one (or for a scaled snapshot) ffmpeg is started per request. */
  warm?: WarmDecoderPool;
  /** A camera's files with footage and no row yet (the recorders'): the newest footage has snapshots too. */
  unindexed?: (cameraId: string) => readonly UnindexedFileRef[];
}

export interface Snapshot {
  jpeg: Buffer;
  /** The instant the returned frame starts (it is shown from then until the next frame). */
  frameMs: number;
  /** The segment decoded from; null for footage that has no row yet (the file being recorded). */
  segmentId: number | null;
}

/** A JPEG larger than this is not a snapshot (3840 px wide at quality 3 is a few MB). */
const MAX_JPEG_BYTES = 32 * 1024 * 1024;

/** Snapshot: the frame shown at an instant, decoded from the segment that covers it, read-locked meanwhile. */
export class SnapshotService {
  private readonly files: FootageStore;
  private readonly launch: MediaJobLauncher;
  private readonly timeoutMs: number;

  constructor(private readonly d: SnapshotServiceDeps) {
    this.files = d.store;
    this.launch = d.launch ?? spawnMediaJob;
    this.timeoutMs = d.timeoutMs ?? 20_000;
  }

  async snapshot(cameraId: string, atMs: number, width: number | undefined, signal?: AbortSignal): Promise<Snapshot> {
    const taken = await cameraIdTaken(this.d.db, cameraId);
    if (!taken.live && !taken.deleted) throw notFound(`camera "${cameraId}" not found`, 'id');
    const [segment] = await listSegments(this.d.db, { cameraId, fromMs: atMs, toMs: atMs + 1, limit: 1 });
    if (!segment) return this.snapshotUnindexed(cameraId, atMs, width, signal);
    return this.d.jobs.run(signal, (jobSignal) => {
      const bounded = AbortSignal.any([jobSignal, AbortSignal.timeout(this.timeoutMs)]);
      return withSegmentsReadLocked(this.d, [segment.id], bounded, async () => {
        // Deleted between selection and lock: there is no footage at that instant any more.
        const absPath = await this.files.resolveSegment(segment);
        if (absPath === undefined) throw noFootageAt(atMs);
        // In the file's media time: the row's start is `mediaOffsetMs` into it (time truth).
        const offsetSeconds = (atMs - segment.startMs + segment.mediaOffsetMs) / 1000;
        const fh = await open(absPath, 'r');
        try {
          const shot = await this.decodeAt(fh, absPath, offsetSeconds, width, bounded, cameraId);
          return { jpeg: shot.jpeg, frameMs: segment.startMs - segment.mediaOffsetMs + shot.frameInFileMs, segmentId: segment.id };
        } finally {
          await fh.close();
        }
      });
    });
  }

  /**
   * The frame at `atMs` from a file the recorder still writes (or that awaits its row), within its whole
   * fragments: placed on the run's time mapping as playback places it. No read-lock: retention deletes
   * only indexed footage.
   */
  private async snapshotUnindexed(cameraId: string, atMs: number, width: number | undefined, signal?: AbortSignal): Promise<Snapshot> {
    const file = [...(this.d.unindexed?.(cameraId) ?? [])]
      .filter((f): f is UnindexedFileRef & { startMs: number } => f.startMs !== undefined && f.startMs <= atMs)
      .sort((a, b) => b.startMs - a.startMs)[0];
    if (!file) throw noFootageAt(atMs);
    return this.d.jobs.run(signal, async (jobSignal) => {
      const bounded = AbortSignal.any([jobSignal, AbortSignal.timeout(this.timeoutMs)]);
      const opened = await this.files.openGrowingFirst(file.paths);
      if (!opened) throw noFootageAt(atMs);
      const { fh, absPath } = opened;
      try {
        const size = (await fh.stat()).size;
        const scan = await scanFmp4Source(fileSource(fh, size)).catch(() => undefined);
        const first = scan?.fragments[0]?.decodeTimeSeconds ?? 0;
        const whole = scan?.fragments.filter((f) => f.endOffset <= scan.completeEndOffset) ?? [];
        const last = whole.at(-1);
        const offsetSeconds = (atMs - file.startMs) / 1000;
        // Past the newest whole fragment: not written yet.
        if (!last || offsetSeconds >= (last.decodeTimeSeconds ?? first) - first + last.durationSeconds) throw noFootageAt(atMs);
        const shot = await this.decodeAt(fh, absPath, offsetSeconds, width, bounded, cameraId);
        return { jpeg: shot.jpeg, frameMs: file.startMs + shot.frameInFileMs, segmentId: null };
      } finally {
        await fh.close();
      }
    });
  }

  /**
   * The frame shown `offsetSeconds` into an open file's media time, as a JPEG: a warm decoder fed the
   * GOP that holds it when one is free (and no scaling), else ffmpeg on the file. `frameInFileMs` is
   * that frame's start in the file's media time.
   */
  private async decodeAt(fh: FileHandle, absPath: string, offsetSeconds: number, width: number | undefined, signal: AbortSignal, cameraId: string): Promise<{ jpeg: Buffer; frameInFileMs: number }> {
    const plan = await planSnapshot(fh, (await fh.stat()).size, offsetSeconds).catch((err: unknown): SnapshotPlan => {
      this.d.log.warn({ err, path: absPath }, 'cannot read fragment timing; snapshot takes the frame at or after the instant');
      return { timing: { seekSeconds: offsetSeconds, frameSeconds: offsetSeconds }, refusal: 'unreadable' };
    });
    // Only an unusual layout (something between a moof and its mdat) needs the whole-file scan.
    const seek = plan.timing ?? (await seekFor(absPath, offsetSeconds));
    const frameInFileMs = Math.round(seek.frameSeconds * 1000);
    const warm = width === undefined && plan.feed ? this.d.warm?.take() : undefined;
    if (warm && plan.feed) {
      const jpeg = await this.decodeWarm(warm, fh, plan.feed, signal, cameraId);
      if (jpeg) return { jpeg, frameInFileMs };
    }
    const proc = this.launch(this.d.ffmpegPath, buildSnapshotArgs({ absPath, seekSeconds: seek.seekSeconds, width }));
    return { jpeg: await this.collect(proc, signal, cameraId), frameInFileMs };
  }

  /**
   * Feeds the warm decoder and reads its JPEG. Undefined when the decoder failed without the request
   * being cancelled (e.g. it died just before being taken): the caller then decodes the cold way.
   */
  private async decodeWarm(proc: WarmDecoderProcess, fh: FileHandle, feed: SnapshotFeed, signal: AbortSignal, cameraId: string): Promise<Buffer | undefined> {
    const collected = this.collect(proc, signal, cameraId);
    const fed = writeFeed(proc.stdin, fh, feed, signal).catch(async (err: unknown) => {
      // The file could not be read: the decoder would wait for input that never comes.
      await proc.kill();
      throw err;
    });
    // Both settle before the file handle may be closed: the feed reads from it.
    const [jpeg, feeding] = await Promise.allSettled([collected, fed]);
    if (jpeg.status === 'fulfilled' && feeding.status === 'fulfilled') return jpeg.value;
    const err: unknown = feeding.status === 'rejected' ? feeding.reason : jpeg.status === 'rejected' ? jpeg.reason : undefined;
    if (signal.aborted || !(err instanceof VigilError) || err.kind !== 'internal') throw err;
    this.d.log.warn({ err, cameraId }, 'warm snapshot decoder failed; decoding the cold way');
    return undefined;
  }

  /** stdout of a finished ffmpeg; the process is killed (and awaited) when `signal` aborts. */
  private async collect(proc: MediaJobProcess, signal: AbortSignal, cameraId: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let tooLarge = false;
    proc.stdout.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes > MAX_JPEG_BYTES) {
        tooLarge = true;
        void proc.kill();
      } else {
        chunks.push(c);
      }
    });
    const kill = () => void proc.kill();
    signal.addEventListener('abort', kill, { once: true });
    try {
      const exit = await proc.exited;
      if (signal.aborted) {
        const reason: unknown = signal.reason;
        if (reason instanceof DOMException && reason.name === 'TimeoutError') {
          throw new VigilError('unavailable', `snapshot took longer than ${this.timeoutMs / 1000} s`, { retryAfterSeconds: 5 });
        }
        throw reason;
      }
      if (exit.code !== 0 || bytes === 0 || tooLarge) {
        this.d.log.error({ cameraId, code: exit.code, signal: exit.signal, bytes, stderr: exit.stderrTail }, 'snapshot failed');
        throw new VigilError('internal', `snapshot ffmpeg exited with ${exit.code ?? exit.signal}${bytes === 0 ? ' and no image' : ''}`);
      }
      return Buffer.concat(chunks);
    } finally {
      signal.removeEventListener('abort', kill);
    }
  }
}

/** Bytes of the payload copied from the file to the decoder per write. */
const FEED_CHUNK_BYTES = 256 * 1024;

/** Writes the feed to the decoder's stdin (with backpressure) and ends it; stops early when `signal` aborts or stdin closes. */
async function writeFeed(stdin: Writable, fh: FileHandle, feed: SnapshotFeed, signal: AbortSignal): Promise<void> {
  const write = async (chunk: Buffer): Promise<boolean> => {
    if (signal.aborted || stdin.destroyed) return false;
    return stdin.write(chunk) || drained(stdin, signal);
  };
  try {
    if (!(await write(feed.init))) return;
    for (const part of feed.parts) {
      if (!(await write(part.head))) return;
      for (let done = 0; done < part.payloadLength; ) {
        const want = Math.min(FEED_CHUNK_BYTES, part.payloadLength - done);
        const buf = Buffer.allocUnsafe(want);
        const { bytesRead } = await fh.read(buf, 0, want, part.payloadOffset + done);
        if (bytesRead === 0) throw new VigilError('internal', 'segment file ended before the fragment it indexes');
        if (!(await write(buf.subarray(0, bytesRead)))) return;
        done += bytesRead;
      }
    }
  } finally {
    stdin.end();
  }
}

/** Fragment timing of the file, so the seek lands on the frame shown at the instant (see `snapshotSeek`). */
async function seekFor(absPath: string, offsetSeconds: number): Promise<{ seekSeconds: number; frameSeconds: number }> {
  const scan = await scanFmp4(absPath);
  return snapshotSeek(scan.fragments, scan.firstDecodeTimeSeconds ?? 0, offsetSeconds, scan.fragments[0]?.compositionOffsetsSeconds[0] ?? 0);
}

function noFootageAt(atMs: number): VigilError {
  return notFound(`no footage at ${new Date(atMs).toISOString()}`, 'at');
}
