/**
 * Live view: fragmented MP4 over a WebSocket into Media Source Extensions.
 * Protocol: text `{"type":"init","mime":…}`, then the binary init segment, then binary fragments
 * (the first at a keyframe). A later init (recorder restart) resets the media; text
 * `{"type":"offline"}` means the camera stopped.
 *
 * Trust: the player knows when the newest frame it holds was received, so a camera that stops sending
 * is reported (`stalled`, with "No signal since hh:mm:ss") within a few seconds of its last frame,
 * whether the socket stays open or not, and the picture's clock shows that frame's time, not the
 * browser's ticking clock.
 */
import { audioTrackId, stripFragment, stripInit } from './strip-audio.js';
import { formatTime } from './time.js';

export type LiveState = 'connecting' | 'playing' | 'stalled' | 'offline' | 'closed' | 'unsupported' | 'error';

/** Seconds behind the newest buffered frame before we jump forward. */
const MAX_LATENCY_S = 1.5;
/** Between these, playback runs 15 % fast to reach the live edge without a jump (and its decode stall). */
const CATCH_UP_ABOVE_S = 0.45;
const CAUGHT_UP_BELOW_S = 0.25;
/** Seconds of already-played media kept in the SourceBuffer. */
const KEEP_BEHIND_S = 6;
/** Fragments waiting for the SourceBuffer before we give up on catching up and start over. */
const MAX_QUEUED = 60;
const RECONNECT_MS = 3000;
/**
 * No new fragment for this long (or 1.5 fragment intervals, for a long fragment) means no signal. A
 * fragment (at most half a second of a GOP, the recorder's RECORD_FRAGMENT_US) is flushed as it ends,
 * so its last frame was received about when the fragment arrived.
 */
const STALL_MIN_MS = 2500;
const WATCH_MS = 250;

