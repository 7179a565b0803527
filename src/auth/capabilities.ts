import type { Role } from '../db/schema.js';

/** What a principal may do. Routes declare the one they need next to their definition. */
export const CAPABILITIES = [
  'cameras.view',
  'live',
  'playback',
  'events.view',
  'export',
  'snapshot',
  'evidence',
  'refill',
  'cameras.manage',
  'users.manage',
  'audit.view',
  'signing_key.manage',
  'metrics',
  /** Webhook subscriptions and their delivery ledger: admin only (a receiver gets every event it subscribes to). */
  'webhooks.manage',
] as const;
export type Capability = (typeof CAPABILITIES)[number];

export const ROLES: readonly Role[] = ['admin', 'operator', 'viewer'];

const VIEWER: readonly Capability[] = ['cameras.view', 'live', 'playback'];
const OPERATOR: readonly Capability[] = [...VIEWER, 'events.view', 'export', 'snapshot', 'evidence', 'refill', 'metrics'];

/**
 * viewer: live and playback; operator: + export, snapshot, evidence holds, refills, events, scraping
 * `/metrics`; admin: everything. A Prometheus server gets an API key with only `metrics`.
 */
export const ROLE_CAPABILITIES: Readonly<Record<Role, readonly Capability[]>> = {
  viewer: VIEWER,
  operator: OPERATOR,
  admin: CAPABILITIES,
};

export function isCapability(s: string): s is Capability {
  return (CAPABILITIES as readonly string[]).includes(s);
}

/** Cameras a principal may see: every camera, or a fixed list. */
export type CameraScope = 'all' | ReadonlySet<string>;

export function scopeFromJson(json: string | null): CameraScope {
  if (json === null) return 'all';
  return new Set(JSON.parse(json) as string[]);
}

export function scopeToJson(scope: 'all' | readonly string[]): string | null {
  return scope === 'all' ? null : JSON.stringify([...new Set(scope)].sort());
}

export function scopeOut(scope: CameraScope): 'all' | string[] {
  return scope === 'all' ? 'all' : [...scope].sort();
}

export function inScope(scope: CameraScope, cameraId: string): boolean {
  return scope === 'all' || scope.has(cameraId);
}
