/**
 * Credentials inside camera URLs are never printed: API output, logs and events show
 * `rtsp://user:***@host/…`. Works on whole strings (ffmpeg stderr quotes the URL it opened).
 */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@:]*)(?::[^\s/@]*)?@/gi;

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
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/@:]*:([^/@]*)@/i.exec(url);
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