export function liveUrl(cameraId: string, stream: 'main' | 'sub'): string {
  const url = new URL(`api/v1/cameras/${encodeURIComponent(cameraId)}/live`, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (stream === 'sub') url.searchParams.set('stream', 'sub');
  // Each fragment's own wall-clock instant (the recording's time mapping) for the picture's clock.
  else url.searchParams.set('clock', 'true');
  return url.toString();
}

export class LivePlayer {
  private ws: WebSocket | null = null;
  private mediaSource: MediaSource | null = null;
  private sourceBuffer: SourceBuffer | null = null;
  private objectUrl: string | null = null;
  /** Binary messages waiting to be appended, each fragment with its frame clock when the server sent one. */
  private queue: { data: ArrayBuffer; wallEndMs?: number | undefined }[] = [];
  /** Wall-clock end of the next fragment, from the `time` message the server sends just before it. */
  private pendingWallEndMs: number | undefined;
  /** The frame clock of the fragment being appended. */
  private appendingWallEndMs: number | undefined;
  private pendingMime: string | null = null;
  private stopped = false;
  private reconnectTimer: number | undefined;
  private watchTimer: number | undefined;
  /**
   * Per appended fragment: where its media ends, the wall-clock instant of that end (the frame clock's
   * mapping: the recording's own time when the server sent it, else when it was received) and when it arrived.
   */
  private arrivals: { endS: number; wallMs: number; atMs: number }[] = [];
  /** The newest frame's own time (the recording's time mapping), for "No signal since". */
  private lastFrameTimeMs: number | null = null;
  /** When the newest frame was received (kept across reconnects: "No signal since" names it). */
  private lastFrameMs: number | null = null;
  private fragmentEveryMs = 1000;
  private stalled = false;
  /** Told at each init whether the stream carries audio (its `audio_codec`): the speaker button shows. */
  onAudio: ((has: boolean) => void) | undefined;
  /**
   * With audio: the run's init and its audio track, and whether the player went on with the video
   * alone because the camera's audio stopped (a SourceBuffer plays only what all its tracks hold, so
   * the picture would freeze). Appends in a row that did not move the buffered end tell it.
   */
  private rawInit: { mime: string; data: ArrayBuffer; audioId: number } | null = null;
  private videoOnly = false;
  private appendsWithoutGrowth = 0;
  /** The SourceBuffer's update that just ended was an append (not a remove). */
  private appended = false;

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly url: string,
    private readonly onState: (state: LiveState, detail?: string) => void = () => {},
  ) {
    video.muted = true;
    video.playsInline = true;
    video.autoplay = true;
  }

  start(): void {
    if (typeof MediaSource === 'undefined') {
      this.onState('unsupported', 'this browser has no Media Source Extensions');
      return;
    }
    this.stopped = false;
    this.video.addEventListener('playing', this.onPlaying);
    this.video.addEventListener('error', this.onMediaError);
    this.connect();
    this.watchTimer = window.setInterval(() => this.watch(), WATCH_MS);
  }

  /**
   * The wall-clock time of the frame on screen: its fragment's end on the recording's time mapping (the
   * server's `time` message; the time it was received when there is none, as on the sub-stream), less
   * how far the frame lies before that end; null before the first frame or while no picture shows.
   */
  frameWallClockMs(): number | null {
    const t = this.video.currentTime;
    const a = this.arrivals.find((x) => x.endS >= t) ?? this.arrivals[this.arrivals.length - 1];
    if (!a || this.video.readyState < 2) return null;
    return a.wallMs - Math.max(0, a.endS - t) * 1000;
  }

  /** The first frame of a fragment is on screen (the append that brought it may have come before it decoded). */
  private readonly onPlaying = (): void => {
    if (!this.stopped && !this.stalled && this.mediaSource) this.onState('playing');
  };

  /**
   * The media element failed (a fragment it could not parse or decode): the stream is started again,
   * from the newest keyframe, as a reconnect does; the error is logged for whoever looks, not shown.
   */
  private readonly onMediaError = (): void => {
    const e = this.video.error;
    if (this.stopped || !e || !this.mediaSource) return;
    console.warn(`live: media error ${e.code}${e.message ? ` (${e.message})` : ''}; starting the stream again`);
    this.recover();
  };

  /** A fresh MediaSource on a new connection (the server starts it at the newest keyframe). */
  private recover(): void {
    this.resetMedia();
    this.ws?.close();
  }

  /** No frame for longer than a fragment interval allows: say so, naming the last frame's time. */
  private watch(): void {
    if (this.stopped || this.lastFrameMs === null || this.stalled) return;
    if (Date.now() - this.lastFrameMs > Math.max(STALL_MIN_MS, 1.5 * this.fragmentEveryMs)) {
      this.stalled = true;
      this.onState('stalled', `No signal since ${formatTime(this.lastFrameTimeMs ?? this.lastFrameMs)}`);
    }
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.reconnectTimer);
    window.clearInterval(this.watchTimer);
    this.video.removeEventListener('playing', this.onPlaying);
    this.video.removeEventListener('error', this.onMediaError);
    this.ws?.close();
    this.ws = null;
    this.resetMedia();
    this.onState('closed');
  }

  private connect(): void {
    // A reconnect after frames were seen is still no signal, and says since when.
    this.onState('connecting', this.lastFrameMs === null ? undefined : this.noSignal('connecting'));
    const ws = new WebSocket(this.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') this.onText(ev.data);
      else this.onBinary(ev.data as ArrayBuffer);
    };
    ws.onclose = () => {
      if (this.ws !== ws || this.stopped) return;
      this.ws = null;
      this.onState('offline', this.noSignal('connection closed'));
      this.reconnectTimer = window.setTimeout(() => this.connect(), RECONNECT_MS);
    };
  }

  private onText(text: string): void {
    let msg: { type?: string; mime?: string; wall_ms?: number; duration_ms?: number; audio_codec?: string | null };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return;
    }
    if (msg.type === 'init' && typeof msg.mime === 'string') {
      this.pendingMime = msg.mime;
      this.onAudio?.(typeof msg.audio_codec === 'string');
    }
    else if (msg.type === 'time' && typeof msg.wall_ms === 'number') this.pendingWallEndMs = msg.wall_ms + (msg.duration_ms ?? 0);
    else if (msg.type === 'offline') {
      this.resetMedia();
      this.onState('offline', this.noSignal('camera offline'));
    }
  }

  private onBinary(data: ArrayBuffer): void {
    if (this.pendingMime !== null) {
      const mime = this.pendingMime;
      this.pendingMime = null;
      // A new run: with its audio again, whatever the last one did.
      this.videoOnly = false;
      const audioId = /,/.test(mime) ? audioTrackId(data) : undefined;
      this.rawInit = audioId === undefined ? null : { mime, data, audioId };
      this.openMedia(mime, data);
      return;
    }
    if (this.videoOnly && this.rawInit) data = stripFragment(data, this.rawInit.audioId);
    if (!this.mediaSource) return; // a fragment without an init: wait for the next init
    if (this.queue.length >= MAX_QUEUED) {
      // The decoder cannot keep up; reconnecting starts again at the newest keyframe.
      this.ws?.close();
      return;
    }
    this.queue.push({ data, wallEndMs: this.pendingWallEndMs });
    this.pendingWallEndMs = undefined;
    this.pump();
  }

  /**
   * The camera's audio stopped while its video goes on: a fresh MediaSource with the video alone (the
   * init without the audio track, each fragment without its audio), from the next fragment (the new
   * SourceBuffer drops frames up to the next keyframe). The speaker button goes; the next run (a new
   * init) tries with audio again.
   */
  private goVideoOnly(): void {
    const raw = this.rawInit;
    if (!raw || this.videoOnly) return;
    this.videoOnly = true;
    this.onAudio?.(false);
    const video = /codecs="([^",]+)/.exec(raw.mime)?.[1];
    if (!video) return;
    this.openMedia(`video/mp4; codecs="${video}"`, stripInit(raw.data, raw.audioId));
  }

  /** "No signal since hh:mm:ss" once a frame was seen, else the plain reason. */
  private noSignal(reason: string): string {
    return this.lastFrameMs === null ? reason : `No signal since ${formatTime(this.lastFrameTimeMs ?? this.lastFrameMs)}`;
  }

  /** A new init segment: a fresh MediaSource, so timestamps of a new recorder run start clean. */
  private openMedia(mime: string, init: ArrayBuffer): void {
    this.resetMedia();
    if (!MediaSource.isTypeSupported(mime)) {
      this.onState('unsupported', `cannot play ${mime}`);
      return;
    }
    const ms = new MediaSource();
    this.mediaSource = ms;
    this.queue = [{ data: init }];
    this.objectUrl = URL.createObjectURL(ms);
    this.video.src = this.objectUrl;
    ms.addEventListener('sourceopen', () => {
      if (this.mediaSource !== ms) return;
      const sb = ms.addSourceBuffer(mime);
      sb.mode = 'segments';
      sb.addEventListener('updateend', () => this.afterAppend());
      sb.addEventListener('error', () => {
        if (this.sourceBuffer !== sb || this.stopped) return;
        console.warn('live: a fragment could not be appended; starting the stream again');
        this.recover();
      });
      this.sourceBuffer = sb;
      this.pump();
    }, { once: true });
  }

  private pump(): void {
    const sb = this.sourceBuffer;
    if (!sb || sb.updating || this.mediaSource?.readyState !== 'open' || this.video.error) return;
    const next = this.queue.shift();
    if (!next) return;
    try {
      this.appendingWallEndMs = next.wallEndMs;
      this.appended = true;
      sb.appendBuffer(next.data);
    } catch (err) {
      if (err instanceof DOMException && err.name === 'QuotaExceededError') {
        this.queue.unshift(next);
        this.trim(true);
      } else {
        this.onState('error', String(err));
      }
    }
  }

  private afterAppend(): void {
    const v = this.video;
    const b = v.buffered;
    if (b.length > 0) {
      const end = b.end(b.length - 1);
      const last = this.arrivals[this.arrivals.length - 1];
      if (!last || end > last.endS + 1e-3) {
        const now = Date.now();
        // A fragment interval measured across a stall or a reconnect is not one: it is left out.
        if (last && !this.stalled && now - last.atMs < 10_000) this.fragmentEveryMs = 0.8 * this.fragmentEveryMs + 0.2 * (now - last.atMs);
        const wallMs = this.appendingWallEndMs ?? now;
        this.arrivals.push({ endS: end, wallMs, atMs: now });
        if (this.arrivals.length > 200) this.arrivals.shift();
        this.lastFrameMs = now;
        this.lastFrameTimeMs = wallMs;
        this.stalled = false;
        this.appendsWithoutGrowth = 0;
      } else if (this.appended && this.rawInit && !this.videoOnly && ++this.appendsWithoutGrowth >= 2) {
        // Fragments keep coming but nothing more is playable: the audio stopped.
        queueMicrotask(() => this.goVideoOnly());
        return;
      }
      const start = b.start(b.length - 1);
      // Behind the live edge (tab was hidden, slow decoder) or before the first frame: jump.
      if (v.currentTime < start || end - v.currentTime > MAX_LATENCY_S) v.currentTime = Math.max(start, end - 0.3);
      // A viewer starts at the last keyframe, up to a GOP behind: play a little faster until close to the edge.
      const lag = end - v.currentTime;
      if (lag > CATCH_UP_ABOVE_S) v.playbackRate = 1.15;
      else if (lag < CAUGHT_UP_BELOW_S) v.playbackRate = 1;
      if (v.paused) void v.play().catch(() => {});
      if (v.readyState >= 2) this.onState('playing');
    }
    if (!this.trim(false)) this.pump();
  }

  /** Drops media already played; returns true when a remove() is running (pump resumes after it). */
  private trim(force: boolean): boolean {
    const sb = this.sourceBuffer;
    const b = this.video.buffered;
    if (!sb || sb.updating || b.length === 0) return false;
    const cut = this.video.currentTime - (force ? 1 : KEEP_BEHIND_S);
    if (b.start(0) >= cut - (force ? 0 : 2)) return false;
    this.appended = false;
    sb.remove(0, cut);
    return true;
  }

  private resetMedia(): void {
    this.queue = [];
    this.pendingWallEndMs = undefined;
    this.appendingWallEndMs = undefined;
    this.arrivals = [];
    this.sourceBuffer = null;
    this.mediaSource = null;
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = null;
    this.video.removeAttribute('src');
    this.video.load();
  }
}
