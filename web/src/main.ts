import { API_BASE, UNAUTHENTICATED_EVENT, errorText } from './api.js';
import { clear, h } from './dom.js';
import { href, navigate, parseRoute, type Route } from './router.js';
import { can, loadSession, logout, type Session } from './session.js';
import { loadSiteZone, siteZone } from './time.js';
import { CameraFormView } from './views/camera-form.js';
import { CameraView } from './views/camera.js';
import { MotionEditorView } from './views/motion-editor.js';
import { AccountView } from './views/account.js';
import { EventsView } from './views/events.js';
import { ExportsView } from './views/exports.js';
import { GridView } from './views/grid.js';
import { HoldsView } from './views/holds.js';
import { LoginView } from './views/login.js';
import { UsersView } from './views/users.js';
import { WallView } from './views/wall.js';
import { WebhooksView } from './views/webhooks.js';
import { WebhookLedgerView } from './views/webhooks-ledger.js';
import type { View, ViewContext } from './views/view.js';

const root = document.getElementById('app')!;
let session: Session | null = null;
let current: View | null = null;
/** Where to go after logging in. */
let afterLogin: Route = { name: 'grid' };

function shell(s: Session, content: HTMLElement): HTMLElement {
  const nav = h('nav', { class: 'topnav', 'aria-label': 'Main' },
    h('a', { class: 'brand', href: href({ name: 'grid' }) }, 'Vigil'),
    h('a', { href: href({ name: 'grid' }) }, 'Cameras'),
    h('a', { href: href({ name: 'wall' }) }, 'Views'),
    can(s, 'events.view') && h('a', { href: href({ name: 'events' }) }, 'Events'),
    can(s, 'evidence') && h('a', { href: href({ name: 'holds' }) }, 'Holds'),
    can(s, 'export') && h('a', { href: href({ name: 'exports' }) }, 'Exports'),
    can(s, 'users.manage') && h('a', { href: href({ name: 'users' }) }, 'Users'),
    can(s, 'cameras.manage') && h('a', { href: href({ name: 'camera-new' }) }, 'Add camera'),
    can(s, 'webhooks.manage') && h('a', { href: href({ name: 'webhooks' }) }, 'Webhooks'),
    h('span', { class: 'spacer' }),
    h('span', { class: 'site-zone', title: 'Every time on these pages is in the site\'s time zone' }, `Times: ${siteZone()}`),
    s.authEnabled && h('a', { class: 'who', href: href({ name: 'account' }), title: 'Your account: change your password' }, `${s.username ?? ''} (${s.role ?? ''})`),
    s.authEnabled && h('button', { type: 'button', class: 'link', onclick: () => void doLogout() }, 'Log out'));
  return h('div', { class: 'shell' }, h('header', {}, nav), h('main', { id: 'main' }, content));
}

async function doLogout(): Promise<void> {
  await logout().catch(() => {});
  session = null;
  navigate({ name: 'login' });
}

function mount(view: View, withShell: boolean): void {
  current?.unmount();
  current = view;
  clear(root);
  root.appendChild(withShell && session ? shell(session, view.el) : view.el);
}

async function route(): Promise<void> {
  const r = parseRoute(location.hash);
  if (!session) {
    try {
      session = await loadSession();
    } catch (err) {
      mount({ el: h('p', { class: 'error', role: 'alert' }, `Vigil is not answering: ${errorText(err)}`), unmount() {} }, false);
      return;
    }
  }
  if (!session) {
    if (r.name !== 'login') afterLogin = r;
    mount(new LoginView((s) => {
      session = s;
      const next = afterLogin;
      afterLogin = { name: 'grid' };
      if (location.hash === href(next)) void route();
      else navigate(next);
    }), false);
    if (r.name !== 'login') history.replaceState(null, '', href({ name: 'login' }));
    return;
  }
  const ctx: ViewContext = { session, setTitle: (t) => (document.title = `${t} · Vigil`) };
  switch (r.name) {
    case 'login':
      history.replaceState(null, '', href({ name: 'grid' }));
      return mount(new GridView(ctx), true);
    case 'grid': return mount(new GridView(ctx), true);
    case 'camera': return mount(new CameraView(ctx, r.id, r.atMs), true);
    case 'wall': return mount(new WallView(ctx), true);
    case 'holds': return mount(new HoldsView(ctx), true);
    case 'exports': return mount(new ExportsView(ctx), true);
    case 'users': return mount(new UsersView(ctx), true);
    case 'account': return mount(new AccountView(ctx), true);
    case 'camera-new': return mount(new CameraFormView(ctx, null), true);
    case 'camera-edit': return mount(new CameraFormView(ctx, r.id), true);
    case 'camera-motion': return mount(new MotionEditorView(ctx, r.id), true);
    case 'events': return mount(new EventsView(ctx), true);
    case 'webhooks': return mount(new WebhooksView(ctx), true);
    case 'webhook': return mount(new WebhookLedgerView(ctx, r.id), true);
  }
}

window.addEventListener('hashchange', () => void route());
// Every time on the page is in the site's zone: known before the first view shows one.
const zoneLoaded = loadSiteZone(API_BASE);
window.addEventListener(UNAUTHENTICATED_EVENT, () => {
  if (!session) return;
  session = null;
  void route();
});
void zoneLoaded.then(() => route());
