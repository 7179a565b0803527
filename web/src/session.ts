import { api, ApiError } from './api.js';
import type { Me } from './types.js';

export type Capability =
  | 'cameras.view' | 'live' | 'playback' | 'events.view' | 'export' | 'snapshot'
  | 'evidence' | 'refill' | 'cameras.manage' | 'users.manage' | 'audit.view' | 'webhooks.manage';

const ALL: readonly Capability[] = [
  'cameras.view', 'live', 'playback', 'events.view', 'export', 'snapshot',
  'evidence', 'refill', 'cameras.manage', 'users.manage', 'audit.view', 'webhooks.manage',
];

/** Who is looking at the page, and what the page may offer them. */
export interface Session {
  /** False when this Vigil has no authentication (the API answers 404 for /auth/me). */
  authEnabled: boolean;
  username: string | null;
  role: string | null;
  capabilities: ReadonlySet<string>;
}

export function can(session: Session, cap: Capability): boolean {
  return session.capabilities.has(cap);
}

/** The current session, or null when a login is needed. */
export async function loadSession(): Promise<Session | null> {
  try {
    return fromMe(await api<Me>('/auth/me'));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return { authEnabled: false, username: null, role: null, capabilities: new Set(ALL) };
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

export async function login(username: string, password: string): Promise<Session> {
  return fromMe(await api<Me>('/auth/login', { method: 'POST', body: { username, password } }));
}

export async function logout(): Promise<void> {
  await api<void>('/auth/logout', { method: 'POST' });
}

function fromMe(me: Me): Session {
  return { authEnabled: true, username: me.user.username, role: me.user.role, capabilities: new Set(me.capabilities) };
}
