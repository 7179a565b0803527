import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signatureHeader, verifySignature } from './signature.js';

const secret = 'whsec_0123456789abcdef';
const body = Buffer.from('{"id":7,"type":"recording_gap"}');

describe('X-Vigil-Signature', () => {
  it('is t=<seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>, as a receiver recomputes it with plain crypto', () => {
    const header = signatureHeader(secret, 1_800_000_000, body);
    const expected = createHmac('sha256', secret).update(`1800000000.${body.toString()}`).digest('hex');
    expect(header).toBe(`t=1800000000,v1=${expected}`);
  });

  it('verifies within the replay window and refuses a changed body, another secret, an old or future timestamp, a malformed header', () => {
    const t = 1_800_000_000;
    const header = signatureHeader(secret, t, body);
    expect(verifySignature(header, body, secret, t + 299)).toEqual({ ok: true, tSeconds: t });
    expect(verifySignature(header, Buffer.from('{"id":8,"type":"recording_gap"}'), secret, t).ok).toBe(false);
    expect(verifySignature(header, body, 'whsec_another-secret-000', t).ok).toBe(false);
    expect(verifySignature(header, body, secret, t + 301)).toEqual({ ok: false, reason: 'timestamp outside the replay window' });
    expect(verifySignature(header, body, secret, t - 301).ok).toBe(false);
    // The timestamp is signed: moving it forward to pass the window breaks the signature.
    expect(verifySignature(header.replace(`t=${t}`, `t=${t + 1000}`), body, secret, t + 1000)).toEqual({ ok: false, reason: 'signature does not match' });
    expect(verifySignature(undefined, body, secret, t).ok).toBe(false);
    expect(verifySignature('v1=abc', body, secret, t)).toEqual({ ok: false, reason: 'malformed signature header' });
    expect(verifySignature(`t=${t},v1=zz`, body, secret, t).ok).toBe(false);
  });

  it('accepts any of several v1 values (a receiver keeps working while a secret is rotated)', () => {
    const t = 1_800_000_000;
    const good = signatureHeader(secret, t, body).split('v1=')[1];
    expect(verifySignature(`t=${t},v1=${'0'.repeat(64)},v1=${good}`, body, secret, t).ok).toBe(true);
  });
});
