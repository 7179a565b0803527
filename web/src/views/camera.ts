import { api, API_BASE, apiUrl, errorText } from '../api.js';
import { h } from '../dom.js';
import { basicUtc, download, downloadBlob } from '../download.js';
import { findMotion, loadTimelineData } from '../footage-data.js';
import { LivePlayer, liveUrl } from '../live-player.js';
import { RecordedPlayer } from '../recorded-player.js';
import { SpeakerButton } from '../speaker-button.js';
import { codecOfMime, livePreviewUrl, PREVIEW_LABEL, PreviewOffer, PreviewPlayer, recordedPreviewUrl } from '../preview.js';
import { href } from '../router.js';
import { can } from '../session.js';
import { TimelineView, type Interval } from '../timeline.js';
import { formatBytes, formatDateTime, formatDuration, fromLocalInput, iso, siteZone } from '../time.js';
import type { Camera, CameraStatus } from '../types.js';
import { StatusBadge } from './status-badge.js';
import { DigitalZoom } from './digital-zoom.js';
import { MotionPanel } from './motion-panel.js';
import { TransportBar } from './transport.js';
import type { View, ViewContext } from './view.js';

/** The longest clip the API exports by default (media.clip_max_seconds); a longer range is refused before asking. */
const CLIP_MAX_MS = 3600_000;
const DATA_DEBOUNCE_MS = 200;
/** A live preview that ended (its stream restarted) is asked for again after this long. */
const LIVE_PREVIEW_RETRY_MS = 1000;

/** One camera: live or recorded video, the timeline, and the actions on a selected range. */
export class CameraView implements View {
  readonly el: HTMLElement;
  private camera: Camera | null = null;
  private readonly video: HTMLVideoElement;
  private readonly clock: HTMLOutputElement;
  private readonly modeLabel: HTMLElement;
  private readonly playerNote: HTMLElement;
  private readonly badge = new StatusBadge();
  private readonly timeline: TimelineView;
  private readonly message: HTMLElement;
  private readonly fromInput: HTMLInputElement;
  private readonly toInput: HTMLInputElement;
  private readonly selectionInfo: HTMLElement;
  private readonly incidentInput: HTMLInputElement;
  private readonly reasonInput: HTMLInputElement;
  private readonly recorded: RecordedPlayer;
  /** Sound of the camera's video, live and recorded: muted by default, the button shown when it has audio. */
  private readonly speaker: SpeakerButton;
  private readonly transport: TransportBar;
  private readonly motion: MotionPanel;
  /** One frame step, from the camera's measured frame rate (25 fps until the status says). */
  private frameS = 1 / 25;
  private live: LivePlayer | null = null;
  /** The offer of an H.264 preview when the browser cannot play the camera's codec, and the preview playing. */
  private readonly previewOffer: PreviewOffer;
  private readonly preview: PreviewPlayer;
  private readonly previewLabel: HTMLElement;
  /** Recorded preview: the wall-clock instant of its first frame. */
  private previewFromMs: number | null = null;
  /** The instant recorded playback was last asked to play from (where a recorded preview starts). */
  private playAtMs: number | null = null;
  /** The operator chose the preview: offered no more, it plays wherever the browser cannot. */
  private previewChosen = false;
  private mode: 'live' | 'recorded' | 'idle' = 'idle';
  private selection: Interval | null = null;
  private spans: Interval[] = [];
  private dataAbort: AbortController | null = null;
  private dataTimer: number | undefined;
  private statusTimer: number | undefined;
  private clockTimer: number;
  private gone = false;
  /** The clip being exported (one at a time), and its button (disabled meanwhile). */
  private clipExport: AbortController | null = null;
  private exportButton: HTMLButtonElement | null = null;

