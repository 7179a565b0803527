import type { EventRow } from '../db/event.repo.js';
import { toIso } from '../shared/time.js';

/** A delivery's body is at most this long; a larger event payload is cut, with a marker. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The JSON a receiver gets: the event as the log holds it, plus the delivery's id and the subscription's.
 * The same bytes on every attempt of a delivery (only the signature's timestamp changes).
 */
export function deliveryBody(e: EventRow, deliveryId: string, webhookId: number): Buffer {
  const body = (payload: unknown) => ({
    id: e.id,
    type: e.type,
    severity: e.severity,
    camera_id: e.cameraId,
    ts: toIso(e.tsMs),
    payload,
    delivery_id: deliveryId,
    webhook_id: webhookId,
  });
  const whole = Buffer.from(JSON.stringify(body(e.payload)));
  if (whole.length <= MAX_BODY_BYTES) return whole;
  // Cut: the payload's JSON text, as much as fits, as a string beside the marker and the original size.
  const text = JSON.stringify(e.payload);
  const originalBytes = Buffer.byteLength(text);
  let keep = MAX_BODY_BYTES;
  for (;;) {
    const cut = Buffer.from(JSON.stringify(body({ truncated: true, original_bytes: originalBytes, preview: text.slice(0, keep) })));
    if (cut.length <= MAX_BODY_BYTES) return cut;
    // Escaping (quotes, control characters) lengthens the text; shrink by what is still over, and a bit.
    keep = Math.max(0, keep - (cut.length - MAX_BODY_BYTES) - 64);
  }
}
