/**
 * The page's answer to a stream its browser cannot decode (an H.265 camera where Media Source
 * Extensions have no HEVC): it says so, and offers an H.264 preview that Vigil transcodes on demand
 * (low resolution, one of the server's media job slots), labelled as a preview for as long as it
 * plays. Clips and exports always carry the original stream.
 */
import { apiUrl } from './api.js';
import { h } from './dom.js';
import { iso } from './time.js';

/** The preview's picture height (the API's default). */
export const PREVIEW_HEIGHT = 360;

export function livePreviewUrl(cameraId: string): string {
  return apiUrl(`/cameras/${encodeURIComponent(cameraId)}/live/preview.mp4`, { height: PREVIEW_HEIGHT });
}

export function recordedPreviewUrl(cameraId: string, fromMs: number): string {
  return apiUrl(`/cameras/${encodeURIComponent(cameraId)}/playback/preview.mp4`, { from: iso(fromMs), height: PREVIEW_HEIGHT });
}

/** A codec string in words: 'hvc1.1.6.L90.90' → 'H.265 (hvc1.1.6.L90.90)'. */
export function codecName(codec: string): string {
  const family = /^(hvc1|hev1)\./.test(codec) ? 'H.265' : /^(avc1|avc3)\./.test(codec) ? 'H.264' : 'this codec';
  return `${family} (${codec})`;
}

/** The video codec of a MIME type `video/mp4; codecs="…"` (the first listed), or the whole text when it names none. */
export function codecOfMime(mime: string): string {
  return (/codecs="([^"]+)"/.exec(mime)?.[1] ?? mime).split(',')[0]?.trim() ?? mime;
}

/** The label a preview carries while it plays. */
export const PREVIEW_LABEL = `PREVIEW · H.264 ${PREVIEW_HEIGHT}p transcode, not the original (exports carry the original)`;

/**
 * "This browser cannot play …" with a button that starts the preview; hidden until `show`. The button's
 * click does not reach what the offer sits in (a grid tile opens its camera on a click).
 */
export class PreviewOffer {
  readonly el: HTMLElement;
  private readonly text: HTMLElement;

  constructor(onPlay: () => void, compact = false) {
    this.text = h('span', { class: 'preview-offer-text' });
    const button = h('button', {
      type: 'button',
      class: 'preview-play',
      onclick: (e: Event) => {
        e.stopPropagation();
        this.hide();
        onPlay();
      },
    }, compact ? 'Play H.264 preview' : `Play H.264 preview (${PREVIEW_HEIGHT}p transcode)`);
    this.el = h('div', { class: 'preview-offer', role: 'status', hidden: true, onclick: (e: Event) => e.stopPropagation() }, this.text, ' ', button);
  }

  /** `codec`: the codec string the browser refused. */
  show(codec: string): void {
    this.text.textContent = `This browser cannot play ${codecName(codec)} video.`;
    this.el.hidden = false;
  }

  hide(): void {
    this.el.hidden = true;
  }

  get shown(): boolean {
    return !this.el.hidden;
  }
}

export type PreviewState = 'loading' | 'playing' | 'ended' | 'error';

/**
 * Plays a preview URL in a <video> (progressive fragmented MP4: no Media Source needed). `stop()`
 * releases it, which ends the server's transcode (the response is closed).
 */
export class PreviewPlayer {
  private active = false;
  private readonly onPlaying = () => this.active && this.onState('playing');
  private readonly onEnded = () => this.active && this.onState('ended');
  private readonly onError = () => this.active && this.onState('error', 'the preview could not be loaded (busy server or no footage)');

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly onState: (state: PreviewState, detail?: string) => void,
  ) {}

  play(url: string): void {
    this.stop();
    this.active = true;
    this.video.addEventListener('playing', this.onPlaying);
    this.video.addEventListener('ended', this.onEnded);
    this.video.addEventListener('error', this.onError);
    this.onState('loading');
    this.video.src = url;
    void this.video.play().catch(() => undefined);
  }

  stop(): void {
    if (!this.active) return;
    this.active = false;
    this.video.removeEventListener('playing', this.onPlaying);
    this.video.removeEventListener('ended', this.onEnded);
    this.video.removeEventListener('error', this.onError);
    this.video.removeAttribute('src');
    this.video.load();
  }

  get playing(): boolean {
    return this.active;
  }
}