  constructor(private readonly ctx: ViewContext, private readonly cameraId: string, private readonly startAtMs?: number) {
    const s = ctx.session;
    ctx.setTitle(cameraId);
    this.video = h('video', { muted: true, playsinline: true, autoplay: true, 'aria-label': 'Camera video' });
    this.speaker = new SpeakerButton(this.video, 'the camera');
    this.clock = h('output', { class: 'clock', 'aria-label': 'Time of the frame on screen', 'aria-live': 'off' }, '—');
    this.modeLabel = h('span', { class: 'mode' });
    this.playerNote = h('p', { class: 'player-note', role: 'status' });
    this.previewOffer = new PreviewOffer(() => {
      // Chosen once, the preview stays the way this page plays the camera: live, every instant reviewed.
      this.previewChosen = true;
      this.playPreview();
    });
    this.previewLabel = h('span', { class: 'preview-label', hidden: true }, PREVIEW_LABEL);
    this.preview = new PreviewPlayer(this.video, (state, detail) => {
      if (state === 'ended' && this.previewFromMs === null) {
        // A live preview ends with the stream it transcodes (a recorder restart): it starts again, as live does.
        this.playerNote.textContent = 'Reconnecting the H.264 preview…';
        window.setTimeout(() => {
          if (!this.gone && this.el.dataset.preview === 'live') this.playPreview();
        }, LIVE_PREVIEW_RETRY_MS);
        return;
      }
      this.playerNote.textContent = state === 'playing' ? '' : state === 'loading' ? 'Starting the H.264 preview…' : state === 'ended' ? 'The preview ended.' : `Preview failed: ${detail ?? state}`;
      // A recorded preview covers 10 minutes at most: asked again, it goes on from where it ended.
      if (state === 'ended' && this.previewFromMs !== null) this.playAtMs = this.previewFromMs + this.video.currentTime * 1000;
      if (state === 'ended' || state === 'error') this.previewOffer.el.hidden = false;
    });
    this.recorded = new RecordedPlayer(this.video, (state, detail) => {
      if (state === 'unsupported') {
        this.playerNote.textContent = '';
        if (this.previewChosen) this.playPreview();
        else this.previewOffer.show(codecOfMime(detail ?? ''));
        return;
      }
      this.playerNote.textContent = state === 'playing' ? '' : state === 'no-footage' ? `No recording: ${detail ?? ''}` : detail ? `${state}: ${detail}` : state;
    }, {
      // Review plays on to the newest footage, then hands over to live without a click.
      onAudio: (has) => this.speaker.setAudio(has),
      onNewest: () => {
        if (this.mode !== 'recorded' || !this.camera || !can(this.ctx.session, 'live') || !this.camera.enabled) return;
        this.startLive();
        this.message.textContent = 'Reached the newest recording: now live.';
      },
      onGap: (text) => {
        this.message.textContent = text;
      },
    });
    this.motion = new MotionPanel({
      playAt: (ms) => this.playAt(ms),
      positionMs: () => this.reviewedWallMs(),
      say: (text) => {
        this.message.textContent = text;
      },
      lookup: (dir, atMs, zone, limit) => findMotion(this.cameraId, this.timeline.window, dir, atMs, zone, limit),
    });
    this.transport = new TransportBar({
      videos: () => [this.video],
      wallClockMs: () => this.reviewedWallMs(),
      reviewing: () => this.mode === 'recorded',
      playAt: (ms) => this.playAt(ms),
      frameIntervalS: () => this.frameS,
      cameraId: () => this.cameraId,
      stepMotion: (dir) => this.motion.step(dir),
    });
    this.timeline = new TimelineView({
      onSeek: (ms) => this.playAt(ms),
      onSelect: (sel) => this.setSelection(sel),
      onViewChange: () => this.scheduleData(),
    });
    this.message = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
    // Text, not datetime-local: the browser's control follows its own locale (12-hour in en-US) and
    // zone; these take 24-hour times in the site's zone, as every time on the page is shown.
    const timeField = (id: string) => h('input', {
      id, type: 'text', inputmode: 'numeric', autocomplete: 'off', spellcheck: false, size: 19,
      placeholder: 'YYYY-MM-DD hh:mm:ss', pattern: '\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}(:\\d{2})?', 'aria-describedby': 'sel-zone',
    });
    this.fromInput = timeField('sel-from');
    this.toInput = timeField('sel-to');
    // Typed From/To become the selection once both are there and in order; until then what is typed
    // stays in its field (clearing it made a typed range impossible) and the hint says what is missing.
    const onRangeInput = () => {
      const a = fromLocalInput(this.fromInput.value);
      const b = fromLocalInput(this.toInput.value);
      if (a !== null && b !== null && b > a) {
        this.setSelection({ startMs: a, endMs: b }, false);
        return;
      }
      this.selection = null;
      this.timeline.setSelection(null);
      this.selectionInfo.textContent = a === null || b === null ? 'Fill in both From and To.' : 'To must be after From.';
    };
    this.fromInput.addEventListener('change', onRangeInput);
    this.toInput.addEventListener('change', onRangeInput);
    this.selectionInfo = h('span', { class: 'sel-info' }, 'Drag on the timeline to select a range.');
    this.incidentInput = h('input', { id: 'incident-id', maxlength: 64, pattern: '[A-Za-z0-9._:\\-]{1,64}', placeholder: 'e.g. case-2026-114' });

    const playPause = h('button', { type: 'button', onclick: () => (this.video.paused ? void this.video.play() : this.video.pause()) }, 'Play/Pause');
    const goLive = can(s, 'live') && h('button', { type: 'button', onclick: () => this.startLive() }, 'Go live');
    const snapshot = can(s, 'snapshot') && h('button', { type: 'button', onclick: () => void this.snapshot() }, 'Snapshot');
    const exportBtn = can(s, 'export') && h('button', { type: 'button', class: 'export-clip', onclick: () => void this.exportClip() }, 'Export clip');
    this.exportButton = exportBtn || null;
    this.reasonInput = h('input', { id: 'export-reason', maxlength: 1000, placeholder: 'why, for whom' });
    const bundle = can(s, 'export') && h('form', { class: 'evidence', 'aria-label': 'Evidence export', onsubmit: (e: Event) => { e.preventDefault(); void this.exportBundle(); } },
      h('label', { for: 'export-reason' }, 'Reason'), this.reasonInput,
      h('button', { type: 'submit' }, 'Export signed bundle'));
    const evidence = can(s, 'evidence') && h('form', { class: 'evidence', 'aria-label': 'Evidence hold', onsubmit: (e: Event) => { e.preventDefault(); void this.hold(); } },
      h('label', { for: 'incident-id' }, 'Incident id'), this.incidentInput,
      h('button', { type: 'submit' }, 'Hold as evidence'));
    const rangeActions = exportBtn || evidence;

    this.el = h('section', { class: 'camera-page' },
      h('div', { class: 'page-head' },
        h('h1', { id: 'camera-title' }, cameraId), this.badge.el,
        can(s, 'cameras.manage') && h('a', { class: 'button', href: href({ name: 'camera-edit', id: cameraId }) }, 'Edit camera'),
        can(s, 'cameras.manage') && h('a', { class: 'button', href: href({ name: 'camera-motion', id: cameraId }) }, 'Motion zones')),
      h('div', { class: 'player' }, this.video, h('div', { class: 'overlay' }, this.modeLabel, this.clock, this.previewLabel)),
      h('div', { class: 'player-controls' }, goLive, playPause, snapshot, this.speaker.el, this.playerNote, this.previewOffer.el),
      this.timeline.el,
      can(s, 'playback') && this.transport.el,
      can(s, 'playback') && this.motion.el,
      rangeActions && h('div', { class: 'range card' },
        h('div', { class: 'range-inputs' },
          h('label', { for: 'sel-from' }, 'From'), this.fromInput,
          h('label', { for: 'sel-to' }, 'To'), this.toInput,
          h('span', { id: 'sel-zone', class: 'muted' }, siteZone()),
          this.selectionInfo,
          h('button', { type: 'button', class: 'link', onclick: () => this.setSelection(null) }, 'Clear selection')),
        h('div', { class: 'range-actions' }, exportBtn, evidence, bundle)),
      this.message);

    new DigitalZoom(this.video.parentElement!, this.video);
    this.clockTimer = window.setInterval(() => this.updateClock(), 200);
    void this.load();
  }

