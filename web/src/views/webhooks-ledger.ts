import { api, errorText } from '../api.js';
import { h } from '../dom.js';
import { href } from '../router.js';
import { can } from '../session.js';
import { formatDateTime } from '../time.js';
import type { Delivery, Webhook } from '../types.js';
import type { View, ViewContext } from './view.js';
import { WebhookForm } from './webhooks-form.js';

const PAGE = 50;
/** While anything is pending, the ledger refreshes itself this often. */
const REFRESH_MS = 2000;

const when = (iso: string | null) => (iso ? formatDateTime(Date.parse(iso)) : '—');

/** One webhook: edit it, send a test, and read its delivery ledger (filter by status, redeliver). */
export class WebhookLedgerView implements View {
  readonly el: HTMLElement;
  private readonly rows: HTMLTableSectionElement;
  private readonly message: HTMLElement;
  private readonly status: HTMLSelectElement;
  private readonly more: HTMLButtonElement;
  private readonly formSlot: HTMLElement;
  private nextCursor: string | null = null;
  private timer: number | undefined;
  private alive = true;

  constructor(ctx: ViewContext, private readonly id: number) {
    ctx.setTitle(`Webhook ${id}`);
    this.rows = h('tbody');
    this.message = h('p', { class: 'muted', role: 'status' });
    this.status = h('select', { id: 'ledger-status' }, ...['', 'pending', 'failed', 'delivered', 'abandoned'].map((s) => h('option', { value: s }, s || 'every status')));
    this.status.addEventListener('change', () => void this.load(false));
    this.more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Older deliveries');
    this.more.addEventListener('click', () => void this.load(true));
    this.formSlot = h('div');
    const test = h('button', { type: 'button' }, 'Send test');
    const testNote = h('span', { role: 'status', class: 'muted' });
    test.addEventListener('click', () => {
      api<Delivery>(`/webhooks/${id}/test`, { method: 'POST' })
        .then((d) => {
          testNote.textContent = `Test event ${d.event_id} queued (delivery ${d.id}).`;
          return this.load(false);
        })
        .catch((err: unknown) => (testNote.textContent = `Could not send a test: ${errorText(err)}`));
    });
    const allowed = can(ctx.session, 'webhooks.manage');
    this.el = h('section', { class: 'webhook-page' },
      h('div', { class: 'page-head' }, h('h1', {}, `Webhook ${id}`), h('a', { href: href({ name: 'webhooks' }) }, 'All webhooks')),
      allowed ? null : h('p', { class: 'error' }, 'You may not manage webhooks.'),
      allowed && this.formSlot,
      allowed && h('h2', {}, 'Deliveries'),
      allowed && h('div', { class: 'filters' }, h('label', { for: 'ledger-status' }, 'Status'), this.status, test, testNote),
      this.message,
      allowed && h('div', { class: 'table-wrap' }, h('table', { class: 'events', 'aria-label': 'Deliveries' },
        h('thead', {}, h('tr', {}, ...['Event', 'Type', 'Status', 'Attempts', 'Response', 'Last error', 'Next attempt', 'Delivered', ''].map((t) => h('th', { scope: 'col' }, t)))),
        this.rows)),
      allowed && this.more);
    if (allowed) {
      void this.loadWebhook();
      void this.load(false);
    }
  }

  unmount(): void {
    this.alive = false;
    window.clearTimeout(this.timer);
  }

  private async loadWebhook(): Promise<void> {
    try {
      const w = await api<Webhook>(`/webhooks/${this.id}`);
      const form = new WebhookForm(w, 'Save changes', async (f) => {
        const body = f.body();
        if (Object.keys(body).length === 0) {
          f.formError.textContent = 'Nothing changed.';
          return;
        }
        try {
          await api<Webhook>(`/webhooks/${this.id}`, { method: 'PATCH', body });
          await this.loadWebhook();
        } catch (err) {
          f.fail(err);
        }
      });
      this.formSlot.replaceChildren(h('p', { class: 'muted' }, `${w.enabled ? 'Enabled' : 'Disabled'} · secret never shown again (set a new one below to rotate it)`), form.el);
    } catch (err) {
      this.formSlot.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Could not load the webhook: ${errorText(err)}`));
    }
  }

  /** The newest page (or, with `append`, the next older one); refreshes itself while deliveries are under way. */
  private async load(append: boolean): Promise<void> {
    window.clearTimeout(this.timer);
    try {
      const res = await api<{ deliveries: Delivery[]; next_cursor: string | null }>(`/webhooks/${this.id}/deliveries`, {
        query: { limit: PAGE, status: this.status.value || undefined, cursor: append ? this.nextCursor ?? undefined : undefined },
      });
      const rows = res.deliveries.map((d) => this.row(d));
      if (append) this.rows.append(...rows);
      else this.rows.replaceChildren(...rows);
      this.nextCursor = res.next_cursor;
      this.more.hidden = res.next_cursor === null;
      this.message.textContent = this.rows.children.length === 0 ? 'No deliveries yet.' : '';
      const busy = res.deliveries.some((d) => d.status === 'pending' || d.status === 'failed');
      if (busy && !append && this.alive) this.timer = window.setTimeout(() => void this.load(false), REFRESH_MS);
    } catch (err) {
      this.message.textContent = `Could not load deliveries: ${errorText(err)}`;
    }
  }

  private row(d: Delivery): HTMLTableRowElement {
    const note = h('span', { class: 'error', role: 'alert' });
    const redeliver = h('button', { type: 'button', class: 'secondary' }, 'Redeliver');
    redeliver.addEventListener('click', () => {
      api<Delivery>(`/webhooks/${this.id}/deliveries/${d.id}/redeliver`, { method: 'POST' })
        .then(() => this.load(false))
        .catch((err: unknown) => (note.textContent = errorText(err)));
    });
    return h('tr', { 'data-delivery-id': d.id, class: `delivery-${d.status}` },
      h('td', {}, String(d.event_id)),
      h('td', {}, d.event_type),
      h('td', { class: 'delivery-status' }, d.status),
      h('td', {}, String(d.attempts)),
      h('td', {}, d.response_code === null ? '—' : String(d.response_code)),
      h('td', { class: 'payload' }, d.last_error ?? ''),
      h('td', {}, when(d.next_attempt_at)),
      h('td', {}, when(d.delivered_at)),
      h('td', {}, redeliver, note));
  }
}
