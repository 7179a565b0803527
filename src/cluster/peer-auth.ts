import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Requests between the nodes of a cluster carry `X-Vigil-Node: v1.<node>.<expires ms>.<hmac>`, the
 * HMAC-SHA256 (key: the catalog's `cluster_keys` secret) of the node, the expiry, the method and the
 * path. It is good for one path, for 60 s at most: a token seen on the wire opens nothing else.
 */
export const NODE_HEADER = 'x-vigil-node';
const MAX_TTL_MS = 60_000;

function mac(secret: string, nodeId: string, expiresMs: number, method: string, path: string): Buffer {
  return createHmac('sha256', Buffer.from(secret, 'hex')).update(`v1\n${nodeId}\n${expiresMs}\n${method.toUpperCase()}\n${path}`).digest();
}

/** A token for `method path` from `nodeId`, good for `ttlMs`. */
export function signNodeRequest(secret: string, nodeId: string, method: string, path: string, nowMs: number, ttlMs = 30_000): string {
  const expiresMs = nowMs + Math.min(ttlMs, MAX_TTL_MS);
  return `v1.${nodeId}.${expiresMs}.${mac(secret, nodeId, expiresMs, method, path).toString('hex')}`;
}

/** The node a valid token comes from; undefined for anything else (malformed, expired, another path, a forged MAC). */
export function verifyNodeRequest(secret: string, token: string | undefined, method: string, path: string, nowMs: number): string | undefined {
  if (typeof token !== 'string' || token.length > 300) return undefined;
  const m = /^v1\.([a-z0-9][a-z0-9_-]{0,62})\.(\d{1,16})\.([0-9a-f]{64})$/.exec(token);
  if (!m) return undefined;
  const [, nodeId, exp, hex] = m as unknown as [string, string, string, string];
  const expiresMs = Number(exp);
  if (expiresMs < nowMs || expiresMs > nowMs + MAX_TTL_MS) return undefined;
  const want = mac(secret, nodeId, expiresMs, method, path);
  return timingSafeEqual(want, Buffer.from(hex, 'hex')) ? nodeId : undefined;
}
