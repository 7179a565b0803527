/**
 * Splits a live fragmented-MP4 byte stream (as ffmpeg writes it to a pipe) into the init segment
 * (ftyp + moov) and media fragments (moof + mdat), with what a live viewer needs to know about each:
 * the MSE codec string of the init, and whether a fragment starts with a keyframe.
 */
import { boxSpans, isSyncSample, parseMoof, parseMoov, readBoxHeader, type InitInfo } from './boxes.js';
import { hev1AsHvc1 } from './hvc1.js';

export interface LiveInit {
  /**
   * ftyp + moov, byte for byte (but for a `hev1` entry, given as `hvc1`): what a Media Source Extensions
   * SourceBuffer is given first.
   */
  data: Buffer;
  /** RFC 6381 codec string of the video track, e.g. `avc1.64001f` or `hvc1.1.6.L93.B0`. */
  codec: string;
  /** RFC 6381 codec string of the audio track (`mp4a.40.2`), when the stream carries one. */
  audioCodec?: string;
  /** `video/mp4; codecs="…"` listing every track (video first, then audio), for `MediaSource.isTypeSupported` / `addSourceBuffer`. */
  mime: string;
  width: number | undefined;
  height: number | undefined;
  /** The video track's timescale. */
  timescale: number;
  /** Every track's id, kind and timescale (the video's first). */
  tracks: Array<{ trackId: number; kind: 'video' | 'audio' | 'other'; timescale: number }>;
}

export interface LiveFragment {
  /** moof + mdat, byte for byte. */
  data: Buffer;
  /** The fragment's first video sample is a sync sample: a decoder (and a new viewer) can start here. */
  keyframe: boolean;
  /** Sum of the video samples' durations, in seconds (0 when unknown). */
  durationSeconds: number;
  /** Each track's decode time (tfdt) and duration in this fragment, in the track's ticks. */
  tracks: Array<{ trackId: number; baseDecodeTime: number | undefined; durationTicks: number }>;
  /**
   * Wall-clock instant (UTC ms) of its first frame on the recording's time mapping, when the producer
   * knows it (the main stream, read from the segment files); the viewer's clock shows it.
   */
  wallMs?: number;
}

export type LiveChunk = { kind: 'init'; init: LiveInit } | { kind: 'fragment'; fragment: LiveFragment };

/** A box bigger than this in a live stream is corruption (a 4K keyframe fragment is a few MB). */
export const MAX_LIVE_BOX_BYTES = 32 * 1024 * 1024;

export class LiveStreamError extends Error {
  override readonly name = 'LiveStreamError';
}

/**
 * Incremental splitter. `push()` takes chunks as they come off the pipe and returns the init and
 * fragments they completed. Copies each box once (when it is whole), so a large mdat arriving in
 * 64 KiB pieces costs O(size). After an error, the caller drops the stream until it restarts.
 */
