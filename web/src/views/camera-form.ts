import { api, ApiError, errorText } from '../api.js';
import { h } from '../dom.js';
import { href, navigate } from '../router.js';
import { can } from '../session.js';
import type { Camera } from '../types.js';
import { OnvifPanel, type SuggestedCamera } from './onvif.js';
import type { View, ViewContext } from './view.js';

type Kind = 'text' | 'url' | 'int' | 'bool' | 'select';
interface FieldSpec {
  name: keyof Camera;
  label: string;
  kind: Kind;
  /** Empty input means null (optional numbers and URLs). */
  nullable?: boolean;
  help?: string;
  options?: string[];
}

const FIELDS: FieldSpec[] = [
  { name: 'id', label: 'Id', kind: 'text', help: 'a-z, 0-9, _ and -; names the recordings folder; cannot change later' },
  { name: 'name', label: 'Name', kind: 'text' },
  { name: 'main_url', label: 'Main stream URL', kind: 'url', help: 'rtsp:// or rtsps://, credentials allowed (never shown again)' },
  { name: 'sub_url', label: 'Sub-stream URL', kind: 'url', nullable: true, help: 'optional low-resolution stream for the grid' },
  { name: 'segment_seconds', label: 'Segment length (s)', kind: 'int' },
  { name: 'retention_hours', label: 'Keep footage (hours)', kind: 'int', nullable: true, help: 'empty = no age limit' },
  { name: 'retention_hours_motion', label: 'Keep footage with motion (hours)', kind: 'int', nullable: true, help: 'empty = like other footage; otherwise at least "Keep footage", which then applies to footage without motion' },
  { name: 'storage_quota_bytes', label: 'Storage quota (bytes)', kind: 'int', nullable: true, help: 'empty = no per-camera quota' },
  { name: 'enabled', label: 'Record this camera', kind: 'bool' },
  { name: 'anr_enabled', label: 'Refill gaps from the camera\'s SD card', kind: 'bool' },
  { name: 'anr_preset', label: 'Edge replay preset', kind: 'select', nullable: true, options: ['', 'hikvision', 'dahua', 'generic'] },
  { name: 'anr_replay_url_template', label: 'Edge replay URL template', kind: 'url', nullable: true },
  { name: 'anr_timezone', label: 'Camera time zone', kind: 'text', help: 'IANA zone, e.g. Europe/Berlin' },
  { name: 'onvif_url', label: 'ONVIF device service', kind: 'url', nullable: true, help: 'optional: http://host/onvif/device_service; Vigil warns when the camera clock drifts' },
];

type Input = HTMLInputElement | HTMLSelectElement;

/** Add (`id` null) or edit a camera; the API's errors are shown next to the field they name. */
export class CameraFormView implements View {
  readonly el: HTMLElement;
  private readonly inputs = new Map<string, Input>();
  private readonly errors = new Map<string, HTMLElement>();
  private readonly formError: HTMLElement;
  private readonly form: HTMLFormElement;
  private original: Camera | null = null;
  private readonly onvif: OnvifPanel | null = null;

