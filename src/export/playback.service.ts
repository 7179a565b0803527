import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { cameraIdTaken } from '../db/camera.repo.js';
import type { Db } from '../db/connection.js';
import { getSegment } from '../db/evidence.repo.js';
import { listAllSegments, type Segment } from '../db/segment.repo.js';
import { readFmp4Head } from '../media/fmp4/head.js';
import { scanFmp4, type Fmp4Scan } from '../media/fmp4/scan.js';
import { SEGMENT_NAME_PATTERN } from '../storage/segment-names.js';
import { invalidArgument, notFound, VigilError } from '../shared/errors.js';
import { parseByteRange } from './byte-range.js';
import type { FootageStore } from '../storage/footage-store.js';
import { buildPlaylist, type PlaylistSegment } from './playback-playlist.js';
import { withSegmentsReadLocked } from './read-lock.js';
import type { Clock } from '../shared/clock.js';

export interface PlaybackServiceDeps {
  db: Db;
  clock: Clock;
  /** Where footage is read from (paths resolved inside the recordings folder only). */
  store: FootageStore;
  log: Logger;
  /** Longest range one playlist may cover (config `media.playback_max_seconds`). */
  maxRangeSeconds: number;
  /** Segments whose init length is remembered (each entry is a few dozen bytes). */
  headCacheEntries?: number;
  /** A media response whose client has taken no byte for this long is ended (it holds a read-lock). */
  stallMs?: number;
}

export interface Playlist {
  text: string;
  segments: number;
}

/** A media file response: the whole file or one range of it, or a range past its end (416). */
export type MediaResponse =
  | {
      kind: 'bytes';
      totalBytes: number;
      /** Set when a range was asked for and is served (206). */
      range: { start: number; end: number } | undefined;
      /** Undefined for HEAD. The segment stays read-locked until it closes. */
      body: Readable | undefined;
    }
  | { kind: 'unsatisfiable'; totalBytes: number };

interface Head {
  path: string;
  initLengthBytes: number;
  fileSizeBytes: number;
  firstDecodeMs: number | undefined;
  /** For a row that starts inside its file: its own whole fragments (see `ownFragments`). */
  own?: { startByte: number; endByte: number; startMs: number; durationMs: number } | undefined;
}

/** Headers read at once when building a playlist (the libuv pool has 4 threads). */
const HEAD_READ_CONCURRENCY = 8;

/**
 * Recorded playback over HLS without transcoding: a VOD playlist over the stored fMP4 files of a
 * range, and the files themselves with byte ranges, each read-locked while its bytes are sent.
 */
export class PlaybackService {
  private readonly files: FootageStore;
  private readonly stallMs: number;
  private readonly headCacheEntries: number;
  /** Segment id → its file's head. Files never change once indexed and ids are never reused. */
  private readonly heads = new Map<number, Head>();
  /** Bodies being sent: ended at shutdown, where a paused client would otherwise hold http.close(). */
  private readonly sending = new Set<Readable>();

  constructor(private readonly d: PlaybackServiceDeps) {
    this.files = d.store;
    this.stallMs = d.stallMs ?? 60_000;
    this.headCacheEntries = d.headCacheEntries ?? 20_000;
  }

  /** The playlist of every segment overlapping [fromMs, toMs); 404 when there is none. */
  async playlist(cameraId: string, range: { fromMs: number; toMs: number }): Promise<Playlist> {
    const { fromMs, toMs } = range;
    if (fromMs >= toMs) throw invalidArgument('from must be before to', 'from');
    if (toMs - fromMs > this.d.maxRangeSeconds * 1000) {
      throw invalidArgument(`a playlist covers at most ${this.d.maxRangeSeconds} s (media.playback_max_seconds); narrow from/to`, 'to');
    }
    const taken = await cameraIdTaken(this.d.db, cameraId);
    if (!taken.live && !taken.deleted) throw notFound(`camera "${cameraId}" not found`, 'id');
    const rows = await listAllSegments(this.d.db, cameraId, fromMs, toMs);
    const placed = await mapLimit(rows, HEAD_READ_CONCURRENCY, (s) => this.place(s));
    const segments = placed.filter((s): s is PlaylistSegment => s !== undefined);
    if (segments.length === 0) throw notFound('no footage in [from, to)', 'from');
    return {
      text: buildPlaylist(segments, { mediaUri: (id) => `../../segments/${id}/media.mp4`, startAtMs: fromMs }),
      segments: segments.length,
    };
  }

