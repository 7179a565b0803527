/**
 * The motion of one camera in the timeline's window: a list with the peak frame of each interval
 * (newest first) that plays the moment it names, a zone filter, and previous / next motion from where
 * playback is (buttons, and N / P on the transport bar).
 */
import { apiUrl } from '../api.js';
import { h } from '../dom.js';
import type { Interval, MotionMark } from '../timeline.js';
import { formatDateTime, formatTime } from '../time.js';

/** Playback of a motion starts this long before it: what led up to it. */
export const MOTION_LEAD_MS = 2000;
/** A motion N or P went to counts as on screen until this long after its end. */
const ON_SCREEN_AFTER_MS = 5000;
const LIST_MAX = 60;

export interface MotionPanelHooks {
  playAt(ms: number): void;
  /** Where playback is (recorded), or null (live: "previous" then means the newest). */
  positionMs(): number | null;
  /** Says what happened (no motion found, which one plays). */
  say(text: string): void;
  /**
   * The first `limit` motions starting at or after (1, oldest first) or before (-1, newest first) an
   * instant, in a zone, asked of the API: at a wide window the list holds only the newest intervals.
   * Undefined: only the loaded ones are looked at.
   */
  lookup?(dir: 1 | -1, atMs: number, zone: string | undefined, limit: number): Promise<MotionMark[]>;
}

export class MotionPanel {
  readonly el: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly zone: HTMLSelectElement;
  private readonly count: HTMLElement;
  private readonly state: HTMLElement;
  private marks: MotionMark[] = [];
  /** The motion N, P or a click in the list went to last (the next and previous are those around it while it is on screen). */
  private current: MotionMark | undefined;
  /** Intervals in the window when `marks` holds only the newest. */
  private total: number | undefined;
  /** How many of the newest (in the chosen zone) the list shows; "More" shows a page more. */
  private shown = LIST_MAX;
  /**
   * Per zone ('' all zones), the start from which `marks` holds every interval of that zone in the
   * window (-Infinity: all of them). "More" in one zone fetches that zone's older intervals only: the
   * other zones' are not loaded between them, so those marks are not shown unfiltered (nor does the
   * unfiltered "More" start from them), which would list a run with silent holes in it.
   */
  private reach = new Map<string, number>([['', Number.NEGATIVE_INFINITY]]);
  private readonly more: HTMLButtonElement;
  /** The timeline window `marks` was loaded for. */
  private window: Interval | undefined;

  constructor(private readonly hooks: MotionPanelHooks) {
    this.zone = h('select', { id: 'motion-zone', 'aria-label': 'Motion in zone' }, h('option', { value: '' }, 'All zones'));
    this.zone.addEventListener('change', () => {
      this.shown = LIST_MAX;
      this.render();
    });
    this.more = h('button', { type: 'button', class: 'motion-more', hidden: true, onclick: () => void this.showMore() }, 'More');
    this.count = h('span', { class: 'muted', 'aria-live': 'polite' });
    this.state = h('span', { class: 'motion-state' });
    this.list = h('ul', { class: 'motion-list', 'aria-label': 'Motion in the timeline window, newest first' });
    this.el = h('section', { class: 'motion-panel card', 'aria-labelledby': 'motion-title', hidden: true },
      h('div', { class: 'motion-head' },
        h('h2', { id: 'motion-title' }, 'Motion'),
        h('label', { for: 'motion-zone' }, 'Zone'), this.zone,
        h('button', { type: 'button', title: 'Previous motion (P)', onclick: () => this.step(-1) }, '◀ Previous motion'),
        h('button', { type: 'button', title: 'Next motion (N)', onclick: () => this.step(1) }, 'Next motion ▶'),
        this.count, this.state),
      this.list,
      this.more);
  }

  /** The camera's zones (the filter) and whether it detects motion at all (the panel shows then, or when there is motion to show). */
  setCamera(zones: string[], enabled: boolean): void {
    const keep = this.zone.value;
    this.zone.replaceChildren(h('option', { value: '' }, 'All zones'), ...zones.map((z) => h('option', { value: z, selected: z === keep }, z)));
    this.el.hidden = !enabled && this.marks.length === 0;
  }

