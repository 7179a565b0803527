/**
 * Recorded playback: the camera's VOD playlist over the stored fMP4 files, played by hls.js (loaded
 * only when first needed) or natively where the browser has HLS and no MSE. The playlist carries
 * EXT-X-PROGRAM-DATE-TIME on its segments, so the wall-clock time of the frame on screen is known.
 *
 * Review never stops: at the end of a playlist the player goes on with the footage recorded since
 * (a new playlist from where it ended), and once nothing newer is stored it says so (`onNewest`) so
 * the view hands over to live. Holes between files (no recording) are skipped and announced.
 */
import type Hls from 'hls.js';
import { apiUrl } from './api.js';
import { formatTime, iso } from './time.js';

/** How far ahead of the clicked instant one playlist reaches; playback continues with a new one. */
const PLAYLIST_SPAN_MS = 30 * 60_000;
/** A hole between two files longer than this is a gap in the recording (shorter ones are seams). */
const GAP_MIN_MS = 1000;
/**
 * A frame the browser cannot decode is stepped over by this much from the frame on screen. Footage
 * recorded before the recorder dropped access unit delimiters ends each run a silent camera ended with
 * a 6-byte sample holding no picture, which Chrome refuses (PIPELINE_ERROR_DECODE) and which hls.js
 * would append again on every retry: playback goes on past it, into the gap that follows it.
 */
const UNDECODABLE_SKIP_MS = 1000;
/** Steps over undecodable footage in a row (each within a few seconds of the last) before giving up. */
const UNDECODABLE_MAX_SKIPS = 5;

interface FragmentTime {
  startS: number;
  durationS: number;
  pdtMs: number;
}

/** `unsupported`: the browser cannot decode the footage's codec (detail: the MIME type it refused). */
export type RecordedState = 'loading' | 'playing' | 'paused' | 'ended' | 'no-footage' | 'unsupported' | 'error';

export interface RecordedHooks {
  /** Played to the newest stored footage: nothing after it yet (the view goes live). */
  onNewest?(endMs: number): void;
  /** A gap was skipped or an instant asked lies in one: "no recording 10:42:10–10:43:02". */
  onGap?(text: string): void;
  /** The footage now playing has an audio track (its init names one) or not: the speaker button shows. */
  onAudio?(has: boolean): void;
}

