import type { Static } from '@sinclair/typebox';
import type { DiscoverOut, InspectOut } from '../../../src/api/schemas/onvif.schemas.js';
import { api, ApiError, errorText } from '../api.js';
import { clear, h } from '../dom.js';

type Discovered = Static<typeof DiscoverOut>['devices'][number];
type Inspected = Static<typeof InspectOut>;
export type SuggestedCamera = NonNullable<Inspected['suggested']>;

/**
 * "Add camera via ONVIF": Discover (WS-Discovery on Vigil's LAN) → pick a device, or type its address →
 * credentials → Inspect (device, profiles, the camera clock against Vigil's) → "Add this camera" hands
 * the suggested body (main = largest profile, sub = smallest) to the camera form.
 */
export class OnvifPanel {
  readonly el: HTMLElement;
  private readonly list = h('ul', { class: 'onvif-devices', 'aria-label': 'Cameras found' });
  private readonly discoverNote = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
  private readonly address = h('input', { id: 'onvif-address', type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'help-onvif-address err-onvif-address' });
  private readonly username = h('input', { id: 'onvif-username', type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'err-onvif-username' });
  private readonly password = h('input', { id: 'onvif-password', type: 'password', autocomplete: 'new-password', 'aria-describedby': 'err-onvif-password' });
  private readonly fieldErrors = {
    xaddr: h('p', { class: 'field-error', id: 'err-onvif-address', 'aria-live': 'polite' }),
    username: h('p', { class: 'field-error', id: 'err-onvif-username', 'aria-live': 'polite' }),
    password: h('p', { class: 'field-error', id: 'err-onvif-password', 'aria-live': 'polite' }),
  };
  private readonly inspectError = h('p', { class: 'error', role: 'alert', id: 'onvif-error' });
  private readonly result = h('div', { class: 'onvif-result', 'aria-live': 'polite' });
  private readonly abort = new AbortController();

