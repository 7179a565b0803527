import { api, errorText } from '../api.js';
import { h } from '../dom.js';
import { href } from '../router.js';
import { can } from '../session.js';
import type { Webhook, WebhookWithSecret } from '../types.js';
import type { View, ViewContext } from './view.js';
import { WebhookForm } from './webhooks-form.js';

const counts = (w: Webhook) => `${w.deliveries.delivered} delivered, ${w.deliveries.pending + w.deliveries.failed} pending, ${w.deliveries.abandoned} abandoned`;

/** Webhook subscriptions (admins): the list with enable/disable and delete, and the form that adds one (its secret shown once). */
export class WebhooksView implements View {
  readonly el: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly message: HTMLElement;
  private readonly secretBox: HTMLElement;

  constructor(ctx: ViewContext) {
    ctx.setTitle('Webhooks');
    this.body = h('tbody');
    this.message = h('p', { class: 'muted', role: 'status' });
    this.secretBox = h('section', { class: 'card', 'aria-label': 'New webhook secret', hidden: true });
    const allowed = can(ctx.session, 'webhooks.manage');
    const form = new WebhookForm(null, 'Add webhook', async (f) => {
      try {
        const created = await api<WebhookWithSecret>('/webhooks', { method: 'POST', body: f.body() });
        f.clear();
        this.showSecret(created);
        await this.load();
      } catch (err) {
        f.fail(err);
      }
    });
    this.el = h('section', { class: 'webhooks-page' },
      h('div', { class: 'page-head' }, h('h1', {}, 'Webhooks')),
      allowed ? null : h('p', { class: 'error' }, 'You may not manage webhooks.'),
      this.message,
      allowed && h('div', { class: 'table-wrap' }, h('table', { class: 'events', 'aria-label': 'Webhooks' },
        h('thead', {}, h('tr', {}, ...['Name', 'Receiver', 'Events', 'Severity', 'Cameras', 'State', 'Deliveries', ''].map((t) => h('th', { scope: 'col' }, t)))),
        this.body)),
      allowed && this.secretBox,
      allowed && h('h2', {}, 'Add a webhook'),
      allowed && form.el);
    if (allowed) void this.load();
  }

  unmount(): void {}

  private showSecret(w: WebhookWithSecret): void {
    this.secretBox.hidden = false;
    this.secretBox.replaceChildren(
      h('p', { role: 'alert' }, `Webhook "${w.name}" added. Copy its signing secret now: it is not shown again.`),
      h('code', { id: 'webhook-secret', class: 'secret' }, w.secret),
      h('p', { class: 'help' }, 'Receivers check X-Vigil-Signature with it (docs/api.md, "Webhooks").'),
    );
  }

  private async load(): Promise<void> {
    try {
      const { webhooks } = await api<{ webhooks: Webhook[] }>('/webhooks');
      this.body.replaceChildren(...webhooks.map((w) => this.row(w)));
      this.message.textContent = webhooks.length === 0 ? 'No webhooks yet.' : '';
    } catch (err) {
      this.message.textContent = `Could not load webhooks: ${errorText(err)}`;
    }
  }

  private row(w: Webhook): HTMLTableRowElement {
    const note = h('span', { class: 'error', role: 'alert' });
    const toggle = h('button', { type: 'button', class: 'secondary' }, w.enabled ? 'Disable' : 'Enable');
    toggle.addEventListener('click', () => {
      api<Webhook>(`/webhooks/${w.id}`, { method: 'PATCH', body: { enabled: !w.enabled } })
        .then(() => this.load())
        .catch((err: unknown) => (note.textContent = errorText(err)));
    });
    const ask = h('button', { type: 'button', class: 'danger secondary' }, 'Delete');
    const confirm = h('button', { type: 'button', class: 'danger', hidden: true }, `Yes, delete ${w.name}`);
    ask.addEventListener('click', () => {
      ask.hidden = true;
      confirm.hidden = false;
    });
    confirm.addEventListener('click', () => {
      api<void>(`/webhooks/${w.id}`, { method: 'DELETE' })
        .then(() => this.load())
        .catch((err: unknown) => (note.textContent = errorText(err)));
    });
    return h('tr', { 'data-webhook-id': w.id },
      h('td', {}, h('a', { href: href({ name: 'webhook', id: w.id }) }, w.name)),
      h('td', { class: 'payload' }, w.url),
      h('td', {}, w.event_types === 'all' ? 'all' : w.event_types.join(', ')),
      h('td', {}, `${w.min_severity}+`),
      h('td', {}, w.cameras === 'all' ? 'all' : w.cameras.join(', ')),
      h('td', { class: 'webhook-state' }, w.enabled ? 'enabled' : 'disabled'),
      h('td', {}, counts(w)),
      h('td', {}, toggle, ' ', ask, confirm, note));
  }
}
