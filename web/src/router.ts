/** Hash routes: the page is one document at `/`, so deep links and reloads need nothing from the server. */
export type Route =
  | { name: 'grid' }
  | { name: 'camera'; id: string; atMs?: number }
  | { name: 'wall' }
  | { name: 'holds' }
  | { name: 'exports' }
  | { name: 'users' }
  | { name: 'account' }
  | { name: 'camera-new' }
  | { name: 'camera-edit'; id: string }
  | { name: 'camera-motion'; id: string }
  | { name: 'events' }
  | { name: 'webhooks' }
  | { name: 'webhook'; id: number }
  | { name: 'login' };

export function parseRoute(hash: string): Route {
  const [path = '/', query = ''] = (hash.replace(/^#/, '') || '/').split('?', 2);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'login') return { name: 'login' };
  if (parts[0] === 'events') return { name: 'events' };
  if (parts[0] === 'views') return { name: 'wall' };
  if (parts[0] === 'holds') return { name: 'holds' };
  if (parts[0] === 'exports') return { name: 'exports' };
  if (parts[0] === 'users') return { name: 'users' };
  if (parts[0] === 'account') return { name: 'account' };
  if (parts[0] === 'webhooks' && parts[1] && /^\d{1,15}$/.test(parts[1])) return { name: 'webhook', id: Number(parts[1]) };
  if (parts[0] === 'webhooks') return { name: 'webhooks' };
  if (parts[0] === 'cameras' && parts[1] === 'new') return { name: 'camera-new' };
  if (parts[0] === 'cameras' && parts[1] && parts[2] === 'edit') return { name: 'camera-edit', id: parts[1] };
  if (parts[0] === 'cameras' && parts[1] && parts[2] === 'motion') return { name: 'camera-motion', id: parts[1] };
  if (parts[0] === 'cameras' && parts[1]) {
    // A shared link carries the instant to play: `#/cameras/cam1?t=2026-11-25T10:15:03.000Z`.
    const atMs = Date.parse(new URLSearchParams(query).get('t') ?? '');
    return Number.isFinite(atMs) ? { name: 'camera', id: parts[1], atMs } : { name: 'camera', id: parts[1] };
  }
  return { name: 'grid' };
}

export function href(route: Route): string {
  switch (route.name) {
    case 'grid': return '#/';
    case 'camera': return `#/cameras/${encodeURIComponent(route.id)}${route.atMs === undefined ? '' : `?t=${new Date(route.atMs).toISOString()}`}`;
    case 'wall': return '#/views';
    case 'holds': return '#/holds';
    case 'exports': return '#/exports';
    case 'users': return '#/users';
    case 'account': return '#/account';
    case 'camera-new': return '#/cameras/new';
    case 'camera-edit': return `#/cameras/${encodeURIComponent(route.id)}/edit`;
    case 'camera-motion': return `#/cameras/${encodeURIComponent(route.id)}/motion`;
    case 'events': return '#/events';
    case 'webhooks': return '#/webhooks';
    case 'webhook': return `#/webhooks/${route.id}`;
    case 'login': return '#/login';
  }
}

export function navigate(route: Route): void {
  location.hash = href(route);
}
