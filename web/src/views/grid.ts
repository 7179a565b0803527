import { api, errorText } from '../api.js';
import { h } from '../dom.js';
import { LivePlayer, liveUrl, type LiveState } from '../live-player.js';
import { codecOfMime, livePreviewUrl, PreviewOffer, PreviewPlayer } from '../preview.js';
import { href } from '../router.js';
import { SpeakerButton } from '../speaker-button.js';
import { can } from '../session.js';
import { formatTime } from '../time.js';
import type { Camera, CameraStatus } from '../types.js';
import { StatusBadge } from './status-badge.js';
import type { View, ViewContext } from './view.js';

const STATUS_POLL_MS = 5000;
const CLOCK_MS = 250;

/** Every camera as a tile: live video (the sub-stream when there is one) and its recorder status. */
export class GridView implements View {
  readonly el: HTMLElement;
  private readonly tiles = new Map<string, Tile>();
  private readonly grid: HTMLElement;
  private readonly message: HTMLElement;
  private timer: number | undefined;
  private readonly clockTimer: number;
  private observer: IntersectionObserver | null = null;
  private gone = false;

  constructor(private readonly ctx: ViewContext) {
    ctx.setTitle('Cameras');
    this.grid = h('ul', { class: 'grid', 'aria-label': 'Cameras' });
    this.message = h('p', { class: 'muted', role: 'status' }, 'Loading cameras…');
    this.el = h('section', { class: 'grid-page' },
      h('div', { class: 'page-head' }, h('h1', {}, 'Cameras'),
        can(ctx.session, 'cameras.manage') && h('a', { class: 'button', href: href({ name: 'camera-new' }) }, 'Add camera')),
      this.message, this.grid);
    this.clockTimer = window.setInterval(() => this.tiles.forEach((t) => t.updateClock()), CLOCK_MS);
    void this.load();
  }

  unmount(): void {
    this.gone = true;
    window.clearTimeout(this.timer);
    window.clearInterval(this.clockTimer);
    this.observer?.disconnect();
    for (const t of this.tiles.values()) t.stop();
  }

  private async load(): Promise<void> {
    try {
      const { cameras } = await api<{ cameras: Camera[] }>('/cameras');
      if (this.gone) return;
      this.message.textContent = cameras.length === 0 ? 'No cameras yet.' : '';
      this.message.hidden = cameras.length > 0;
      const live = can(this.ctx.session, 'live');
      // Tiles stream only while on screen: a wall of 32 cameras on a phone should not pull 32 streams.
      this.observer = new IntersectionObserver((entries) => {
        for (const e of entries) this.tiles.get((e.target as HTMLElement).dataset.cameraId ?? '')?.setVisible(e.isIntersecting);
      });
      for (const cam of cameras) {
        const tile = new Tile(cam, live);
        this.tiles.set(cam.id, tile);
        this.grid.appendChild(tile.el);
        this.observer.observe(tile.el);
      }
      await this.pollStatus();
    } catch (err) {
      this.message.textContent = `Could not load cameras: ${errorText(err)}`;
    }
  }

  private async pollStatus(): Promise<void> {
    await Promise.all([...this.tiles.values()].map(async (t) => {
      const s = await api<CameraStatus>(`/cameras/${encodeURIComponent(t.camera.id)}/status`).catch(() => null);
      if (s) t.badge.update(s);
    }));
    if (!this.gone) this.timer = window.setTimeout(() => void this.pollStatus(), STATUS_POLL_MS);
  }
}

class Tile {
  readonly el: HTMLElement;
  readonly badge = new StatusBadge();
  private readonly video: HTMLVideoElement | null;
  private readonly liveLabel: HTMLElement;
  /** The wall-clock time of the frame on screen (never the browser's ticking clock). */
  private readonly clock: HTMLElement;
  private player: LivePlayer | null = null;
  /** Sound: the tile plays muted; a camera whose live stream carries audio gets the button. */
  private readonly speaker: SpeakerButton | null;
  /** An H.264 preview, offered when the browser cannot play the stream (H.265), and playing. */
  private readonly previewOffer = new PreviewOffer(() => this.playPreview(), true);
  private preview: PreviewPlayer | null = null;