  unmount(): void {
    this.gone = true;
    window.clearInterval(this.clockTimer);
    window.clearTimeout(this.dataTimer);
    window.clearTimeout(this.statusTimer);
    this.dataAbort?.abort();
    this.clipExport?.abort();
    this.timeline.destroy();
    this.transport.destroy();
    this.live?.stop();
    this.recorded.stop();
    this.preview.stop();
  }

  private async load(): Promise<void> {
    try {
      this.camera = await api<Camera>(`/cameras/${encodeURIComponent(this.cameraId)}`);
    } catch (err) {
      this.message.textContent = `Could not load camera: ${errorText(err)}`;
      return;
    }
    if (this.gone) return;
    const title = this.el.querySelector('#camera-title');
    if (title) title.textContent = this.camera.name;
    this.timeline.refills = this.camera.anr_enabled;
    this.motion.setCamera(this.camera.motion.zones.map((z) => z.name), this.camera.motion.enabled);
    this.ctx.setTitle(this.camera.name);
    this.scheduleData(0);
    void this.pollStatus();
    // A shared link names an instant: review starts there instead of live.
    if (this.startAtMs !== undefined) this.playAt(this.startAtMs);
    else if (can(this.ctx.session, 'live') && this.camera.enabled) this.startLive();
  }

