import type { AnrPreset, AnrSettings } from '../shared/camera-settings.js';
import { invalidArgument } from '../shared/errors.js';

/**
 * Edge replay URLs. A template is an rtsp(s) URL with placeholders:
 *   {start:FORMAT} {end:FORMAT}  the span to replay; FORMAT is one of TIME_FORMATS
 *   {user} {password} {host} {port}  taken from the camera's main URL (as written there, still encoded)
 * Presets build the template from the main URL. They keep whatever path comes before the vendor's own
 * path (`/Streaming/…` for Hikvision, `/cam/…` for Dahua): a real camera has none, while a camera behind
 * an RTSP proxy (or the fake camera, which names mounts `/<name>`) keeps its prefix.
 */
export const TIME_FORMATS = ['iso_basic_z', 'dahua', 'unix'] as const;
export type TimeFormat = (typeof TIME_FORMATS)[number];

const URL_PLACEHOLDERS = ['user', 'password', 'host', 'port'] as const;
const PLACEHOLDER = /\{([^{}]*)\}/g;
const SAFE_URL = /^rtsps?:\/\/[^\s\x00-\x1f\x7f]+$/;

interface UrlParts {
  scheme: 'rtsp' | 'rtsps';
  user: string | null;
  password: string | null;
  host: string;
  port: string;
  /** Path and query, starting with '/' (or empty). */
  path: string;
}

