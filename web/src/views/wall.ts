/**
 * Several cameras at once: a layout of 1, 4, 9 or 16 tiles, each showing a chosen camera live, or every tile
 * reviewing the same instant in step under one timeline. Views (layout + cameras) are saved by name.
 * A double-click on a tile opens that camera; the wall goes fullscreen; the wheel or a pinch zooms a tile.
 */
import { api, errorText } from '../api.js';
import { h } from '../dom.js';
import { loadTimelineData } from '../footage-data.js';
import { LivePlayer, liveUrl } from '../live-player.js';
import { codecName, codecOfMime } from '../preview.js';
import { RecordedPlayer } from '../recorded-player.js';
import { navigate } from '../router.js';
import { can } from '../session.js';
import { TimelineView, type Interval, type TimelineData } from '../timeline.js';
import { formatDateTime } from '../time.js';
import type { Camera, CameraStatus } from '../types.js';
import { DigitalZoom } from './digital-zoom.js';
import { TransportBar } from './transport.js';
import type { View, ViewContext } from './view.js';
import { deleteSavedView, LAYOUTS, loadSavedViews, saveView, type Layout } from './wall-store.js';

/** How often the synchronizer compares the tiles' clocks. */
const SYNC_EVERY_MS = 100;
/** Beyond this a tile is re-seeked onto the leader; below it the rate is nudged (a seek would stall the tile). */
const RESEEK_MS = 400;
/** Drift under this is left alone: less than a third of a frame at 15 fps. */
const DEADBAND_MS = 20;

export class WallView implements View {
  readonly el: HTMLElement;
  private readonly wall: HTMLElement;
  private readonly message: HTMLElement;
  private readonly savedSelect: HTMLSelectElement;
  private readonly nameInput: HTMLInputElement;
  private readonly modeLabel: HTMLElement;
  private readonly timeline: TimelineView;
  private readonly transport: TransportBar;
  private cameras: Camera[] = [];
  private layout: Layout = 4;
  private chosen: (string | null)[] = [];
  private tiles: WallTile[] = [];
  private mode: 'live' | 'review' = 'live';
  private syncTimer: number | undefined;
  private dataTimer: number | undefined;
  private rate = 1;
  /** One frame step: the fastest camera's frame interval (25 fps until the statuses say). */
  private frameS = 1 / 25;
  private gone = false;

  constructor(private readonly ctx: ViewContext) {
    ctx.setTitle('Views');
    this.wall = h('div', { class: 'wall', 'data-layout': this.layout });
    this.message = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
    this.savedSelect = h('select', { id: 'wall-saved', 'aria-label': 'Saved views' });
    this.savedSelect.addEventListener('change', () => this.openSaved(this.savedSelect.value));
    this.nameInput = h('input', { id: 'wall-name', maxlength: 60, placeholder: 'e.g. Entrances', required: true });
    this.modeLabel = h('span', { class: 'wall-mode' }, 'LIVE');
    this.timeline = new TimelineView({
      onSeek: (ms) => this.review(ms),
      onSelect: () => {},
      onViewChange: () => this.scheduleData(),
    });
    this.transport = new TransportBar({
      videos: () => this.tiles.filter((t) => t.cameraId).map((t) => t.video),
      wallClockMs: () => (this.mode === 'review' ? this.leader()?.wallClockMs() ?? null : null),
      reviewing: () => this.mode === 'review',
      playAt: (ms) => this.review(ms),
      frameIntervalS: () => this.frameS,
      cameraId: () => this.tiles.find((t) => t.cameraId)?.cameraId ?? null,
    });
    const layoutButtons = h('div', { class: 'layouts', role: 'radiogroup', 'aria-label': 'Layout' },
      ...LAYOUTS.map((n) => h('button', { type: 'button', role: 'radio', 'aria-checked': String(n === this.layout), 'data-layout': n,
        'aria-label': `${n} camera${n > 1 ? 's' : ''}`, onclick: () => this.setLayout(n) }, `${Math.sqrt(n)}×${Math.sqrt(n)}`)));
    const saveForm = h('form', { class: 'wall-save', 'aria-label': 'Save this view', onsubmit: (e: Event) => { e.preventDefault(); this.save(); } },
      h('label', { for: 'wall-name' }, 'Name'), this.nameInput, h('button', { type: 'submit' }, 'Save view'));
    this.el = h('section', { class: 'wall-page' },
      h('div', { class: 'page-head' }, h('h1', {}, 'Views'), this.modeLabel,
        layoutButtons,
        h('label', { for: 'wall-saved' }, 'Saved'), this.savedSelect,
        h('button', { type: 'button', onclick: () => this.removeSaved() }, 'Delete view'),
        h('button', { type: 'button', onclick: () => this.startLive() }, 'Live'),
        h('button', { type: 'button', onclick: () => void this.fullscreen() }, 'Fullscreen')),
      this.wall,
      can(ctx.session, 'playback') && this.transport.el,
      can(ctx.session, 'playback') && this.timeline.el,
      saveForm, this.message);
    void this.load();
  }

