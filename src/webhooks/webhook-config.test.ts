import { describe, expect, it } from 'vitest';
import { buildConfig } from '../config/config.js';
import { VigilError } from '../shared/errors.js';

const build = (webhooks: unknown) => buildConfig({ webhooks }, { source: null, cwd: '/tmp', env: {}, overrides: {} }).webhooks;

function refusedField(webhooks: unknown): string | undefined {
  try {
    build(webhooks);
  } catch (err) {
    expect(err).toBeInstanceOf(VigilError);
    return (err as VigilError).field;
  }
  throw new Error('accepted');
}

describe('webhooks config', () => {
  it('defaults: private networks refused, 10 s timeout, 8 attempts, waits from 1 s to 1 h', () => {
    expect(build(undefined)).toEqual({ allowPrivateNetworks: false, timeoutSeconds: 10, maxAttempts: 8, backoffInitialMs: 1000, backoffMaxMs: 3_600_000 });
  });

  it('takes true or a list of CIDRs for allow_private_networks, and every bound', () => {
    expect(build({ allow_private_networks: true }).allowPrivateNetworks).toBe(true);
    expect(build({ allow_private_networks: ['10.0.0.0/8', 'fd00::/8', '127.0.0.1'] }).allowPrivateNetworks).toEqual(['10.0.0.0/8', 'fd00::/8', '127.0.0.1']);
    expect(build({ timeout_seconds: 1, max_attempts: 1, backoff_initial_ms: 10, backoff_max_ms: 10 })).toMatchObject({ timeoutSeconds: 1, maxAttempts: 1 });
  });

  it('refuses bad values naming the field', () => {
    expect(refusedField({ allow_private_networks: ['10.0.0.0/8', '10.0.0.0/33'] })).toBe('webhooks.allow_private_networks[1]');
    expect(refusedField({ allow_private_networks: ['intranet'] })).toBe('webhooks.allow_private_networks[0]');
    expect(refusedField({ allow_private_networks: 'yes' })).toBe('webhooks.allow_private_networks');
    expect(refusedField({ timeout_seconds: 0 })).toBe('webhooks.timeout_seconds');
    expect(refusedField({ timeout_seconds: 121 })).toBe('webhooks.timeout_seconds');
    expect(refusedField({ max_attempts: 0 })).toBe('webhooks.max_attempts');
    expect(refusedField({ max_attempts: 51 })).toBe('webhooks.max_attempts');
    expect(refusedField({ backoff_initial_ms: 5 })).toBe('webhooks.backoff_initial_ms');
    expect(refusedField({ backoff_initial_ms: 5000, backoff_max_ms: 1000 })).toBe('webhooks.backoff_max_ms');
    expect(refusedField({ retries: 3 })).toBe('webhooks.retries');
  });
});
