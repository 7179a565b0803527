import { invalidArgument } from './errors.js';

/** Opaque keyset cursor over (start_ms, id), as the segment listings hand out in `next_cursor`. */
export function encodeCursor(startMs: number, id: number): string {
  return Buffer.from(`${startMs}:${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { startMs: number; id: number } {
  const m = /^(-?\d{1,16}):(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw invalidArgument('cursor is not one this API returned', 'cursor');
  return { startMs: Number(m[1]), id: Number(m[2]) };
}

/**
 * Opaque keyset cursor over (start_ms, end_ms, id): a camera's segment list, ordered as its index
 * (camera_id, start_ms, end_ms) reads, so the page needs no sort of its own.
 */
export function encodeSegmentCursor(startMs: number, endMs: number, id: number): string {
  return Buffer.from(`${startMs}:${endMs}:${id}`).toString('base64url');
}

/** A segment list's cursor; one of the older (start_ms, id) form has no `endMs`. */
export function decodeSegmentCursor(cursor: string): { startMs: number; endMs?: number; id: number } {
  const m = /^(-?\d{1,16}):(-?\d{1,16}):(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) return decodeCursor(cursor);
  return { startMs: Number(m[1]), endMs: Number(m[2]), id: Number(m[3]) };
}
