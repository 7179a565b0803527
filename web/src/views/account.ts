import { api, errorText } from '../api.js';
import { h } from '../dom.js';
import type { View, ViewContext } from './view.js';

/** Change your own password. The first admin's generated password is changed here (the start-up message says so). */
export class AccountView implements View {
  readonly el: HTMLElement;

  constructor(ctx: ViewContext) {
    ctx.setTitle('Account');
    const s = ctx.session;
    const current = h('input', { id: 'pw-current', type: 'password', autocomplete: 'current-password', required: true });
    const next = h('input', { id: 'pw-new', type: 'password', autocomplete: 'new-password', required: true, minlength: 10, 'aria-describedby': 'pw-rule' });
    const again = h('input', { id: 'pw-again', type: 'password', autocomplete: 'new-password', required: true, minlength: 10 });
    const message = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
    const form = h('form', { class: 'card stack-form', 'aria-labelledby': 'pw-title' },
      h('h2', { id: 'pw-title' }, 'Change your password'),
      h('input', { type: 'text', autocomplete: 'username', value: s.username ?? '', hidden: true, readonly: true, 'aria-hidden': 'true', tabindex: -1 }),
      h('label', { for: 'pw-current' }, 'Current password'), current,
      h('label', { for: 'pw-new' }, 'New password'), next,
      h('p', { class: 'help', id: 'pw-rule' }, 'At least 10 characters. Your other sessions are signed out.'),
      h('label', { for: 'pw-again' }, 'New password again'), again,
      h('button', { type: 'submit' }, 'Change password'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (next.value !== again.value) {
        again.setAttribute('aria-invalid', 'true');
        message.textContent = 'The two new passwords differ.';
        return;
      }
      again.removeAttribute('aria-invalid');
      void api<void>('/auth/password', { method: 'POST', body: { current_password: current.value, new_password: next.value } })
        .then(() => {
          form.reset();
          message.textContent = 'Password changed.';
        })
        .catch((err) => (message.textContent = `Could not change the password: ${errorText(err)}`));
    });
    this.el = h('section', { class: 'account-page' },
      h('h1', {}, 'Account'),
      s.authEnabled
        ? h('p', {}, `Signed in as ${s.username ?? ''} (${s.role ?? ''}).`)
        : h('p', { class: 'muted' }, 'This Vigil has no sign-in: there is no password to change.'),
      s.authEnabled && form, message);
  }

  unmount(): void {}
}
