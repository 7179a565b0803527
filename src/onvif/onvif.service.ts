import type { Logger } from 'pino';
import type { Clock } from '../shared/clock.js';
import { invalidArgument } from '../shared/errors.js';
import {
  deviceFailure,
  readDevice,
  readDeviceClock,
  type ClockReading,
  type DeviceReport,
  type DeviceTarget,
} from './device-client.js';
import { discover, type DiscoveredDevice } from './discovery.js';
import { credentialsOf, suggestCamera, type SuggestedCamera } from './suggest.js';

/** A camera's clock further than this from Vigil's makes edge refills pull the wrong span. */
export const CLOCK_DRIFT_LIMIT_MS = 2000;
/** The path ONVIF devices serve their device service on (ONVIF Core, "Device management"). */
export const DEFAULT_DEVICE_PATH = '/onvif/device_service';
/** One inspect, all requests together; one answer at most this big. */
export const INSPECT_TIMEOUT_MS = 10_000;
export const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface InspectInput {
  xaddr?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  username?: string | undefined;
  password?: string | undefined;
}

export interface InspectResult extends DeviceReport {
  /** The device service address used, without credentials. */
  xaddr: string;
  drifting: boolean | null;
  suggested: SuggestedCamera | null;
}

export interface OnvifDeps {
  clock: Clock;
  log: Logger;
  /** Tests shorten it; the default suits cameras on a LAN. */
  timeoutMs?: number;
}

/** ONVIF for the camera admin: find devices on the LAN, read one, read a device's clock. */
export class OnvifService {
  constructor(private readonly d: OnvifDeps) {}

  discover(timeoutMs: number): Promise<DiscoveredDevice[]> {
    return discover(timeoutMs);
  }

  async inspect(input: InspectInput): Promise<InspectResult> {
    const target = deviceTarget(input);
    const where = target.url.host;
    let report: DeviceReport;
    try {
      report = await readDevice(target, this.options());
    } catch (err) {
      this.d.log.info({ err, device: where }, 'ONVIF inspect failed');
      throw deviceFailure(err, where);
    }
    return {
      ...report,
      xaddr: target.url.href,
      drifting: report.clock ? Math.abs(report.clock.driftMs) > CLOCK_DRIFT_LIMIT_MS : null,
      suggested: suggestCamera(report, { username: target.username, password: target.password }, target.url),
    };
  }

  /** A configured camera's clock: its `onvif_url`, credentials from that URL, else from its main URL. */
  async readClock(onvifUrl: string, mainUrl: string): Promise<ClockReading> {
    const target = deviceTarget({ xaddr: onvifUrl, ...(credentialsOf(onvifUrl) ?? credentialsOf(mainUrl) ?? {}) });
    try {
      return await readDeviceClock(target, this.options());
    } catch (err) {
      throw deviceFailure(err, target.url.host);
    }
  }

  private options() {
    return { clock: this.d.clock, timeoutMs: this.d.timeoutMs ?? INSPECT_TIMEOUT_MS, maxResponseBytes: MAX_RESPONSE_BYTES };
  }
}

/**
 * The device service to talk to: `xaddr` (http or https only: anything else is refused before a
 * socket opens), or `http://host:port/onvif/device_service`. Credentials inside the URL are used when
 * none are given apart, and never kept in it.
 */
export function deviceTarget(input: InspectInput): DeviceTarget {
  let url: URL;
  if (input.xaddr !== undefined) {
    try {
      url = new URL(input.xaddr);
    } catch {
      throw invalidArgument('xaddr is not a URL (e.g. http://192.0.2.10/onvif/device_service)', 'xaddr');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalidArgument('xaddr must be an http:// or https:// URL', 'xaddr');
  } else if (input.host !== undefined) {
    const host = input.host.includes(':') && !input.host.startsWith('[') ? `[${input.host}]` : input.host;
    try {
      url = new URL(`http://${host}:${input.port ?? 80}${DEFAULT_DEVICE_PATH}`);
    } catch {
      throw invalidArgument('host is not a host name or address', 'host');
    }
  } else {
    throw invalidArgument('give the device service address (xaddr) or its host', 'xaddr');
  }
  if (!url.hostname) throw invalidArgument('the device address names no host', input.xaddr !== undefined ? 'xaddr' : 'host');
  const inUrl = credentialsOf(url.href);
  url.username = '';
  url.password = '';
  url.hash = '';
  const username = input.username ?? inUrl?.username ?? '';
  const password = input.password ?? (input.username === undefined ? inUrl?.password : undefined) ?? '';
  return { url, username, password };
}
