import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { DiscoveredDevice } from '../../onvif/discovery.js';
import type { InspectResult, OnvifService } from '../../onvif/onvif.service.js';
import { invalidArgument } from '../../shared/errors.js';
import { toIso } from '../../shared/time.js';
import { ErrorRef } from '../schemas/common.js';
import { NoQuery } from '../schemas/exports.schemas.js';
import { DeviceErrorOut, DiscoverBody, DiscoverOut, InspectBody, InspectOut } from '../schemas/onvif.schemas.js';

const DEFAULT_DISCOVERY_TIMEOUT_MS = 3000;

/** Adding cameras over ONVIF: find them on the LAN, then read one (admins only: Vigil opens connections on their behalf). */
export const onvifRoutes: FastifyPluginAsyncTypebox<{ onvif: OnvifService }> = async (app, { onvif }) => {
  const tags = ['onvif'];

  app.post('/onvif/discover', {
    config: { access: { cap: 'cameras.manage', scope: 'all-cameras' }, audit: 'onvif.discover' },
    schema: {
      querystring: NoQuery,
      tags,
      summary: 'Find ONVIF cameras on the LAN (WS-Discovery Probe, answers gathered for timeout_ms).',
      body: DiscoverBody,
      response: { 200: DiscoverOut, 400: ErrorRef, 503: ErrorRef },
    },
  }, async (req) => {
    const timeoutMs = req.body.timeout_ms ?? DEFAULT_DISCOVERY_TIMEOUT_MS;
    const devices = await onvif.discover(timeoutMs);
    return { timeout_ms: timeoutMs, devices: devices.map(deviceOut) };
  });

  app.post('/onvif/inspect', {
    config: { access: { cap: 'cameras.manage', scope: 'all-cameras' }, audit: 'onvif.inspect' },
    schema: {
      querystring: NoQuery,
      tags,
      summary: 'Read an ONVIF camera: device information, media profiles with RTSP URIs, its clock, and a suggested camera body.',
      body: InspectBody,
      response: { 200: InspectOut, 400: ErrorRef, 502: DeviceErrorOut },
    },
  }, async (req) => {
    const b = req.body;
    if (b.xaddr !== undefined && b.host !== undefined) throw invalidArgument('give xaddr or host, not both', 'host');
    if (b.port !== undefined && b.host === undefined) throw invalidArgument('port goes with host', 'port');
    req.auditTarget = `onvif:${b.host ?? hostOf(b.xaddr)}`;
    return inspectOut(await onvif.inspect(b));
  });
};

/** The host of an address for the audit row (never its credentials). */
function hostOf(xaddr: string | undefined): string {
  try {
    return xaddr === undefined ? '' : new URL(xaddr).host;
  } catch {
    return '';
  }
}

function deviceOut(d: DiscoveredDevice) {
  return { ...d, xaddr: d.xaddrs[0] as string };
}

function inspectOut(r: InspectResult) {
  return {
    xaddr: r.xaddr,
    device: {
      manufacturer: r.device.manufacturer,
      model: r.device.model,
      firmware: r.device.firmware,
      serial: r.device.serial,
      hardware_id: r.device.hardwareId,
    },
    profiles: r.profiles.map((p) => ({
      token: p.token,
      name: p.name,
      encoding: p.encoding,
      width: p.width,
      height: p.height,
      fps: p.fps,
      bitrate_kbps: p.bitrateKbps,
      stream_uri: p.streamUri,
    })),
    clock: r.clock && {
      camera_utc: toIso(r.clock.cameraUtcMs),
      vigil_utc: toIso(r.clock.vigilUtcMs),
      drift_ms: r.clock.driftMs,
      drifting: r.drifting === true,
    },
    clock_error: r.clockError,
    suggested: r.suggested,
  };
}
