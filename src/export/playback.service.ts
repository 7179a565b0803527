import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { cameraIdTaken } from '../db/camera.repo.js';
import type { Db } from '../db/connection.js';
import { getSegment } from '../db/evidence.repo.js';
import { getSegmentByRunFile, listAllSegments, type Segment } from '../db/segment.repo.js';
import { readFmp4Head } from '../media/fmp4/head.js';
import { fileSource, scanFmp4, scanFmp4Source, type Fmp4Scan, type FragmentInfo } from '../media/fmp4/scan.js';
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
  /** A camera's files with footage and no row yet (the recorders'), so the newest footage is reviewable. */
  unindexed?: (cameraId: string) => readonly UnindexedFileRef[];
  /** In a cluster: the head of a segment another node holds, from that node. */
  remoteHead?: (s: Segment) => Promise<Head>;
}

/** A recorder's file with footage and no catalog row yet (see src/recorder/unindexed-files.ts). */
export interface UnindexedFileRef {
  /** `<run>-<seq>`, the name ffmpeg gave it (without `.mp4`). */
  name: string;
  /** Where it may be read now, in order (open name, then the final name once renamed). */
  paths: readonly string[];
  startMs: number | undefined;
  open: boolean;
}

/** The `name` of a recorder run's file in the open-segments route (`<run>-<seq>`). */
export const RUN_FILE_NAME = /^[a-z0-9]+-\d{6}$/;

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

