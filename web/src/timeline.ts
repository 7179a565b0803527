/**
 * The footage timeline of one camera: recorded spans, gaps, edge-refilled and evidence-held spans,
 * the playhead and a selected range, over a window from 24 h down to one minute.
 * Click = play that instant; drag = select a range; wheel, pinch or the buttons = zoom; Earlier/Later = pan.
 */
import { h } from './dom.js';
import { formatDateTime, formatTime, zoneOffsetMs } from './time.js';

export interface Interval {
  startMs: number;
  endMs: number;
}
export interface TimelineData {
  spans: Interval[];
  gaps: (Interval & { fillState: string })[];
  edge: Interval[];
  evidence: (Interval & { incidentId: string | null })[];
  /** The camera's events in the window (optional: a view of several cameras leaves them out). */
  events?: { atMs: number; type: string; severity: string }[];
  /** Motion intervals in the window (optional, as events). */
  motion?: MotionMark[];
  /** At a wide window: motion counted per bucket (drawn instead of `motion`, which then holds the newest only). */
  motionDensity?: MotionDensityMark[];
  /** Intervals in the window when `motion` holds only some of them. */
  motionTotal?: number;
}
export interface MotionDensityMark extends Interval {
  count: number;
  score: number;
  zones: string[];
}
export interface MotionMark extends Interval {
  id: number;
  /** Peak: % of the picture that changed. */
  score: number;
  zones: string[];
  thumbnailUrl: string | null;
}
export interface TimelineHandlers {
  onSeek(ms: number): void;
  onSelect(sel: Interval | null): void;
  onViewChange(view: Interval): void;
}

const MIN_WINDOW_MS = 60_000;
const MAX_WINDOW_MS = 24 * 3600_000;
const DRAG_THRESHOLD_PX = 5;
/** A gap is drawn at least this wide: at 24 h one pixel is 70 s, and a lost minute must still show. */
const MIN_GAP_PX = 4;
/** A motion band likewise: a few seconds of motion must show at 24 h. */
const MIN_MOTION_PX = 2;
const TICK_STEPS_MS = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600].map((s) => s * 1000);

export class TimelineView {
  readonly el: HTMLElement;
  private readonly track: HTMLDivElement;
  private readonly layers: Record<'spans' | 'gaps' | 'edge' | 'evidence' | 'motion' | 'events' | 'ticks', HTMLDivElement>;
  private readonly selectionEl: HTMLDivElement;
  private readonly playheadEl: HTMLDivElement;
  private readonly rangeLabel: HTMLSpanElement;
  /** What lies under the pointer: its time and the marker there (the markers themselves take no pointer). */
  private readonly hoverEl: HTMLDivElement;
  private view: Interval;
  /** Whether the camera refills gaps from its edge storage: without it a gap has no refill to wait for. */
  refills = true;
  /** The window's end follows the present until the operator pans away from it. */
  private follow = true;
  private data: TimelineData = { spans: [], gaps: [], edge: [], evidence: [] };
  private playheadMs: number | null = null;
  private selection: Interval | null = null;
  private readonly pointers = new Map<number, { x: number; startX: number }>();
  private gesture: { kind: 'none' | 'click' | 'select' | 'pinch' | 'swipe'; anchorMs: number; pinchDist: number; lastX?: number } = { kind: 'none', anchorMs: 0, pinchDist: 0 };
  private readonly timer: number;

