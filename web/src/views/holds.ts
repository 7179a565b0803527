import { api, errorText } from '../api.js';
import { h } from '../dom.js';
import { href } from '../router.js';
import { can } from '../session.js';
import { formatBytes, formatDateTime, fromLocalInput, iso } from '../time.js';
import type { Camera } from '../types.js';
import type { View, ViewContext } from './view.js';

interface Incident {
  id: string;
  segments: number;
  bytes: number;
  first: string;
  last: string;
  cameras: string[];
}
interface RangeHold {
  segments: number;
  bytes: number;
}

/**
 * Evidence holds and incidents: the incidents in use, a form to hold a range of a camera, and release with a
 * reason. Every hold and release goes through the audited API routes (`evidence.lock` / `evidence.unlock`);
 * the reason of a release is kept in its audit row.
 */
export class HoldsView implements View {
  readonly el: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly message: HTMLElement;
  private readonly camera: HTMLSelectElement;
  private readonly from: HTMLInputElement;
  private readonly to: HTMLInputElement;
  private readonly incident: HTMLInputElement;
  private gone = false;

  constructor(ctx: ViewContext) {
    ctx.setTitle('Holds and incidents');
    this.body = h('tbody');
    this.message = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
    this.camera = h('select', { id: 'hold-camera', required: true });
    this.from = h('input', { id: 'hold-from', type: 'datetime-local', step: 1, required: true });
    this.to = h('input', { id: 'hold-to', type: 'datetime-local', step: 1, required: true });
    this.incident = h('input', { id: 'hold-incident', required: true, maxlength: 64, pattern: '[A-Za-z0-9._:\\-]{1,64}', placeholder: 'e.g. case-2026-114' });
    const add = h('form', { class: 'card stack-form', 'aria-labelledby': 'hold-add-title', onsubmit: (e: Event) => { e.preventDefault(); void this.add(); } },
      h('h2', { id: 'hold-add-title' }, 'Hold footage'),
      h('label', { for: 'hold-camera' }, 'Camera'), this.camera,
      h('label', { for: 'hold-from' }, 'From'), this.from,
      h('label', { for: 'hold-to' }, 'To'), this.to,
      h('label', { for: 'hold-incident' }, 'Incident id'), this.incident,
      h('p', { class: 'help' }, 'Held footage is never deleted by retention until it is released.'),
      h('button', { type: 'submit' }, 'Hold'));
    this.el = h('section', { class: 'holds-page' },
      h('h1', {}, 'Holds and incidents'), this.message,
      h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'aria-label': 'Incidents' },
        h('thead', {}, h('tr', {}, ...['Incident', 'Cameras', 'From', 'To', 'Segments', 'Size', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
        this.body)),
      add);
    if (!can(ctx.session, 'evidence')) {
      this.message.textContent = 'You may not hold or release footage.';
      add.hidden = true;
      return;
    }
    void this.loadCameras();
    void this.load();
  }

  unmount(): void {
    this.gone = true;
  }

  private async loadCameras(): Promise<void> {
    const { cameras } = await api<{ cameras: Camera[] }>('/cameras').catch(() => ({ cameras: [] as Camera[] }));
    this.camera.replaceChildren(...cameras.map((c) => h('option', { value: c.id }, c.name)));
  }

  private async load(): Promise<void> {
    try {
      const { incidents } = await api<{ incidents: Incident[] }>('/incidents');
      if (this.gone) return;
      this.body.replaceChildren(...incidents.map((i) => this.row(i)));
      if (incidents.length === 0) this.body.appendChild(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No incidents yet.')));
    } catch (err) {
      this.message.textContent = `Could not load incidents: ${errorText(err)}`;
    }
  }

  private row(i: Incident): HTMLTableRowElement {
    const reason = h('input', { id: `release-reason-${i.id}`, required: true, maxlength: 1000, placeholder: 'why it may be deleted again' });
    const release = h('form', { class: 'release', 'aria-label': `Release incident ${i.id}`, onsubmit: (e: Event) => { e.preventDefault(); void this.release(i, reason.value.trim()); } },
      h('label', { for: `release-reason-${i.id}` }, 'Reason'), reason,
      h('button', { type: 'submit', class: 'danger' }, 'Release'));
    const firstMs = Date.parse(i.first);
    return h('tr', { 'data-incident': i.id },
      h('td', { 'data-label': 'Incident' }, h('a', { href: `api/v1/incidents/${encodeURIComponent(i.id)}/report.html`, target: '_blank', rel: 'noopener' }, i.id)),
      h('td', { 'data-label': 'Cameras' }, ...i.cameras.map((c, n) => h('span', {}, n > 0 ? ', ' : '', h('a', { href: href({ name: 'camera', id: c, atMs: firstMs }) }, c)))),
      h('td', { 'data-label': 'From' }, formatDateTime(firstMs)),
      h('td', { 'data-label': 'To' }, formatDateTime(Date.parse(i.last))),
      h('td', { 'data-label': 'Segments' }, String(i.segments)),
      h('td', { 'data-label': 'Size' }, formatBytes(i.bytes)),
      h('td', { 'data-label': 'Actions' }, release));
  }

  private async add(): Promise<void> {
    const fromMs = fromLocalInput(this.from.value);
    const toMs = fromLocalInput(this.to.value);
    if (fromMs === null || toMs === null || toMs <= fromMs) {
      this.to.setAttribute('aria-invalid', 'true');
      this.message.textContent = 'To must be after From.';
      return;
    }
    this.to.removeAttribute('aria-invalid');
    try {
      const res = await api<RangeHold>(`/cameras/${encodeURIComponent(this.camera.value)}/evidence-lock`, {
        method: 'POST',
        body: { from: iso(fromMs), to: iso(toMs), incident_id: this.incident.value.trim() },
      });
      this.message.textContent = res.segments === 0
        ? 'Nothing is recorded in that range: nothing was held.'
        : `Held ${res.segments} segment(s), ${formatBytes(res.bytes)}, for incident ${this.incident.value.trim()}.`;
      await this.load();
    } catch (err) {
      this.message.textContent = `Could not hold: ${errorText(err)}`;
    }
  }

  /** Releases the holds of each of the incident's cameras over the incident's span; the tags stay. */
  private async release(i: Incident, reason: string): Promise<void> {
    if (!reason) {
      this.message.textContent = 'Say why the hold is released (Reason): it goes into the audit trail.';
      return;
    }
    try {
      let segments = 0;
      for (const cam of i.cameras) {
        const res = await api<RangeHold>(`/cameras/${encodeURIComponent(cam)}/evidence-lock`, {
          method: 'DELETE',
          // `last` is the end of the last segment: one millisecond more keeps it inside [from, to).
          body: { from: i.first, to: iso(Date.parse(i.last) + 1), incident_id: i.id, reason },
        });
        segments += res.segments;
      }
      this.message.textContent = `Released ${segments} segment(s) of incident ${i.id}.`;
      await this.load();
    } catch (err) {
      this.message.textContent = `Could not release: ${errorText(err)}`;
    }
  }
}