  private async pollStatus(): Promise<void> {
    const st = await api<CameraStatus>(`/cameras/${encodeURIComponent(this.cameraId)}/status`).catch(() => null);
    if (this.gone) return;
    if (st) this.badge.update(st);
    if (st) this.motion.setState(st.motion_state, st.motion_error);
    if (st?.fps) this.frameS = 1 / st.fps;
    this.statusTimer = window.setTimeout(() => void this.pollStatus(), 5000);
  }

  private scheduleData(delayMs = DATA_DEBOUNCE_MS): void {
    window.clearTimeout(this.dataTimer);
    this.dataTimer = window.setTimeout(() => void this.loadData(), delayMs);
  }

  private async loadData(): Promise<void> {
    this.dataAbort?.abort();
    const abort = new AbortController();
    this.dataAbort = abort;
    try {
      const window = this.timeline.window;
      const data = await loadTimelineData(this.cameraId, window, abort.signal);
      if (abort.signal.aborted) return;
      this.spans = data.spans;
      this.timeline.setData(data);
      this.motion.setData(data.motion ?? [], data.motionTotal, window);
      this.timeline.el.dataset.loaded = 'true';
    } catch (err) {
      if (!abort.signal.aborted) this.message.textContent = `Could not load the timeline: ${errorText(err)}`;
    }
  }

  private startLive(): void {
    if (!this.camera) return;
    this.stopPreview();
    this.recorded.stop();
    this.live?.stop();
    this.mode = 'live';
    this.modeLabel.textContent = 'LIVE';
    this.el.dataset.mode = 'live';
    this.clearClock();
    this.timeline.setPlayhead(null);
    this.speaker.setAudio(false);
    this.live = new LivePlayer(this.video, liveUrl(this.camera.id, 'main'), (state, detail) => {
      // A frozen or black picture must not pass for live: the label says so, with the last frame's time.
      const noSignal = detail?.startsWith('No signal') ?? false;
      this.modeLabel.textContent = noSignal ? 'NO SIGNAL' : 'LIVE';
      this.el.classList.toggle('no-signal', noSignal);
      // The browser cannot decode the camera's codec (H.265): said so, with the H.264 preview offered.
      if (state === 'unsupported' && detail?.startsWith('cannot play ')) {
        this.playerNote.textContent = '';
        if (this.previewChosen) this.playPreview();
        else this.previewOffer.show(codecOfMime(detail));
        return;
      }
      this.playerNote.textContent = state === 'playing' || state === 'closed' ? '' : noSignal ? detail ?? '' : detail ? `${state}: ${detail}` : state;
    });
    this.live.onAudio = (has) => this.speaker.setAudio(has);
    this.live.start();
  }

  /** The H.264 preview of what was to play (live, or recorded from the instant asked), labelled as such. */
  private playPreview(): void {
    if (!this.camera) return;
    const recorded = this.mode === 'recorded' && this.playAtMs !== null;
    this.live?.stop();
    this.live = null;
    this.recorded.stop();
    this.previewFromMs = recorded ? this.playAtMs : null;
    this.el.dataset.preview = recorded ? 'recorded' : 'live';
    this.modeLabel.textContent = recorded ? 'RECORDED · PREVIEW' : 'LIVE · PREVIEW';
    this.previewLabel.hidden = false;
    this.preview.play(recorded ? recordedPreviewUrl(this.camera.id, this.playAtMs as number) : livePreviewUrl(this.camera.id));
  }

  /** The wall-clock time of the recorded frame on screen (a recorded preview's too); null live. */
  private reviewedWallMs(): number | null {
    if (this.preview.playing) return this.previewFromMs === null || this.video.readyState < 2 ? null : this.previewFromMs + this.video.currentTime * 1000;
    return this.mode === 'recorded' ? this.recorded.wallClockMs() : null;
  }

  private stopPreview(): void {
    this.preview.stop();
    this.previewOffer.hide();
    this.previewLabel.hidden = true;
    this.previewFromMs = null;
    delete this.el.dataset.preview;
  }

