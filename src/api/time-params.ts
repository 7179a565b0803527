import { invalidArgument } from '../shared/errors.js';
import { parseIsoMs } from '../shared/time.js';

/** Parses `from`/`to` query values (ISO-8601 with offset) with defaults; from must not be after to. */
export function parseRange(q: { from?: string | undefined; to?: string | undefined }, defaults: { fromMs: number; toMs: number }) {
  const fromMs = q.from === undefined ? defaults.fromMs : parseTime(q.from, 'from');
  const toMs = q.to === undefined ? defaults.toMs : parseTime(q.to, 'to');
  if (fromMs > toMs) throw invalidArgument('from must not be after to', 'from');
  return { fromMs, toMs };
}

export function parseTime(value: string, field: string): number {
  const ms = parseIsoMs(value);
  if (ms === null) throw invalidArgument(`${field} must be an ISO-8601 time with offset, e.g. 2026-11-25T10:15:00Z`, field);
  return ms;
}
