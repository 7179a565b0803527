import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './retry.js';
import { deliveryBody, MAX_BODY_BYTES } from './webhook-body.js';

describe('retry schedule', () => {
  it('spans 1 s to 1 h over the 8 default attempts, growing geometrically', () => {
    const p = { maxAttempts: 8, backoffInitialMs: 1000, backoffMaxMs: 3_600_000 };
    const waits = [1, 2, 3, 4, 5, 6, 7].map((a) => retryDelayMs(a, p));
    expect(waits[0]).toBe(1000);
    expect(waits[6]).toBe(3_600_000);
    for (let i = 1; i < waits.length; i++) expect(waits[i]! / waits[i - 1]!).toBeCloseTo(3600 ** (1 / 6), 2);
    // Never past the maximum, whatever the attempt.
    expect(retryDelayMs(20, p)).toBe(3_600_000);
  });

  it('with one or two attempts, the one wait is the initial one', () => {
    expect(retryDelayMs(1, { maxAttempts: 2, backoffInitialMs: 500, backoffMaxMs: 9000 })).toBe(500);
    expect(retryDelayMs(1, { maxAttempts: 1, backoffInitialMs: 500, backoffMaxMs: 9000 })).toBe(500);
  });
});

describe('delivery body', () => {
  const event = { id: 42, tsMs: Date.UTC(2026, 10, 25, 10, 0, 0), type: 'recording_gap', severity: 'warning' as const, cameraId: 'cam1', payload: { gap_ms: 5000 }, requestId: null };

  it('is the event with the delivery and subscription ids', () => {
    expect(JSON.parse(deliveryBody(event, 'd-1', 3).toString())).toEqual({
      id: 42,
      type: 'recording_gap',
      severity: 'warning',
      camera_id: 'cam1',
      ts: '2026-11-25T10:00:00.000Z',
      payload: { gap_ms: 5000 },
      delivery_id: 'd-1',
      webhook_id: 3,
    });
  });

  it('stays within 64 KiB: a larger payload is cut, with a marker and its original size', () => {
    const big = { ...event, payload: { text: '"quoted" \u00e9'.repeat(20_000) } };
    const out = deliveryBody(big, 'd-2', 3);
    expect(out.length).toBeLessThanOrEqual(MAX_BODY_BYTES);
    const parsed = JSON.parse(out.toString()) as { id: number; payload: { truncated: boolean; original_bytes: number; preview: string } };
    expect(parsed.id).toBe(42);
    expect(parsed.payload.truncated).toBe(true);
    expect(parsed.payload.original_bytes).toBe(Buffer.byteLength(JSON.stringify(big.payload)));
    expect(parsed.payload.preview.length).toBeGreaterThan(10_000);
    expect(JSON.stringify(big.payload).startsWith(parsed.payload.preview)).toBe(true);
  });
});