  constructor(private readonly handlers: TimelineHandlers, windowMs = MAX_WINDOW_MS) {
    const now = Date.now();
    this.view = { startMs: now - windowMs, endMs: now };
    const layer = (cls: string) => h('div', { class: `tl-layer ${cls}`, 'aria-hidden': 'true' });
    this.layers = { spans: layer('tl-spans'), gaps: layer('tl-gaps'), edge: layer('tl-edges'), evidence: layer('tl-evidences'), motion: layer('tl-motions'), events: layer('tl-events'), ticks: h('div', { class: 'tl-ticks', 'aria-hidden': 'true' }) };
    this.selectionEl = h('div', { class: 'tl-selection', hidden: true });
    this.playheadEl = h('div', { class: 'tl-playhead', hidden: true });
    this.hoverEl = h('div', { class: 'tl-hover', role: 'tooltip', hidden: true });
    this.track = h('div', {
      class: 'tl-track',
      role: 'group',
      tabindex: 0,
      'aria-label': 'Timeline: click to play an instant, drag to select a range; arrow keys pan, + and - zoom',
    }, this.layers.spans, this.layers.gaps, this.layers.edge, this.layers.evidence, this.layers.motion, this.layers.events, this.selectionEl, this.playheadEl, this.hoverEl);
    this.rangeLabel = h('span', { class: 'tl-range', 'aria-live': 'polite' });
    const button = (label: string, text: string, onclick: () => void) => h('button', { type: 'button', 'aria-label': label, title: label, onclick }, text);
    this.el = h('section', { class: 'timeline', 'aria-label': 'Timeline' },
      h('div', { class: 'tl-controls' },
        button('Earlier', '◀', () => this.pan(-0.5)),
        button('Zoom out', '−', () => this.zoom(2)),
        button('Zoom in', '+', () => this.zoom(0.5)),
        button('Later', '▶', () => this.pan(0.5)),
        button('Now', 'Now', () => this.goNow()),
        this.rangeLabel),
      this.track,
      this.layers.ticks,
      h('p', { class: 'tl-legend' },
        h('span', { class: 'lg lg-span' }, 'recorded'), h('span', { class: 'lg lg-gap' }, 'gap'),
        h('span', { class: 'lg lg-edge' }, 'refilled from camera'), h('span', { class: 'lg lg-evidence' }, 'evidence hold'), h('span', { class: 'lg lg-event' }, 'event')));
    this.bindPointer();
    this.timer = window.setInterval(() => this.tick(), 5000);
    this.render();
  }

  destroy(): void {
    window.clearInterval(this.timer);
  }

  get window(): Interval {
    return { ...this.view };
  }

  setData(data: TimelineData): void {
    this.data = data;
    this.render();
  }

  setPlayhead(ms: number | null): void {
    this.playheadMs = ms;
    this.renderMarkers();
  }

  setSelection(sel: Interval | null): void {
    this.selection = sel;
    this.renderMarkers();
  }

  zoom(factor: number, centerMs?: number): void {
    const len = this.view.endMs - this.view.startMs;
    const newLen = clamp(len * factor, MIN_WINDOW_MS, MAX_WINDOW_MS);
    if (centerMs === undefined && this.playheadMs === null && this.follow) {
      const now = Date.now();
      this.setView(now - newLen, now);
      return;
    }
    const c = centerMs ?? this.playheadMs ?? (this.view.startMs + this.view.endMs) / 2;
    const frac = clamp((c - this.view.startMs) / len, 0, 1);
    this.setView(c - frac * newLen, c + (1 - frac) * newLen);
  }

  pan(fraction: number): void {
    const len = this.view.endMs - this.view.startMs;
    this.setView(this.view.startMs + fraction * len, this.view.endMs + fraction * len);
  }

  goNow(): void {
    const len = this.view.endMs - this.view.startMs;
    const now = Date.now();
    this.setView(now - len, now);
  }

  /** Moves the window, never past now; it follows the present again when it reaches it. */
  private setView(startMs: number, endMs: number): void {
    const now = Date.now();
    const len = endMs - startMs;
    this.follow = endMs >= now - 1000;
    if (this.follow) {
      endMs = now;
      startMs = now - len;
    }
    this.view = { startMs, endMs };
    this.render();
    this.handlers.onViewChange(this.window);
  }

  private tick(): void {
    if (!this.follow) return;
    const len = this.view.endMs - this.view.startMs;
    const now = Date.now();
    this.view = { startMs: now - len, endMs: now };
    this.render();
    this.handlers.onViewChange(this.window);
  }

  private timeAt(clientX: number): number {
    const r = this.track.getBoundingClientRect();
    const frac = clamp((clientX - r.left) / Math.max(1, r.width), 0, 1);
    return this.view.startMs + frac * (this.view.endMs - this.view.startMs);
  }

