/**
 * Credentials inside camera URLs are never printed: API output, logs and events show
 * `rtsp://user:***@host/…`. Works on whole strings (ffmpeg stderr quotes the URL it opened).
 */
const SCHEME = /\b[a-z][a-z0-9+.-]*:\/\//gi;

/**
 * Where the userinfo of a URL ends, given `rest`, the URL after `scheme://`: the index of its last
 * `@` (ffmpeg splits user:password from host at the last @ of the authority, so a user name or a
 * password may hold an unencoded @), or -1 when there is none. An @ that only a path or query holds
 * (`rtsp://h/live@main`) is not one: userinfo has its first `:` before any `/ ? #`, or none of them.
 */
function userinfoEnd(rest: string): number {
  const at = rest.lastIndexOf('@');
  if (at < 0) return -1;
  const info = rest.slice(0, at);
  const colon = info.indexOf(':');
  const delimiter = info.search(/[/?#]/);
  return delimiter < 0 || (colon >= 0 && colon < delimiter) ? at : -1;
}

/** `user:***` for userinfo `user:password` (the password runs from the first `:`), `***` without a user. */
function maskedUserinfo(info: string): string {
  const colon = info.indexOf(':');
  const user = colon < 0 ? info : info.slice(0, colon);
  return user ? `${user}:***` : '***';
}

/**
 * One URL (a camera's configured URL): its password masked, `rtsp://user:***@host/…`, whatever the
 * password or the user name holds (@, :, /, quotes…).
 */
export function maskUrl(url: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  if (!m) return url;
  const rest = url.slice(m[0].length);
  const at = userinfoEnd(rest);
  return at < 0 ? url : `${m[0]}${maskedUserinfo(rest.slice(0, at))}${rest.slice(at)}`;
}

/**
 * Every URL inside a text (ffmpeg's stderr, an error message) with its password masked. A URL runs to
 * whitespace, to the next URL, or to a quote that closes a JSON string (`"` before `,` `:` `}` `]` or
 * the end), so a match never spans two JSON strings while a password may still hold a quote.
 */
export function redactUrl(text: string): string {
  let out = '';
  let copied = 0;
  for (const m of text.matchAll(SCHEME)) {
    const start = (m.index ?? 0) + m[0].length;
    if (start <= copied) continue;
    const rest = text.slice(start, start + urlLength(text, start));
    const at = userinfoEnd(rest);
    if (at < 0) continue;
    out += text.slice(copied, start) + maskedUserinfo(rest.slice(0, at));
    copied = start + at;
  }
  return out + text.slice(copied);
}

/** How far the URL whose authority starts at `start` runs in `text` (see `redactUrl`). */
function urlLength(text: string, start: number): number {
  const tail = text.slice(start);
  const end = tail.search(/\s|[a-z][a-z0-9+.-]*:\/\/|"(?=[,:}\]]|$)/i);
  return end < 0 ? tail.length : end;
}

/** Redacts a known secret wherever it appears verbatim (ffmpeg may echo it URL-decoded). */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = redactUrl(text);
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join('***');
  return out;
}

/** The password (decoded and raw) of a URL, for `redactSecrets`. */
export function urlSecrets(url: string): string[] {
  const m = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  if (!m) return [];
  const rest = url.slice(m[0].length);
  const at = userinfoEnd(rest);
  const info = at < 0 ? '' : rest.slice(0, at);
  const colon = info.indexOf(':');
  const raw = colon < 0 ? '' : info.slice(colon + 1);
  if (!raw) return [];
  let decoded = raw;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    /* keep raw */
  }
  return decoded === raw ? [raw] : [raw, decoded];
}

/** Nesting kept by `redactDeep`; anything deeper is replaced, so a hostile value cannot exhaust the stack. */
export const REDACT_MAX_DEPTH = 16;

/**
 * Redacts every string inside a JSON-like value (event payloads, audit details), leaving its structure
 * intact down to `REDACT_MAX_DEPTH` levels; deeper values become the string `[too deep]`. Never throws.
 */
export function redactDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactUrl(value) as T;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= REDACT_MAX_DEPTH) return '[too deep]' as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1)) as T;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, depth + 1)])) as T;
}

/** Query parameters whose values are credentials wherever they appear in a logged URL. */
const CREDENTIAL_PARAM = /^(?:.*[_-])?(?:token|key|password|passwd|pass|pwd|secret|signature|sig|auth|authorization|credential|credentials|session|code)$/i;

/** A request URL for the log: the value of every credential-like query parameter replaced by `***`. */
export function redactQuery(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const parts = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        /* keep as written */
      }
      return eq >= 0 && CREDENTIAL_PARAM.test(decoded) ? `${name}=***` : redactUrl(pair);
    });
  return `${redactUrl(url.slice(0, q))}?${parts.join('&')}`;
}