export class Fmp4StreamSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Size of the box being collected, once its header has been read. */
  private boxBytes: number | undefined;
  private ftyp: Buffer | undefined;
  private moof: Buffer | undefined;
  private initInfo: InitInfo | undefined;
  private videoTrackId: number | undefined;
  private videoTimescale = 0;

  push(chunk: Buffer): LiveChunk[] {
    const out: LiveChunk[] = [];
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    for (;;) {
      if (this.boxBytes === undefined) {
        if (this.pendingBytes < 16 && !this.headerFits()) break;
        const head = this.peek(Math.min(16, this.pendingBytes));
        const h = readBoxHeader(head);
        if (!h) break;
        if (h.size === 0 || h.size < h.headerSize) throw new LiveStreamError(`box '${h.type}' without a usable size in a live stream`);
        if (h.size > MAX_LIVE_BOX_BYTES) throw new LiveStreamError(`box '${h.type}' of ${h.size} bytes is too large for a live stream`);
        this.boxBytes = h.size;
      }
      if (this.pendingBytes < this.boxBytes) break;
      const box = this.take(this.boxBytes);
      this.boxBytes = undefined;
      const c = this.onBox(box);
      if (c) out.push(c);
    }
    return out;
  }

  /** An 8-byte header (32-bit size) is enough to start; a 64-bit size needs 16. */
  private headerFits(): boolean {
    if (this.pendingBytes < 8) return false;
    return this.peek(8).readUInt32BE(0) !== 1;
  }

  private peek(n: number): Buffer {
    const first = this.pending[0] as Buffer;
    return first.length >= n ? first.subarray(0, n) : Buffer.concat(this.pending, this.pendingBytes).subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    // The box gets its own memory: viewers may hold it long after the pipe's chunk is reused.
    const box = Buffer.from(all.subarray(0, n));
    const rest = all.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return box;
  }

  private onBox(box: Buffer): LiveChunk | undefined {
    const h = readBoxHeader(box) as NonNullable<ReturnType<typeof readBoxHeader>>;
    const body = box.subarray(h.headerSize);
    switch (h.type) {
      case 'ftyp':
        this.ftyp = box;
        return undefined;
      case 'moov':
        return this.onMoov(box, body);
      case 'moof':
        this.moof = box;
        return undefined;
      case 'mdat':
        return this.onMdat(box);
      default:
        // styp, sidx, free, the closing mfra: nothing a live viewer needs.
        return undefined;
    }
  }

  private onMoov(box: Buffer, body: Buffer): LiveChunk {
    if (!this.ftyp) throw new LiveStreamError('moov before ftyp in a live stream');
    let info = parseMoov(body);
    if (!info.fragmented) throw new LiveStreamError('live stream is not fragmented (moov without mvex)');
    // H.265 from a pipe (a sub-stream's ffmpeg cannot know the codec before it starts) comes as hev1:
    // viewers get the hvc1 entry the recorded files have (the box is this splitter's own copy).
    if (info.tracks.some((t) => t.codec.startsWith('hev1.')) && hev1AsHvc1(body)) info = parseMoov(body);
    const video = info.tracks.find((t) => t.kind === 'video');
    if (!video) throw new LiveStreamError('live stream has no video track');
    this.initInfo = info;
    this.videoTrackId = video.trackId;
    this.videoTimescale = video.timescale;
    this.moof = undefined;
    const audio = info.tracks.find((t) => t.kind === 'audio');
    const init: LiveInit = {
      data: Buffer.concat([this.ftyp, box]),
      codec: video.codec,
      ...(audio ? { audioCodec: audio.codec } : {}),
      mime: `video/mp4; codecs="${audio ? `${video.codec},${audio.codec}` : video.codec}"`,
      width: video.width,
      height: video.height,
      timescale: video.timescale,
      tracks: [video, ...info.tracks.filter((t) => t !== video)].map((t) => ({ trackId: t.trackId, kind: t.kind, timescale: t.timescale })),
    };
    return { kind: 'init', init };
  }

  private onMdat(mdat: Buffer): LiveChunk | undefined {
    const moof = this.moof;
    this.moof = undefined;
    if (!moof || !this.initInfo) return undefined; // media before any init cannot be decoded by anyone
    const h = readBoxHeader(moof) as NonNullable<ReturnType<typeof readBoxHeader>>;
    const trafs = parseMoof(moof.subarray(h.headerSize), this.initInfo.trex);
    const traf = trafs.find((t) => t.trackId === this.videoTrackId);
    const keyframe = traf?.firstSampleFlags !== undefined && traf.sampleCount > 0 && isSyncSample(traf.firstSampleFlags);
    const durationSeconds = traf && this.videoTimescale > 0 ? traf.durationTicks / this.videoTimescale : 0;
    const tracks = trafs.map((t) => ({ trackId: t.trackId, baseDecodeTime: t.baseDecodeTime, durationTicks: t.durationTicks }));
    return { kind: 'fragment', fragment: { data: Buffer.concat([moof, mdat]), keyframe, durationSeconds, tracks } };
  }
}

/**
 * Rewrites, in place, the decode time (tfdt) of each track of a fragment (moof + mdat) to
 * `decodeTime(trackId, current)`: the segment muxer starts every file's timeline at 0, and a live
 * viewer that goes on into the next file needs one timeline. Version 0 tfdt values that no longer
 * fit 32 bits throw LiveStreamError.
 */
export function retimeFragment(data: Buffer, decodeTime: (trackId: number, current: bigint) => bigint): void {
  const moof = boxSpans(data, 0).next().value;
  if (!moof || moof.type !== 'moof') throw new LiveStreamError('fragment does not start with a moof');
  for (const traf of boxSpans(data, moof.bodyStart, moof.end)) {
    if (traf.type !== 'traf') continue;
    let trackId: number | undefined;
    for (const b of boxSpans(data, traf.bodyStart, traf.end)) {
      if (b.type === 'tfhd' && b.end - b.bodyStart >= 8) trackId = data.readUInt32BE(b.bodyStart + 4);
      if (b.type !== 'tfdt' || trackId === undefined) continue;
      const version = data.readUInt8(b.bodyStart);
      if (version === 1 && b.end - b.bodyStart >= 12) {
        data.writeBigUInt64BE(decodeTime(trackId, data.readBigUInt64BE(b.bodyStart + 4)), b.bodyStart + 4);
      } else if (version === 0 && b.end - b.bodyStart >= 8) {
        const v = decodeTime(trackId, BigInt(data.readUInt32BE(b.bodyStart + 4)));
        if (v > 0xffffffffn) throw new LiveStreamError('a 32-bit tfdt cannot carry the live timeline');
        data.writeUInt32BE(Number(v), b.bodyStart + 4);
      }
    }
  }
}