  unmount(): void {
    this.gone = true;
    window.clearInterval(this.syncTimer);
    window.clearTimeout(this.dataTimer);
    this.timeline.destroy();
    this.transport.destroy();
    for (const t of this.tiles) t.stop();
  }

  private async load(): Promise<void> {
    try {
      ({ cameras: this.cameras } = await api<{ cameras: Camera[] }>('/cameras'));
    } catch (err) {
      this.message.textContent = `Could not load cameras: ${errorText(err)}`;
      return;
    }
    if (this.gone) return;
    this.chosen = this.cameras.map((c) => c.id);
    this.refreshSaved();
    this.build();
    const statuses = await Promise.all(this.cameras.map((c) => api<CameraStatus>(`/cameras/${encodeURIComponent(c.id)}/status`).catch(() => null)));
    const fps = Math.max(0, ...statuses.map((st) => st?.fps ?? 0));
    if (fps > 0) this.frameS = 1 / fps;
  }

  private setLayout(n: Layout): void {
    this.layout = n;
    for (const b of this.el.querySelectorAll<HTMLElement>('.layouts [role="radio"]')) b.setAttribute('aria-checked', String(b.dataset.layout === String(n)));
    this.build();
  }

  /** (Re)builds the tiles for the layout and choices, then plays them live or at the reviewed instant. */
  private build(): void {
    const reviewAt = this.mode === 'review' ? this.leader()?.wallClockMs() ?? null : null;
    for (const t of this.tiles) t.stop();
    this.wall.dataset.layout = String(this.layout);
    this.tiles = Array.from({ length: this.layout }, (_, i) => new WallTile(i, this.cameras, this.chosen[i] ?? null, (id) => {
      this.chosen[i] = id;
      this.build();
    }));
    this.wall.replaceChildren(...this.tiles.map((t) => t.el));
    this.scheduleData(0);
    if (reviewAt !== null) this.review(reviewAt);
    else this.startLive();
  }

  private startLive(): void {
    this.mode = 'live';
    this.modeLabel.textContent = 'LIVE';
    this.el.dataset.mode = 'live';
    window.clearInterval(this.syncTimer);
    this.timeline.setPlayhead(null);
    if (!can(this.ctx.session, 'live')) return;
    for (const t of this.tiles) t.live();
  }

  /**
   * Every tile plays the same instant: each loads its playlist, and the tiles start together once all have
   * a frame at that instant; from then on the synchronizer keeps them on the first tile's clock.
   */
  private review(ms: number): void {
    if (!can(this.ctx.session, 'playback')) return;
    this.mode = 'review';
    this.modeLabel.textContent = `REVIEW ${formatDateTime(ms)}`;
    this.el.dataset.mode = 'review';
    this.el.dataset.synced = 'false';
    this.timeline.setPlayhead(ms);
    window.clearInterval(this.syncTimer);
    const active = this.tiles.filter((t) => t.cameraId);
    const started = performance.now();
    void Promise.all(active.map((t) => t.reviewReady(ms))).then((ready) => {
      if (this.gone || this.mode !== 'review') return;
      const playing = active.filter((_, i) => ready[i]);
      // Same task, same instant: the tiles' clocks start together.
      for (const t of playing) void t.video.play().catch(() => {});
      this.el.dataset.syncStartMs = String(Math.round(performance.now() - started));
      this.el.dataset.synced = 'true';
      this.syncTimer = window.setInterval(() => this.sync(), SYNC_EVERY_MS);
    });
  }