/** Splits an rtsp(s) URL without decoding it (a password may hold characters URL parsers reject). */
export function splitRtspUrl(url: string): UrlParts {
  const m = /^(rtsps?):\/\/(?:([^/@:]*)(?::([^/]*))?@)?(\[[0-9a-fA-F:.]+\]|[^/:?#]+)(?::(\d{1,5}))?([/?].*)?$/i.exec(url);
  if (!m) throw invalidArgument('main_url is not an rtsp:// URL with a host', 'main_url');
  const scheme = (m[1] as string).toLowerCase() as 'rtsp' | 'rtsps';
  return {
    scheme,
    user: m[2] ?? null,
    password: m[3] ?? null,
    host: m[4] as string,
    port: m[5] ?? (scheme === 'rtsps' ? '322' : '554'),
    path: m[6] ?? '',
  };
}

/** The template a preset stands for, built from the main URL; null for `generic` (the template is written out). */
export function presetTemplate(preset: AnrPreset, mainUrl: string): string | null {
  if (preset === 'generic') return null;
  const u = splitRtspUrl(mainUrl);
  const auth = u.user === null ? '' : u.password === null ? '{user}@' : '{user}:{password}@';
  const base = `${u.scheme}://${auth}{host}:{port}`;
  const pathOnly = u.path.split('?')[0] ?? '';
  if (preset === 'hikvision') {
    const at = pathOnly.search(/\/Streaming\//i);
    const prefix = at >= 0 ? pathOnly.slice(0, at) : pathOnly.replace(/\/+$/, '');
    // Channel n's main stream is track n01; the live URL names it Channels/n01 or n02 (sub-stream).
    const ch = /\/Channels\/(\d+)/i.exec(pathOnly)?.[1];
    const track = ch ? Math.max(1, Math.floor(Number(ch) / 100)) * 100 + 1 : 101;
    return `${base}${prefix}/Streaming/tracks/${track}?starttime={start:iso_basic_z}&endtime={end:iso_basic_z}`;
  }
  const at = pathOnly.search(/\/cam\//i);
  const prefix = at >= 0 ? pathOnly.slice(0, at) : pathOnly.replace(/\/+$/, '');
  const channel = /[?&]channel=(\d+)/i.exec(u.path)?.[1] ?? '1';
  return `${base}${prefix}/cam/playback?channel=${channel}&starttime={start:dahua}&endtime={end:dahua}`;
}

/** The template in effect: the written one wins over a preset. */
export function effectiveTemplate(anr: AnrSettings, mainUrl: string): string | null {
  if (anr.replayUrlTemplate !== null) return anr.replayUrlTemplate;
  return anr.preset === null ? null : presetTemplate(anr.preset, mainUrl);
}

/** Throws invalid_argument naming the field (`anr_timezone`) unless the zone is one Intl knows. */
export function checkTimezone(tz: string, field = 'anr_timezone'): void {
  if (!/^[A-Za-z0-9_+./-]{1,64}$/.test(tz)) throw invalidArgument(`${field} "${tz}" is not an IANA time zone name`, field);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw invalidArgument(`${field} "${tz}" is not a known IANA time zone (e.g. UTC, Europe/Berlin)`, field);
  }
}

/** Throws invalid_argument naming the field unless the template is rtsp(s) and every placeholder is known. */
export function checkTemplate(template: string, field = 'anr_replay_url_template'): void {
  if (!SAFE_URL.test(template)) throw invalidArgument(`${field} must be an rtsp:// or rtsps:// URL without spaces`, field);
  const stripped = template.replace(PLACEHOLDER, '');
  if (/[{}]/.test(stripped)) throw invalidArgument(`${field} has an unbalanced { or }`, field);
  const seen = new Set<string>();
  for (const m of template.matchAll(PLACEHOLDER)) {
    const body = m[1] as string;
    const [name, format, extra] = body.split(':');
    if (name === 'start' || name === 'end') {
      if (format === undefined || extra !== undefined || !(TIME_FORMATS as readonly string[]).includes(format)) {
        throw invalidArgument(`${field}: {${body}} needs a time format: one of ${TIME_FORMATS.join(', ')}`, field);
      }
    } else if (!(URL_PLACEHOLDERS as readonly string[]).includes(body)) {
      throw invalidArgument(`${field}: unknown placeholder {${body}}; known: {start:FORMAT}, {end:FORMAT}, {user}, {password}, {host}, {port}`, field);
    }
    seen.add(name as string);
  }
  if (!seen.has('start') || !seen.has('end')) throw invalidArgument(`${field} must contain {start:FORMAT} and {end:FORMAT}`, field);
}

/** Validates a camera's edge replay settings as a whole; errors name the field to fix. */
export function checkAnrSettings(anr: AnrSettings, mainUrl: string): void {
  checkTimezone(anr.timezone);
  if (anr.replayUrlTemplate !== null) checkTemplate(anr.replayUrlTemplate);
  if (anr.preset === 'generic' && anr.replayUrlTemplate === null) {
    throw invalidArgument('anr_preset "generic" needs anr_replay_url_template', 'anr_replay_url_template');
  }
  if (anr.enabled && effectiveTemplate(anr, mainUrl) === null) {
    throw invalidArgument('anr_enabled needs anr_replay_url_template or an anr_preset (hikvision, dahua)', 'anr_enabled');
  }
  const template = effectiveTemplate(anr, mainUrl);
  if (template !== null) checkTemplate(template, anr.replayUrlTemplate === null ? 'anr_preset' : 'anr_replay_url_template');
}

/** Formats an instant (ms since the epoch) for a replay URL. */
export function formatTime(ms: number, format: TimeFormat, timezone: string): string {
  const seconds = Math.floor(ms / 1000);
  if (format === 'unix') return String(seconds);
  if (format === 'iso_basic_z') return new Date(seconds * 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(new Date(seconds * 1000))
      .map((p) => [p.type, p.value]),
  ) as Record<string, string>;
  return `${parts['year']}_${parts['month']}_${parts['day']}_${parts['hour']}_${parts['minute']}_${parts['second']}`;
}

/**
 * The URL ffmpeg opens to replay [startMs, endMs). Times have one-second resolution: the start is
 * rounded down and the end up, so the span asked for always holds the whole gap.
 */
export function renderReplayUrl(anr: AnrSettings, mainUrl: string, startMs: number, endMs: number): string {
  const template = effectiveTemplate(anr, mainUrl);
  if (template === null) throw invalidArgument('camera has no edge replay URL', 'anr_replay_url_template');
  const u = splitRtspUrl(mainUrl);
  const endRoundedMs = Math.ceil(endMs / 1000) * 1000;
  const url = template.replace(PLACEHOLDER, (_m, body: string) => {
    const [name, format] = body.split(':') as [string, TimeFormat | undefined];
    if (name === 'start') return formatTime(startMs, format as TimeFormat, anr.timezone);
    if (name === 'end') return formatTime(endRoundedMs, format as TimeFormat, anr.timezone);
    if (name === 'user') return u.user ?? '';
    if (name === 'password') return u.password ?? '';
    if (name === 'host') return u.host;
    return u.port;
  });
  if (!SAFE_URL.test(url)) throw invalidArgument('the rendered replay URL is not an rtsp:// URL without spaces', 'anr_replay_url_template');
  return url;
}
