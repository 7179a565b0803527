import { ApiError } from '../api.js';
import { h } from '../dom.js';
import type { Webhook } from '../types.js';

type Field = 'name' | 'url' | 'event_types' | 'min_severity' | 'cameras' | 'secret';

const LABELS: Record<Field, [label: string, help: string]> = {
  name: ['Name', 'shown in lists; default: the receiver\'s host'],
  url: ['Receiver URL', 'http:// or https://; private and loopback addresses only where the config allows them'],
  event_types: ['Event types', 'comma-separated, e.g. recording_gap, camera_silent; empty = every type'],
  min_severity: ['Minimum severity', 'events of this severity or higher'],
  cameras: ['Cameras', 'comma-separated camera ids; empty = every event, with a camera or not'],
  secret: ['Signing secret', 'empty = generated; 16–256 printable characters. Shown once.'],
};

const list = (raw: string): string[] | 'all' => {
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
  return items.length === 0 ? 'all' : [...new Set(items)];
};
const shown = (v: 'all' | string[]) => (v === 'all' ? '' : v.join(', '));

/**
 * The subscription form of the webhooks views: add (`original` null) or edit. `body()` is the API body
 * (for an edit, only what changed); `showError` places the API's error next to the field it names.
 */
export class WebhookForm {
  readonly el: HTMLFormElement;
  private readonly inputs = new Map<Field, HTMLInputElement | HTMLSelectElement>();
  private readonly errors = new Map<Field, HTMLElement>();
  readonly formError: HTMLElement;

  constructor(private readonly original: Webhook | null, submitLabel: string, onSubmit: (form: WebhookForm) => Promise<void>) {
    this.formError = h('p', { class: 'error', role: 'alert' });
    this.el = h('form', { class: 'camera-form card webhook-form', 'aria-label': original ? 'Edit webhook' : 'Add webhook', novalidate: true });
    for (const f of Object.keys(LABELS) as Field[]) this.el.appendChild(this.field(f));
    const submit = h('button', { type: 'submit' }, submitLabel);
    this.el.append(this.formError, h('div', { class: 'form-actions' }, submit));
    this.el.addEventListener('submit', (e) => {
      e.preventDefault();
      submit.disabled = true;
      this.showError(undefined, '');
      void onSubmit(this).finally(() => (submit.disabled = false));
    });
    if (original) {
      this.set('name', original.name);
      this.set('url', original.url);
      this.set('event_types', shown(original.event_types));
      this.set('min_severity', original.min_severity);
      this.set('cameras', shown(original.cameras));
    }
  }

  private field(f: Field): HTMLElement {
    const [label, created] = LABELS[f];
    const help = f === 'secret' && this.original ? 'empty = unchanged; a new one replaces it at once (and is not shown again)' : created;
    const id = `wh-${f}`;
    const input = f === 'min_severity'
      ? h('select', { id, name: f, 'aria-describedby': `${id}-help ${id}-err` }, ...['info', 'warning', 'critical'].map((s) => h('option', { value: s }, s)))
      : h('input', { id, name: f, type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': `${id}-help ${id}-err` });
    this.inputs.set(f, input);
    const error = h('p', { class: 'field-error', id: `${id}-err`, 'data-field': f, 'aria-live': 'polite' });
    this.errors.set(f, error);
    return h('div', { class: 'field' }, h('label', { for: id }, label), input, h('p', { class: 'help', id: `${id}-help` }, help), error);
  }

  private set(f: Field, v: string): void {
    const input = this.inputs.get(f);
    if (input) input.value = v;
  }

  private get(f: Field): string {
    return this.inputs.get(f)?.value.trim() ?? '';
  }

  /** The API body: every field given for a new subscription; only the changed ones for an edit. */
  body(): Record<string, unknown> {
    const out: Record<string, unknown> = {
      name: this.get('name') || undefined,
      url: this.get('url'),
      event_types: list(this.get('event_types')),
      min_severity: this.get('min_severity'),
      cameras: list(this.get('cameras')),
      secret: this.get('secret') || undefined,
    };
    const o = this.original;
    if (o) {
      if (out['name'] === o.name || out['name'] === undefined) delete out['name'];
      if (out['url'] === o.url) delete out['url'];
      if (JSON.stringify(out['event_types']) === JSON.stringify(o.event_types)) delete out['event_types'];
      if (out['min_severity'] === o.min_severity) delete out['min_severity'];
      if (JSON.stringify(out['cameras']) === JSON.stringify(o.cameras)) delete out['cameras'];
    }
    for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
    return out;
  }

  showError(field: string | undefined, message: string): void {
    for (const [name, el] of this.errors) {
      el.textContent = name === field ? message : '';
      this.inputs.get(name)?.setAttribute('aria-invalid', String(name === field));
    }
    const placed = field !== undefined && this.errors.has(field as Field);
    this.formError.textContent = placed ? 'Please correct the field marked below.' : message;
    if (placed) this.inputs.get(field as Field)?.focus();
  }

  /** Shows an API error where it belongs; anything else as the form's error. */
  fail(err: unknown): void {
    if (err instanceof ApiError) this.showError(err.field, err.message);
    else this.showError(undefined, err instanceof Error ? err.message : String(err));
  }

  clear(): void {
    for (const f of this.inputs.keys()) this.set(f, f === 'min_severity' ? 'info' : '');
  }
}