  /** The detector's state from the camera status: whether an empty list means "nothing moved". */
  setState(state: string, error: string | null): void {
    const words: Record<string, string> = { off: 'Detector off', starting: 'Detector starting', watching: 'Detector watching', motion: 'Motion now' };
    this.state.textContent = state === 'error' ? `Detector failed, restarting${error ? `: ${error}` : ''}` : words[state] ?? `Detector ${state}`;
    this.state.dataset.state = state;
  }

  /**
   * The window's intervals (or its newest, when `total` says how many there are in all). The window
   * slides with the present every few seconds and each slide reloads it: what "More" fetched and how
   * many the list shows stay while the loaded run still reaches the new page (the list grew a page and
   * collapsed back to 60 at the next slide). A window moved elsewhere starts the list again.
   */
  setData(marks: MotionMark[], total: number | undefined, window: Interval): void {
    const fresh = [...marks].sort((a, b) => a.startMs - b.startMs);
    const before = this.window;
    this.window = window;
    const newestOld = this.marks.at(-1)?.startMs ?? Number.NEGATIVE_INFINITY;
    const oldestNew = fresh[0]?.startMs ?? Number.POSITIVE_INFINITY;
    // The window slid on (its start no earlier, still overlapping) and, when only the newest page came,
    // the run loaded before (contiguous back from the old window's end) meets it: the union has no hole.
    const slid = before !== undefined && window.startMs >= before.startMs && window.startMs <= before.endMs;
    const partial = total !== undefined && total > fresh.length;
    if (slid && (!partial || newestOld >= oldestNew)) {
      const have = new Set(fresh.map((m) => m.id));
      const older = partial ? this.marks.filter((m) => !have.has(m.id) && m.startMs < oldestNew && m.startMs >= window.startMs) : [];
      this.marks = [...older, ...fresh];
      // The run loaded before reaches as far back as it did; a whole window reaches its start.
      if (!partial) this.reach = new Map([['', Number.NEGATIVE_INFINITY]]);
    } else {
      this.marks = fresh;
      this.shown = LIST_MAX;
      this.reach = new Map([['', partial ? oldestNew : Number.NEGATIVE_INFINITY]]);
    }
    this.total = total;
    if (marks.length > 0) this.el.hidden = false;
    this.render();
  }

  /** The next (1) or previous (-1) motion from where playback is, in the chosen zone, played from just before it. */
  step(dir: 1 | -1): void {
    void this.stepTo(dir);
  }

  private async stepTo(dir: 1 | -1): Promise<void> {
    const marks = this.visible();
    const at = this.hooks.positionMs() ?? Number.POSITIVE_INFINITY;
    // Each motion plays from MOTION_LEAD_MS before it. While the motion N or P went to is on screen (its
    // lead-in, itself and a few seconds after), the next and previous are those around it, however long
    // one took to press the key again. Elsewhere: next, the first whose playback starts after here;
    // previous, the last starting more than a moment before here.
    const from = (m: MotionMark) => m.startMs - MOTION_LEAD_MS;
    const cur = this.current && at >= from(this.current) - 500 && at <= this.current.endMs + ON_SCREEN_AFTER_MS ? this.current : undefined;
    // Motions starting after `afterMs` are later ones; before `beforeMs`, earlier ones.
    const afterMs = cur ? cur.startMs : at + 500 + MOTION_LEAD_MS;
    const beforeMs = cur ? cur.startMs : at - 1500 + MOTION_LEAD_MS;
    let target = dir === 1 ? marks.find((m) => m.startMs > afterMs) : [...marks].reverse().find((m) => m.startMs < beforeMs);
    // Only the newest are loaded (a wide window): an earlier one, or one between, is asked for.
    if (this.partial() && this.hooks.lookup && Number.isFinite(at)) {
      const [asked] = await this.hooks.lookup(dir, dir === 1 ? afterMs + 1 : beforeMs, this.zone.value || undefined, 1).catch(() => []);
      if (asked && (!target || (dir === 1 ? asked.startMs < target.startMs : asked.startMs > target.startMs))) target = asked;
    }
    if (!target) {
      this.hooks.say(dir === 1 ? 'No later motion in the timeline window.' : 'No earlier motion in the timeline window.');
      return;
    }
    this.play(target);
  }

