import { access, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Logger } from 'pino';
import type { Db } from '../db/connection.js';
import { getSegmentByPath, indexSegment, LeaseLostError, type IndexResult } from '../db/segment.repo.js';
import type { Fence } from '../db/cluster.repo.js';
import { isTransientWriteError, type DatabaseWriteHealth } from '../db/write-errors.js';
import type { SegmentSource } from '../db/schema.js';
import type { EventLog } from '../events/event-log.js';
import { keyframeFragments, type Fmp4Scan } from '../media/fmp4/scan.js';
import { firstMediaTimeJump, type MediaTimeJump } from '../media/fmp4/time-jump.js';
import type { Clock } from '../shared/clock.js';
import type { Signer } from '../shared/evidence-hash.js';
import { sleep } from '../shared/sleep.js';
import type { FootageStore } from '../storage/footage-store.js';
import type { SegmentDigest } from '../storage/segment-digest.js';

export interface ClosedFile {
  cameraId: string;
  /** Absolute path inside `<data>/recordings/<camera>/`. */
  absPath: string;
  startMs: number;
  endMs: number;
  source: SegmentSource;
  /** Rename the file to this (absolute) path once it is complete, before its row is written. */
  finalPath?: string;
  /** Media time (ms) in the file at `startMs`, when the file holds footage before it (edge refills). */
  mediaOffsetMs?: number;
  /** Told when a recorder's file shows its media clock jumping (the row then ends at the jump). */
  onTimeJump?: (jump: MediaTimeJump) => void;
  /** The camera lease the file was recorded under (cluster): no row unless it is still held (invariant 14). */
  fence?: Fence | undefined;
}

export interface IndexerDeps {
  db: Db;
  /** Where the files are: paths, renames into place, durability, discards. */
  store: FootageStore;
  clock: Clock;
  events: EventLog;
  log: Logger;
  /** Told when a row cannot be written for want of disk space (readiness shows it), and when it can again. */
  dbHealth?: DatabaseWriteHealth;
  /** Signs each segment's chain link (Vigil's evidence key). */
  signer?: Signer;
  /** This node's id in a cluster: stamped on every row (whose data dir holds the file). */
  nodeId?: string | undefined;
}

/** A row that could not be written for a passing reason is tried again after 1 s, doubling up to this. */
const RETRY_MAX_MS = 30_000;

/** ffmpeg lists a segment just before it closes the file; wait this long at most for the last bytes. */
const COMPLETE_WAIT_MS = 3000;

/** Turns closed segment files into rows, gaps and counters. Reads the file in-process (no ffprobe). */
export class Indexer {
  private readonly latencyListeners = new Set<(seconds: number) => void>();
  private readonly indexedListeners = new Set<(cameraId: string, sizeBytes: number) => void>();

  constructor(private readonly d: IndexerDeps) {}

  /** Told, for each file a recorder reported closed, how long it took to become a row (seconds): the metrics' index latency. */
  onIndexLatency(listener: (seconds: number) => void): () => void {
    this.latencyListeners.add(listener);
    return () => this.latencyListeners.delete(listener);
  }

  /** Told of every segment row written (live, recovered or refilled), with its file's size: the metrics' bytes written. */
  onIndexed(listener: (cameraId: string, sizeBytes: number) => void): () => void {
    this.indexedListeners.add(listener);
    return () => this.indexedListeners.delete(listener);
  }

  /** This node's id in a cluster (undefined: a single Vigil). */
  get nodeId(): string | undefined {
    return this.d.nodeId;
  }

  /** The footage store this indexer's files live in (recorders and refills write into it). */
  get store(): FootageStore {
    return this.d.store;
  }

  /** Path as stored: relative to the data dir, with forward slashes. */
  relPath(absPath: string): string {
    return this.d.store.relPath(absPath);
  }

