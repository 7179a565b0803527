import { createHmac, timingSafeEqual } from 'node:crypto';

/** How far a signature's timestamp may lie from the receiver's clock before it is refused (replay window). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/** hex HMAC-SHA256(secret, "<t>.<body>"): the timestamp is signed with the body, so neither can be swapped. */
export function signPayload(secret: string, tSeconds: number, body: Buffer | string): string {
  return createHmac('sha256', secret).update(`${tSeconds}.`).update(body).digest('hex');
}

/** `X-Vigil-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` (the Stripe layout). */
export function signatureHeader(secret: string, tSeconds: number, body: Buffer | string): string {
  return `t=${tSeconds},v1=${signPayload(secret, tSeconds, body)}`;
}

export type SignatureCheck = { ok: true; tSeconds: number } | { ok: false; reason: string };

/**
 * What a receiver does (docs/api.md, "Webhooks"): parse t and every v1, recompute the HMAC over the raw
 * body as received, compare in constant time, and refuse a timestamp outside the replay window.
 */
export function verifySignature(
  header: string | undefined,
  body: Buffer | string,
  secret: string,
  nowSeconds: number,
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): SignatureCheck {
  if (!header) return { ok: false, reason: 'no signature header' };
  let t: number | undefined;
  const given: string[] = [];
  for (const part of header.split(',')) {
    const [k, v] = part.trim().split('=', 2);
    if (k === 't' && v && /^\d{1,12}$/.test(v)) t = Number(v);
    else if (k === 'v1' && v) given.push(v);
  }
  if (t === undefined || given.length === 0) return { ok: false, reason: 'malformed signature header' };
  if (Math.abs(nowSeconds - t) > toleranceSeconds) return { ok: false, reason: 'timestamp outside the replay window' };
  const expected = Buffer.from(signPayload(secret, t, body), 'hex');
  const match = given.some((hex) => {
    const got = Buffer.from(hex, 'hex');
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
  return match ? { ok: true, tSeconds: t } : { ok: false, reason: 'signature does not match' };
}
