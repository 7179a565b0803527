import { ApiError } from '../api.js';
import { h } from '../dom.js';
import { login, type Session } from '../session.js';
import type { View } from './view.js';

export class LoginView implements View {
  readonly el: HTMLElement;

  constructor(onLoggedIn: (s: Session) => void) {
    document.title = 'Log in · Vigil';
    const username = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true });
    const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const error = h('p', { class: 'error', role: 'alert', id: 'login-error' });
    const submit = h('button', { type: 'submit' }, 'Log in');
    const form = h('form', { class: 'login card', 'aria-label': 'Log in' },
      h('h1', {}, 'Vigil'),
      h('label', { for: 'login-username' }, 'Username'), username,
      h('label', { for: 'login-password' }, 'Password'), password,
      error, submit);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      error.textContent = '';
      submit.disabled = true;
      login(username.value, password.value)
        .then(onLoggedIn)
        .catch((err: unknown) => {
          error.textContent =
            err instanceof ApiError && err.status === 401 ? 'Wrong username or password.'
            : err instanceof ApiError && err.status === 429 ? 'Too many attempts. Wait a few minutes, then try again.'
            : `Could not log in: ${err instanceof Error ? err.message : String(err)}`;
          password.value = '';
          password.focus();
        })
        .finally(() => (submit.disabled = false));
    });
    this.el = h('div', { class: 'login-page' }, form);
    queueMicrotask(() => username.focus());
  }

  unmount(): void {}
}
