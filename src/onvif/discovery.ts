import { onvifPackage } from './package.js';
import { VigilError } from '../shared/errors.js';
import { DISCOVERY_TIMEOUT_MAX_MS, DISCOVERY_TIMEOUT_MIN_MS } from './limits.js';
/** More answers than this in one round are dropped: a LAN rarely has more cameras than this on one subnet. */
export const DISCOVERY_MAX_DEVICES = 256;

/** One device that answered a WS-Discovery Probe for NetworkVideoTransmitter. */
export interface DiscoveredDevice {
  /** The WS-Addressing endpoint reference (`urn:uuid:…`): stable across address changes; devices are de-duplicated by it. */
  endpoint: string;
  /** The device service addresses it announced, http(s) only. */
  xaddrs: string[];
  name: string | null;
  hardware: string | null;
  location: string | null;
  scopes: string[];
  types: string[];
}

/** What the onvif package hands back for a ProbeMatch when asked not to resolve it into a Cam (xml2js, linerased). */
interface RawProbe {
  probeMatches?: { probeMatch?: RawMatch | RawMatch[] };
}
interface RawMatch {
  endpointReference?: { address?: unknown };
  types?: unknown;
  scopes?: unknown;
  XAddrs?: unknown;
}

/**
 * Sends one WS-Discovery Probe (SOAP over UDP multicast to 239.255.255.250:3702, through the onvif
 * package) and gathers the ProbeMatches that arrive within `timeoutMs`. Multicast leaves by the
 * interface the routing table picks for 239.255.255.250 (usually the default route's), and a router
 * does not forward it: cameras on other subnets are added by address instead.
 */
export async function discover(timeoutMs: number): Promise<DiscoveredDevice[]> {
  const timeout = Math.min(DISCOVERY_TIMEOUT_MAX_MS, Math.max(DISCOVERY_TIMEOUT_MIN_MS, Math.round(timeoutMs)));
  const { Discovery } = await onvifPackage();
  return new Promise((resolve, reject) => {
    let settled = false;
    // The package's Discovery is a process-wide emitter that emits 'error' for every malformed answer;
    // an 'error' without a listener would throw out of a timer and end the process.
    const onError = () => undefined;
    Discovery.on('error', onError);
    const finish = (err: Error | null, found: unknown[]) => {
      if (settled) return;
      settled = true;
      // The package still emits for answers parsed after its callback: keep listening a moment longer.
      setTimeout(() => Discovery.removeListener('error', onError), 1000).unref();
      if (err) reject(new VigilError('unavailable', `WS-Discovery failed: ${err.message}`, { cause: err }));
      else resolve(devicesFrom(found));
    };
    try {
      Discovery.probe({ timeout, resolve: false }, (err: unknown, found: unknown) => {
        // An array holds the answers that were not ProbeMatches (ignored); an Error is the socket's own.
        finish(err instanceof Error ? err : null, Array.isArray(found) ? found : []);
      });
    } catch (err) {
      finish(err instanceof Error ? err : new Error(String(err)), []);
    }
  });
}

/** ProbeMatches → devices, one per endpoint reference, in the order they answered. */
export function devicesFrom(found: unknown[]): DiscoveredDevice[] {
  const byEndpoint = new Map<string, DiscoveredDevice>();
  for (const raw of found) {
    const matches = (raw as RawProbe | null)?.probeMatches?.probeMatch;
    for (const m of Array.isArray(matches) ? matches : matches ? [matches] : []) {
      const device = deviceFrom(m);
      if (!device) continue;
      const known = byEndpoint.get(device.endpoint);
      if (known) known.xaddrs = [...new Set([...known.xaddrs, ...device.xaddrs])];
      else if (byEndpoint.size < DISCOVERY_MAX_DEVICES) byEndpoint.set(device.endpoint, device);
    }
  }
  return [...byEndpoint.values()];
}

function deviceFrom(m: RawMatch): DiscoveredDevice | undefined {
  const xaddrs = words(m.XAddrs).filter(isHttpUrl);
  const endpoint = text(m.endpointReference?.address) || xaddrs[0];
  if (!endpoint || xaddrs.length === 0) return undefined;
  const scopes = words(m.scopes);
  return {
    endpoint,
    xaddrs,
    name: scopeValue(scopes, 'name'),
    hardware: scopeValue(scopes, 'hardware'),
    location: scopeValue(scopes, 'location'),
    scopes,
    types: words(m.types),
  };
}

/**
 * The value of an ONVIF scope such as `onvif://www.onvif.org/name/Front%20Door` (percent-decoded);
 * several location scopes (`location/country/de`, `location/city/berlin`) are joined with ", ".
 */
export function scopeValue(scopes: readonly string[], key: 'name' | 'hardware' | 'location'): string | null {
  const prefix = `onvif://www.onvif.org/${key}/`;
  const values = scopes
    .filter((s) => s.toLowerCase().startsWith(prefix))
    .map((s) => decode(s.slice(prefix.length)).replace(/\/+$/, ''))
    .filter(Boolean);
  if (values.length === 0) return null;
  return key === 'location' ? values.join(', ') : (values[0] as string);
}

/** xml2js gives an element's text as a string, or as `{_: text, $: attributes}` when it has attributes (Scopes MatchBy). */
function text(v: unknown): string {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v && typeof v === 'object' && '_' in v) return text((v as { _: unknown })._);
  return '';
}

function words(v: unknown): string[] {
  return text(v).split(/\s+/).filter(Boolean).slice(0, 64);
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