  /**
   * Indexes a file its recorder reported complete. The report can precede the final flush by a
   * moment, so the file is read until its last box is whole (or the wait runs out and only whole
   * fragments count). A file with no playable fragment is removed with an event.
   */
  async indexClosed(f: ClosedFile, signal?: AbortSignal): Promise<IndexResult | undefined> {
    const read = await this.waitComplete(f.absPath, signal);
    const scan = read?.scan;
    if (!read || !scan || scan.fragmentCount === 0) {
      await this.discard(f.cameraId, f.absPath, scan ? 'no complete fragment' : 'not a readable MP4');
      return undefined;
    }
    const digest = { sha256: read.sha256, sizeBytes: read.sizeBytes };
    if (f.source === 'live') f = await this.cutAtTimeJump(f, scan);
    if (f.finalPath !== undefined && f.finalPath !== f.absPath) {
      // A crash between the rename and the row leaves a file under its final name, which start-up indexes.
      await this.d.store.rename(f.absPath, f.finalPath);
      return this.insert({ ...f, absPath: f.finalPath }, scan, digest);
    }
    return this.insert(f, scan, digest);
  }

  /**
   * A recorder's file (closed, or recovered at start-up) whose media clock jumps (the camera's RTP
   * timestamps leapt while connected) is indexed up to its last true frame only (invariant 15): past the jump its frames' media times are
   * not when they were captured. The rest stays in the file, outside the row, and the event says so.
   */
  async cutAtTimeJump(f: ClosedFile, scan: Fmp4Scan): Promise<ClosedFile> {
    const jump = firstMediaTimeJump(scan);
    if (!jump) return f;
    const endMs = Math.min(f.endMs, f.startMs + Math.round(jump.endSeconds * 1000));
    await this.d.events.emit({
      type: 'segment_cut_at_time_jump',
      severity: 'warning',
      cameraId: f.cameraId,
      requestId: null,
      payload: {
        file: basename(f.finalPath ?? f.absPath),
        direction: jump.direction,
        jump_seconds: jump.jumpSeconds === undefined ? null : Math.round(jump.jumpSeconds * 1000) / 1000,
        kept_until: new Date(endMs).toISOString(),
        frames_left_out: Math.max(0, scan.sampleCount - jump.framesKept),
      },
    });
    f.onTimeJump?.(jump);
    return { ...f, endMs };
  }

