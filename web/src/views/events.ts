import { api, errorText } from '../api.js';
import { h } from '../dom.js';
import { href } from '../router.js';
import { can } from '../session.js';
import { formatDateTime } from '../time.js';
import type { Camera, VigilEvent } from '../types.js';
import type { View, ViewContext } from './view.js';

const PAGE = 200;

/** The event log, newest first, filtered by camera and type. */
export class EventsView implements View {
  readonly el: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly camera: HTMLSelectElement;
  private readonly type: HTMLInputElement;
  private readonly message: HTMLElement;

  constructor(ctx: ViewContext) {
    ctx.setTitle('Events');
    this.body = h('tbody');
    this.camera = h('select', { id: 'ev-camera' }, h('option', { value: '' }, 'All cameras'));
    this.type = h('input', { id: 'ev-type', placeholder: 'e.g. recording_gap', pattern: '[a-z0-9_]{1,64}' });
    this.message = h('p', { class: 'muted', role: 'status' });
    const form = h('form', { class: 'filters', 'aria-label': 'Filter events' },
      h('label', { for: 'ev-camera' }, 'Camera'), this.camera,
      h('label', { for: 'ev-type' }, 'Type'), this.type,
      h('button', { type: 'submit' }, 'Show'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.load();
    });
    this.el = h('section', { class: 'events-page' }, h('h1', {}, 'Events'),
      can(ctx.session, 'events.view') ? form : null, this.message,
      h('div', { class: 'table-wrap' }, h('table', { class: 'events', 'aria-label': 'Events' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, 'Severity'),
          h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Camera'), h('th', { scope: 'col' }, 'Details'))),
        this.body)));
    if (!can(ctx.session, 'events.view')) {
      this.message.textContent = 'You may not view the event log.';
      return;
    }
    void this.loadCameras();
    void this.load();
  }

  unmount(): void {}

  private async loadCameras(): Promise<void> {
    const res = await api<{ cameras: Camera[] }>('/cameras').catch(() => ({ cameras: [] as Camera[] }));
    for (const c of res.cameras) this.camera.appendChild(h('option', { value: c.id }, c.name));
  }

  private async load(): Promise<void> {
    this.message.textContent = 'Loading…';
    try {
      const type = this.type.value.trim();
      const { events } = await api<{ events: VigilEvent[] }>('/events', {
        query: { limit: PAGE, camera_id: this.camera.value || undefined, type: type || undefined },
      });
      this.body.replaceChildren(...events.map((e) => h('tr', { class: `sev-${e.severity}` },
        h('td', {}, h('time', { datetime: e.ts }, formatDateTime(Date.parse(e.ts)))),
        h('td', {}, e.severity),
        h('td', {}, e.type),
        h('td', {}, e.camera_id ? h('a', { href: href({ name: 'camera', id: e.camera_id }) }, e.camera_id) : '—'),
        h('td', { class: 'payload' }, summarize(e.payload)))));
      this.message.textContent = events.length === 0 ? 'No events.' : events.length === PAGE ? `Newest ${PAGE} shown.` : '';
    } catch (err) {
      this.message.textContent = `Could not load events: ${errorText(err)}`;
    }
  }
}

function summarize(payload: Record<string, unknown>): string {
  return Object.entries(payload)
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(', ');
}