  private playAt(ms: number): void {
    if (!can(this.ctx.session, 'playback')) {
      this.message.textContent = 'You may not play recorded footage.';
      return;
    }
    this.live?.stop();
    this.live = null;
    this.stopPreview();
    this.playAtMs = ms;
    this.el.classList.remove('no-signal');
    this.mode = 'recorded';
    this.modeLabel.textContent = 'RECORDED';
    this.el.dataset.mode = 'recorded';
    this.clearClock();
    this.timeline.setPlayhead(ms);
    void this.recorded.play(this.cameraId, ms);
  }

  /**
   * No time until the new mode's player gives one: the frame on screen may still be the old mode's
   * (the clock ticks every 200 ms), and its time must not pass for the instant asked.
   */
  private clearClock(): void {
    this.clock.textContent = '—';
    delete this.clock.dataset.wallMs;
  }

  private updateClock(): void {
    if (this.preview.playing) {
      // A recorded preview starts at the instant asked; a live one has no frame clock (not the recording's own times).
      const wall = this.previewFromMs === null || this.video.readyState < 2 ? null : this.previewFromMs + this.video.currentTime * 1000;
      this.clock.textContent = wall === null ? '—' : formatDateTime(wall);
      delete this.clock.dataset.wallMs;
      return;
    }
    if (this.mode === 'recorded') {
      const wall = this.recorded.wallClockMs();
      this.clock.textContent = wall === null ? '—' : formatDateTime(wall);
      if (wall !== null) {
        this.clock.dataset.wallMs = String(Math.round(wall));
        if (!this.video.paused) this.timeline.setPlayhead(wall);
      }
    } else if (this.mode === 'live') {
      // The frame's own time: it stops with the picture when the camera stops sending.
      const wall = this.live?.frameWallClockMs() ?? null;
      this.clock.textContent = wall === null ? '—' : formatDateTime(wall);
      if (wall === null) delete this.clock.dataset.wallMs;
      else this.clock.dataset.wallMs = String(Math.round(wall));
    }
  }

  private setSelection(sel: Interval | null, fromTimeline = true): void {
    this.selection = sel;
    if (fromTimeline || !sel) {
      this.fromInput.value = sel ? formatDateTime(sel.startMs) : '';
      this.toInput.value = sel ? formatDateTime(sel.endMs) : '';
    }
    if (!fromTimeline || !sel) this.timeline.setSelection(sel);
    this.selectionInfo.textContent = sel ? `${formatDuration(sel.endMs - sel.startMs)} selected` : 'Drag on the timeline to select a range.';
  }

  private checkedSelection(): Interval | null {
    const sel = this.selection;
    if (!sel) {
      this.message.textContent = 'Select a range first: drag on the timeline, or fill in From and To.';
      return null;
    }
    if (!this.spans.some((s) => s.startMs < sel.endMs && s.endMs > sel.startMs)) {
      this.message.textContent = 'Nothing is recorded in the selected range.';
      return null;
    }
    return sel;
  }