  constructor(private readonly onUse: (camera: SuggestedCamera) => void) {
    const discover = h('button', { type: 'button', class: 'secondary' }, 'Discover cameras');
    discover.addEventListener('click', () => {
      discover.disabled = true;
      void this.discover().finally(() => (discover.disabled = false));
    });
    const inspect = h('button', { type: 'submit' }, 'Inspect');
    const form = h('form', { class: 'camera-form', 'aria-label': 'Inspect an ONVIF camera', novalidate: true },
      this.field('onvif-address', 'Device address', this.address, 'http://host/onvif/device_service, or a host name or address', this.fieldErrors.xaddr),
      this.field('onvif-username', 'Camera user name', this.username, undefined, this.fieldErrors.username),
      this.field('onvif-password', 'Camera password', this.password, undefined, this.fieldErrors.password),
      this.inspectError,
      h('div', { class: 'form-actions' }, inspect));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      inspect.disabled = true;
      void this.inspect().finally(() => (inspect.disabled = false));
    });
    this.el = h('section', { class: 'card onvif', 'aria-label': 'Add camera via ONVIF' },
      h('h2', {}, 'Add camera via ONVIF'),
      h('p', { class: 'help' }, 'Finds cameras on Vigil\'s own network segment; a camera elsewhere is inspected by its address.'),
      h('div', { class: 'form-actions' }, discover),
      this.discoverNote,
      this.list,
      form,
      this.result);
  }

  unmount(): void {
    this.abort.abort();
  }

  private field(id: string, label: string, input: HTMLInputElement, help: string | undefined, error: HTMLElement): HTMLElement {
    return h('div', { class: 'field' }, h('label', { for: id }, label), input,
      help ? h('p', { class: 'help', id: `help-${id}` }, help) : null, error);
  }

  private async discover(): Promise<void> {
    this.discoverNote.textContent = 'Searching the network…';
    clear(this.list);
    try {
      const res = await api<Static<typeof DiscoverOut>>('/onvif/discover', { method: 'POST', body: { timeout_ms: 3000 }, signal: this.abort.signal });
      this.discoverNote.textContent = res.devices.length === 0
        ? 'No camera answered. Type its address below.'
        : `${res.devices.length} camera${res.devices.length === 1 ? '' : 's'} found: pick one.`;
      for (const d of res.devices) this.list.appendChild(this.deviceItem(d));
    } catch (err) {
      this.discoverNote.textContent = `Discovery failed: ${errorText(err)}`;
    }
  }

  private deviceItem(d: Discovered): HTMLElement {
    const label = d.name ?? d.hardware ?? d.xaddr;
    const pick = h('button', { type: 'button', class: 'secondary', 'aria-label': `Use ${label}` }, 'Use');
    pick.addEventListener('click', () => {
      this.address.value = d.xaddr;
      this.username.focus();
    });
    return h('li', { class: 'onvif-device' }, pick, ' ',
      h('strong', {}, label),
      d.hardware && d.name ? h('span', { class: 'muted' }, ` · ${d.hardware}`) : null,
      d.location ? h('span', { class: 'muted' }, ` · ${d.location}`) : null,
      h('span', { class: 'muted' }, ` · ${d.xaddr}`));
  }

  /** The address as the API takes it: a URL as xaddr, else host[:port]. */
  private target(): Record<string, unknown> {
    const raw = this.address.value.trim();
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) return { xaddr: raw };
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(raw);
    if (!m) return { host: raw };
    return { host: (m[1] as string).replace(/^\[|\]$/g, ''), ...(m[2] ? { port: Number(m[2]) } : {}) };
  }

  private showError(field: string | undefined, message: string): void {
    const where = field === 'host' || field === 'port' ? 'xaddr' : field;
    for (const [name, el] of Object.entries(this.fieldErrors)) el.textContent = name === where ? message : '';
    const placed = where !== undefined && where in this.fieldErrors;
    this.inspectError.textContent = placed ? '' : message;
  }

  private async inspect(): Promise<void> {
    this.showError(undefined, '');
    clear(this.result);
    const body = { ...this.target(), username: this.username.value, password: this.password.value };
    try {
      const r = await api<Inspected>('/onvif/inspect', { method: 'POST', body, signal: this.abort.signal });
      this.result.appendChild(this.report(r));
    } catch (err) {
      if (err instanceof ApiError) this.showError(err.field, err.message);
      else this.showError(undefined, errorText(err));
    }
  }

  private report(r: Inspected): HTMLElement {
    const d = r.device;
    const rows = r.profiles.map((p) => h('tr', {},
      h('td', {}, p.name ?? p.token),
      h('td', {}, p.encoding ?? '—'),
      h('td', {}, p.width && p.height ? `${p.width}×${p.height}` : '—'),
      h('td', {}, p.fps ?? '—'),
      h('td', {}, p.bitrate_kbps === null ? '—' : `${p.bitrate_kbps} kbit/s`),
      h('td', { class: 'payload' }, p.stream_uri ?? 'no RTSP stream')));
    const use = h('button', { type: 'button' }, 'Add this camera');
    use.disabled = r.suggested === null;
    use.addEventListener('click', () => r.suggested && this.onUse(r.suggested));
    return h('div', { class: 'onvif-report' },
      h('h3', {}, [d.manufacturer, d.model].filter(Boolean).join(' ') || r.xaddr),
      h('p', { class: 'muted', id: 'onvif-device' },
        `Firmware ${d.firmware ?? '?'} · serial ${d.serial ?? '?'} · hardware ${d.hardware_id ?? '?'}`),
      this.clockLine(r),
      h('div', { class: 'table-wrap' }, h('table', { class: 'events', 'aria-label': 'Media profiles' },
        h('thead', {}, h('tr', {}, ...['Profile', 'Codec', 'Resolution', 'FPS', 'Bitrate', 'Stream'].map((t) => h('th', {}, t)))),
        h('tbody', {}, ...rows))),
      r.suggested === null ? h('p', { class: 'error' }, 'No profile offers an RTSP stream.') : null,
      h('div', { class: 'form-actions' }, use));
  }

  private clockLine(r: Inspected): HTMLElement {
    if (!r.clock) return h('p', { class: 'muted', id: 'onvif-clock' }, `Camera clock: ${r.clock_error ?? 'unknown'}`);
    const seconds = (r.clock.drift_ms / 1000).toFixed(1);
    const text = `Camera clock ${r.clock.camera_utc.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC')}, ${r.clock.drift_ms >= 0 ? '+' : ''}${seconds} s from Vigil's.`;
    return r.clock.drifting
      ? h('p', { class: 'error', role: 'alert', id: 'onvif-clock' }, `${text} More than 2 s off: edge refills would pull the wrong span. Set the camera to NTP.`)
      : h('p', { class: 'muted', id: 'onvif-clock' }, text);
  }
}
