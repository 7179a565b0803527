/**
 * One live stream (a camera's main or sub stream) fanned out to its viewers: keeps the init segment
 * and the fragments since the latest keyframe, so a viewer who joins starts on a keyframe at once,
 * and drops fragments for a viewer whose socket is backed up (it resumes at the next keyframe).
 * Nothing here ever waits on a viewer: the producer (the follower of the segment files, or the
 * sub-stream's pipe) is never slowed.
 */
import type { Logger } from 'pino';
import { Fmp4StreamSplitter, LiveStreamError, type LiveChunk, type LiveFragment, type LiveInit } from '../media/fmp4/stream.js';
import type { Clock } from '../shared/clock.js';
import { errorMessage } from '../shared/errors.js';

/** What a channel needs of a viewer's connection (a WebSocket, adapted by the API). */
export interface ViewerConnection {
  /** Bytes accepted by `send*` but not yet handed to the kernel. */
  bufferedBytes(): number;
  sendText(text: string): void;
  sendBinary(data: Buffer): void;
  close(code: number, reason: string): void;
  /** The viewer asked for each fragment's wall-clock instant (`?clock=true`): a `time` message before it. */
  wantsClock?: boolean;
}

/** WebSocket close codes of the live protocol. */
export const LIVE_CLOSE = {
  /** Vigil is stopping. */
  shutdown: 1001,
  /** The camera was deleted or disabled, or its sub-stream removed. */
  gone: 4404,
  /** No stream for `offlineCloseMs` (the camera is unreachable). */
  offline: 4408,
  /** The viewer's access ended: user deleted, disabled or re-scoped, session ended, key revoked. */
  accessEnded: 4403,
} as const;

export interface LiveChannelOptions {
  /** A viewer whose socket holds more than this gets no more fragments until it drains (then at a keyframe). */
  maxBufferedBytes: number;
  /** A GOP larger than this is not kept for joiners (they wait for the next keyframe). */
  maxGopBytes: number;
  /** A viewer waiting this long without a stream is closed with `LIVE_CLOSE.offline`. */
  offlineCloseMs: number;
}

export const DEFAULT_CHANNEL_OPTIONS: LiveChannelOptions = {
  maxBufferedBytes: 4 * 1024 * 1024,
  maxGopBytes: 16 * 1024 * 1024,
  offlineCloseMs: 30_000,
};

/** The window over which the live bitrate is measured. */
const BITRATE_WINDOW_MS = 5_000;

type Phase =
  /** No init sent for the current stream (none exists yet, or the stream ended). */
  | 'no_init'
  /** Init sent; waiting for a keyframe fragment (fresh, or after dropping for a full socket). */
  | 'keyframe'
  | 'live';

export interface Viewer {
  readonly conn: ViewerConnection;
  phase: Phase;
  /** Fragments not sent to this viewer because its socket was backed up. */
  dropped: number;
  droppedSinceResume: number;
  /** Largest `bufferedBytes()` seen right after a send: what Node held for this viewer at worst. */
  peakBufferedBytes: number;
  offlineTimer: NodeJS.Timeout | undefined;
}

export interface ChannelStats {
  viewers: number;
  /** Bits per second of the stream over the last few seconds; null when nothing arrived. */
  bitrateBps: number | null;
  /** Fragments dropped for slow viewers since the channel was created. */
  droppedFragments: number;
  online: boolean;
}

export class LiveChannel {
  private readonly viewers = new Set<Viewer>();
  private splitter: Fmp4StreamSplitter | undefined;
  private run = 0;
  private init: LiveInit | undefined;
  private generation = 0;
  private gop: LiveFragment[] = [];
  private gopBytes = 0;
  private droppedTotal = 0;
  private readonly arrivals: Array<{ atMs: number; bytes: number; seconds: number; keyframe: boolean }> = [];

  constructor(
    readonly cameraId: string,
    readonly stream: 'main' | 'sub',
    private readonly d: { clock: Clock; log: Logger; options: LiveChannelOptions },
  ) {}

  /** A new producer run starts (its bytes begin with an init). Returns the run's token for push/end. */
  begin(): number {
    this.run++;
    this.splitter = new Fmp4StreamSplitter();
    this.resetStream();
    return this.run;
  }

