/**
 * The transport bar of recorded review: play/pause, speeds ¼×–16×, steps of ±1 frame, ±10 s and ±1 min,
 * go to a date and time (a calendar that marks the days with footage), a shareable link, and the
 * keyboard shortcuts (listed by `?`). It drives the player only through {@link TransportTarget}, so the
 * camera page and the multi-camera view use the same bar.
 */
import { api } from '../api.js';
import { h } from '../dom.js';
import { href } from '../router.js';
import { fromLocalInput, iso, toLocalInput } from '../time.js';
import type { Timeline } from '../types.js';

export const SPEEDS = [0.25, 0.5, 1, 2, 4, 8, 16] as const;
const SHORT_STEP_MS = 10_000;
const LONG_STEP_MS = 60_000;
/** How long an instant asked of the player counts as "where we are" while nothing is shown yet. */
const PENDING_VALID_MS = 15_000;

export interface TransportTarget {
  /** Every video the bar drives (one on a camera page, several in a synchronized view). */
  videos(): HTMLVideoElement[];
  /** Wall-clock time of the frame on screen in recorded review; null while live or idle. */
  wallClockMs(): number | null;
  /** True while recorded footage is (being) played: the chosen speed applies then, live always plays at 1×. */
  reviewing(): boolean;
  /** Plays recorded footage from a wall-clock instant. */
  playAt(ms: number): void;
  /** Seconds between two frames: one frame step. */
  frameIntervalS(): number;
  /** The camera whose footage the calendar marks and whose link is shared; null for none. */
  cameraId(): string | null;
  /** Plays the next (1) or previous (-1) motion from where playback is; absent where there is none to find. */
  stepMotion?(dir: 1 | -1): void;
}

interface Shortcut {
  keys: string;
  what: string;
}

const SHORTCUTS: Shortcut[] = [
  { keys: 'Space or K', what: 'Play / pause' },
  { keys: '← / →', what: 'Back / forward 10 s' },
  { keys: 'Shift + ← / →', what: 'Back / forward 1 min' },
  { keys: ', / .', what: 'One frame back / forward (pauses)' },
  { keys: '[ / ]', what: 'Slower / faster' },
  { keys: 'G', what: 'Go to a date and time' },
  { keys: 'N / P', what: 'Next / previous motion (camera page)' },
  { keys: '?', what: 'Show these shortcuts' },
];

export class TransportBar {
  readonly el: HTMLElement;
  private readonly speed: HTMLSelectElement;
  private readonly goInput: HTMLInputElement;
  private readonly linkOut: HTMLInputElement;
  private readonly help: HTMLDialogElement;
  private readonly calendar: FootageCalendar;
  private readonly onKey = (e: KeyboardEvent) => this.key(e);
  /** Every new source of a driven video (review or live) starts at the rate it should have. */
  private readonly onLoadStart = (e: Event) => {
    const v = e.target as HTMLVideoElement;
    if (this.target.videos().includes(v)) this.rateTo(v);
  };
  /** The instant last asked of the player, until it shows a frame: a second step while it loads counts from there. */
  private pending: { ms: number; askedAt: number } | null = null;

  constructor(private readonly target: TransportTarget) {
    this.speed = h('select', { id: 'tr-speed', 'aria-label': 'Playback speed' },
      ...SPEEDS.map((s) => h('option', { value: String(s), selected: s === 1 }, `${speedLabel(s)}×`)));
    this.speed.addEventListener('change', () => this.setSpeed(Number(this.speed.value)));
    this.goInput = h('input', { id: 'tr-goto', type: 'datetime-local', step: 1, 'aria-label': 'Date and time to go to' });
    this.linkOut = h('input', { id: 'tr-link', readonly: true, 'aria-label': 'Link to this camera at this time', hidden: true });
    this.calendar = new FootageCalendar(target, (dayStartMs) => {
      this.goInput.value = toLocalInput(dayStartMs);
    });
    this.help = h('dialog', { class: 'shortcuts', 'aria-labelledby': 'shortcuts-title' },
      h('h2', { id: 'shortcuts-title' }, 'Keyboard shortcuts'),
      h('table', {}, h('tbody', {}, ...SHORTCUTS.map((s) => h('tr', {}, h('th', { scope: 'row' }, h('kbd', {}, s.keys)), h('td', {}, s.what))))),
      h('form', { method: 'dialog' }, h('button', { type: 'submit' }, 'Close')));
    const btn = (label: string, title: string, onclick: () => void, cls = '') =>
      // A button showing words is named by them (what a voice user says); a symbol is named by its title.
      h('button', { type: 'button', class: `tr-btn ${cls}`.trim(), 'aria-label': /[a-z0-9]/i.test(label) ? undefined : title, title, onclick }, label);
    const goForm = h('form', { class: 'tr-goto', 'aria-label': 'Go to a date and time', onsubmit: (e: Event) => { e.preventDefault(); this.goTo(); } },
      this.goInput, h('button', { type: 'submit' }, 'Go'),
      btn('Calendar', 'Calendar of days with footage', () => this.calendar.toggle()));
    this.el = h('div', { class: 'transport', role: 'toolbar', 'aria-label': 'Transport' },
      btn('−1 min', 'Back 1 minute', () => this.step(-LONG_STEP_MS)),
      btn('−10 s', 'Back 10 seconds', () => this.step(-SHORT_STEP_MS)),
      btn('◀︎|', 'One frame back', () => this.stepFrame(-1)),
      btn('▶‖', 'Play or pause', () => this.togglePlay(), 'tr-play'),
      btn('|▶︎', 'One frame forward', () => this.stepFrame(1)),
      btn('+10 s', 'Forward 10 seconds', () => this.step(SHORT_STEP_MS)),
      btn('+1 min', 'Forward 1 minute', () => this.step(LONG_STEP_MS)),
      h('label', { for: 'tr-speed', class: 'tr-speed-label' }, 'Speed'), this.speed,
      goForm,
      btn('Copy link', 'Copy a link to this camera at this time', () => void this.share()),
      btn('?', 'Keyboard shortcuts', () => this.help.showModal()),
      this.linkOut, this.calendar.el, this.help);
    document.addEventListener('keydown', this.onKey);
    // Media events do not bubble: the capture phase sees them all.
    document.addEventListener('loadstart', this.onLoadStart, true);
  }

