import type onvif from 'onvif';
import type { Clock } from '../shared/clock.js';
import { errorMessage, VigilError } from '../shared/errors.js';
import { boundedAgent, ResponseTooLargeError, type BoundedAgent } from './bounded-agent.js';
import { onvifPackage } from './package.js';
import { xmlAttributes, xmlElement, xmlText } from './xml-text.js';

type Cam = InstanceType<typeof onvif.Cam>;

/** Where a device service answers and with which credentials (the URL carries none). */
export interface DeviceTarget {
  url: URL;
  username: string;
  password: string;
}

export interface DeviceClientOptions {
  clock: Clock;
  /** The whole conversation with the device, all requests together. */
  timeoutMs: number;
  /** Largest single response accepted. */
  maxResponseBytes: number;
}

export interface DeviceInformation {
  manufacturer: string | null;
  model: string | null;
  firmware: string | null;
  serial: string | null;
  hardwareId: string | null;
}

export interface MediaProfile {
  token: string;
  name: string | null;
  encoding: string | null;
  width: number | null;
  height: number | null;
  fps: number | null;
  bitrateKbps: number | null;
  /** The profile's RTSP URI as the device gave it (credentials never included by devices); null when it gave none usable. */
  streamUri: string | null;
}

/** The device's clock against Vigil's. */
export interface ClockReading {
  /** What the device said its UTC time was (whole seconds: ONVIF has no finer field). */
  cameraUtcMs: number;
  /** Vigil's clock at the midpoint between sending the request and receiving the answer. */
  vigilUtcMs: number;
  /**
   * camera − Vigil, in ms. The device's time is a whole second, so the middle of that second
   * (+500 ms) is compared: an in-sync camera reads within ±(500 ms + half the round trip).
   */
  driftMs: number;
}

export interface DeviceReport {
  device: DeviceInformation;
  profiles: MediaProfile[];
  clock: ClockReading | null;
  /** Why `clock` is null (a device that reports only its local time cannot be compared). */
  clockError: string | null;
}

/** Why talking to the device failed; the API answers 502 with this as `reason`. */
export type DeviceFailure = 'unreachable' | 'timeout' | 'auth_refused' | 'not_onvif' | 'too_large' | 'device_error';

/** Profiles beyond this many are not listed (an NVR front-ending many channels would make inspect slow). */
export const MAX_PROFILES = 16;

/**
 * Reads device information, media profiles with their RTSP URIs and the clock, through the onvif
 * package (WS-Security UsernameToken digest on every request, HTTP digest when the device asks for it).
 */
export async function readDevice(target: DeviceTarget, opts: DeviceClientOptions): Promise<DeviceReport> {
  return withSession(target, opts, async (s) => {
    const { clock, clockError } = await s.readClock();
    await s.discoverServices();
    const info = await s.call<unknown>((cb) => s.cam.getDeviceInformation(cb));
    const profiles = await s.profiles();
    for (const p of profiles) {
      // One profile without a stream (metadata only, or refused) does not hide the others.
      p.streamUri = await s.streamUri(p.token).catch((err: unknown) => {
        if (err instanceof DeviceError && err.reason === 'device_error') return null;
        throw err;
      });
    }
    return { device: deviceInformation(info.xml), profiles, clock, clockError };
  });
}

/** Only the clock: GetSystemDateAndTime, which devices answer before authentication (some only after). */
export async function readDeviceClock(target: DeviceTarget, opts: DeviceClientOptions): Promise<ClockReading> {
  return withSession(target, opts, async (s) => {
    const { clock, clockError } = await s.readClock();
    if (!clock) throw new DeviceError('device_error', clockError ?? 'the device did not report its time');
    return clock;
  });
}

export class DeviceError extends Error {
  constructor(readonly reason: DeviceFailure, message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'DeviceError';
  }
}

/** A device failure as the API's error: 502 with `reason`; a refused login names the password field. */
export function deviceFailure(err: unknown, where: string): VigilError {
  const e = err instanceof DeviceError ? err : classify(err);
  const text: Record<DeviceFailure, string> = {
    unreachable: `cannot reach the ONVIF device at ${where}`,
    timeout: `the ONVIF device at ${where} did not answer in time`,
    auth_refused: `the ONVIF device at ${where} refused the user name or password`,
    not_onvif: `${where} does not answer as an ONVIF device service`,
    too_large: `the ONVIF device at ${where} sent an answer too large to read`,
    device_error: `the ONVIF device at ${where} answered with an error`,
  };
  const field = e.reason === 'auth_refused' ? 'password' : undefined;
  return new VigilError('bad_gateway', `${text[e.reason]}: ${e.message}`, {
    cause: e,
    details: { reason: e.reason },
    ...(field ? { field } : {}),
  });
}