  /** Bytes of run `run` as they arrive off a pipe (the sub-stream); never throws, never blocks. */
  push(run: number, chunk: Buffer): void {
    if (run !== this.run || !this.splitter) return;
    let chunks;
    try {
      chunks = this.splitter.push(chunk);
    } catch (err) {
      // Nothing more of this run can be trusted: viewers wait for the next run.
      this.splitter = undefined;
      const level = err instanceof LiveStreamError ? 'warn' : 'error';
      this.d.log[level]({ err, stream: this.stream }, `live stream unusable: ${errorMessage(err)}`);
      this.goOffline();
      return;
    }
    for (const c of chunks) this.pushChunk(run, c);
  }

  /**
   * An init or a fragment of run `run`, already split (the main stream, read from the segment files).
   * A `backlog` fragment was on disk before the run was followed: kept for joiners, not counted in the bitrate.
   */
  pushChunk(run: number, c: LiveChunk, backlog = false): void {
    if (run !== this.run) return;
    if (c.kind === 'init') {
      this.onInit(c.init);
      return;
    }
    if (!backlog) {
      this.arrivals.push({ atMs: this.d.clock.nowMs(), bytes: c.fragment.data.length, seconds: c.fragment.durationSeconds, keyframe: c.fragment.keyframe });
      this.pruneArrivals();
    }
    this.onFragment(c.fragment);
  }

  /** Run `run` ended (its process is gone). */
  end(run: number): void {
    if (run !== this.run) return;
    this.splitter = undefined;
    this.goOffline();
  }

  add(conn: ViewerConnection): Viewer {
    const v: Viewer = { conn, phase: 'no_init', dropped: 0, droppedSinceResume: 0, peakBufferedBytes: 0, offlineTimer: undefined };
    this.viewers.add(v);
    if (!this.init) {
      this.sendOffline(v);
      return v;
    }
    this.sendInit(v);
    const gopBytes = this.gopBytes;
    // The fragments since the latest keyframe, at once: the first frame shows without waiting a GOP.
    if (this.gop.length > 0 && gopBytes <= this.d.options.maxBufferedBytes) {
      for (const f of this.gop) this.send(v, f);
      v.phase = 'live';
    }
    return v;
  }

  remove(v: Viewer): void {
    clearTimeout(v.offlineTimer);
    this.viewers.delete(v);
  }

