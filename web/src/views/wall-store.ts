/**
 * Saved views (a layout and its cameras), kept in this browser's localStorage under the signed-in user's name.
 * A view is a control-room screen's arrangement, set up once per console: keeping it with the browser needs no
 * server table, and a camera removed since is simply shown as an empty tile (the API scopes what may be seen).
 */
/** Tiles per view: 1×1, 2×2, 3×3, 4×4. */
export const LAYOUTS = [1, 4, 9, 16] as const;
export type Layout = (typeof LAYOUTS)[number];

export interface SavedView {
  name: string;
  layout: Layout;
  cameras: (string | null)[];
}

const key = (user: string | null) => `vigil.views.${user ?? 'anonymous'}`;

export function loadSavedViews(user: string | null): SavedView[] {
  try {
    const parsed = JSON.parse(localStorage.getItem(key(user)) ?? '[]') as unknown;
    return Array.isArray(parsed) ? parsed.filter(isView) : [];
  } catch {
    return [];
  }
}

export function saveView(user: string | null, view: SavedView): void {
  const views = loadSavedViews(user).filter((v) => v.name !== view.name);
  views.push(view);
  views.sort((a, b) => a.name.localeCompare(b.name));
  localStorage.setItem(key(user), JSON.stringify(views));
}

export function deleteSavedView(user: string | null, name: string): void {
  localStorage.setItem(key(user), JSON.stringify(loadSavedViews(user).filter((v) => v.name !== name)));
}

function isView(v: unknown): v is SavedView {
  const o = v as SavedView;
  return typeof o === 'object' && o !== null && typeof o.name === 'string' && [1, 4, 9, 16].includes(o.layout) && Array.isArray(o.cameras);
}