  /**
   * Opens a segment's file for sending: all of it, or the byte range `rangeHeader` asks for. The
   * segment is read-locked from before the file is opened until the body closes (sent, failed, or
   * the client went away: `signal`); for HEAD and 416 it is released at once.
   */
  async openMedia(segmentId: number, req: { rangeHeader: string | undefined; head: boolean }, signal?: AbortSignal): Promise<MediaResponse> {
    if (!(await getSegment(this.d.db, segmentId))) throw segmentNotFound(segmentId);
    return new Promise<MediaResponse>((resolve, reject) => {
      withSegmentsReadLocked(this.d, [segmentId], signal, async (lockSignal) => {
        // Retention may have deleted it between the lookup and the lock; now locked, it stays.
        const segment = await getSegment(this.d.db, segmentId);
        if (!segment) throw segmentNotFound(segmentId);
        const absPath = await this.files.resolve(segment.path);
        if (absPath === undefined) throw segmentNotFound(segmentId);
        const fh = await open(absPath, 'r');
        let handedOver = false;
        try {
          const { size } = await fh.stat();
          const range = parseByteRange(req.rangeHeader, size);
          if (range === 'unsatisfiable') return resolve({ kind: 'unsatisfiable', totalBytes: size });
          if (req.head || size === 0) return resolve({ kind: 'bytes', totalBytes: size, range, body: undefined });
          lockSignal?.throwIfAborted();
          const { start, end } = range ?? { start: 0, end: size - 1 };
          const body = fh.createReadStream({ start, end, highWaterMark: 256 * 1024 });
          handedOver = true;
          const closed = new Promise<void>((done) => body.once('close', done));
          const stop = () => body.destroy();
          lockSignal?.addEventListener('abort', stop, { once: true });
          const watchdog = this.watch(body, segmentId);
          this.sending.add(body);
          resolve({ kind: 'bytes', totalBytes: size, range, body });
          await closed;
          this.sending.delete(body);
          clearInterval(watchdog);
          lockSignal?.removeEventListener('abort', stop);
        } finally {
          if (!handedOver) await fh.close();
        }
      }).catch(reject);
    });
  }

  /** Ends every media response in flight (their read-locks are released as their bodies close). */
  stop(): void {
    for (const body of this.sending) body.destroy();
  }

  /** Ends a body whose client has taken nothing for `stallMs`: it would hold its read-lock forever. */
  private watch(body: Readable & { bytesRead: number }, segmentId: number): NodeJS.Timeout {
    let lastBytes = -1;
    let lastMoveMs = this.d.clock.nowMs();
    return setInterval(() => {
      if (body.bytesRead !== lastBytes) {
        lastBytes = body.bytesRead;
        lastMoveMs = this.d.clock.nowMs();
      } else if (this.d.clock.nowMs() - lastMoveMs > this.stallMs) {
        this.d.log.warn({ segmentId, stalledMs: this.d.clock.nowMs() - lastMoveMs }, 'playback client took no data; response ended');
        body.destroy();
      }
    }, Math.min(5000, this.stallMs));
  }

