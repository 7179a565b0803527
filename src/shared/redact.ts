/**
 * Credentials inside camera URLs are never printed: API output, logs and events show
 * `rtsp://user:***@host/…`. Works on whole strings (ffmpeg stderr quotes the URL it opened).
 */
// The password runs to the last @ of the authority (ffmpeg accepts an unencoded @ in it); no part
// crosses whitespace, a slash or a quote, so a match never spans two JSON strings.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@:"]*)(?::[^\s/"]*)?@/gi;

export function redactUrl(text: string): string {
  return text.replace(URL_USERINFO, (_m, scheme: string, user: string) =>
    user ? `${scheme}${user}:***@` : `${scheme}***@`,
  );
}

/** Redacts a known secret wherever it appears verbatim (ffmpeg may echo it URL-decoded). */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = redactUrl(text);
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join('***');
  return out;
}

/** The password (decoded and raw) of a URL, for `redactSecrets`. */
export function urlSecrets(url: string): string[] {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/@:]*:([^/]*)@/i.exec(url);
  if (!m?.[1]) return [];
  const raw = m[1];
  let decoded = raw;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    /* keep raw */
  }
  return decoded === raw ? [raw] : [raw, decoded];
}

/** Redacts every string inside a JSON-like value (event payloads), leaving its structure intact. */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactUrl(value) as T;
  if (Array.isArray(value)) return value.map(redactDeep) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  }
  return value;
}
