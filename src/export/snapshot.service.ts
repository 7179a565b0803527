import type { Logger } from 'pino';
import { cameraIdTaken } from '../db/camera.repo.js';
import type { Db } from '../db/connection.js';
import { listSegments } from '../db/segment.repo.js';
import { spawnMediaJob, type MediaJobLauncher, type MediaJobProcess } from '../media/ffmpeg-job.js';
import { scanFmp4 } from '../media/fmp4.js';
import { buildSnapshotArgs, snapshotSeek } from '../media/snapshot-args.js';
import { notFound, VigilError } from '../shared/errors.js';
import { FootageFiles } from './footage-files.js';
import type { MediaJobs } from './media-jobs.js';
import { withSegmentsReadLocked } from './read-lock.js';

export interface SnapshotServiceDeps {
  db: Db;
  dataDir: string;
  log: Logger;
  jobs: MediaJobs;
  ffmpegPath: string;
  launch?: MediaJobLauncher;
  /** Longest a decode may take once it runs. */
  timeoutMs?: number;
}

export interface Snapshot {
  jpeg: Buffer;
  /** The instant the returned frame starts (it is shown from then until the next frame). */
  frameMs: number;
  segmentId: number;
}

/** A JPEG larger than this is not a snapshot (3840 px wide at quality 3 is a few MB). */
const MAX_JPEG_BYTES = 32 * 1024 * 1024;

/** Snapshot: the frame shown at an instant, decoded from the segment that covers it, read-locked meanwhile. */
export class SnapshotService {
  private readonly files: FootageFiles;
  private readonly launch: MediaJobLauncher;
  private readonly timeoutMs: number;

  constructor(private readonly d: SnapshotServiceDeps) {
    this.files = new FootageFiles(d.dataDir);
    this.launch = d.launch ?? spawnMediaJob;
    this.timeoutMs = d.timeoutMs ?? 20_000;
  }

  async snapshot(cameraId: string, atMs: number, width: number | undefined, signal?: AbortSignal): Promise<Snapshot> {
    const taken = await cameraIdTaken(this.d.db, cameraId);
    if (!taken.live && !taken.deleted) throw notFound(`camera "${cameraId}" not found`, 'id');
    const [segment] = await listSegments(this.d.db, { cameraId, fromMs: atMs, toMs: atMs + 1, limit: 1 });
    if (!segment) throw noFootageAt(atMs);
    return this.d.jobs.run(signal, (jobSignal) => {
      const bounded = AbortSignal.any([jobSignal, AbortSignal.timeout(this.timeoutMs)]);
      return withSegmentsReadLocked(this.d, [segment.id], bounded, async () => {
        // Deleted between selection and lock: there is no footage at that instant any more.
        const absPath = await this.files.resolve(segment.path);
        if (absPath === undefined) throw noFootageAt(atMs);
        const offsetSeconds = (atMs - segment.startMs) / 1000;
        const seek = await seekFor(absPath, offsetSeconds).catch((err: unknown) => {
          this.d.log.warn({ err, path: segment.path }, 'cannot read fragment timing; snapshot takes the frame at or after the instant');
          return { seekSeconds: offsetSeconds, frameSeconds: offsetSeconds };
        });
        const proc = this.launch(this.d.ffmpegPath, buildSnapshotArgs({ absPath, seekSeconds: seek.seekSeconds, width }));
        const jpeg = await this.collect(proc, bounded, cameraId);
        return { jpeg, frameMs: segment.startMs + Math.round(seek.frameSeconds * 1000), segmentId: segment.id };
      });
    });
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

/** Fragment timing of the file, so the seek lands on the frame shown at the instant (see `snapshotSeek`). */
async function seekFor(absPath: string, offsetSeconds: number): Promise<{ seekSeconds: number; frameSeconds: number }> {
  const scan = await scanFmp4(absPath);
  return snapshotSeek(scan.fragments, scan.firstDecodeTimeSeconds ?? 0, offsetSeconds);
}

function noFootageAt(atMs: number): VigilError {
  return notFound(`no footage at ${new Date(atMs).toISOString()}`, 'at');
}