  destroy(): void {
    document.removeEventListener('keydown', this.onKey);
    document.removeEventListener('loadstart', this.onLoadStart, true);
    if (this.help.open) this.help.close();
  }

  setSpeed(rate: number): void {
    this.speed.value = String(rate);
    for (const v of this.target.videos()) this.rateTo(v);
  }

  private rateTo(v: HTMLVideoElement): void {
    const rate = this.target.reviewing() ? Number(this.speed.value) : 1;
    v.defaultPlaybackRate = rate;
    v.playbackRate = rate;
  }

  togglePlay(): void {
    const videos = this.target.videos();
    const paused = videos.every((v) => v.paused);
    for (const v of videos) {
      if (paused) void v.play().catch(() => {});
      else v.pause();
    }
  }

  /** Steps by wall-clock time: inside what is loaded by moving the media time, otherwise by playing from the new instant. */
  step(deltaMs: number): void {
    const shown = this.target.wallClockMs();
    if (shown !== null) this.pending = null;
    const loading = this.pending && performance.now() - this.pending.askedAt < PENDING_VALID_MS ? this.pending.ms : null;
    const wall = shown ?? loading;
    if (wall === null) {
      // Live: a step back starts review that far behind now.
      if (deltaMs < 0) this.playAt(Date.now() + deltaMs);
      return;
    }
    const videos = this.target.videos();
    if (shown !== null && videos.length > 0 && videos.every((v) => seekable(v, v.currentTime + deltaMs / 1000))) {
      for (const v of videos) v.currentTime += deltaMs / 1000;
    } else {
      const paused = videos.length > 0 && videos.every((v) => v.paused);
      this.playAt(wall + deltaMs);
      // A step taken while paused stays paused: the new footage shows its first frame and stops there.
      if (paused) for (const v of videos) v.addEventListener('playing', () => v.pause(), { once: true });
    }
  }

  private playAt(ms: number): void {
    this.pending = { ms, askedAt: performance.now() };
    this.target.playAt(ms);
  }

  stepFrame(direction: 1 | -1): void {
    const dt = this.target.frameIntervalS() * direction;
    for (const v of this.target.videos()) {
      v.pause();
      v.currentTime = Math.max(0, v.currentTime + dt);
    }
  }

  private goTo(): void {
    const ms = fromLocalInput(this.goInput.value);
    if (ms === null) {
      this.goInput.setAttribute('aria-invalid', 'true');
      this.goInput.focus();
      return;
    }
    this.goInput.removeAttribute('aria-invalid');
    this.playAt(ms);
  }

  private async share(): Promise<void> {
    const id = this.target.cameraId();
    if (!id) return;
    const at = this.target.wallClockMs() ?? undefined;
    const url = new URL(href(at === undefined ? { name: 'camera', id } : { name: 'camera', id, atMs: Math.floor(at / 1000) * 1000 }), location.href).toString();
    this.linkOut.value = url;
    this.linkOut.hidden = false;
    this.linkOut.select();
    await navigator.clipboard?.writeText(url).catch(() => {});
  }