  private play(m: MotionMark): void {
    this.current = m;
    this.hooks.say(`Motion ${formatTime(m.startMs)}–${formatTime(m.endMs)}${m.zones.length ? ` in ${m.zones.join(', ')}` : ''}`);
    this.hooks.playAt(m.startMs - MOTION_LEAD_MS);
  }

  /** Whether the window holds intervals not loaded (the newest page only). */
  private partial(): boolean {
    return this.total !== undefined && this.total > this.marks.length;
  }

  /** Where the loaded intervals of a zone ('' all) are complete from: all zones' reach, or the zone's own "More" further back. */
  private reachOf(zone: string): number {
    const all = this.reach.get('') ?? Number.NEGATIVE_INFINITY;
    return zone ? Math.min(all, this.reach.get(zone) ?? all) : all;
  }

  /** A page more of the list: the loaded ones first, then older ones asked of the API. */
  private async showMore(): Promise<void> {
    const zone = this.zone.value;
    const marks = this.visible();
    const reach = this.reachOf(zone);
    if (marks.length <= this.shown && Number.isFinite(reach) && this.hooks.lookup) {
      this.more.disabled = true;
      try {
        const older = await this.hooks.lookup(-1, reach, zone || undefined, LIST_MAX);
        const have = new Set(this.marks.map((m) => m.id));
        this.marks = [...older.filter((m) => !have.has(m.id)), ...this.marks].sort((a, b) => a.startMs - b.startMs);
        // A short page: nothing older in the window. Else complete down to the oldest fetched.
        this.reach.set(zone, older.length < LIST_MAX ? Number.NEGATIVE_INFINITY : Math.min(reach, ...older.map((m) => m.startMs)));
      } catch (err) {
        this.hooks.say(`Could not load more motion: ${err instanceof Error ? err.message : String(err)}`);
        return;
      } finally {
        this.more.disabled = false;
      }
    }
    this.shown += LIST_MAX;
    this.render();
  }

  private visible(): MotionMark[] {
    const zone = this.zone.value;
    const reach = this.reachOf(zone);
    return this.marks.filter((m) => m.startMs >= reach && (!zone || m.zones.includes(zone)));
  }

  private render(): void {
    const marks = this.visible();
    const newest = marks.slice(-this.shown).reverse();
    const all = this.zone.value || this.total === undefined ? marks.length : Math.max(this.total, marks.length);
    const listed = newest.length;
    this.more.hidden = !(marks.length > this.shown || (Number.isFinite(this.reachOf(this.zone.value)) && this.hooks.lookup !== undefined));
    this.count.textContent = all === 0 ? 'No motion in this window.' : all > listed ? `${all} motions (newest ${listed} listed)` : `${all} motion${all === 1 ? '' : 's'}`;
    this.list.replaceChildren(...newest.map((m) => {
      const when = `${formatDateTime(m.startMs)} (${Math.max(1, Math.round((m.endMs - m.startMs) / 1000))} s)`;
      const img = m.thumbnailUrl ? h('img', { src: apiUrl(m.thumbnailUrl.replace(/^\/api\/v1/, '')), alt: '', loading: 'lazy', width: 160, height: 90 }) : null;
      const li = h('li', {}, h('button', { type: 'button', 'aria-label': `Play motion at ${when}${m.zones.length ? `, zones ${m.zones.join(', ')}` : ''}`, onclick: () => this.play(m) },
        img, h('span', {}, when), m.zones.length > 0 && h('span', { class: 'muted' }, m.zones.join(', '))));
      li.dataset.startMs = String(m.startMs);
      return li;
    }));
  }
}
