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