export class RecordedPlayer {
  private hls: Hls | null = null;
  private fragments: FragmentTime[] = [];
  private nativeStartMs: number | null = null;
  private generation = 0;
  private cameraId: string | null = null;
  /** Holes between the playlist's files, and the index of the next one still ahead of the playhead. */
  private holes: { fromMs: number; toMs: number; atS: number }[] = [];
  private nextHole = 0;
  /** The last step over undecodable footage (where it landed) and how many came in a row. */
  private skipped: { toMs: number; count: number } | null = null;

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly onState: (state: RecordedState, detail?: string) => void = () => {},
    private readonly hooks: RecordedHooks = {},
  ) {
    video.addEventListener('playing', () => this.isActive() && this.onState('playing'));
    video.addEventListener('pause', () => this.isActive() && !video.ended && this.onState('paused'));
    video.addEventListener('ended', () => {
      if (this.isActive()) void this.continueAfter();
    });
    video.addEventListener('timeupdate', () => this.announceHoles());
    video.addEventListener('error', () => {
      if (this.hls && this.video.error?.code === MediaError.MEDIA_ERR_DECODE) void this.skipUndecodable(this.generation);
    });
  }

  /** Plays `cameraId` from the wall-clock instant `atMs`. */
  async play(cameraId: string, atMs: number, continuing = false): Promise<void> {
    this.stop();
    this.cameraId = cameraId;
    const gen = ++this.generation;
    if (!continuing) {
      this.skipped = null;
      this.onState('loading');
    }
    const toMs = Math.min(atMs + PLAYLIST_SPAN_MS, Date.now());
    if (toMs <= atMs) {
      this.onState('no-footage', 'nothing is recorded at that instant yet');
      return;
    }
    const url = apiUrl(`/cameras/${encodeURIComponent(cameraId)}/playback.m3u8`, { from: iso(atMs), to: iso(toMs) });
    if (typeof MediaSource === 'undefined' && this.video.canPlayType('application/vnd.apple.mpegurl')) {
      this.playNative(url, atMs);
      return;
    }
    const { default: HlsClass } = await import('hls.js/light');
    if (gen !== this.generation) return;
    const hls = new HlsClass({ autoStartLoad: false, enableWorker: false, maxBufferLength: 20, backBufferLength: 30 });
    this.hls = hls;
    hls.on(HlsClass.Events.LEVEL_LOADED, (_e, data) => {
      this.fragments = data.details.fragments.map((f) => ({ startS: f.start, durationS: f.duration, pdtMs: f.programDateTime ?? NaN }));
      this.findHoles();
      const startS = this.positionOf(atMs) ?? 0;
      // An instant asked inside a gap: said so, and played from the footage after it.
      const first = this.fragments.find((f) => f.startS + f.durationS > startS);
      if (first && Number.isFinite(first.pdtMs) && first.pdtMs - atMs > GAP_MIN_MS) {
        // Going on from the previous playlist, the hole lies between the two: announced as any hole.
        this.hooks.onGap?.(
          continuing
            ? `No recording ${formatTime(atMs - 1)}–${formatTime(first.pdtMs)} (skipped)`
            : `No recording at ${formatTime(atMs)}: playing from ${formatTime(first.pdtMs)}`,
        );
      }
      this.nextHole = this.holes.findIndex((h) => h.atS > startS);
      if (this.nextHole < 0) this.nextHole = this.holes.length;
      hls.startLoad(startS);
      this.video.currentTime = startS;
      void this.video.play().catch(() => {});
    });
    // The footage's codec, as the init segment names it: checked against what this browser's MSE can
    // decode before anything is appended (an H.265 camera in a browser without HEVC).
    let mime: string | undefined;
    const refuse = () => {
      this.hls?.destroy();
      this.hls = null;
      this.onState('unsupported', mime ?? 'video/mp4');
    };
    hls.on(HlsClass.Events.BUFFER_CODECS, (_e, data) => {
      this.hooks.onAudio?.(data.audio !== undefined || /mp4a/.test(data.audiovideo?.codec ?? ''));
      const track = data.video ?? data.audiovideo;
      if (!track?.codec) return;
      mime = `${track.container}; codecs="${track.codec}"`;
      if (typeof MediaSource !== 'undefined' && !MediaSource.isTypeSupported(mime)) queueMicrotask(() => gen === this.generation && refuse());
    });
    hls.on(HlsClass.Events.ERROR, (_e, data) => {
      const codecError = [HlsClass.ErrorDetails.BUFFER_ADD_CODEC_ERROR, HlsClass.ErrorDetails.BUFFER_INCOMPATIBLE_CODECS_ERROR, HlsClass.ErrorDetails.MANIFEST_INCOMPATIBLE_CODECS_ERROR].includes(data.details);
      if (codecError && mime !== undefined && gen === this.generation && this.hls) {
        refuse();
        return;
      }
      if (!data.fatal) return;
      if (data.type === HlsClass.ErrorTypes.MEDIA_ERROR && gen === this.generation) {
        void this.skipUndecodable(gen);
        return;
      }
      const noFootage = data.details === HlsClass.ErrorDetails.MANIFEST_LOAD_ERROR && data.response?.code === 404;
      if (noFootage && continuing) {
        // Nothing stored after where the last playlist ended: that was the newest footage.
        this.hls?.destroy();
        this.hls = null;
        this.hooks.onNewest?.(atMs);
        return;
      }
      this.onState(noFootage ? 'no-footage' : 'error', noFootage ? 'nothing is recorded at that instant' : data.details);
      this.hls?.destroy();
      this.hls = null;
    });
    hls.attachMedia(this.video);
    hls.loadSource(url);
  }

  stop(): void {
    this.generation++;
    this.holes = [];
    this.nextHole = 0;
    this.hls?.destroy();
    this.hls = null;
    this.fragments = [];
    this.nativeStartMs = null;
    this.video.removeAttribute('src');
    this.video.load();
  }

  /** Wall-clock time (ms) of the frame on screen, or null when nothing is playing. */
  wallClockMs(): number | null {
    const t = this.video.currentTime;
    if (this.nativeStartMs !== null) return this.nativeStartMs + t * 1000;
    if (!this.hls) return null;
    const frag = this.fragments.find((f) => t >= f.startS && t < f.startS + f.durationS) ?? this.fragments.at(-1);
    if (frag && Number.isFinite(frag.pdtMs)) return frag.pdtMs + (t - frag.startS) * 1000;
    return this.hls.playingDate?.getTime() ?? null;
  }

  /**
   * The footage at the playhead cannot be decoded (a media error): playback starts again a little after
   * the frame on screen, as a continuation (a gap there is announced as any skipped hole). Steps in a row
   * that get nowhere end in the error state.
   */
  private async skipUndecodable(gen: number): Promise<void> {
    const cameraId = this.cameraId;
    const atMs = this.wallClockMs();
    if (gen !== this.generation || !this.hls) return;
    const count = this.skipped && atMs !== null && atMs < this.skipped.toMs + 3 * UNDECODABLE_SKIP_MS ? this.skipped.count + 1 : 1;
    if (!cameraId || atMs === null || count > UNDECODABLE_MAX_SKIPS) {
      this.onState('error', this.video.error?.message || 'the footage cannot be decoded');
      this.hls?.destroy();
      this.hls = null;
      return;
    }
    const toMs = Math.round(atMs) + UNDECODABLE_SKIP_MS;
    this.skipped = { toMs, count };
    console.warn(`recorded: footage at ${iso(atMs)} cannot be decoded (${this.video.error?.message ?? 'media error'}); playing on from ${iso(toMs)}`);
    await this.play(cameraId, toMs, true);
  }

  /** The end of the playlist: on with what was recorded since, or the newest footage was reached. */
  private async continueAfter(): Promise<void> {
    const last = this.fragments.at(-1);
    const cameraId = this.cameraId;
    if (!last || !Number.isFinite(last.pdtMs) || !cameraId) {
      this.onState('ended');
      return;
    }
    const endMs = Math.round(last.pdtMs + last.durationS * 1000);
    // One millisecond on: the playlist covers files overlapping [from, to), so the last one is not played twice.
    await this.play(cameraId, endMs + 1, true);
  }

  private findHoles(): void {
    this.holes = [];
    for (let i = 1; i < this.fragments.length; i++) {
      const a = this.fragments[i - 1]!;
      const b = this.fragments[i]!;
      const endMs = a.pdtMs + a.durationS * 1000;
      if (b.pdtMs - endMs > GAP_MIN_MS) this.holes.push({ fromMs: endMs, toMs: b.pdtMs, atS: b.startS });
    }
  }

  /** Each gap is announced as the playhead passes it (the player skips it: the files are contiguous in media time). */
  private announceHoles(): void {
    const t = this.video.currentTime;
    while (this.nextHole < this.holes.length && t >= this.holes[this.nextHole]!.atS - 0.05) {
      const hole = this.holes[this.nextHole++]!;
      this.hooks.onGap?.(`No recording ${formatTime(hole.fromMs)}–${formatTime(hole.toMs)} (skipped)`);
    }
  }

  private isActive(): boolean {
    return this.hls !== null || this.nativeStartMs !== null;
  }

  /** Media time of a wall-clock instant: inside the fragment that covers it, or the next one after a hole. */
  private positionOf(atMs: number): number | null {
    for (const f of this.fragments) {
      if (!Number.isFinite(f.pdtMs)) continue;
      const endMs = f.pdtMs + f.durationS * 1000;
      if (atMs < endMs) return f.startS + Math.max(0, atMs - f.pdtMs) / 1000;
    }
    return null;
  }

  private playNative(url: string, atMs: number): void {
    const video = this.video as HTMLVideoElement & { getStartDate?: () => Date };
    this.nativeStartMs = atMs;
    video.src = url;
    video.addEventListener('loadedmetadata', () => {
      // Safari maps EXT-X-PROGRAM-DATE-TIME to getStartDate(); media time 0 is that instant.
      const startMs = video.getStartDate?.().getTime();
      this.nativeStartMs = startMs !== undefined && Number.isFinite(startMs) ? startMs : atMs;
      video.currentTime = Math.max(0, (atMs - this.nativeStartMs) / 1000);
      void video.play().catch(() => {});
    }, { once: true });
    video.addEventListener('error', () => this.onState('no-footage', 'nothing is recorded at that instant'), { once: true });
  }
}
