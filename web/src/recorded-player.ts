/**
 * Recorded playback: the camera's VOD playlist over the stored fMP4 files, played by hls.js (loaded
 * only when first needed) or natively where the browser has HLS and no MSE. The playlist carries
 * EXT-X-PROGRAM-DATE-TIME on its segments, so the wall-clock time of the frame on screen is known.
 */
import type Hls from 'hls.js';
import { apiUrl } from './api.js';
import { iso } from './time.js';

/** How far ahead of the clicked instant one playlist reaches; playback continues with a new one. */
const PLAYLIST_SPAN_MS = 30 * 60_000;

interface FragmentTime {
  startS: number;
  durationS: number;
  pdtMs: number;
}

export type RecordedState = 'loading' | 'playing' | 'paused' | 'ended' | 'no-footage' | 'error';

export class RecordedPlayer {
  private hls: Hls | null = null;
  private fragments: FragmentTime[] = [];
  private nativeStartMs: number | null = null;
  private generation = 0;

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly onState: (state: RecordedState, detail?: string) => void = () => {},
  ) {
    video.addEventListener('playing', () => this.isActive() && this.onState('playing'));
    video.addEventListener('pause', () => this.isActive() && !video.ended && this.onState('paused'));
    video.addEventListener('ended', () => this.isActive() && this.onState('ended'));
  }

  /** Plays `cameraId` from the wall-clock instant `atMs`. */
  async play(cameraId: string, atMs: number): Promise<void> {
    this.stop();
    const gen = ++this.generation;
    this.onState('loading');
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
      const startS = this.positionOf(atMs) ?? 0;
      hls.startLoad(startS);
      this.video.currentTime = startS;
      void this.video.play().catch(() => {});
    });
    hls.on(HlsClass.Events.ERROR, (_e, data) => {
      if (!data.fatal) return;
      const noFootage = data.details === HlsClass.ErrorDetails.MANIFEST_LOAD_ERROR && data.response?.code === 404;
      this.onState(noFootage ? 'no-footage' : 'error', noFootage ? 'nothing is recorded at that instant' : data.details);
      this.hls?.destroy();
      this.hls = null;
    });
    hls.attachMedia(this.video);
    hls.loadSource(url);
  }

  stop(): void {
    this.generation++;
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
