/**
 * In-process reader for the fragmented MP4 files the recorder writes (ftyp, moov, (moof, mdat)*, mfra?):
 * duration, codecs and the last whole fragment without spawning ffprobe. Only box headers and the
 * small moov/moof bodies are read; mdat payloads are skipped by seeking.
 */
import { open, type FileHandle } from 'node:fs/promises';
import {
  Fmp4Error,
  isSyncSample,
  parseMoof,
  type InitInfo,
  type TrackInfo,
  type TrafInfo,
} from './boxes.js';

import { runOnBuffer, walkFmp4 } from './walk.js';

export { Fmp4Error, type Fmp4ErrorReason, type TrackInfo } from './boxes.js';

/** One complete moof+mdat pair; times are those of the main (video) track. */
export interface FragmentInfo {
  /** Byte offset of the moof. */
  offset: number;
  /** Byte offset just after the mdat. */
  endOffset: number;
  decodeTimeSeconds?: number;
  durationSeconds: number;
  sampleCount: number;
  /** First main-track sample is a sync sample (every keyframe starts a fragment with ffmpeg's frag_keyframe; fragments cut by frag_duration between them start without one). */
  startsWithKeyframe: boolean;
  /** Main track: each sample's duration and composition offset in seconds, in decode order. */
  sampleDurationsSeconds: number[];
  compositionOffsetsSeconds: number[];
}

export interface Fmp4Scan {
  tracks: TrackInfo[];
  /** Track the duration fields describe: the first video track, else the first track. */
  mainTrackId: number | undefined;
  /** Offset of the first moof (end of moov when there is none). */
  initEndOffset: number;
  fragmentCount: number;
  /** Offset just after the last whole box that is not part of an unfinished fragment. */
  completeEndOffset: number;
  fileSizeBytes: number;
  /** Every box is whole and nothing trails. A crash exactly at a fragment boundary also reads as complete. */
  complete: boolean;
  /** ffmpeg writes mfra in its trailer: present only if the writer closed the file cleanly. */
  hasMfra: boolean;
  videoDurationSeconds: number;
  firstDecodeTimeSeconds?: number;
  /**
   * Each track's first decode time (tfdt of its first fragment with samples), in seconds of its own
   * timescale, by track id: with audio, where each track starts (A/V alignment).
   */
  trackFirstDecodeSeconds: Record<number, number>;
  sampleCount: number;
  fragments: FragmentInfo[];
}

/** Random-access bytes; `read` may return fewer bytes than asked at the end of the data. */
export interface ByteSource {
  size: number;
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * The same bytes when the source already holds them all, else undefined (then `read` is asked). A
   * scan asks for ~3 small pieces per fragment, nearly all inside the chunk last read: answered here,
   * they cost no promise and no turn of the event loop each.
   */
  readHeld?(offset: number, length: number): Buffer | undefined;
}

/**
 * The scan as a generator of read requests (the one walk's, `walk.ts`), so one implementation
 * serves both the synchronous buffer reader and the asynchronous positioned-read file reader.
 */
function* scanSteps(fileSize: number): Generator<{ offset: number; length: number }, Fmp4Scan, Buffer> {
  let init: InitInfo | undefined;
  let initEnd = 0;
  let firstMoof: number | undefined;
  let completeEnd = 0;
  let hasMfra = false;
  let pending: { offset: number; trafs: TrafInfo[] } | undefined;
  const fragments: FragmentInfo[] = [];
  const firstDecode = new Map<number, number>();
  let main: TrackInfo | undefined;

  const commit = (frag: { offset: number; trafs: TrafInfo[] }, endOffset: number) => {
    const info: FragmentInfo = { offset: frag.offset, endOffset, durationSeconds: 0, sampleCount: 0, startsWithKeyframe: false, sampleDurationsSeconds: [], compositionOffsetsSeconds: [] };
    for (const traf of frag.trafs) {
      const track = init?.tracks.find((t) => t.trackId === traf.trackId);
      if (!track) continue; // a traf for a track the moov does not declare carries nothing we can time
      track.durationSeconds += traf.durationTicks / track.timescale;
      track.sampleCount += traf.sampleCount;
      if (traf.baseDecodeTime !== undefined && traf.sampleCount > 0 && !firstDecode.has(track.trackId)) {
        firstDecode.set(track.trackId, traf.baseDecodeTime);
      }
      if (track !== main) continue;
      info.durationSeconds += traf.durationTicks / track.timescale;
      if (info.sampleCount === 0 && traf.sampleCount > 0) {
        info.startsWithKeyframe = isSyncSample(traf.firstSampleFlags ?? 0);
        if (traf.baseDecodeTime !== undefined) info.decodeTimeSeconds = traf.baseDecodeTime / track.timescale;
      }
      info.sampleCount += traf.sampleCount;
      for (const d of traf.sampleDurations) info.sampleDurationsSeconds.push(d / track.timescale);
      for (const c of traf.compositionOffsets) info.compositionOffsetsSeconds.push(c / track.timescale);
    }
    fragments.push(info);
  };

  const walk = walkFmp4(fileSize);
  let complete = false;
  let r = walk.next();
  walking: while (!r.done) {
    const step = r.value;
    if (step.kind === 'read') {
      r = walk.next(yield { offset: step.offset, length: step.length });
      continue;
    }
    switch (step.kind) {
      case 'init':
        init = step.init;
        main = step.init.tracks.find((t) => t.kind === 'video') ?? step.init.tracks[0];
        initEnd = completeEnd = step.end;
        break;
      case 'moof':
        firstMoof ??= step.offset;
        try {
          pending = { offset: step.offset, trafs: parseMoof(step.body, (init as InitInfo).trex) };
        } catch (err) {
          if (!(err instanceof Fmp4Error)) throw err;
          pending = undefined; // a corrupt moof ends the usable data, like a truncation would
          break walking;
        }
        break;
      case 'box':
        if (step.type === 'mdat' && pending) {
          commit(pending, step.end);
          pending = undefined;
          completeEnd = step.end;
        } else {
          // mfra, free, an orphan mdat: whole boxes, but they do not finish an open fragment.
          if (step.type === 'mfra') hasMfra = true;
          if (!pending) completeEnd = step.end;
        }
        break;
    }
    r = walk.next();
  }
  if (r.done && r.value.reason === 'end') complete = pending === undefined;
  if (!init) throw new Fmp4Error('truncated_init', `no complete ftyp+moov in ${fileSize} bytes`);
  const mainFirst = main && firstDecode.get(main.trackId);
  const scan: Fmp4Scan = {
    tracks: init.tracks,
    mainTrackId: main?.trackId,
    initEndOffset: firstMoof ?? initEnd,
    fragmentCount: fragments.length,
    completeEndOffset: completeEnd,
    fileSizeBytes: fileSize,
    complete,
    hasMfra,
    videoDurationSeconds: main?.durationSeconds ?? 0,
    sampleCount: main?.sampleCount ?? 0,
    fragments,
    trackFirstDecodeSeconds: Object.fromEntries(init.tracks.filter((t) => firstDecode.has(t.trackId)).map((t) => [t.trackId, (firstDecode.get(t.trackId) as number) / t.timescale])),
  };
  if (main && mainFirst !== undefined) scan.firstDecodeTimeSeconds = mainFirst / main.timescale;
  return scan;
}

