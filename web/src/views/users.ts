import type { Static } from '@sinclair/typebox';
import type { ApiKeyCreated, ApiKeyOut, UserOut } from '../../../src/api/schemas/auth.schemas.js';
import { api, errorText } from '../api.js';
import { h } from '../dom.js';
import { can } from '../session.js';
import { formatDateTime } from '../time.js';
import type { View, ViewContext } from './view.js';

type User = Static<typeof UserOut>;
type ApiKey = Static<typeof ApiKeyOut>;
type ApiKeyWithSecret = Static<typeof ApiKeyCreated>;
const ROLES = ['viewer', 'operator', 'admin'] as const;

/** Users (role, camera scope, disabled) and API keys (role, scope, expiry; the key is shown once). */
export class UsersView implements View {
  readonly el: HTMLElement;
  private readonly users: HTMLTableSectionElement;
  private readonly keys: HTMLTableSectionElement;
  private readonly message: HTMLElement;
  private readonly newKey: HTMLElement;

  constructor(private readonly ctx: ViewContext) {
    ctx.setTitle('Users and API keys');
    this.users = h('tbody');
    this.keys = h('tbody');
    this.message = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
    this.newKey = h('div', { class: 'card new-key', hidden: true });
    this.el = h('section', { class: 'users-page' },
      h('h1', {}, 'Users and API keys'), this.message,
      h('h2', {}, 'Users'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'aria-label': 'Users' },
        h('thead', {}, h('tr', {}, ...['User', 'Role', 'Cameras', 'Status', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))), this.users)),
      this.userForm(),
      h('h2', {}, 'API keys'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data', 'aria-label': 'API keys' },
        h('thead', {}, h('tr', {}, ...['Name', 'Key starts', 'Role', 'Cameras', 'Expires', 'Last used', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))), this.keys)),
      this.newKey, this.keyForm());
    if (!can(ctx.session, 'users.manage')) {
      this.el.replaceChildren(h('h1', {}, 'Users and API keys'), h('p', { class: 'muted' }, 'You may not manage users.'));
      return;
    }
    void this.load();
  }

  unmount(): void {}

  private async load(): Promise<void> {
    try {
      const [{ users }, { api_keys }] = await Promise.all([
        api<{ users: User[] }>('/users'),
        api<{ api_keys: ApiKey[] }>('/api-keys'),
      ]);
      this.users.replaceChildren(...users.map((u) => this.userRow(u)));
      this.keys.replaceChildren(...api_keys.map((k) => this.keyRow(k)));
    } catch (err) {
      this.message.textContent = `Could not load users: ${errorText(err)}`;
    }
  }

  private async act(what: string, call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
      this.message.textContent = what;
      await this.load();
    } catch (err) {
      this.message.textContent = `${errorText(err)}`;
    }
  }

  private userRow(u: User): HTMLTableRowElement {
    const role = roleSelect(`user-role-${u.id}`, u.role, `Role of ${u.username}`);
    role.addEventListener('change', () => void this.act(`${u.username} is now ${role.value}.`, () => api(`/users/${u.id}`, { method: 'PATCH', body: { role: role.value } })));
    const self = u.username === this.ctx.session.username;
    const scope = h('input', { value: scopeText(u.cameras), 'aria-label': `Cameras of ${u.username} (all, or ids)`, size: 14 });
    const scopeForm = h('form', { class: 'row-actions', onsubmit: (e: Event) => {
      e.preventDefault();
      void this.act(`${u.username} now sees ${scope.value.trim() || 'all'}.`, () => api(`/users/${u.id}`, { method: 'PATCH', body: { cameras: parseScope(scope.value) } }));
    } }, scope, h('button', { type: 'submit', 'aria-label': `Save cameras of ${u.username}` }, 'Save'));
    return h('tr', { 'data-user': u.username },
      h('td', { 'data-label': 'User' }, u.username),
      h('td', { 'data-label': 'Role' }, role),
      h('td', { 'data-label': 'Cameras' }, scopeForm),
      h('td', { 'data-label': 'Status' }, u.disabled ? 'Disabled' : 'Active'),
      h('td', { 'data-label': 'Actions' }, h('div', { class: 'row-actions' },
        !self && h('button', { type: 'button', onclick: () => void this.act(`${u.username} ${u.disabled ? 'enabled' : 'disabled'}.`, () => api(`/users/${u.id}`, { method: 'PATCH', body: { disabled: !u.disabled } })) }, u.disabled ? 'Enable' : 'Disable'),
        !self && h('button', { type: 'button', class: 'danger', onclick: () => window.confirm(`Delete user ${u.username}?`) && void this.act(`${u.username} deleted.`, () => api(`/users/${u.id}`, { method: 'DELETE' })) }, 'Delete'))));
  }

  private keyRow(k: ApiKey): HTMLTableRowElement {
    return h('tr', { 'data-key': k.name },
      h('td', { 'data-label': 'Name' }, k.name),
      h('td', { 'data-label': 'Key starts' }, h('code', {}, k.prefix)),
      h('td', { 'data-label': 'Role' }, `${k.role}${k.capabilities.length ? ` (${k.capabilities.join(', ')})` : ''}`),
      h('td', { 'data-label': 'Cameras' }, scopeText(k.cameras)),
      h('td', { 'data-label': 'Expires' }, k.revoked_at ? `Revoked ${formatDateTime(Date.parse(k.revoked_at))}` : k.expires_at ? formatDateTime(Date.parse(k.expires_at)) : 'Never'),
      h('td', { 'data-label': 'Last used' }, k.last_used_at ? formatDateTime(Date.parse(k.last_used_at)) : '—'),
      h('td', { 'data-label': 'Actions' }, !k.revoked_at && h('button', { type: 'button', class: 'danger', onclick: () => void this.act(`Key ${k.name} revoked.`, () => api(`/api-keys/${k.id}`, { method: 'DELETE' })) }, 'Revoke')));
  }

  private userForm(): HTMLFormElement {
    const name = h('input', { id: 'nu-name', required: true, autocomplete: 'off', maxlength: 64 });
    const pass = h('input', { id: 'nu-pass', type: 'password', required: true, minlength: 10, autocomplete: 'new-password' });
    const role = roleSelect('nu-role', 'viewer');
    const cams = h('input', { id: 'nu-cams', placeholder: 'all, or cam1, cam2', value: 'all' });
    const form = h('form', { class: 'card stack-form', 'aria-labelledby': 'nu-title' },
      h('h3', { id: 'nu-title' }, 'Add a user'),
      h('label', { for: 'nu-name' }, 'Username'), name,
      h('label', { for: 'nu-pass' }, 'Password (at least 10 characters)'), pass,
      h('label', { for: 'nu-role' }, 'Role'), role,
      h('label', { for: 'nu-cams' }, 'Cameras'), cams,
      h('button', { type: 'submit' }, 'Add user'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.act(`User ${name.value} added.`, async () => {
        await api('/users', { method: 'POST', body: { username: name.value.trim(), password: pass.value, role: role.value, cameras: parseScope(cams.value) } });
        form.reset();
      });
    });
    return form;
  }

  private keyForm(): HTMLFormElement {
    const name = h('input', { id: 'nk-name', required: true, maxlength: 100, placeholder: 'e.g. home-automation' });
    const role = roleSelect('nk-role', 'viewer');
    const cams = h('input', { id: 'nk-cams', value: 'all', placeholder: 'all, or cam1, cam2' });
    const expires = h('input', { id: 'nk-expires', type: 'date' });
    const form = h('form', { class: 'card stack-form', 'aria-labelledby': 'nk-title' },
      h('h3', { id: 'nk-title' }, 'Create an API key'),
      h('label', { for: 'nk-name' }, 'Name'), name,
      h('label', { for: 'nk-role' }, 'Role'), role,
      h('label', { for: 'nk-cams' }, 'Cameras'), cams,
      h('label', { for: 'nk-expires' }, 'Expires (empty: never)'), expires,
      h('button', { type: 'submit' }, 'Create key'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.act(`Key ${name.value} created.`, async () => {
        const created = await api<ApiKeyWithSecret>('/api-keys', {
          method: 'POST',
          body: { name: name.value.trim(), role: role.value, cameras: parseScope(cams.value), expires_at: expires.value ? new Date(`${expires.value}T00:00:00`).toISOString() : null },
        });
        // The key exists only now: shown once, selectable, never again.
        this.newKey.replaceChildren(h('p', {}, `The key of ${created.name} — copy it now, it is not shown again:`),
          h('input', { readonly: true, value: created.key, 'aria-label': `API key ${created.name}`, class: 'key-value' }));
        this.newKey.hidden = false;
        form.reset();
      });
    });
    return form;
  }
}

function roleSelect(id: string, value: string, label?: string): HTMLSelectElement {
  return h('select', { id, ...(label ? { 'aria-label': label } : {}) }, ...ROLES.map((r) => h('option', { value: r, selected: r === value }, r)));
}

function scopeText(cameras: 'all' | string[]): string {
  return cameras === 'all' ? 'all' : cameras.join(', ');
}

function parseScope(text: string): 'all' | string[] {
  const t = text.trim();
  return t === '' || t.toLowerCase() === 'all' ? 'all' : t.split(/[\s,]+/).filter(Boolean);
}