  constructor(ctx: ViewContext, private readonly id: string | null) {
    ctx.setTitle(id ? `Edit ${id}` : 'Add camera');
    this.formError = h('p', { class: 'error', role: 'alert', id: 'form-error' });
    this.form = h('form', { class: 'camera-form card', 'aria-label': id ? 'Edit camera' : 'Add camera', novalidate: true });
    for (const f of FIELDS) {
      if (f.name === 'id' && id) continue;
      this.form.appendChild(this.field(f));
    }
    const submit = h('button', { type: 'submit' }, id ? 'Save changes' : 'Add camera');
    this.form.append(this.formError, h('div', { class: 'form-actions' }, submit,
      h('a', { class: 'button secondary', href: id ? href({ name: 'camera', id }) : href({ name: 'grid' }) }, 'Cancel')));
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      submit.disabled = true;
      void this.save().finally(() => (submit.disabled = false));
    });
    const allowed = can(ctx.session, 'cameras.manage');
    if (allowed && !id) this.onvif = new OnvifPanel((cam) => this.prefill(cam));
    this.el = h('section', { class: 'form-page' }, h('h1', {}, id ? `Edit camera ${id}` : 'Add camera'),
      this.onvif?.el,
      allowed ? this.form : h('p', { class: 'error' }, 'You may not manage cameras.'),
      allowed && id ? h('p', {}, h('a', { href: href({ name: 'camera-motion', id }) }, 'Motion detection: masks, zones and sensitivity')) : null,
      allowed && id ? this.deleteBox(id) : null);
    if (allowed) {
      if (id) void this.loadCamera(id);
      else this.fill({ segment_seconds: 60, enabled: true, anr_enabled: false, anr_timezone: 'UTC' });
    }
  }

  unmount(): void {
    this.onvif?.unmount();
  }

  /** A camera found over ONVIF: its fields written into the form, which the operator still submits. */
  private prefill(cam: SuggestedCamera): void {
    for (const [name, value] of Object.entries(cam)) {
      const input = this.inputs.get(name);
      if (input) input.value = value === null ? '' : String(value);
    }
    this.inputs.get('id')?.focus();
  }

  private field(f: FieldSpec): HTMLElement {
    const inputId = `cam-${f.name}`;
    const errId = `err-${f.name}`;
    const helpId = `help-${f.name}`;
    const describedBy = [f.help ? helpId : '', errId].filter(Boolean).join(' ');
    let input: Input;
    if (f.kind === 'select') {
      input = h('select', { id: inputId, name: f.name, 'aria-describedby': describedBy },
        ...(f.options ?? []).map((o) => h('option', { value: o }, o || '(none)')));
    } else {
      input = h('input', {
        id: inputId,
        name: f.name,
        type: f.kind === 'bool' ? 'checkbox' : f.kind === 'int' ? 'number' : 'text',
        inputmode: f.kind === 'int' ? 'numeric' : undefined,
        autocomplete: 'off',
        spellcheck: 'false',
        'aria-describedby': describedBy,
      });
    }
    this.inputs.set(f.name, input);
    const error = h('p', { class: 'field-error', id: errId, 'data-field': f.name, 'aria-live': 'polite' });
    this.errors.set(f.name, error);
    const label = h('label', { for: inputId }, f.label);
    return h('div', { class: `field field-${f.kind}` },
      f.kind === 'bool' ? h('div', { class: 'check' }, input, label) : label,
      f.kind === 'bool' ? null : input,
      f.help ? h('p', { class: 'help', id: helpId }, f.help) : null,
      error);
  }

  private fill(values: Partial<Camera>): void {
    for (const [name, input] of this.inputs) {
      const v = values[name as keyof Camera];
      if (input instanceof HTMLInputElement && input.type === 'checkbox') input.checked = Boolean(v);
      else input.value = v === null || v === undefined ? '' : String(v);
    }
  }

  private async loadCamera(id: string): Promise<void> {
    try {
      this.original = await api<Camera>(`/cameras/${encodeURIComponent(id)}`);
      this.fill(this.original);
    } catch (err) {
      this.formError.textContent = `Could not load the camera: ${errorText(err)}`;
    }
  }

  /** The form as an API body: for an edit, only the fields that changed. */
  private body(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of FIELDS) {
      const input = this.inputs.get(f.name);
      if (!input) continue;
      let v: unknown;
      if (input instanceof HTMLInputElement && input.type === 'checkbox') v = input.checked;
      else {
        const raw = input.value.trim();
        if (raw === '') v = !this.original ? undefined : f.nullable ? null : f.kind === 'int' ? undefined : raw;
        else v = f.kind === 'int' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
      }
      if (v === undefined) continue;
      if (this.original && v === (this.original[f.name] ?? null)) continue;
      out[f.name] = v;
    }
    return out;
  }

  private showErrors(field: string | undefined, message: string): void {
    for (const [name, el] of this.errors) {
      el.textContent = name === field ? message : '';
      this.inputs.get(name)?.setAttribute('aria-invalid', String(name === field));
    }
    const placed = field !== undefined && this.errors.has(field);
    this.formError.textContent = placed ? 'Please correct the field marked below.' : message;
    if (placed) this.inputs.get(field)?.focus();
  }

  private async save(): Promise<void> {
    this.showErrors(undefined, '');
    const body = this.body();
    try {
      if (this.id) {
        if (Object.keys(body).length === 0) {
          this.formError.textContent = 'Nothing changed.';
          return;
        }
        await api<Camera>(`/cameras/${encodeURIComponent(this.id)}`, { method: 'PATCH', body });
        navigate({ name: 'camera', id: this.id });
      } else {
        const cam = await api<Camera>('/cameras', { method: 'POST', body });
        navigate({ name: 'camera', id: cam.id });
      }
    } catch (err) {
      if (err instanceof ApiError) this.showErrors(err.field, err.message);
      else this.showErrors(undefined, errorText(err));
    }
  }

  private deleteBox(id: string): HTMLElement {
    const confirm = h('button', { type: 'button', class: 'danger', hidden: true }, `Yes, delete ${id}`);
    const ask = h('button', { type: 'button', class: 'danger secondary' }, 'Delete camera');
    const note = h('p', { class: 'error', role: 'alert' });
    ask.addEventListener('click', () => {
      confirm.hidden = false;
      ask.hidden = true;
    });
    confirm.addEventListener('click', () => {
      api<void>(`/cameras/${encodeURIComponent(id)}`, { method: 'DELETE' })
        .then(() => navigate({ name: 'grid' }))
        .catch((err: unknown) => (note.textContent = `Could not delete: ${errorText(err)}`));
    });
    return h('section', { class: 'card danger-zone', 'aria-label': 'Delete camera' },
      h('p', {}, 'Deleting stops recording. Footage is kept until retention removes it.'), ask, confirm, note);
  }
}