  private leader(): WallTile | undefined {
    return this.tiles.find((t) => t.cameraId && t.wallClockMs() !== null);
  }

  /** Keeps every tile on the leader's clock; each tile's shown instant is written in the same tick (tests read it). */
  private sync(): void {
    const lead = this.leader();
    const leadMs = lead?.wallClockMs() ?? null;
    if (!lead || leadMs === null) return;
    this.rate = lead.video.playbackRate;
    this.timeline.setPlayhead(leadMs);
    this.modeLabel.textContent = `REVIEW ${formatDateTime(leadMs)}`;
    for (const t of this.tiles) {
      const ms = t.wallClockMs();
      if (ms === null) continue;
      t.el.dataset.wallMs = String(ms);
      if (t === lead) continue;
      const drift = ms - leadMs;
      if (t.video.paused !== lead.video.paused) {
        if (lead.video.paused) t.video.pause();
        else void t.video.play().catch(() => {});
      }
      if (Math.abs(drift) > RESEEK_MS) t.video.currentTime -= drift / 1000;
      else if (Math.abs(drift) > DEADBAND_MS && !lead.video.paused) t.video.playbackRate = this.rate * (1 - Math.max(-0.1, Math.min(0.1, drift / 1000)));
      else t.video.playbackRate = this.rate;
    }
  }

  private scheduleData(delayMs = 200): void {
    window.clearTimeout(this.dataTimer);
    this.dataTimer = window.setTimeout(() => void this.loadData(), delayMs);
  }

  /** The one timeline shows where any tile's camera has footage (and every camera's gaps). */
  private async loadData(): Promise<void> {
    if (!can(this.ctx.session, 'playback')) return;
    const ids = [...new Set(this.tiles.map((t) => t.cameraId).filter((id): id is string => id !== null))];
    const abort = new AbortController();
    try {
      const all = await Promise.all(ids.map((id) => loadTimelineData(id, this.timeline.window, abort.signal)));
      if (this.gone) return;
      const merged: TimelineData = { spans: union(all.flatMap((d) => d.spans)), gaps: all.flatMap((d) => d.gaps), edge: all.flatMap((d) => d.edge), evidence: all.flatMap((d) => d.evidence) };
      this.timeline.setData(merged);
      this.timeline.el.dataset.loaded = 'true';
    } catch (err) {
      this.message.textContent = `Could not load the timeline: ${errorText(err)}`;
    }
  }

  private async fullscreen(): Promise<void> {
    if (document.fullscreenElement) await document.exitFullscreen();
    else await this.wall.requestFullscreen().catch((err: unknown) => (this.message.textContent = `Fullscreen refused: ${errorText(err)}`));
  }

  private refreshSaved(): void {
    const views = loadSavedViews(this.ctx.session.username);
    this.savedSelect.replaceChildren(h('option', { value: '' }, views.length ? 'Choose…' : 'None saved'),
      ...views.map((v) => h('option', { value: v.name }, `${v.name} (${v.layout})`)));
  }

  private save(): void {
    const name = this.nameInput.value.trim();
    if (!name) return;
    saveView(this.ctx.session.username, { name, layout: this.layout, cameras: this.tiles.map((t) => t.cameraId) });
    this.refreshSaved();
    this.savedSelect.value = name;
    this.message.textContent = `View "${name}" saved.`;
  }

  private openSaved(name: string): void {
    const v = loadSavedViews(this.ctx.session.username).find((s) => s.name === name);
    if (!v) return;
    this.chosen = v.cameras.slice();
    this.layout = v.layout;
    this.nameInput.value = v.name;
    this.setLayout(v.layout);
  }

  private removeSaved(): void {
    const name = this.savedSelect.value;
    if (!name) return;
    deleteSavedView(this.ctx.session.username, name);
    this.refreshSaved();
    this.message.textContent = `View "${name}" deleted.`;
  }
}

class WallTile {
  readonly el: HTMLElement;
  readonly video: HTMLVideoElement;
  private readonly recorded: RecordedPlayer;
  private readonly note: HTMLElement;
  private livePlayer: LivePlayer | null = null;
  /** Tiles are small: the sub-stream when the camera has one. */
  private readonly stream: 'main' | 'sub';
  private readonly enabled: boolean;

