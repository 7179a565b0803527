import { api, errorText } from '../api.js';
import { h } from '../dom.js';
import { href, navigate } from '../router.js';
import { can } from '../session.js';
import { formatDateTime, fromLocalInput, iso } from '../time.js';
import type { Camera, VigilEvent } from '../types.js';
import type { View, ViewContext } from './view.js';

const PAGE = 200;
/** A row plays from a little before its instant, so the operator sees what led up to it. */
export const EVENT_PREROLL_MS = 5_000;
const SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;

/**
 * The event log, newest first, filtered by camera, type, severity and time. A row with a camera plays its
 * moment (click, Enter or the Play button): the camera page opens in review at that instant.
 */
export class EventsView implements View {
  readonly el: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly camera: HTMLSelectElement;
  private readonly type: HTMLInputElement;
  private readonly severity: HTMLSelectElement;
  private readonly since: HTMLInputElement;
  private readonly message: HTMLElement;
  private readonly names = new Map<string, string>();

  constructor(private readonly ctx: ViewContext) {
    ctx.setTitle('Events');
    this.body = h('tbody');
    this.camera = h('select', { id: 'ev-camera' }, h('option', { value: '' }, 'All cameras'));
    this.type = h('input', { id: 'ev-type', placeholder: 'e.g. recording_gap', pattern: '[a-z0-9_]{1,64}' });
    this.severity = h('select', { id: 'ev-severity' }, h('option', { value: '' }, 'Any'),
      ...SEVERITIES.map((s) => h('option', { value: s }, `${s} or worse`)));
    this.since = h('input', { id: 'ev-since', type: 'datetime-local', step: 1 });
    this.message = h('p', { class: 'muted', role: 'status' });
    const form = h('form', { class: 'filters', 'aria-label': 'Filter events' },
      h('label', { for: 'ev-camera' }, 'Camera'), this.camera,
      h('label', { for: 'ev-type' }, 'Type'), this.type,
      h('label', { for: 'ev-severity' }, 'Severity'), this.severity,
      h('label', { for: 'ev-since' }, 'Since'), this.since,
      h('button', { type: 'submit' }, 'Show'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.load();
    });
    this.el = h('section', { class: 'events-page' }, h('h1', {}, 'Events'),
      can(ctx.session, 'events.view') ? form : null, this.message,
      h('div', { class: 'table-wrap' }, h('table', { class: 'events', 'aria-label': 'Events' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, 'Severity'),
          h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Camera'), h('th', { scope: 'col' }, 'Details'),
          h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Play')))),
        this.body)));
    if (!can(ctx.session, 'events.view')) {
      this.message.textContent = 'You may not view the event log.';
      return;
    }
    void this.loadCameras().then(() => this.load());
  }

  unmount(): void {}

  private async loadCameras(): Promise<void> {
    const res = await api<{ cameras: Camera[] }>('/cameras').catch(() => ({ cameras: [] as Camera[] }));
    for (const c of res.cameras) {
      this.names.set(c.id, c.name);
      this.camera.appendChild(h('option', { value: c.id }, c.name));
    }
  }

  private async load(): Promise<void> {
    this.message.textContent = 'Loading…';
    try {
      const type = this.type.value.trim();
      const sinceMs = fromLocalInput(this.since.value);
      const { events } = await api<{ events: VigilEvent[] }>('/events', {
        query: { limit: PAGE, camera_id: this.camera.value || undefined, type: type || undefined, since: sinceMs === null ? undefined : iso(sinceMs) },
      });
      // The API filters by camera, type and time; severity is a floor, applied here.
      const floor = SEVERITIES.indexOf(this.severity.value as (typeof SEVERITIES)[number]);
      const shown = floor < 0 ? events : events.filter((e) => SEVERITIES.indexOf(e.severity as (typeof SEVERITIES)[number]) >= floor);
      this.body.replaceChildren(...shown.map((e) => this.row(e)));
      this.message.textContent = shown.length === 0 ? 'No events.' : events.length === PAGE ? `Newest ${PAGE} shown.` : '';
    } catch (err) {
      this.message.textContent = `Could not load events: ${errorText(err)}`;
    }
  }

  private row(e: VigilEvent): HTMLTableRowElement {
    const atMs = Date.parse(e.ts);
    const playable = e.camera_id !== null && can(this.ctx.session, 'playback');
    const target = playable ? { name: 'camera' as const, id: e.camera_id!, atMs: atMs - EVENT_PREROLL_MS } : null;
    const cameraName = e.camera_id ? this.names.get(e.camera_id) ?? e.camera_id : null;
    const tr = h('tr', { class: `sev-${e.severity}${target ? ' playable' : ''}`, 'data-event-id': e.id },
      h('td', { 'data-label': 'Time' }, h('time', { datetime: e.ts }, formatDateTime(atMs))),
      h('td', { 'data-label': 'Severity' }, e.severity),
      h('td', { 'data-label': 'Type' }, e.type),
      h('td', { 'data-label': 'Camera' }, e.camera_id ? h('a', { href: href({ name: 'camera', id: e.camera_id }) }, cameraName ?? '') : '—'),
      h('td', { class: 'payload', 'data-label': 'Details' }, ...details(e.payload)),
      h('td', { class: 'play-cell' }, target
        ? h('a', { class: 'button', href: href(target), 'aria-label': `Play ${cameraName ?? ''} at ${formatDateTime(atMs)}` }, '▶ Play')
        : ''));
    // The whole row plays its moment; links, buttons and the folded ffmpeg text keep their own action.
    if (target) tr.addEventListener('click', (ev) => {
      if ((ev.target as HTMLElement).closest('a, button, details')) return;
      navigate(target);
    });
    return tr;
  }
}

/** Payload fields holding what ffmpeg printed: one click away, never inline in the row. */
const RAW_FIELDS = ['stderr_tail'] as const;

/** The reason in words first, the other fields after it, and ffmpeg's own text folded away. */
function details(payload: Record<string, unknown>): Node[] {
  const rest: Record<string, unknown> = { ...payload };
  const raw = RAW_FIELDS.map((k) => rest[k]).filter((v): v is string => typeof v === 'string' && v.trim() !== '');
  for (const k of RAW_FIELDS) delete rest[k];
  const reason = typeof rest.reason === 'string' ? rest.reason : null;
  delete rest.reason;
  const out: Node[] = [];
  if (reason) out.push(h('span', { class: 'reason' }, reason));
  const other = summarize(rest);
  if (other) out.push(h('span', { class: 'fields' }, reason ? ` (${other})` : other));
  if (raw.length > 0) out.push(h('details', { class: 'raw' }, h('summary', {}, 'ffmpeg output'), h('pre', {}, raw.join('\n').trim())));
  return out;
}

function summarize(payload: Record<string, unknown>): string {
  return Object.entries(payload)
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(', ');
}