export interface Head {
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
    // The recorder's list first: a file indexed meanwhile is then in both (the row wins), never in neither.
    const unindexed = this.d.unindexed?.(cameraId) ?? [];
    const rows = await listAllSegments(this.d.db, cameraId, fromMs, toMs);
    const placed = await mapLimit(rows, HEAD_READ_CONCURRENCY, (s) => this.place(s));
    const segments = placed.filter((s): s is PlaylistSegment => s !== undefined);
    const indexed = new Set(rows.map((r) => runFileName(basename(r.path))));
    for (const f of unindexed) {
      if (indexed.has(f.name) || f.startMs === undefined || f.startMs >= toMs) continue;
      const growing = await this.placeUnindexed(cameraId, f, fromMs, toMs);
      if (growing) segments.push(growing);
    }
    segments.sort((a, b) => a.startMs - b.startMs);
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
  async openMedia(segmentId: number, req: { rangeHeader: string | undefined; head: boolean }, signal?: AbortSignal, opts: { localOnly?: boolean } = {}): Promise<MediaResponse> {
    const first = await getSegment(this.d.db, segmentId);
    // Another node asking (cluster): only footage this node holds, never fetched from a third.
    if (!first || (opts.localOnly && first.nodeId !== null && first.nodeId !== this.files.nodeId)) throw segmentNotFound(segmentId);
    return new Promise<MediaResponse>((resolve, reject) => {
      withSegmentsReadLocked(this.d, [segmentId], signal, async (lockSignal) => {
        // Retention may have deleted it between the lookup and the lock; now locked, it stays.
        const segment = await getSegment(this.d.db, segmentId);
        if (!segment) throw segmentNotFound(segmentId);
        const absPath = await this.files.resolveSegment(segment);
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

  /**
   * Bytes of a recorder's file that has no row yet (`name` = `<run>-<seq>`): only by byte range (a
   * player's reads), within what is on disk now. Once indexed it is served as its segment (read-locked);
   * 404 when the camera has no such file any more.
   */
  async openUnindexedMedia(cameraId: string, name: string, req: { rangeHeader: string | undefined; head: boolean }, signal?: AbortSignal): Promise<MediaResponse> {
    if (!RUN_FILE_NAME.test(name)) throw invalidArgument('name must be a recorder file name, <run>-<6 digits>', 'name');
    if (req.rangeHeader === undefined && !req.head) {
      throw invalidArgument('a file still being recorded is read by byte ranges only (Range: bytes=…); download it once indexed', 'range');
    }
    const fh = await this.openUnindexedFile(cameraId, name);
    if (!fh) {
      const row = await getSegmentByRunFile(this.d.db, cameraId, name);
      if (!row) throw notFound(`camera "${cameraId}" has no file "${name}" being recorded or indexed`, 'name');
      return this.openMedia(row.id, req, signal);
    }
    let handedOver = false;
    try {
      const { size } = await fh.stat();
      const range = parseByteRange(req.rangeHeader, size);
      if (range === 'unsatisfiable') return { kind: 'unsatisfiable', totalBytes: size };
      if (req.head || size === 0) return { kind: 'bytes', totalBytes: size, range, body: undefined };
      const { start, end } = range ?? { start: 0, end: size - 1 };
      const body = fh.createReadStream({ start, end, highWaterMark: 256 * 1024 });
      handedOver = true;
      this.sending.add(body);
      body.once('close', () => this.sending.delete(body));
      if (signal) {
        const stop = () => body.destroy();
        signal.addEventListener('abort', stop, { once: true });
        body.once('close', () => signal.removeEventListener('abort', stop));
      }
      return { kind: 'bytes', totalBytes: size, range, body };
    } finally {
      if (!handedOver) await fh.close();
    }
  }

  /** An open handle on the camera's unindexed file `name`, or undefined when it has none by that name. */
  private async openUnindexedFile(cameraId: string, name: string): Promise<FileHandle | undefined> {
    const taken = await cameraIdTaken(this.d.db, cameraId);
    if (!taken.live && !taken.deleted) throw notFound(`camera "${cameraId}" not found`, 'id');
    const f = this.d.unindexed?.(cameraId).find((x) => x.name === name);
    return (await this.files.openGrowingFirst(f?.paths ?? []))?.fh;
  }

  /**
   * The playlist entry of an unindexed file: its whole fragments so far, as GOPs (`gopParts`), that
   * overlap [fromMs, toMs), each placed from the file's start on the run's time mapping (as its row
   * will be when it closes). The newest GOP is listed as far as it is written.
   */
  private async placeUnindexed(cameraId: string, f: UnindexedFileRef, fromMs: number, toMs: number): Promise<PlaylistSegment | undefined> {
    const startMs = f.startMs;
    if (startMs === undefined) return undefined;
    let fh: FileHandle | undefined;
    try {
      fh = await this.openUnindexedFile(cameraId, f.name);
      if (!fh) return undefined;
      const { size } = await fh.stat();
      const scan = await scanFmp4Source(fileSource(fh, size));
      const first = scan.fragments[0]?.decodeTimeSeconds ?? 0;
      const parts = gopParts(scan.fragments.filter((x) => x.endOffset <= scan.completeEndOffset))
        .map((g) => ({
          startByte: g.startByte,
          endByte: g.endByte,
          startMs: Math.round(startMs + (g.decodeSeconds - first) * 1000),
          durationMs: Math.round(g.durationSeconds * 1000),
          decodeMs: g.decodeSeconds * 1000,
        }))
        .filter((p) => p.startMs + p.durationMs > fromMs && p.startMs < toMs && p.durationMs > 0);
      const head = parts[0];
      if (!head) return undefined;
      return {
        id: -1,
        uri: `../../cameras/${encodeURIComponent(cameraId)}/open-segments/${f.name}/media.mp4`,
        startMs: head.startMs,
        durationMs: parts.reduce((sum, p) => sum + p.durationMs, 0),
        fileSizeBytes: size,
        initLengthBytes: scan.initEndOffset,
        firstDecodeMs: head.decodeMs,
        runId: f.name.split('-')[0],
        source: 'live',
        parts: parts.map(({ decodeMs: _d, ...p }) => p),
      };
    } catch (err) {
      // Too young to hold a whole init yet, or gone between the list and the read: left out this time.
      this.d.log.debug({ err, cameraId, file: f.name }, 'unindexed file not readable yet; left out of the playlist');
      return undefined;
    } finally {
      await fh?.close();
    }
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

  /** The head of one of this node's segment files (another node asks for it: `GET /cluster/segments/:id/head`). */
  async localHead(segmentId: number): Promise<Head | undefined> {
    const s = await getSegment(this.d.db, segmentId);
    if (!s || (s.nodeId !== null && s.nodeId !== this.files.nodeId)) return undefined;
    return this.head(s);
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
    // Another node's footage (cluster): that node reads its file's head and sends it (a playlist never fetches whole files).
    if (s.nodeId !== null && s.nodeId !== this.files.nodeId && this.d.remoteHead) {
      try {
        head = await this.d.remoteHead(s);
      } catch (err) {
        this.d.log.warn({ err, segmentId: s.id, node: s.nodeId }, 'segment head not available from its node; left out of the playlist');
        return undefined;
      }
      this.heads.set(s.id, head);
      return head;
    }
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
 * The whole fragments of a file that lie inside its row: from the first keyframe fragment starting at
 * or after the row's media offset to the last one ending by the row's end (1 ms of rounding allowed),
 * with their instants. A fragment straddling either edge is left out: a GOP of the timeline left blank
 * rather than footage shown twice or at the wrong instant.
 */
export function ownFragments(scan: Fmp4Scan, s: Pick<Segment, 'startMs' | 'endMs' | 'mediaOffsetMs'>): Head['own'] {
  const first = scan.fragments[0]?.decodeTimeSeconds ?? 0;
  const fromMs = s.mediaOffsetMs - 1;
  const toMs = s.endMs - s.startMs + s.mediaOffsetMs + 1;
  const own = scan.fragments.filter((f) => {
    const at = ((f.decodeTimeSeconds ?? first) - first) * 1000;
    return at >= fromMs && at + f.durationSeconds * 1000 <= toMs;
  });
  // The player starts decoding at the first: the fragments before the row's first keyframe are left out too.
  while (own.length > 0 && !own[0]?.startsWithKeyframe) own.shift();
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

/**
 * Whole fragments (in file order) grouped by GOP: each group a keyframe fragment and the fragments
 * after it up to the next keyframe (the recorder cuts a GOP into fragments of at most
 * RECORD_FRAGMENT_US), contiguous bytes. A player is given whole groups, so every media segment of a
 * playlist starts on a keyframe. Fragments before the first keyframe are left out (nothing decodes them).
 */
export function gopParts(fragments: readonly FragmentInfo[]): Array<{ startByte: number; endByte: number; decodeSeconds: number; durationSeconds: number }> {
  const out: Array<{ startByte: number; endByte: number; decodeSeconds: number; durationSeconds: number }> = [];
  const first = fragments[0]?.decodeTimeSeconds ?? 0;
  for (const f of fragments) {
    const last = out.at(-1);
    if (f.startsWithKeyframe) {
      out.push({ startByte: f.offset, endByte: f.endOffset, decodeSeconds: f.decodeTimeSeconds ?? first, durationSeconds: f.durationSeconds });
    } else if (last) {
      last.endByte = f.endOffset;
      last.durationSeconds += f.durationSeconds;
    }
  }
  return out;
}

/** `<run>-<seq>` of a segment file's name (indexed or as ffmpeg wrote it), or '' when it has no number. */
function runFileName(fileName: string): string {
  const m = SEGMENT_NAME_PATTERN.exec(fileName);
  if (m) return m[3] === undefined ? '' : `${m[2]}-${m[3]}`;
  return fileName.replace(/\.mp4$/, '');
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