  constructor(index: number, cameras: Camera[], readonly cameraId: string | null, onChoose: (id: string | null) => void) {
    const cam = cameras.find((c) => c.id === cameraId) ?? null;
    this.stream = cam?.sub_url ? 'sub' : 'main';
    this.enabled = cam?.enabled ?? false;
    this.video = h('video', { muted: true, playsinline: true, autoplay: true, 'aria-label': cam ? `Video of ${cam.name}` : `Empty tile ${index + 1}` });
    this.note = h('span', { class: 'live-state' });
    this.recorded = new RecordedPlayer(this.video, (state, detail) => {
      this.note.textContent = state === 'playing' ? '' : state === 'no-footage' ? 'No recording here' : state === 'unsupported' ? cannotPlay(detail ?? '') : detail ?? state;
    });
    const select = h('select', { id: `wall-cam-${index}`, 'aria-label': `Camera in tile ${index + 1}` },
      h('option', { value: '' }, '— empty —'),
      ...cameras.map((c) => h('option', { value: c.id, selected: c.id === cameraId }, c.name)));
    select.addEventListener('change', () => onChoose(select.value || null));
    const box = h('div', { class: 'tile-video', tabindex: 0, 'aria-label': cam ? `${cam.name}: double-click to open, wheel to zoom` : `Tile ${index + 1}` },
      cam ? this.video : h('div', { class: 'no-live' }, 'Choose a camera'), this.note);
    if (cam) {
      new DigitalZoom(box, this.video);
      box.addEventListener('dblclick', () => navigate({ name: 'camera', id: cam.id }));
      box.addEventListener('keydown', (e) => e.key === 'Enter' && navigate({ name: 'camera', id: cam.id }));
    }
    this.el = h('div', { class: 'wall-tile', 'data-camera-id': cameraId ?? '' }, box, h('div', { class: 'tile-foot' }, select));
  }

  live(): void {
    this.recorded.stop();
    this.livePlayer?.stop();
    if (!this.cameraId) return;
    if (!this.enabled) {
      this.note.textContent = 'Camera disabled';
      return;
    }
    this.livePlayer = new LivePlayer(this.video, liveUrl(this.cameraId, this.stream), (s, detail) => {
      this.note.textContent = s === 'playing' || s === 'closed' ? '' : s === 'unsupported' && detail?.startsWith('cannot play ') ? cannotPlay(detail) : s;
    });
    this.livePlayer.start();
  }

  /** Loads the footage at `ms` and waits, paused, until the frame at `ms` can play; false when there is none. */
  async reviewReady(ms: number): Promise<boolean> {
    this.livePlayer?.stop();
    this.livePlayer = null;
    if (!this.cameraId) return false;
    const v = this.video;
    v.autoplay = false;
    await this.recorded.play(this.cameraId, ms);
    // The player starts as soon as it can; hold it at the instant until every tile is ready.
    const deadline = performance.now() + 20_000;
    while (performance.now() < deadline) {
      const wall = this.recorded.wallClockMs();
      if (wall !== null && v.readyState >= HTMLMediaElement.HAVE_FUTURE_DATA) {
        v.pause();
        v.currentTime += (ms - wall) / 1000;
        await new Promise((r) => (v.seeking ? v.addEventListener('seeked', r, { once: true }) : r(null)));
        return true;
      }
      await new Promise((r) => window.setTimeout(r, 50));
    }
    return false;
  }

  wallClockMs(): number | null {
    return this.livePlayer ? null : this.recorded.wallClockMs();
  }

  stop(): void {
    this.livePlayer?.stop();
    this.recorded.stop();
  }
}

/**
 * A tile the browser cannot play (H.265 without HEVC decoding): said so, and where the H.264 preview
 * is (the camera page; a wall reviews cameras in step, which a transcode started per tile cannot keep).
 */
function cannotPlay(mime: string): string {
  return `This browser cannot play ${codecName(codecOfMime(mime))}: double-click for the camera page and its H.264 preview`;
}

function union(list: Interval[]): Interval[] {
  const sorted = [...list].sort((a, b) => a.startMs - b.startMs);
  const out: Interval[] = [];
  for (const iv of sorted) {
    const last = out.at(-1);
    if (last && iv.startMs <= last.endMs) last.endMs = Math.max(last.endMs, iv.endMs);
    else out.push({ ...iv });
  }
  return out;
}