  private bindPointer(): void {
    const t = this.track;
    t.addEventListener('pointerdown', (e) => {
      // Reviewing footage: the window stops sliding with the present under the operator's pointer.
      this.follow = false;
      t.setPointerCapture(e.pointerId);
      this.pointers.set(e.pointerId, { x: e.clientX, startX: e.clientX });
      if (this.pointers.size === 2) this.gesture = { kind: 'pinch', anchorMs: 0, pinchDist: this.pinchDistance() };
      else if (this.pointers.size === 1) this.gesture = { kind: 'click', anchorMs: this.timeAt(e.clientX), pinchDist: 0 };
    });
    t.addEventListener('pointermove', (e) => {
      this.showHover(e.clientX);
      const p = this.pointers.get(e.pointerId);
      if (!p) return;
      p.x = e.clientX;
      const g = this.gesture;
      if (g.kind === 'pinch') {
        const d = this.pinchDistance();
        if (d > 0 && g.pinchDist > 0) {
          const xs = [...this.pointers.values()].map((q) => q.x);
          this.zoom(g.pinchDist / d, this.timeAt((Math.min(...xs) + Math.max(...xs)) / 2));
          g.pinchDist = d;
        }
      } else if (g.kind === 'click' && Math.abs(e.clientX - p.startX) > DRAG_THRESHOLD_PX) {
        // On a phone a finger swipes the window along (selecting is From/To there); a mouse drag selects.
        g.kind = e.pointerType === 'touch' ? 'swipe' : 'select';
      }
      if (g.kind === 'swipe') {
        this.pan(-(e.clientX - (g.lastX ?? p.startX)) / Math.max(1, this.track.clientWidth));
        g.lastX = e.clientX;
      }
      if (g.kind === 'select') {
        const at = this.timeAt(e.clientX);
        this.selection = { startMs: Math.min(g.anchorMs, at), endMs: Math.max(g.anchorMs, at) };
        this.renderMarkers();
      }
    });
    const end = (e: PointerEvent) => {
      if (!this.pointers.delete(e.pointerId)) return;
      const g = this.gesture;
      if (this.pointers.size > 0) return;
      this.gesture = { kind: 'none', anchorMs: 0, pinchDist: 0 };
      if (e.type === 'pointercancel') return;
      if (g.kind === 'click') this.handlers.onSeek(Math.round(this.timeAt(e.clientX)));
      else if (g.kind === 'select' && this.selection) {
        // Whole seconds: the From/To fields show seconds, and the export is exactly what they show.
        const sel = { startMs: Math.floor(this.selection.startMs / 1000) * 1000, endMs: Math.ceil(this.selection.endMs / 1000) * 1000 };
        this.selection = sel.endMs > sel.startMs ? sel : null;
        this.renderMarkers();
        this.handlers.onSelect(this.selection);
      }
    };
    t.addEventListener('pointerleave', () => {
      this.hoverEl.hidden = true;
    });
    t.addEventListener('pointerup', end);
    t.addEventListener('pointercancel', end);
    t.addEventListener('wheel', (e) => {
      e.preventDefault();
      if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) this.pan(e.deltaX / Math.max(1, t.clientWidth));
      else this.zoom(Math.exp(e.deltaY * 0.002), this.timeAt(e.clientX));
    }, { passive: false });
    t.addEventListener('keydown', (e) => {
      const actions: Record<string, () => void> = {
        ArrowLeft: () => this.pan(-0.1), ArrowRight: () => this.pan(0.1),
        '+': () => this.zoom(0.5), '=': () => this.zoom(0.5), '-': () => this.zoom(2),
      };
      const act = actions[e.key];
      if (act) {
        e.preventDefault();
        act();
      }
    });
  }

  private pinchDistance(): number {
    const xs = [...this.pointers.values()].map((p) => p.x);
    return xs.length === 2 ? Math.abs((xs[0] ?? 0) - (xs[1] ?? 0)) : 0;
  }

  private render(): void {
    const { startMs, endMs } = this.view;
    this.track.dataset.startMs = String(Math.round(startMs));
    this.track.dataset.endMs = String(Math.round(endMs));
    // The end carries its date when it is not the start's day (a 24 h window starts and ends at the same hour).
    const endText = formatDateTime(endMs).slice(0, 10) === formatDateTime(startMs).slice(0, 10) ? formatTime(endMs) : formatDateTime(endMs);
    this.rangeLabel.textContent = `${formatDateTime(startMs)} – ${endText} (${formatSpan(endMs - startMs)})`;
    this.fill(this.layers.spans, 'tl-span', this.data.spans, () => 'recorded');
    this.fill(this.layers.gaps, 'tl-gap', this.data.gaps, (g: TimelineData['gaps'][number]) => gapWords(g, this.refills), MIN_GAP_PX);
    this.fill(this.layers.edge, 'tl-edge', this.data.edge, () => 'refilled from the camera');
    this.fill(this.layers.evidence, 'tl-evidence', this.data.evidence, holdWords);
    this.renderMotion();
    this.renderEvents();
    this.renderTicks();
    this.renderMarkers();
  }

  /** The hover readout: the instant under the pointer and every marker covering it, in words. */
  private showHover(clientX: number): void {
    const at = this.timeAt(clientX);
    const near = (this.view.endMs - this.view.startMs) * (MIN_GAP_PX / Math.max(1, this.track.clientWidth));
    const covers = (i: Interval, slack = 0) => i.startMs - slack <= at && at < i.endMs + slack;
    const words = [
      ...this.data.gaps.filter((g) => covers(g, near)).map((g) => `${gapWords(g, this.refills)} ${formatTime(g.startMs)}–${formatTime(g.endMs)}`),
      ...this.data.edge.filter((e) => covers(e)).map((e) => `refilled from the camera ${formatTime(e.startMs)}–${formatTime(e.endMs)}`),
      ...this.data.evidence.filter((e) => covers(e)).map((e) => holdWords(e)),
    ];
    if (this.data.motionDensity) {
      for (const d of this.data.motionDensity.filter((m) => covers(m, near)).slice(0, 3)) {
        words.push(`${d.count === 1 ? motionWords(d) : `${d.count} motions${d.zones.length > 0 ? ` in ${d.zones.join(', ')}` : ''}`} ${formatTime(d.startMs)}–${formatTime(d.endMs)}`);
      }
    } else {
      const moving = (this.data.motion ?? []).filter((m) => covers(m, near));
      words.push(...moving.slice(0, 3).map((m) => `${motionWords(m)} ${formatTime(m.startMs)}–${formatTime(m.endMs)}`));
      if (moving.length > 3) words.push(`${moving.length - 3} more motions`);
    }
    // At 24 h one mark may stand for many events: the nearest three are named, the rest counted.
    const events = (this.data.events ?? []).filter((e) => Math.abs(e.atMs - at) <= near).sort((a, b) => Math.abs(a.atMs - at) - Math.abs(b.atMs - at));
    words.push(...events.slice(0, 3).map((e) => `${eventWords(e.type)} at ${formatTime(e.atMs)}`));
    if (events.length > 3) words.push(`${events.length - 3} more events`);
    if (words.length === 0) words.push(this.data.spans.some((sp) => covers(sp)) ? 'recorded' : 'no recording');
    this.hoverEl.textContent = `${formatDateTime(at)} · ${words.join(' · ')}`;
    const r = this.track.getBoundingClientRect();
    const frac = clamp((clientX - r.left) / Math.max(1, r.width), 0, 1);
    // Kept inside the track: anchored on the side of the pointer with more room.
    this.hoverEl.style.left = frac < 0.5 ? `${frac * 100}%` : '';
    this.hoverEl.style.right = frac < 0.5 ? '' : `${(1 - frac) * 100}%`;
    this.hoverEl.dataset.atMs = String(Math.round(at));
    this.hoverEl.hidden = false;
  }

  /**
   * Motion density: each interval a band at least MIN_MOTION_PX wide, its strength from its peak score;
   * where many lie close together (a day at 24 h), the translucent bands darken each other.
   */
  private renderMotion(): void {
    const { startMs, endMs } = this.view;
    const len = endMs - startMs;
    const els: HTMLElement[] = [];
    const marks: Array<Interval & { score: number; id?: number; count?: number }> = this.data.motionDensity ?? this.data.motion ?? [];
    for (const m of marks) {
      if (m.endMs <= startMs || m.startMs >= endMs) continue;
      const el = h('div', { class: 'tl-motion' });
      el.dataset.startMs = String(m.startMs);
      el.dataset.endMs = String(m.endMs);
      if (m.id !== undefined) el.dataset.id = String(m.id);
      if (m.count !== undefined) el.dataset.count = String(m.count);
      const left = (Math.max(m.startMs, startMs) - startMs) / len;
      const right = (Math.min(m.endMs, endMs) - startMs) / len;
      el.style.left = `min(${left * 100}%, calc(100% - ${MIN_MOTION_PX}px))`;
      el.style.width = `max(${MIN_MOTION_PX}px, ${(right - left) * 100}%)`;
      el.style.opacity = String(0.35 + 0.65 * Math.min(1, m.score / 20));
      els.push(el);
    }
    this.layers.motion.replaceChildren(...els);
  }

  /** Each event a thin mark at its instant (the hover readout names it). */
  private renderEvents(): void {
    const { startMs, endMs } = this.view;
    const els: HTMLElement[] = [];
    for (const e of this.data.events ?? []) {
      if (e.atMs < startMs || e.atMs > endMs) continue;
      const el = h('div', { class: `tl-event sev-${e.severity}` });
      el.dataset.atMs = String(e.atMs);
      el.dataset.type = e.type;
      el.style.left = `min(${((e.atMs - startMs) / (endMs - startMs)) * 100}%, calc(100% - 2px))`;
      els.push(el);
    }
    this.layers.events.replaceChildren(...els);
  }

  private fill(layer: HTMLElement, cls: string, items: Interval[], title: (i: never) => string, minPx = 0): void {
    const { startMs, endMs } = this.view;
    const len = endMs - startMs;
    const els: HTMLElement[] = [];
    for (const it of items) {
      if (it.endMs <= startMs || it.startMs >= endMs) continue;
      const el = h('div', { class: cls, title: `${(title as (i: Interval) => string)(it)}: ${formatDateTime(it.startMs)} – ${formatTime(it.endMs)}` });
      el.dataset.startMs = String(it.startMs);
      el.dataset.endMs = String(it.endMs);
      const left = (Math.max(it.startMs, startMs) - startMs) / len;
      const right = (Math.min(it.endMs, endMs) - startMs) / len;
      // Widened to minPx, a marker at the window's end is drawn inward so it stays on the track.
      el.style.left = minPx > 0 ? `min(${left * 100}%, calc(100% - ${minPx}px))` : `${left * 100}%`;
      el.style.width = minPx > 0 ? `max(${minPx}px, ${(right - left) * 100}%)` : `${(right - left) * 100}%`;
      els.push(el);
    }
    layer.replaceChildren(...els);
  }

  private renderTicks(): void {
    const { startMs, endMs } = this.view;
    const len = endMs - startMs;
    const widthPx = Math.max(200, this.track.clientWidth || 800);
    const step = TICK_STEPS_MS.find((s) => (len / s) * 70 <= widthPx) ?? TICK_STEPS_MS[TICK_STEPS_MS.length - 1]!;
    // Ticks sit on site-time multiples of the step (a zone offset is whole minutes, the steps are too).
    const offsetMs = -zoneOffsetMs(startMs);
    const ticks: HTMLElement[] = [];
    for (let t = Math.ceil((startMs - offsetMs) / step) * step + offsetMs; t <= endMs; t += step) {
      const el = h('span', { class: 'tl-tick' }, formatTime(t, step < 60_000));
      el.style.left = `${((t - startMs) / len) * 100}%`;
      ticks.push(el);
    }
    this.layers.ticks.replaceChildren(...ticks);
  }

  private renderMarkers(): void {
    const { startMs, endMs } = this.view;
    const len = endMs - startMs;
    const ph = this.playheadMs;
    this.playheadEl.hidden = ph === null || ph < startMs || ph > endMs;
    if (ph !== null) this.playheadEl.style.left = `${((ph - startMs) / len) * 100}%`;
    const sel = this.selection;
    this.selectionEl.hidden = !sel || sel.endMs <= startMs || sel.startMs >= endMs;
    if (sel) {
      const l = (Math.max(sel.startMs, startMs) - startMs) / len;
      const r = (Math.min(sel.endMs, endMs) - startMs) / len;
      this.selectionEl.style.left = `${l * 100}%`;
      this.selectionEl.style.width = `${Math.max(0, r - l) * 100}%`;
    }
  }
}

/** A gap in an operator's words: what is missing and whether the camera's own storage may still fill it. */
function gapWords(g: TimelineData['gaps'][number], refills: boolean): string {
  if (!refills) return 'no recording';
  const fill: Record<string, string> = {
    pending: 'to be refilled from the camera',
    filling: 'being refilled from the camera',
    partial: 'partly refilled from the camera',
    failed: 'the camera could not refill it',
  };
  const note = fill[g.fillState];
  return note ? `no recording (${note})` : 'no recording';
}

/** `camera_stalled` → `camera stalled`: the API's name, readable. */
function eventWords(type: string): string {
  return type.replace(/_/g, ' ');
}

function motionWords(m: { zones: string[] }): string {
  return m.zones.length > 0 ? `motion in ${m.zones.join(', ')}` : 'motion';
}

function holdWords(e: TimelineData['evidence'][number]): string {
  return e.incidentId ? `evidence hold, incident ${e.incidentId}` : 'evidence hold';
}

function formatSpan(ms: number): string {
  const min = Math.round(ms / 60_000);
  return min < 60 ? `${min} min` : min % 60 === 0 ? `${min / 60} h` : `${Math.floor(min / 60)} h ${min % 60} min`;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