  /**
   * `indexClosed`, tried again with backoff for as long as the failure is one that passes (the
   * catalog's disk full, the database locked) and `signal` has not aborted: a segment that closes
   * while the catalog cannot take its row gets the row once it can, without a restart. Given up on
   * abort (Vigil stopping), the file stays where it is and start-up reconciliation indexes it.
   */
  async indexClosedRetrying(f: ClosedFile, signal: AbortSignal): Promise<IndexResult | undefined> {
    let file = f;
    let delayMs = 1000;
    const reportedMs = this.d.clock.nowMs();
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.indexClosed(file);
        this.d.dbHealth?.noteSuccess();
        if (result?.segment) for (const l of this.latencyListeners) l((this.d.clock.nowMs() - reportedMs) / 1000);
        return result;
      } catch (err) {
        if (!isTransientWriteError(err)) throw err;
        this.d.dbHealth?.noteFailure(err, this.d.clock.nowMs());
        if (attempt === 1) this.d.log.error({ err, cameraId: f.cameraId, file: basename(f.absPath) }, 'cannot write the segment row; retrying until the catalog takes it');
        if (!(await sleep(delayMs, signal))) throw err;
        delayMs = Math.min(delayMs * 2, RETRY_MAX_MS);
        // The file may have been renamed before the row failed: it is under its final name now.
        if (file.finalPath !== undefined && file.finalPath !== file.absPath && !(await exists(file.absPath))) {
          file = { ...file, absPath: file.finalPath };
          // Written after all (the failure came after the commit): a second insert would find it "inside
          // footage already indexed" and discard the very file the row points at.
          if (await getSegmentByPath(this.d.db, this.relPath(file.absPath)).catch(() => undefined)) return undefined;
        }
      }
    }
  }

  /**
   * Indexes a file whose bounds were worked out by the caller from its scan (start-up recovery, edge
   * refills). `digest` is the SHA-256 taken in the same read as the scan; without it (or when the file
   * changed size since) the file is hashed here. The row, its hash and its chain link are one
   * transaction (invariant 10).
   */
  async insert(f: ClosedFile, scan: Fmp4Scan, digest?: { sha256: string; sizeBytes: number }): Promise<IndexResult | undefined> {
    await this.d.store.makeDurable(f.absPath);
    const video = scan.tracks.find((t) => t.kind === 'video') ?? scan.tracks[0];
    const durationS = (f.endMs - f.startMs) / 1000;
    const fps = durationS > 0 && scan.sampleCount > 0 ? Math.round((scan.sampleCount / durationS) * 100) / 100 : null;
    const onDisk = (await stat(f.absPath)).size;
    // The hash must describe the bytes as stored: a file that grew after its read is read again.
    const { sha256, sizeBytes } = digest && digest.sizeBytes === onDisk ? digest : await this.d.store.digest(f.absPath);
    let result: IndexResult;
    try {
      result = await this.indexRow(f, video, sizeBytes, sha256, fps, keyframeFragments(scan));
    } catch (err) {
      if (!(err instanceof LeaseLostError)) throw err;
      // Another node records the camera now (this one was paused or cut off past its lease): the row
      // would be written by a node that no longer holds the camera. The file is kept, outside the footage.
      const dest = await this.d.store.setAside(f.cameraId, f.absPath);
      await this.d.events.emit({
        type: 'segment_fenced',
        severity: 'warning',
        cameraId: f.cameraId,
        requestId: null,
        payload: { file: basename(f.absPath), kept_at: dest, node_id: err.fence.nodeId, token: err.fence.token, start: new Date(f.startMs).toISOString(), end: new Date(f.endMs).toISOString() },
      });
      return undefined;
    }
    if (!result.segment) {
      // Entirely inside footage already indexed: keeping it would leave a file without a row.
      await this.discard(f.cameraId, f.absPath, 'overlaps footage already indexed');
      return result;
    }
    if (result.gapError) this.d.log.error({ err: result.gapError, cameraId: f.cameraId }, 'recording the gap failed');
    if (result.gapEvent) this.d.events.published(result.gapEvent);
    for (const l of this.indexedListeners) l(f.cameraId, sizeBytes);
    return result;
  }

  private indexRow(f: ClosedFile, video: Fmp4Scan['tracks'][number] | undefined, sizeBytes: number, sha256: string, fps: number | null, keyframes: number): Promise<IndexResult> {
    return indexSegment(
      this.d.db,
      {
        cameraId: f.cameraId,
        path: this.relPath(f.absPath),
        startMs: f.startMs,
        endMs: f.endMs,
        sizeBytes,
        codec: video?.codec ?? null,
        width: video?.width ?? null,
        height: video?.height ?? null,
        source: f.source,
        fps,
        sha256,
        ...(f.mediaOffsetMs ? { mediaOffsetMs: f.mediaOffsetMs } : {}),
        nodeId: this.d.nodeId,
        keyframeFragments: keyframes,
        fence: f.fence,
      },
      this.d.clock.nowMs(),
      // Stored with the gap in the row's transaction: a crash never loses it, a retry never repeats it.
      (gap) =>
        this.d.events.build({
          type: 'recording_gap',
          severity: 'warning',
          cameraId: f.cameraId,
          requestId: null,
          payload: {
            gap_id: gap.id,
            gap_start: new Date(gap.gapStartMs).toISOString(),
            gap_end: new Date(gap.gapEndMs).toISOString(),
            seconds: (gap.gapEndMs - gap.gapStartMs) / 1000,
          },
        }),
      this.d.signer,
    );
  }

  /** Reads the file (scan and hash in one pass) until its last box is whole, or the wait runs out. */
  private async waitComplete(absPath: string, signal?: AbortSignal): Promise<SegmentDigest | undefined> {
    const deadline = this.d.clock.nowMs() + COMPLETE_WAIT_MS;
    let delay = 5;
    for (;;) {
      let scan: SegmentDigest | undefined;
      try {
        scan = await this.d.store.readClosed(absPath);
        if (scan.scan.complete) return scan;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      }
      if (this.d.clock.nowMs() >= deadline || signal?.aborted) return scan;
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 200);
    }
  }

  /** Removes a file that holds nothing to index, and says so in the event log. */
  async discard(cameraId: string, absPath: string, reason: string): Promise<void> {
    await this.d.store.discard(absPath);
    await this.d.events.emit({
      type: 'segment_discarded',
      severity: 'info',
      cameraId,
      requestId: null,
      payload: { file: basename(absPath), reason },
    });
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