  constructor(readonly camera: Camera, live: boolean) {
    this.liveLabel = h('span', { class: 'live-state', role: 'status' });
    this.clock = h('span', { class: 'tile-clock', 'aria-label': 'Time of the frame on screen' });
    this.video = live ? h('video', { muted: true, playsinline: true, autoplay: true, 'aria-label': `Live view of ${camera.name}` }) : null;
    this.speaker = this.video ? new SpeakerButton(this.video, camera.name) : null;
    const link = h('a', { class: 'tile-title', href: href({ name: 'camera', id: camera.id }) }, camera.name);
    this.el = h('li', { class: 'tile', 'data-camera-id': camera.id },
      h('div', {
        class: 'tile-video',
        title: `Open ${camera.name}`,
        // The picture opens its camera: the one place an operator's click on a tile is expected to go.
        onclick: () => location.assign(href({ name: 'camera', id: camera.id })),
      }, this.video ?? h('div', { class: 'no-live' }, 'Live view not permitted'), this.liveLabel, this.clock, this.speaker?.el, this.previewOffer.el),
      h('div', { class: 'tile-foot' }, link, this.badge.el));
  }

  setVisible(visible: boolean): void {
    if (!this.video) return;
    if (visible && !this.player && !this.preview && this.camera.enabled) {
      const stream = this.camera.sub_url ? 'sub' : 'main';
      this.player = new LivePlayer(this.video, liveUrl(this.camera.id, stream), (s, detail) => this.onLive(s, detail));
      this.player.onAudio = (has) => this.speaker?.setAudio(has);
      this.player.start();
    } else if (!visible && (this.player || this.preview)) {
      this.stop();
    }
  }

  stop(): void {
    this.player?.stop();
    this.player = null;
    this.speaker?.setAudio(false);
    this.preview?.stop();
    this.preview = null;
    this.previewOffer.hide();
    delete this.el.dataset.preview;
  }

  /** The main stream as an H.264 preview transcode, labelled as such on the tile. */
  private playPreview(): void {
    if (!this.video) return;
    this.preview?.stop();
    this.player?.stop();
    this.player = null;
    this.el.dataset.preview = 'live';
    const preview = new PreviewPlayer(this.video, (state) => {
      this.liveLabel.textContent = state === 'playing' ? 'PREVIEW · H.264' : state === 'loading' ? 'Starting preview…' : state === 'ended' ? 'Preview ended: reconnecting…' : 'Preview failed';
      // The stream it transcodes restarted (a recorder restart): asked again, as live reconnects.
      if (state === 'ended') window.setTimeout(() => this.preview === preview && this.playPreview(), 1000);
      if (state === 'error') this.previewOffer.el.hidden = false;
    });
    this.preview = preview;
    preview.play(livePreviewUrl(this.camera.id));
  }

  updateClock(): void {
    const ms = this.player?.frameWallClockMs() ?? null;
    this.clock.textContent = ms === null ? '' : formatTime(ms);
    if (ms === null) delete this.clock.dataset.wallMs;
    else this.clock.dataset.wallMs = String(Math.round(ms));
  }

  private onLive(state: LiveState, detail?: string): void {
    if (state === 'unsupported' && detail?.startsWith('cannot play ')) this.previewOffer.show(codecOfMime(detail));
    this.liveLabel.textContent = state === 'playing' || state === 'closed' ? '' : detail ?? state;
    this.el.dataset.live = state;
    // A frozen or black picture must not pass for live: it is dimmed under its "No signal since".
    this.el.classList.toggle('no-signal', detail?.startsWith('No signal') ?? false);
  }
}
