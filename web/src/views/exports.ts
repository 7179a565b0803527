import type { Static } from '@sinclair/typebox';
import type { ExportOut } from '../../../src/api/schemas/exports.schemas.js';
import { api, API_BASE, errorText } from '../api.js';
import { h } from '../dom.js';
import { download } from '../download.js';
import { can } from '../session.js';
import { formatBytes, formatDateTime } from '../time.js';
import type { View, ViewContext } from './view.js';

type ExportJob = Static<typeof ExportOut>;
/** While a job is queued or running the list refreshes this often, so progress moves on screen. */
const REFRESH_MS = 1000;

/** Evidence exports (signed bundles): every job with its progress; download when done, delete the bundle. */
export class ExportsView implements View {
  readonly el: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly message: HTMLElement;
  private timer: number | undefined;
  private gone = false;

  constructor(ctx: ViewContext) {
    ctx.setTitle('Exports');
    this.body = h('tbody');
    this.message = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
    this.el = h('section', { class: 'exports-page' },
      h('h1', {}, 'Exports'),
      h('p', { class: 'help' }, 'Start an export from a camera: select a range on its timeline, give a reason, "Export signed bundle".'),
      this.message,
      h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'aria-label': 'Exports' },
        h('thead', {}, h('tr', {}, ...['Requested', 'Cameras', 'Range', 'Reason', 'State', 'Size', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
        this.body)));
    if (!can(ctx.session, 'export')) {
      this.message.textContent = 'You may not export footage.';
      return;
    }
    void this.load();
  }

  unmount(): void {
    this.gone = true;
    window.clearTimeout(this.timer);
  }

  private async load(): Promise<void> {
    window.clearTimeout(this.timer);
    try {
      const { exports } = await api<{ exports: ExportJob[] }>('/exports', { query: { limit: 100 } });
      if (this.gone) return;
      this.body.replaceChildren(...exports.map((e) => this.row(e)));
      if (exports.length === 0) this.body.appendChild(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No exports yet.')));
      if (exports.some((e) => e.state === 'queued' || e.state === 'running')) this.timer = window.setTimeout(() => void this.load(), REFRESH_MS);
    } catch (err) {
      this.message.textContent = `Could not load exports: ${errorText(err)}`;
    }
  }

  private row(e: ExportJob): HTMLTableRowElement {
    const progress = e.state === 'queued' || e.state === 'running'
      ? h('progress', { max: 100, value: Math.round(e.progress), 'aria-label': `Export ${e.id} progress` }, `${Math.round(e.progress)} %`)
      : null;
    const state = h('span', { class: `job-state job-${e.state}` }, stateText(e));
    const actions = h('div', { class: 'row-actions' },
      e.state === 'done' && e.bundle_url && h('button', { type: 'button', onclick: () => download(e.bundle_url!.replace(/^\/api\/v1/, API_BASE), `vigil-${e.id}.zip`) }, 'Download'),
      (e.state === 'done' || e.state === 'failed') && h('button', { type: 'button', class: 'danger', onclick: () => void this.remove(e) }, 'Delete'));
    return h('tr', { 'data-export-id': e.id, 'data-state': e.state },
      h('td', { 'data-label': 'Requested' }, formatDateTime(Date.parse(e.created_at)), h('br'), h('span', { class: 'muted' }, e.requested_by)),
      h('td', { 'data-label': 'Cameras' }, e.camera_ids.join(', ')),
      h('td', { 'data-label': 'Range' }, `${formatDateTime(Date.parse(e.from))} – ${formatDateTime(Date.parse(e.to))}`),
      h('td', { 'data-label': 'Reason' }, e.reason, e.incident_id ? h('span', { class: 'muted' }, ` (incident ${e.incident_id})`) : ''),
      h('td', { 'data-label': 'State' }, state, progress),
      h('td', { 'data-label': 'Size' }, e.size_bytes === null ? '—' : formatBytes(e.size_bytes)),
      h('td', { 'data-label': 'Actions' }, actions));
  }

  private async remove(e: ExportJob): Promise<void> {
    if (!window.confirm(`Delete the bundle of export ${e.id}? Its record stays.`)) return;
    try {
      await api(`/exports/${encodeURIComponent(e.id)}`, { method: 'DELETE' });
      this.message.textContent = `Export ${e.id}: bundle deleted.`;
      await this.load();
    } catch (err) {
      this.message.textContent = `Could not delete: ${errorText(err)}`;
    }
  }
}

function stateText(e: ExportJob): string {
  switch (e.state) {
    case 'queued': return 'Waiting';
    case 'running': return `Building ${Math.round(e.progress)} %`;
    case 'done': return 'Ready';
    case 'failed': return `Failed: ${e.error ?? 'unknown error'}`;
    case 'deleted': return 'Deleted';
    default: return e.state;
  }
}