  private async exportClip(): Promise<void> {
    const sel = this.checkedSelection();
    if (!sel) return;
    if (sel.endMs - sel.startMs > CLIP_MAX_MS) {
      this.message.textContent = `A clip can be at most ${formatDuration(CLIP_MAX_MS)} long.`;
      return;
    }
    if (this.clipExport) return;
    const url = apiUrl(`/cameras/${encodeURIComponent(this.cameraId)}/clip.mp4`, { from: iso(sel.startMs), to: iso(sel.endMs) });
    // UTC in the name (the `Z`): the page shows the site's zone, a file travels without it.
    const name = `${this.cameraId}_${basicUtc(sel.startMs)}_${basicUtc(sel.endMs)}.mp4`;
    const what = `${formatDuration(sel.endMs - sel.startMs)} from ${formatDateTime(sel.startMs)}`;
    const abort = new AbortController();
    this.clipExport = abort;
    const button = this.exportButton;
    if (button) {
      button.disabled = true;
      button.setAttribute('aria-busy', 'true');
    }
    this.message.textContent = `Exporting ${what}…`;
    try {
      // Fetched here rather than handed to the browser: the page can say how far it got, and why it failed.
      const res = await fetch(url, { credentials: 'same-origin', signal: abort.signal });
      if (!res.ok || !res.body) {
        const body = (await res.json().catch(() => ({}))) as { message?: string };
        throw new Error(body.message ?? `${res.status} ${res.statusText}`);
      }
      const total = Number(res.headers.get('content-length') ?? '') || undefined;
      const reader = res.body.getReader();
      const chunks: Uint8Array[] = [];
      let got = 0;
      let shownAt = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        got += value.byteLength;
        if (performance.now() - shownAt > 250) {
          shownAt = performance.now();
          this.message.textContent = `Exporting ${what}: ${formatBytes(got)}${total ? ` of ${formatBytes(total)} (${Math.floor((got / total) * 100)} %)` : ''}…`;
        }
      }
      downloadBlob(new Blob(chunks as BlobPart[], { type: 'video/mp4' }), name);
      this.message.textContent = `Clip exported: ${name} (${formatBytes(got)})`;
    } catch (err) {
      if (this.gone || abort.signal.aborted) return;
      this.message.textContent = `Clip not exported: ${errorText(err)}`;
    } finally {
      this.clipExport = null;
      if (button) {
        button.disabled = false;
        button.removeAttribute('aria-busy');
      }
    }
  }

  /**
   * A signed evidence bundle of the selection (docs/evidence.md): the job is started, followed until it
   * is done, and its zip downloaded. The incident id, when filled in, tags the export.
   */
  private async exportBundle(): Promise<void> {
    const sel = this.checkedSelection();
    if (!sel) return;
    const reason = this.reasonInput.value.trim();
    if (!reason) {
      this.message.textContent = 'Say why this footage is exported (Reason): it goes into the signed manifest.';
      return;
    }
    const incident = this.incidentInput.value.trim();
    type Job = { id: string; state: string; progress: number; error: string | null; bundle_url: string | null };
    try {
      let job = await api<Job>('/exports', {
        method: 'POST',
        body: { camera_ids: [this.cameraId], from: iso(sel.startMs), to: iso(sel.endMs), reason, ...(incident ? { incident_id: incident } : {}) },
      });
      while (!this.gone && (job.state === 'queued' || job.state === 'running')) {
        this.message.textContent = `Building the evidence bundle… ${Math.round(job.progress)} %`;
        await new Promise((r) => window.setTimeout(r, 500));
        job = await api<Job>(`/exports/${encodeURIComponent(job.id)}`);
      }
      if (job.state !== 'done' || !job.bundle_url) {
        this.message.textContent = `The export failed: ${job.error ?? job.state}`;
        return;
      }
      download(job.bundle_url.replace(/^\/api\/v1/, API_BASE), `vigil-${job.id}.zip`);
      this.message.textContent = `Evidence bundle ${job.id} is ready; verify it with vigil verify or the verify.html inside it.`;
    } catch (err) {
      this.message.textContent = errorText(err);
    }
  }

  private async hold(): Promise<void> {
    const sel = this.checkedSelection();
    if (!sel) return;
    const incident = this.incidentInput.value.trim();
    try {
      const res = await api<{ segments: number; bytes: number }>(`/cameras/${encodeURIComponent(this.cameraId)}/evidence-lock`, {
        method: 'POST',
        body: { from: iso(sel.startMs), to: iso(sel.endMs), ...(incident ? { incident_id: incident } : {}) },
      });
      this.message.textContent = `Held ${res.segments} segment(s), ${formatBytes(res.bytes)}${incident ? ` for incident ${incident}` : ''}.`;
      this.scheduleData(0);
    } catch (err) {
      this.message.textContent = `Could not hold: ${errorText(err)}`;
    }
  }

  /** Recorded: the server decodes the exact frame. Live: the frame on screen, captured in the browser. */
  private async snapshot(): Promise<void> {
    if (this.mode === 'recorded') {
      const wall = this.recorded.wallClockMs();
      if (wall === null) return;
      download(apiUrl(`/cameras/${encodeURIComponent(this.cameraId)}/snapshot.jpg`, { at: iso(wall) }), `${this.cameraId}_${basicUtc(wall)}.jpg`);
      return;
    }
    const v = this.video;
    if (v.videoWidth === 0) {
      this.message.textContent = 'No frame to capture yet.';
      return;
    }
    const canvas = h('canvas', { width: v.videoWidth, height: v.videoHeight });
    canvas.getContext('2d')?.drawImage(v, 0, 0);
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.92));
    if (blob) downloadBlob(blob, `${this.cameraId}_live_${basicUtc(Date.now())}.jpg`);
  }
}
