/** Hash routes: the page is one document at `/`, so deep links and reloads need nothing from the server. */
export type Route =
  | { name: 'grid' }
  | { name: 'camera'; id: string }
  | { name: 'camera-new' }
  | { name: 'camera-edit'; id: string }
  | { name: 'events' }
  | { name: 'webhooks' }
  | { name: 'webhook'; id: number }
  | { name: 'login' };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/';
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'login') return { name: 'login' };
  if (parts[0] === 'events') return { name: 'events' };
  if (parts[0] === 'webhooks' && parts[1] && /^\d{1,15}$/.test(parts[1])) return { name: 'webhook', id: Number(parts[1]) };
  if (parts[0] === 'webhooks') return { name: 'webhooks' };
  if (parts[0] === 'cameras' && parts[1] === 'new') return { name: 'camera-new' };
  if (parts[0] === 'cameras' && parts[1] && parts[2] === 'edit') return { name: 'camera-edit', id: parts[1] };
  if (parts[0] === 'cameras' && parts[1]) return { name: 'camera', id: parts[1] };
  return { name: 'grid' };
}

export function href(route: Route): string {
  switch (route.name) {
    case 'grid': return '#/';
    case 'camera': return `#/cameras/${encodeURIComponent(route.id)}`;
    case 'camera-new': return '#/cameras/new';
    case 'camera-edit': return `#/cameras/${encodeURIComponent(route.id)}/edit`;
    case 'events': return '#/events';
    case 'webhooks': return '#/webhooks';
    case 'webhook': return `#/webhooks/${route.id}`;
    case 'login': return '#/login';
  }
}

export function navigate(route: Route): void {
  location.hash = href(route);
}