class Session {
  private lastRequestAtMs = 0;
  private lastResponseAtMs = 0;
  private abortErr: Error | undefined;
  private readonly aborters = new Set<(err: Error) => void>();

  constructor(
    readonly cam: Cam,
    private readonly bounded: BoundedAgent,
    clock: Clock,
  ) {
    // Times of the last request sent and the last full answer: the clock reading's midpoint.
    cam.on('rawRequest', () => (this.lastRequestAtMs = clock.nowMs()));
    cam.on('rawResponse', () => (this.lastResponseAtMs = clock.nowMs()));
  }

  abort(err: Error): void {
    this.abortErr = err;
    this.bounded.destroy();
    for (const a of this.aborters) a(err);
  }

  /** One call of the package's callback API: settles once, whatever the package does (it may call back twice or throw). */
  call<T>(invoke: (cb: (err: Error | null, data?: T, xml?: string) => void) => void): Promise<{ data: T; xml: string }> {
    return new Promise((resolve, reject) => {
      if (this.abortErr) return reject(this.abortErr);
      let done = false;
      const settle = (fn: () => void) => {
        if (done) return;
        done = true;
        this.aborters.delete(onAbort);
        fn();
      };
      const onAbort = (err: Error) => settle(() => reject(err));
      this.aborters.add(onAbort);
      try {
        invoke((err, data, xml) => settle(() => (err ? reject(classify(err, xml)) : resolve({ data: data as T, xml: xml ?? '' }))));
      } catch (err) {
        settle(() => reject(classify(err)));
      }
    });
  }

  async readClock(): Promise<{ clock: ClockReading | null; clockError: string | null }> {
    const { xml } = await this.call<Date>((cb) => this.cam.getSystemDateAndTime(cb));
    const vigilUtcMs = Math.round((this.lastRequestAtMs + this.lastResponseAtMs) / 2);
    const cameraUtcMs = utcOf(xml);
    if (cameraUtcMs === null) {
      return { clock: null, clockError: 'the device reports no UTCDateTime (only its local time), so its clock cannot be compared' };
    }
    return { clock: { cameraUtcMs, vigilUtcMs, driftMs: cameraUtcMs + 500 - vigilUtcMs }, clockError: null };
  }

  /** GetServices, and GetCapabilities for devices older than it (as the package's own connect does). */
  async discoverServices(): Promise<void> {
    try {
      await this.call((cb) => this.cam.getServices(true, cb));
    } catch (err) {
      if (err instanceof DeviceError && (err.reason === 'timeout' || err.reason === 'too_large')) throw err;
      await this.call((cb) => this.cam.getCapabilities(cb));
    }
    const uri = (this.cam as unknown as { uri?: Record<string, unknown> }).uri ?? {};
    if (!uri.media && !uri.media2) throw new DeviceError('not_onvif', 'the device announces no media service');
  }

  /** Media2 profiles when the device has Media2 and they answer, else Media (Profile S). */
  async profiles(): Promise<MediaProfile[]> {
    const cam = this.cam as unknown as { media2Support?: boolean; uri?: Record<string, unknown> };
    let answer: { data: unknown[]; xml: string };
    try {
      answer = await this.call<unknown[]>((cb) => this.cam.getProfiles(cb));
    } catch (err) {
      if (!cam.media2Support || !cam.uri?.media || (err instanceof DeviceError && err.reason !== 'device_error')) throw err;
      cam.media2Support = false;
      answer = await this.call<unknown[]>((cb) => this.cam.getProfiles(cb));
    }
    return profilesFrom(Array.isArray(answer.data) ? answer.data : [], answer.xml);
  }

  async streamUri(token: string): Promise<string | null> {
    const { data } = await this.call<{ uri?: unknown }>((cb) => this.cam.getStreamUri({ protocol: 'RTSP', profileToken: token }, cb));
    const uri = typeof data?.uri === 'string' ? data.uri.trim() : '';
    return /^rtsps?:\/\/[^\s\x00-\x1f\x7f]+$/.test(uri) && uri.length <= 2048 ? uri : null;
  }
}

