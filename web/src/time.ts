/**
 * Wall-clock formatting and parsing in the site's time zone (config `site.time_zone`, served at
 * `/api/v1/site`): every time on the page is shown and typed in that one zone, whatever the browser's,
 * always 24-hour. Until the zone is known (or if it cannot be read) the browser's zone is used.
 */
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

let zone: string | undefined;
let partsFormat = makeFormat(undefined);

function makeFormat(timeZone: string | undefined): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat('en-US', {
    ...(timeZone ? { timeZone } : {}),
    hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

/** Sets the zone every time is shown and typed in (an IANA name). */
export function setSiteZone(timeZone: string): void {
  partsFormat = makeFormat(timeZone);
  zone = timeZone;
}

/** The site's zone name, as shown on the page. */
export function siteZone(): string {
  return zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** Reads the site's zone from the API once, before the first view shows a time. */
export async function loadSiteZone(base: string): Promise<void> {
  try {
    const res = await fetch(`${base}/site`, { credentials: 'same-origin' });
    if (!res.ok) return;
    const body = (await res.json()) as { time_zone?: unknown };
    if (typeof body.time_zone === 'string') setSiteZone(body.time_zone);
  } catch {
    // An older Vigil or a network hiccup: the browser's zone it is; every time still says which.
  }
}

function fields(ms: number): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  const p: Record<string, number> = {};
  for (const part of partsFormat.formatToParts(ms)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return { y: p.year ?? 0, mo: p.month ?? 1, d: p.day ?? 1, h: (p.hour ?? 0) % 24, mi: p.minute ?? 0, s: p.second ?? 0 };
}

/** The site zone's offset from UTC at `ms` (ms; east positive). */
export function zoneOffsetMs(ms: number): number {
  const f = fields(ms);
  const asUtc = Date.UTC(f.y, f.mo - 1, f.d, f.h, f.mi, f.s);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** `2026-11-25 10:15:03` in the site's zone. */
export function formatDateTime(ms: number): string {
  const f = fields(ms);
  return `${f.y}-${pad(f.mo)}-${pad(f.d)} ${pad(f.h)}:${pad(f.mi)}:${pad(f.s)}`;
}

export function formatTime(ms: number, withSeconds = true): string {
  const f = fields(ms);
  return `${pad(f.h)}:${pad(f.mi)}${withSeconds ? `:${pad(f.s)}` : ''}`;
}

/** Value for `<input type="datetime-local" step="1">`, in the site's zone. */
export function toLocalInput(ms: number): string {
  return formatDateTime(ms).replace(' ', 'T');
}

/** `YYYY-MM-DD hh:mm[:ss]` (or with a `T`) read in the site's zone; null when it is not one. */
export function fromLocalInput(value: string): number | null {
  const m = /^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?\s*$/.exec(value);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return null;
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s);
  // The offset at the guess, then at the instant it gives (one correction settles a DST edge).
  let ms = asUtc - zoneOffsetMs(asUtc);
  ms = asUtc - zoneOffsetMs(ms);
  return ms;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}

export function formatBitrate(bps: number | null): string {
  if (bps === null) return '—';
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mbit/s`;
  return `${Math.round(bps / 1e3)} kbit/s`;
}

export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  return `${Math.round(n / 1e3)} kB`;
}