  closeAll(code: number, reason: string): void {
    for (const v of [...this.viewers]) {
      this.remove(v);
      v.conn.close(code, reason);
    }
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  viewerList(): readonly Viewer[] {
    return [...this.viewers];
  }

  stats(): ChannelStats {
    this.pruneArrivals();
    return {
      viewers: this.viewers.size,
      bitrateBps: this.bitrateBps(),
      droppedFragments: this.droppedTotal,
      online: this.init !== undefined,
    };
  }

  /**
   * The stream's rate over the fragments that arrived in the last BITRATE_WINDOW_MS: their bytes over
   * their own media duration (as the segments' figure is size over duration), taken over whole GOPs
   * when the window holds two keyframes, since a GOP's keyframe fragment carries most of its bytes and
   * fragments arrive in bursts (a follower catching up). Null while none arrived.
   */
  private bitrateBps(): number | null {
    const a = this.arrivals;
    const first = a.findIndex((x) => x.keyframe);
    let last = a.length - 1;
    while (last > first && !(a[last] as (typeof a)[number]).keyframe) last--;
    const [from, to] = first >= 0 && last > first ? [first, last] : [0, a.length];
    let bytes = 0;
    let seconds = 0;
    for (let i = from; i < to; i++) {
      bytes += (a[i] as (typeof a)[number]).bytes;
      seconds += (a[i] as (typeof a)[number]).seconds;
    }
    return seconds > 0 ? Math.round((bytes * 8) / seconds) : null;
  }

  private pruneArrivals(): void {
    const cutoff = this.d.clock.nowMs() - BITRATE_WINDOW_MS;
    while (this.arrivals.length > 0 && (this.arrivals[0] as { atMs: number }).atMs < cutoff) this.arrivals.shift();
  }

  private resetStream(): void {
    this.init = undefined;
    this.gop = [];
    this.gopBytes = 0;
  }

  private onInit(init: LiveInit): void {
    this.init = init;
    this.generation++;
    this.gop = [];
    this.gopBytes = 0;
    for (const v of this.viewers) this.sendInit(v);
  }

  private onFragment(f: LiveFragment): void {
    if (f.keyframe) {
      this.gop = [f];
      this.gopBytes = f.data.length;
    } else if (this.gop.length > 0) {
      if (this.gopBytes + f.data.length > this.d.options.maxGopBytes) {
        this.gop = [];
        this.gopBytes = 0;
      } else {
        this.gop.push(f);
        this.gopBytes += f.data.length;
      }
    }
    for (const v of this.viewers) this.deliver(v, f);
  }

  private deliver(v: Viewer, f: LiveFragment): void {
    const max = this.d.options.maxBufferedBytes;
    if (v.phase === 'no_init') return;
    if (v.phase === 'live') {
      if (v.conn.bufferedBytes() + f.data.length <= max) {
        this.send(v, f);
        return;
      }
      // Backed up: stop here; the next fragment it gets must be a keyframe, or it could not decode.
      v.phase = 'keyframe';
      this.countDrop(v);
      this.d.log.debug({ stream: this.stream, bufferedBytes: v.conn.bufferedBytes() }, 'live viewer backed up; dropping to the next keyframe');
      return;
    }
    // phase 'keyframe': resume only at a keyframe, and only once the socket has drained to half the bound.
    if (!f.keyframe || v.conn.bufferedBytes() + f.data.length > max / 2) {
      // Only a viewer that was cut off counts drops (a fresh one simply has not started yet).
      if (v.droppedSinceResume > 0) this.countDrop(v);
      return;
    }
    if (v.droppedSinceResume > 0) {
      v.conn.sendText(JSON.stringify({ type: 'resume', dropped_fragments: v.droppedSinceResume }));
      v.droppedSinceResume = 0;
    }
    this.send(v, f);
    v.phase = 'live';
  }

  private countDrop(v: Viewer): void {
    v.dropped++;
    v.droppedSinceResume++;
    this.droppedTotal++;
  }

  private send(v: Viewer, f: LiveFragment): void {
    // The frame clock: the recording's own instant of the fragment's first frame, just before it.
    if (f.wallMs !== undefined && v.conn.wantsClock) {
      v.conn.sendText(JSON.stringify({ type: 'time', wall_ms: Math.round(f.wallMs), duration_ms: Math.round(f.durationSeconds * 1000) }));
    }
    v.conn.sendBinary(f.data);
    const buffered = v.conn.bufferedBytes();
    if (buffered > v.peakBufferedBytes) v.peakBufferedBytes = buffered;
  }

  private sendInit(v: Viewer): void {
    const init = this.init as LiveInit;
    clearTimeout(v.offlineTimer);
    v.offlineTimer = undefined;
    v.conn.sendText(
      JSON.stringify({
        type: 'init',
        mime: init.mime,
        codec: init.codec,
        audio_codec: init.audioCodec ?? null,
        width: init.width ?? null,
        height: init.height ?? null,
        stream: this.stream,
        generation: this.generation,
      }),
    );
    v.conn.sendBinary(init.data);
    v.phase = 'keyframe';
    v.droppedSinceResume = 0;
  }

  private goOffline(): void {
    const hadStream = this.init !== undefined;
    this.resetStream();
    for (const v of this.viewers) {
      if (hadStream || v.phase !== 'no_init') this.sendOffline(v);
    }
  }

  private sendOffline(v: Viewer): void {
    v.phase = 'no_init';
    v.conn.sendText(JSON.stringify({ type: 'offline', stream: this.stream }));
    clearTimeout(v.offlineTimer);
    v.offlineTimer = setTimeout(() => {
      if (!this.viewers.has(v) || v.phase !== 'no_init') return;
      this.remove(v);
      v.conn.close(LIVE_CLOSE.offline, 'camera offline');
    }, this.d.options.offlineCloseMs);
  }
}
