import { describe, expect, it } from 'vitest';
import { securityHeaders } from './server.js';

describe('security headers', () => {
  it('are helmet\'s for Vigil\'s options, worked out once: the CSP as given, no HSTS without TLS, no powered-by', () => {
    const h = securityHeaders({
      contentSecurityPolicy: { directives: { defaultSrc: ["'self'"], scriptSrc: ["'self'"], frameAncestors: ["'none'"] } },
      strictTransportSecurity: false,
      crossOriginEmbedderPolicy: false,
    });
    expect(h['content-security-policy']).toContain("script-src 'self'");
    expect(h['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(h['x-content-type-options']).toBe('nosniff');
    expect(h['x-frame-options']).toBe('SAMEORIGIN');
    expect(h['referrer-policy']).toBe('no-referrer');
    expect(h['cross-origin-opener-policy']).toBe('same-origin');
    expect(h).not.toHaveProperty('strict-transport-security');
    expect(h).not.toHaveProperty('cross-origin-embedder-policy');
    expect(h).not.toHaveProperty('x-powered-by');
    expect(securityHeaders({ strictTransportSecurity: true })['strict-transport-security']).toMatch(/max-age=\d+/);
  });
});
