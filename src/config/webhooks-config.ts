import { isIP } from 'node:net';
import { VigilError } from '../shared/errors.js';
import type { ConfigFile } from './config.schema.js';

/** The `webhooks:` section with its defaults (docs/operations.md, "Webhooks"). */
export interface WebhooksConfig {
  /**
   * Receivers on loopback, link-local, private (RFC 1918, ULA), CGNAT, 0.0.0.0/8 or multicast addresses
   * are refused (SSRF) unless this allows them: `true` allows them all, a list allows these CIDRs.
   */
  allowPrivateNetworks: boolean | readonly string[];
  /** One attempt (connect, request, answer) is cut off after this long. */
  timeoutSeconds: number;
  /** Attempts per delivery before it is abandoned. */
  maxAttempts: number;
  /** The wait after the first failed attempt … */
  backoffInitialMs: number;
  /** … growing geometrically to this one before the last attempt. */
  backoffMaxMs: number;
}

type WebhooksFile = NonNullable<ConfigFile['webhooks']>;

/** `a.b.c.d/n` or an IPv6 address with `/n`; a bare address counts as its own /32 or /128. */
export function parseCidr(text: string): { address: string; family: 'ipv4' | 'ipv6'; prefix: number } | undefined {
  const [address = '', prefixText, extra] = text.trim().split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return undefined;
  const bits = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return undefined;
  return { address, family: version === 4 ? 'ipv4' : 'ipv6', prefix };
}

export function webhooksConfigFrom(file: WebhooksFile | undefined): WebhooksConfig {
  const w = file ?? {};
  const allow = w.allow_private_networks ?? false;
  if (Array.isArray(allow)) {
    allow.forEach((cidr, i) => {
      if (!parseCidr(cidr)) throw webhooksError(`webhooks.allow_private_networks[${i}]`, `"${cidr}" is not a CIDR (e.g. 10.0.0.0/8, fd00::/8)`);
    });
  }
  const backoffInitialMs = w.backoff_initial_ms ?? 1000;
  const backoffMaxMs = w.backoff_max_ms ?? 3_600_000;
  if (backoffMaxMs < backoffInitialMs) {
    throw webhooksError('webhooks.backoff_max_ms', `${backoffMaxMs} is less than webhooks.backoff_initial_ms (${backoffInitialMs})`);
  }
  return {
    allowPrivateNetworks: allow,
    timeoutSeconds: w.timeout_seconds ?? 10,
    maxAttempts: w.max_attempts ?? 8,
    backoffInitialMs,
    backoffMaxMs,
  };
}

function webhooksError(field: string, message: string): VigilError {
  return new VigilError('invalid_argument', `invalid configuration: ${field}: ${message}`, { field });
}