async function withSession<T>(target: DeviceTarget, opts: DeviceClientOptions, work: (s: Session) => Promise<T>): Promise<T> {
  const secure = target.url.protocol === 'https:';
  const { Cam } = await onvifPackage();
  const bounded = boundedAgent(secure, opts.maxResponseBytes);
  const cam = new Cam({
    hostname: target.url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(target.url.port) || (secure ? 443 : 80),
    path: `${target.url.pathname}${target.url.search}` || '/onvif/device_service',
    username: target.username,
    password: target.password,
    useSecure: secure,
    timeout: opts.timeoutMs,
    autoconnect: false,
    agent: bounded.agent,
  });
  const session = new Session(cam, bounded, opts.clock);
  const timer = setTimeout(
    () => session.abort(new DeviceError('timeout', `no complete answer within ${opts.timeoutMs} ms`)),
    opts.timeoutMs,
  );
  try {
    return await work(session);
  } finally {
    clearTimeout(timer);
    bounded.destroy();
    cam.removeAllListeners();
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE', 'EADDRNOTAVAIL']);
/** How devices say "wrong credentials": HTTP digest refused, or a WS-Security fault (ter:NotAuthorized and vendors' wordings). */
const AUTH_REFUSED = /digest authentication (failed|headers not found)|not ?authori[sz]ed|unauthori[sz]ed|failedauthentication|authentication failed|invalid ?(user|password|credential)/i;

function classify(err: unknown, xml?: string): DeviceError {
  if (err instanceof DeviceError) return err;
  const message = errorMessage(err).slice(0, 300);
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof ResponseTooLargeError) return new DeviceError('too_large', message, { cause: err });
  if (/network timeout|ETIMEDOUT/i.test(message) || code === 'ETIMEDOUT') return new DeviceError('timeout', message, { cause: err });
  if (typeof code === 'string' && (UNREACHABLE.has(code) || code.startsWith('ERR_TLS') || code.includes('CERT'))) {
    return new DeviceError('unreachable', message, { cause: err });
  }
  if (AUTH_REFUSED.test(message) || (xml !== undefined && AUTH_REFUSED.test(xml.slice(0, 4096)))) {
    return new DeviceError('auth_refused', message, { cause: err });
  }
  if (/wrong onvif soap response|non-whitespace before first tag|unexpected close tag|unclosed root tag|invalid character/i.test(message)) {
    return new DeviceError('not_onvif', message, { cause: err });
  }
  return new DeviceError('device_error', message, { cause: err });
}

/** The UTC instant of a GetSystemDateAndTime answer, or null when it holds no UTCDateTime. */
export function utcOf(xml: string): number | null {
  const utc = xmlElement(xml, 'UTCDateTime');
  if (utc === null) return null;
  const n = (name: string) => Number(xmlText(utc, name));
  const [y, mo, d, h, mi, s] = ['Year', 'Month', 'Day', 'Hour', 'Minute', 'Second'].map(n) as number[];
  const ms = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!);
  return Number.isFinite(ms) ? ms : null;
}

function deviceInformation(xml: string): DeviceInformation {
  return {
    manufacturer: xmlText(xml, 'Manufacturer'),
    model: xmlText(xml, 'Model'),
    firmware: xmlText(xml, 'FirmwareVersion'),
    serial: xmlText(xml, 'SerialNumber'),
    hardwareId: xmlText(xml, 'HardwareId'),
  };
}

interface RawProfile {
  $?: { token?: unknown };
  name?: unknown;
  videoEncoderConfiguration?: {
    encoding?: unknown;
    resolution?: { width?: unknown; height?: unknown };
    rateControl?: { frameRateLimit?: unknown; bitrateLimit?: unknown };
  };
}

/** Profiles from the package's parse, with tokens and names as the device wrote them (see xml-text.ts). */
function profilesFrom(list: unknown[], xml: string): MediaProfile[] {
  const tokens = xmlAttributes(xml, 'Profiles', 'token');
  return list.slice(0, MAX_PROFILES).flatMap((raw, i) => {
    const p = raw as RawProfile;
    const token = tokens[i] ?? str(p.$?.token);
    if (!token) return [];
    const enc = p.videoEncoderConfiguration;
    return [{
      token,
      name: str(p.name),
      encoding: str(enc?.encoding),
      width: num(enc?.resolution?.width),
      height: num(enc?.resolution?.height),
      fps: num(enc?.rateControl?.frameRateLimit),
      bitrateKbps: num(enc?.rateControl?.bitrateLimit),
      streamUri: null,
    }];
  });
}

function str(v: unknown): string | null {
  if (typeof v === 'string') return v.trim() || null;
  if (typeof v === 'number') return String(v);
  return null;
}

function num(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : null;
}