/** Fragments that start with a keyframe: the file's random access points (`segments.keyframe_fragments`). */
export function keyframeFragments(scan: Pick<Fmp4Scan, 'fragments'>): number {
  let n = 0;
  for (const f of scan.fragments) if (f.startsWithKeyframe) n++;
  return n;
}

/** Scans an fMP4 held in memory (tests, small files). */
export function scanFmp4Buffer(buf: Buffer): Fmp4Scan {
  return runOnBuffer(scanSteps(buf.length), buf);
}

/** Scans from any random-access source (used by the file reader; lets tests count bytes read). */
export async function scanFmp4Source(src: ByteSource): Promise<Fmp4Scan> {
  const steps = scanSteps(src.size);
  let r = steps.next();
  while (!r.done) {
    const { offset, length } = r.value;
    r = steps.next(src.readHeld?.(offset, length) ?? (await src.read(offset, length)));
  }
  return r.value;
}

/** Reads at least 4 KiB per call and serves later requests from that chunk: moof + next mdat header in one read. */
const MIN_READ = 4096;

/** A random-access source over an open file (the caller closes it). */
export function fileSource(fh: FileHandle, size: number): ByteSource {
  let cacheOffset = 0;
  let cache = Buffer.alloc(0);
  const held = (offset: number, length: number): Buffer | undefined => {
    const rel = offset - cacheOffset;
    return rel >= 0 && rel + length <= cache.length ? cache.subarray(rel, rel + length) : undefined;
  };
  return {
    size,
    readHeld: held,
    async read(offset, length) {
      const inHand = held(offset, length);
      if (inHand) return inHand;
      const want = Math.max(0, Math.min(Math.max(length, MIN_READ), size - offset));
      const buf = Buffer.allocUnsafe(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, offset + got);
        if (bytesRead === 0) break; // the file shrank since stat
        got += bytesRead;
      }
      cacheOffset = offset;
      cache = buf.subarray(0, got);
      return cache.subarray(0, Math.min(length, got));
    },
  };
}

async function scanHandle(fh: FileHandle): Promise<Fmp4Scan> {
  const { size } = await fh.stat();
  return scanFmp4Source(fileSource(fh, size));
}

/** Scans an fMP4 file; throws Fmp4Error when it has no whole ftyp+moov (or is not fragmented MP4). */
export async function scanFmp4(path: string): Promise<Fmp4Scan> {
  const fh = await open(path, 'r');
  try {
    return await scanHandle(fh);
  } finally {
    await fh.close();
  }
}

/**
 * Crash recovery: cuts a partial trailing fragment (or partial mfra) so the file ends after its last
 * whole box, fsyncs, and returns the new scan. A file without any complete fragment is left untouched
 * (fragmentCount 0: the caller decides to delete it). Must not be called while a writer has the file open.
 */
export async function truncateToLastCompleteFragment(path: string): Promise<Fmp4Scan> {
  const fh = await open(path, 'r+');
  try {
    const scan = await scanHandle(fh);
    if (scan.complete || scan.fragmentCount === 0) return scan;
    await fh.truncate(scan.completeEndOffset);
    await fh.sync();
    return await scanHandle(fh);
  } finally {
    await fh.close();
  }
}