  private key(e: KeyboardEvent): void {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || this.help.open) return;
    const t = e.target as HTMLElement | null;
    if (t && (t.isContentEditable || ['INPUT', 'SELECT', 'TEXTAREA'].includes(t.tagName))) return;
    // The timeline has its own keys (arrows pan, + and - zoom) while it has the focus.
    if (t?.closest('.timeline')) return;
    const handled = (() => {
      switch (e.key) {
        case ' ': case 'k': case 'K': this.togglePlay(); return true;
        case 'ArrowLeft': this.step(e.shiftKey ? -LONG_STEP_MS : -SHORT_STEP_MS); return true;
        case 'ArrowRight': this.step(e.shiftKey ? LONG_STEP_MS : SHORT_STEP_MS); return true;
        case ',': this.stepFrame(-1); return true;
        case '.': this.stepFrame(1); return true;
        case '[': this.shiftSpeed(-1); return true;
        case ']': this.shiftSpeed(1); return true;
        case 'g': case 'G': this.goInput.focus(); return true;
        case 'n': case 'N': if (!this.target.stepMotion) return false; this.target.stepMotion(1); return true;
        case 'p': case 'P': if (!this.target.stepMotion) return false; this.target.stepMotion(-1); return true;
        case '?': this.help.showModal(); return true;
        default: return false;
      }
    })();
    // Buttons keep their own Space/Enter; everything else is the bar's.
    if (handled && !(e.key === ' ' && t?.tagName === 'BUTTON')) e.preventDefault();
  }

  private shiftSpeed(by: 1 | -1): void {
    const i = SPEEDS.indexOf(Number(this.speed.value) as (typeof SPEEDS)[number]);
    this.setSpeed(SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, (i < 0 ? 2 : i) + by))]!);
  }
}

function speedLabel(s: number): string {
  return s === 0.25 ? '¼' : s === 0.5 ? '½' : String(s);
}

function seekable(v: HTMLVideoElement, t: number): boolean {
  for (let i = 0; i < v.seekable.length; i++) if (t >= v.seekable.start(i) && t <= v.seekable.end(i)) return true;
  return false;
}

/**
 * A month of days; those with footage are marked. The days come from the camera's timeline over the month
 * (spans already merged by the server), cut at the page's local midnights, so no other API is needed.
 */
class FootageCalendar {
  readonly el: HTMLElement;
  private readonly grid: HTMLElement;
  private readonly title: HTMLElement;
  private month: Date;

  constructor(private readonly target: TransportTarget, private readonly onPick: (dayStartMs: number) => void) {
    const now = new Date();
    this.month = new Date(now.getFullYear(), now.getMonth(), 1);
    this.title = h('h2', { class: 'cal-title', id: 'cal-title', 'aria-live': 'polite' });
    this.grid = h('div', { class: 'cal-grid', role: 'group', 'aria-labelledby': 'cal-title' });
    this.el = h('div', { class: 'calendar card', hidden: true },
      h('div', { class: 'cal-head' },
        h('button', { type: 'button', 'aria-label': 'Previous month', onclick: () => this.shift(-1) }, '‹'),
        this.title,
        h('button', { type: 'button', 'aria-label': 'Next month', onclick: () => this.shift(1) }, '›')),
      this.grid,
      h('p', { class: 'help' }, h('span', { class: 'cal-mark' }, '■'), ' days with footage'));
  }

  toggle(): void {
    this.el.hidden = !this.el.hidden;
    if (!this.el.hidden) void this.render();
  }

  private shift(months: number): void {
    this.month = new Date(this.month.getFullYear(), this.month.getMonth() + months, 1);
    void this.render();
  }

  private async render(): Promise<void> {
    const m = this.month;
    const first = m.getTime();
    const next = new Date(m.getFullYear(), m.getMonth() + 1, 1).getTime();
    this.title.textContent = m.toLocaleDateString(undefined, { month: 'long', year: 'numeric' });
    const days = await this.footageDays(first, next);
    if (m !== this.month) return;
    const count = new Date(m.getFullYear(), m.getMonth() + 1, 0).getDate();
    const lead = (m.getDay() + 6) % 7;
    const cells: HTMLElement[] = [];
    for (let i = 0; i < lead; i++) cells.push(h('span', { class: 'cal-pad', 'aria-hidden': 'true' }));
    for (let d = 1; d <= count; d++) {
      const start = new Date(m.getFullYear(), m.getMonth(), d).getTime();
      const has = days.has(d);
      const label = `${new Date(start).toLocaleDateString(undefined, { day: 'numeric', month: 'long' })}${has ? ', has footage' : ''}`;
      cells.push(h('button', { type: 'button', class: has ? 'cal-day has-footage' : 'cal-day', 'aria-label': label, 'data-day': d,
        onclick: () => { this.onPick(start); this.el.hidden = true; } }, String(d)));
    }
    this.grid.replaceChildren(...cells);
  }

  private async footageDays(fromMs: number, toMs: number): Promise<Set<number>> {
    const id = this.target.cameraId();
    const days = new Set<number>();
    if (!id) return days;
    const t = await api<Timeline>(`/cameras/${encodeURIComponent(id)}/timeline`, { query: { from: iso(fromMs), to: iso(toMs) } }).catch(() => null);
    for (const s of t?.spans ?? []) {
      const end = Math.min(Date.parse(s.end), toMs);
      for (let day = new Date(Math.max(Date.parse(s.start), fromMs)); day.getTime() < end; day = new Date(day.getFullYear(), day.getMonth(), day.getDate() + 1)) {
        days.add(day.getDate());
      }
    }
    return days;
  }
}
