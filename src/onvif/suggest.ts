import { CAMERA_ID_PATTERN } from '../config/camera.schema.js';
import type { DeviceReport, MediaProfile } from './device-client.js';

/** A camera body for `POST /api/v1/cameras`, filled from what a device said of itself. */
export interface SuggestedCamera {
  id: string;
  name: string;
  main_url: string;
  sub_url: string | null;
  onvif_url: string;
}

export interface Credentials {
  username: string;
  password: string;
}

/**
 * The user name and password inside a URL's userinfo (percent-decoded), as Vigil's camera URLs carry
 * them (`rtsp://user:pass@host/…`); null when the URL has none.
 */
export function credentialsOf(url: string): Credentials | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (!u.username && !u.password) return null;
  return { username: decode(u.username), password: decode(u.password) };
}

/**
 * An RTSP URI with the credentials in its userinfo, percent-encoded, which is how `main_url` carries
 * them: ffmpeg splits user from password at the first `:` and decodes both, and the API masks the
 * password when it shows the URL. Credentials a device put in its URI are replaced.
 */
export function withCredentials(uri: string, creds: Credentials): string {
  const m = /^(rtsps?:\/\/)(?:[^/?#]*@)?(.*)$/i.exec(uri);
  if (!m || !creds.username) return uri;
  const userinfo = `${encodeURIComponent(creds.username)}${creds.password ? `:${encodeURIComponent(creds.password)}` : ''}@`;
  return `${m[1] as string}${userinfo}${m[2] as string}`;
}

/**
 * main = the profile with the most pixels, sub = the one with the fewest (when it is another stream),
 * among profiles that have an RTSP URI; null when none has one.
 */
export function suggestCamera(report: DeviceReport, creds: Credentials, deviceUrl: URL): SuggestedCamera | null {
  const streams = report.profiles.filter((p): p is MediaProfile & { streamUri: string } => p.streamUri !== null);
  if (streams.length === 0) return null;
  const pixels = (p: MediaProfile) => (p.width ?? 0) * (p.height ?? 0);
  // Stable sort: among equal sizes the device's own order (its first profile is usually the main stream).
  const bySize = [...streams].sort((a, b) => pixels(b) - pixels(a));
  const main = bySize[0] as (typeof streams)[number];
  const sub = bySize[bySize.length - 1] as (typeof streams)[number];
  const d = report.device;
  const name = [d.manufacturer, d.model].filter(Boolean).join(' ') || deviceUrl.hostname;
  return {
    id: cameraIdFor(d.model ?? d.manufacturer ?? deviceUrl.hostname, deviceUrl.hostname),
    name: name.slice(0, 200),
    main_url: withCredentials(main.streamUri, creds),
    sub_url: sub.streamUri === main.streamUri ? null : withCredentials(sub.streamUri, creds),
    onvif_url: deviceUrl.href,
  };
}

/** A camera id (slug) from a model name and the device's host, e.g. `ds-2cd2043-10-0-0-5`. */
export function cameraIdFor(label: string, host: string): string {
  const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  const id = [slug(label), slug(host)].filter(Boolean).join('-').slice(0, 63).replace(/-+$/, '');
  return new RegExp(CAMERA_ID_PATTERN).test(id) ? id : 'camera';
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