  /** The playlist entry of a segment, or undefined when its file is gone or unreadable (left out). */
  private async place(s: Segment): Promise<PlaylistSegment | undefined> {
    const head = await this.head(s);
    if (!head || head.fileSizeBytes <= head.initLengthBytes) return undefined;
    if (s.mediaOffsetMs > 0 && !head.own) return undefined; // no whole fragment of its own: nothing to play
    return {
      id: s.id,
      startMs: head.own?.startMs ?? s.startMs,
      durationMs: head.own?.durationMs ?? s.durationMs,
      fileSizeBytes: head.fileSizeBytes,
      initLengthBytes: head.initLengthBytes,
      ...(head.own ? { mediaStartByte: head.own.startByte, mediaEndByte: head.own.endByte } : {}),
      firstDecodeMs: head.firstDecodeMs,
      runId: SEGMENT_NAME_PATTERN.exec(basename(s.path))?.[2],
      source: s.source,
    };
  }

  private async head(s: Segment): Promise<Head | undefined> {
    const cached = this.heads.get(s.id);
    if (cached && cached.path === s.path) {
      // Least recently used first out: a hit moves to the back.
      this.heads.delete(s.id);
      this.heads.set(s.id, cached);
      return cached;
    }
    let head: Head;
    try {
      const absPath = await this.files.resolve(s.path);
      if (absPath === undefined) {
        this.d.log.warn({ segmentId: s.id, path: s.path }, 'segment file missing; left out of the playlist');
        return undefined;
      }
      const h = await readFmp4Head(absPath);
      head = {
        path: s.path,
        initLengthBytes: h.initLengthBytes,
        fileSizeBytes: h.fileSizeBytes,
        firstDecodeMs: h.firstDecodeSeconds === undefined ? undefined : h.firstDecodeSeconds * 1000,
        // Only a row that starts inside its file needs its fragments: a full scan of box headers.
        own: s.mediaOffsetMs > 0 ? ownFragments(await scanFmp4(absPath), s) : undefined,
      };
    } catch (err) {
      if (err instanceof VigilError) {
        // A row whose path leads outside the recordings folder (the catalog never writes one).
        this.d.log.error({ err, segmentId: s.id }, 'segment path refused; left out of the playlist');
      } else {
        this.d.log.warn({ err, segmentId: s.id, path: s.path }, 'segment file unreadable; left out of the playlist');
      }
      return undefined;
    }
    this.heads.set(s.id, head);
    if (this.heads.size > this.headCacheEntries) {
      const oldest = this.heads.keys().next();
      if (!oldest.done) this.heads.delete(oldest.value);
    }
    return head;
  }

}

/**
 * The whole fragments of a file that lie inside its row: from the first one starting at or after the
 * row's media offset to the last one ending by the row's end (1 ms of rounding allowed), with their
 * instants. A fragment straddling either edge is left out: a GOP of the timeline left blank rather
 * than footage shown twice or at the wrong instant.
 */
export function ownFragments(scan: Fmp4Scan, s: Pick<Segment, 'startMs' | 'endMs' | 'mediaOffsetMs'>): Head['own'] {
  const first = scan.fragments[0]?.decodeTimeSeconds ?? 0;
  const fromMs = s.mediaOffsetMs - 1;
  const toMs = s.endMs - s.startMs + s.mediaOffsetMs + 1;
  const own = scan.fragments.filter((f) => {
    const at = ((f.decodeTimeSeconds ?? first) - first) * 1000;
    return at >= fromMs && at + f.durationSeconds * 1000 <= toMs;
  });
  const a = own[0];
  const b = own.at(-1);
  if (!a || !b) return undefined;
  const startInFileMs = ((a.decodeTimeSeconds ?? first) - first) * 1000;
  return {
    startByte: a.offset,
    endByte: b.endOffset,
    startMs: Math.round(s.startMs - s.mediaOffsetMs + startInFileMs),
    durationMs: Math.round(own.reduce((sum, f) => sum + f.durationSeconds * 1000, 0)),
  };
}

function segmentNotFound(id: number): VigilError {
  return notFound(`segment ${id} not found`, 'id');
}

/** `fn` over `items` with at most `limit` running at once; results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
