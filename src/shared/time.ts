const DAY_MS = 86_400_000;
/** The UTC day of the last instant formatted: its first ms and its `YYYY-MM-DDT`. */
let dayStartMs = Number.NaN;
let dayPrefix = '';
/** The character codes of `dayPrefix` when it is the usual 11 (years 0000–9999). */
let dayCodes: number[] | undefined;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * API speaks ISO-8601 with offset; the database speaks integer ms since the epoch (UTC). Exactly
 * `Date.prototype.toISOString`, but the date part is kept for the last day formatted and the time of
 * day is plain arithmetic: a page of 100 segments formats 200 instants of mostly one day, and
 * `toISOString` costs ~0.6 µs each. The string is made from its character codes in one piece: joined
 * from parts it would be a rope, which the JSON serializer's read of each character flattens again.
 */
export function toIso(ms: number): string {
  if (Number.isInteger(ms) && ms >= dayStartMs && ms < dayStartMs + DAY_MS) {
    let t = ms - dayStartMs;
    const milli = t % 1000;
    t = (t - milli) / 1000;
    const sec = t % 60;
    t = (t - sec) / 60;
    const min = t % 60;
    const hour = (t - min) / 60;
    const d = dayCodes;
    if (d) {
      return String.fromCharCode(
        d[0]!, d[1]!, d[2]!, d[3]!, d[4]!, d[5]!, d[6]!, d[7]!, d[8]!, d[9]!, d[10]!,
        48 + ((hour / 10) | 0), 48 + (hour % 10), 58, 48 + ((min / 10) | 0), 48 + (min % 10), 58, 48 + ((sec / 10) | 0), 48 + (sec % 10),
        46, 48 + ((milli / 100) | 0), 48 + (((milli / 10) | 0) % 10), 48 + (milli % 10), 90,
      );
    }
    return `${dayPrefix}${pad2(hour)}:${pad2(min)}:${pad2(sec)}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
  }
  const iso = new Date(ms).toISOString();
  if (Number.isInteger(ms)) {
    dayStartMs = ms - (((ms % DAY_MS) + DAY_MS) % DAY_MS);
    dayPrefix = iso.slice(0, iso.indexOf('T') + 1);
    dayCodes = dayPrefix.length === 11 ? Array.from(dayPrefix, (c) => c.charCodeAt(0)) : undefined;
  }
  return iso;
}

export function toIsoOrNull(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : toIso(ms);
}

/** ISO-8601 with an explicit offset (Z or ±hh:mm); a bare local time is ambiguous and refused. */
const ISO_WITH_OFFSET =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

export function parseIsoMs(value: string): number | null {
  if (!ISO_WITH_OFFSET.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}
