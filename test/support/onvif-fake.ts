/**
 * A fake ONVIF camera: a real HTTP server speaking SOAP 1.2 for the device service (GetSystemDateAndTime,
 * GetCapabilities, GetServices, GetDeviceInformation) and the media service (GetProfiles, GetStreamUri),
 * shaped after the ONVIF Core and Media specifications' messages; WS-Security UsernameToken digest
 * (PasswordDigest = Base64(SHA1(nonce + created + password)), Created checked against the camera's clock,
 * nonces never accepted twice) or, as a variant, HTTP digest (RFC 7616, MD5, qop=auth); a camera clock
 * offset; and a WS-Discovery responder (UDP multicast 239.255.255.250:3702, ProbeMatches sent to the
 * prober's unicast address). What it leaves out, and what real cameras do differently:
 * docs/operations.md, "Cameras over ONVIF".
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeProfile {
  token: string;
  name: string;
  encoding: 'H264' | 'H265' | 'JPEG';
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
  /** RTSP URI GetStreamUri answers for this profile. */
  rtspUri: string;
}

export interface OnvifFakeOptions {
  username?: string;
  password?: string;
  /** How requests that need authentication are checked. */
  auth?: 'ws-security' | 'http-digest';
  /** The camera's clock minus the true time (the fake's host clock), in ms. */
  clockOffsetMs?: number;
  /** The camera's local time zone as its LocalDateTime shows it, in minutes east of UTC (default 60). */
  localOffsetMinutes?: number;
  /** false: GetServices answers ActionNotSupported (an ONVIF 1.x device), so clients fall back to GetCapabilities. */
  getServices?: boolean;
  manufacturer?: string;
  model?: string;
  firmware?: string;
  serial?: string;
  hardwareId?: string;
  profiles?: FakeProfile[];
  /** Extra bytes padded into GetDeviceInformation's answer (a device answering too much). */
  padDeviceInformationBytes?: number;
}

export interface OnvifFake {
  /** The device service address, http://127.0.0.1:<port>/onvif/device_service. */
  xaddr: string;
  port: number;
  /** Every SOAP action received, with how it authenticated. */
  requests: Array<{ action: string; auth: 'none' | 'ws-security' | 'http-digest' | 'refused' }>;
  setClockOffset(ms: number): void;
  close(): Promise<void>;
}

const NS = {
  env: 'http://www.w3.org/2003/05/soap-envelope',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
  trt: 'http://www.onvif.org/ver10/media/wsdl',
  tt: 'http://www.onvif.org/ver10/schema',
  ter: 'http://www.onvif.org/ver10/error',
  wsa: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  d: 'http://schemas.xmlsoap.org/ws/2005/04/discovery',
  dn: 'http://www.onvif.org/ver10/network/wsdl',
};

/** Actions any client may call before authenticating (ONVIF Core, access class PRE_AUTH). */
const PRE_AUTH = new Set(['GetSystemDateAndTime', 'GetCapabilities', 'GetServices']);
const REALM = 'Fake ONVIF Camera';
/** WS-Security Created must be this close to the camera's clock (replay protection, as Axis and others do). */
const CREATED_WINDOW_MS = 5 * 60_000;

export const DEFAULT_PROFILES = (host: string): FakeProfile[] => [
  // Tokens that look like numbers on purpose: parsers that coerce them to numbers lose them.
  { token: '000', name: 'mainStream', encoding: 'H264', width: 1920, height: 1080, fps: 25, bitrateKbps: 4096, rtspUri: `rtsp://${host}:554/Streaming/Channels/101` },
  { token: '001', name: 'subStream', encoding: 'H264', width: 640, height: 360, fps: 10, bitrateKbps: 512, rtspUri: `rtsp://${host}:554/Streaming/Channels/102` },
];

export async function startOnvifFake(opts: OnvifFakeOptions = {}): Promise<OnvifFake> {
  const username = opts.username ?? 'admin';
  const password = opts.password ?? 'cam-secret';
  const mode = opts.auth ?? 'ws-security';
  let offsetMs = opts.clockOffsetMs ?? 0;
  const seenNonces = new Set<string>();
  const digestNonces = new Set<string>();
  const requests: OnvifFake['requests'] = [];
  let base = '';
  let profiles: FakeProfile[] = [];

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 256 * 1024) chunks.push(c);
    });
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });

  function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    if (req.method !== 'POST' || !['/onvif/device_service', '/onvif/media_service'].includes(req.url ?? '')) {
      res.writeHead(404, { 'content-type': 'text/html' }).end('<html><body>Not Found</body></html>');
      return;
    }
    const action = bodyAction(body);
    if (!action) return fault(res, 400, 'env:Sender', 'ter:WellFormed', 'Not a SOAP 1.2 envelope');
    let auth: OnvifFake['requests'][number]['auth'] = 'none';
    if (!PRE_AUTH.has(action)) {
      if (mode === 'http-digest') {
        if (!digestOk(req)) {
          requests.push({ action, auth: req.headers.authorization ? 'refused' : 'none' });
          const nonce = randomBytes(16).toString('hex');
          digestNonces.add(nonce);
          res.writeHead(401, { 'www-authenticate': `Digest realm="${REALM}", qop="auth", nonce="${nonce}", algorithm=MD5`, 'content-type': 'text/html' });
          res.end('<html><body>401 Unauthorized</body></html>');
          return;
        }
        auth = 'http-digest';
      } else {
        if (!wsSecurityOk(body)) {
          requests.push({ action, auth: 'refused' });
          return fault(res, 400, 'env:Sender', 'ter:NotAuthorized', 'Sender not Authorized');
        }
        auth = 'ws-security';
      }
    }
    requests.push({ action, auth });
    const answer = respond(action, req.url === '/onvif/media_service' ? 'media' : 'device', body);
    if (answer === null) return fault(res, 400, 'env:Receiver', 'ter:ActionNotSupported', `${action} is not supported`);
    if (typeof answer === 'object') return fault(res, 400, 'env:Sender', answer.subcode, answer.reason);
    res.writeHead(200, { 'content-type': 'application/soap+xml; charset=utf-8' });
    res.end(envelope(answer));
  }

  function respond(action: string, service: 'device' | 'media', body: string): string | null | { subcode: string; reason: string } {
    const dev = service === 'device';
    switch (action) {
      case 'GetSystemDateAndTime': return dev ? systemDateAndTime() : null;
      case 'GetCapabilities': return dev ? capabilities() : null;
      case 'GetServices': return dev && opts.getServices !== false ? services() : null;
      case 'GetDeviceInformation': return dev ? deviceInformation() : null;
      case 'GetProfiles': return dev ? null : `<trt:GetProfilesResponse>${profiles.map(profileXml).join('')}</trt:GetProfilesResponse>`;
      case 'GetStreamUri': {
        if (dev) return null;
        const token = textOf(body, 'ProfileToken');
        const p = profiles.find((x) => x.token === token);
        if (!p) return { subcode: 'ter:InvalidArgVal', reason: `no profile "${token ?? ''}"` };
        return `<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>${esc(p.rtspUri)}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>`;
      }
      default: return null;
    }
  }

  function systemDateAndTime(): string {
    const now = new Date(Date.now() + offsetMs);
    const local = new Date(now.getTime() + (opts.localOffsetMinutes ?? 60) * 60_000);
    const dt = (d: Date) =>
      `<tt:Time><tt:Hour>${d.getUTCHours()}</tt:Hour><tt:Minute>${d.getUTCMinutes()}</tt:Minute><tt:Second>${d.getUTCSeconds()}</tt:Second></tt:Time>` +
      `<tt:Date><tt:Year>${d.getUTCFullYear()}</tt:Year><tt:Month>${d.getUTCMonth() + 1}</tt:Month><tt:Day>${d.getUTCDate()}</tt:Day></tt:Date>`;
    return '<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>' +
      '<tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>' +
      '<tt:TimeZone><tt:TZ>CET-1</tt:TZ></tt:TimeZone>' +
      `<tt:UTCDateTime>${dt(now)}</tt:UTCDateTime><tt:LocalDateTime>${dt(local)}</tt:LocalDateTime>` +
      '</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>';
  }

  function capabilities(): string {
    return '<tds:GetCapabilitiesResponse><tds:Capabilities>' +
      `<tt:Device><tt:XAddr>${base}/onvif/device_service</tt:XAddr><tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>true</tt:DiscoveryBye><tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup><tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade></tt:System></tt:Device>` +
      `<tt:Media><tt:XAddr>${base}/onvif/media_service</tt:XAddr><tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>` +
      '</tds:Capabilities></tds:GetCapabilitiesResponse>';
  }

  function services(): string {
    const service = (ns: string, path: string, major: number, minor: number) =>
      `<tds:Service><tds:Namespace>${ns}</tds:Namespace><tds:XAddr>${base}${path}</tds:XAddr><tds:Version><tt:Major>${major}</tt:Major><tt:Minor>${minor}</tt:Minor></tds:Version></tds:Service>`;
    return `<tds:GetServicesResponse>${service(NS.tds, '/onvif/device_service', 2, 60)}${service(NS.trt, '/onvif/media_service', 2, 60)}</tds:GetServicesResponse>`;
  }

  function deviceInformation(): string {
    const pad = opts.padDeviceInformationBytes ? `<!--${'x'.repeat(opts.padDeviceInformationBytes)}-->` : '';
    return '<tds:GetDeviceInformationResponse>' +
      `<tds:Manufacturer>${esc(opts.manufacturer ?? 'Acme & Co')}</tds:Manufacturer>` +
      `<tds:Model>${esc(opts.model ?? 'FK-2040')}</tds:Model>` +
      `<tds:FirmwareVersion>${esc(opts.firmware ?? '5.40')}</tds:FirmwareVersion>` +
      `<tds:SerialNumber>${esc(opts.serial ?? '0012345')}</tds:SerialNumber>` +
      `<tds:HardwareId>${esc(opts.hardwareId ?? '88')}</tds:HardwareId>` +
      `${pad}</tds:GetDeviceInformationResponse>`;
  }

  function profileXml(p: FakeProfile): string {
    return `<trt:Profiles token="${esc(p.token)}" fixed="true"><tt:Name>${esc(p.name)}</tt:Name>` +
      `<tt:VideoSourceConfiguration token="vsc"><tt:Name>vsc</tt:Name><tt:UseCount>2</tt:UseCount><tt:SourceToken>vs</tt:SourceToken><tt:Bounds x="0" y="0" width="1920" height="1080"/></tt:VideoSourceConfiguration>` +
      `<tt:VideoEncoderConfiguration token="vec-${esc(p.token)}"><tt:Name>${esc(p.name)}</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>${p.encoding}</tt:Encoding>` +
      `<tt:Resolution><tt:Width>${p.width}</tt:Width><tt:Height>${p.height}</tt:Height></tt:Resolution><tt:Quality>4</tt:Quality>` +
      `<tt:RateControl><tt:FrameRateLimit>${p.fps}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>${p.bitrateKbps}</tt:BitrateLimit></tt:RateControl>` +
      '<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration></trt:Profiles>';
  }

  /** WS-Security UsernameToken with PasswordDigest (ONVIF Core, "User-based access control"). */
  function wsSecurityOk(body: string): boolean {
    const user = textOf(body, 'Username');
    const digest = textOf(body, 'Password');
    const nonce = textOf(body, 'Nonce');
    const created = textOf(body, 'Created');
    if (user !== username || !digest || !nonce || !created) return false;
    const createdMs = Date.parse(created);
    if (!Number.isFinite(createdMs) || Math.abs(createdMs - (Date.now() + offsetMs)) > CREATED_WINDOW_MS) return false;
    if (seenNonces.has(nonce)) return false;
    const expected = createHash('sha1').update(Buffer.concat([Buffer.from(nonce, 'base64'), Buffer.from(created), Buffer.from(password)])).digest('base64');
    if (expected !== digest) return false;
    seenNonces.add(nonce);
    return true;
  }

  /** HTTP digest, RFC 7616 with MD5 and qop=auth; only nonces this fake issued. */
  function digestOk(req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Digest ')) return false;
    const p = Object.fromEntries([...header.slice(7).matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)].map((m) => [m[1], m[2] ?? m[3] ?? '']));
    if (p.username !== username || p.realm !== REALM || !p.nonce || !digestNonces.has(p.nonce) || p.qop !== 'auth') return false;
    const md5 = (s: string) => createHash('md5').update(s).digest('hex');
    const ha1 = md5(`${username}:${REALM}:${password}`);
    const ha2 = md5(`${req.method ?? 'POST'}:${p.uri ?? ''}`);
    return p.response === md5(`${ha1}:${p.nonce}:${p.nc ?? ''}:${p.cnonce ?? ''}:auth:${ha2}`) && p.uri === req.url;
  }

  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  profiles = opts.profiles ?? DEFAULT_PROFILES('127.0.0.1');
  return {
    xaddr: `${base}/onvif/device_service`,
    port,
    requests,
    setClockOffset: (ms) => (offsetMs = ms),
    close: () => new Promise((res) => {
      server.closeAllConnections();
      server.close(() => res());
    }),
  };
}

export interface DiscoveryAnswer {
  /** Endpoint reference, `urn:uuid:…`. */
  endpoint?: string;
  xaddrs: string[];
  name?: string;
  hardware?: string;
  location?: string;
  /** Answer this many times (real devices repeat UDP answers). */
  repeat?: number;
}

/**
 * A WS-Discovery target service for one or more devices: joins 239.255.255.250 on `interfaceAddress`,
 * answers each Probe for NetworkVideoTransmitter (or for any type) with one ProbeMatches per device,
 * sent to the prober's own address and port, after a short random delay as the spec asks.
 */
export async function startDiscoveryResponder(devices: DiscoveryAnswer[], interfaceAddress = '127.0.0.1'): Promise<{ probes: number; close(): Promise<void> }> {
  const socket: Socket = createSocket({ type: 'udp4', reuseAddr: true });
  const state = { probes: 0 };
  socket.on('message', (msg, rinfo) => {
    const xml = msg.toString('utf8');
    if (bodyAction(xml) !== 'Probe') return;
    const types = textOf(xml, 'Types') ?? '';
    if (types && !/NetworkVideoTransmitter/.test(types)) return;
    state.probes += 1;
    const relatesTo = textOf(xml, 'MessageID') ?? '';
    for (const d of devices) {
      const answer = Buffer.from(probeMatches(d, relatesTo));
      for (let i = 0; i < (d.repeat ?? 1); i++) {
        setTimeout(() => socket.send(answer, rinfo.port, rinfo.address), Math.floor(Math.random() * 100) + i * 20);
      }
    }
  });
  await new Promise<void>((res, rej) => {
    socket.once('error', rej);
    socket.bind(3702, () => {
      socket.addMembership('239.255.255.250', interfaceAddress);
      res();
    });
  });
  return {
    get probes() {
      return state.probes;
    },
    close: () => new Promise((res) => socket.close(() => res())),
  };
}

function probeMatches(d: DiscoveryAnswer, relatesTo: string): string {
  const scopes = [
    'onvif://www.onvif.org/type/video_encoder',
    'onvif://www.onvif.org/Profile/Streaming',
    d.name ? `onvif://www.onvif.org/name/${encodeURIComponent(d.name)}` : '',
    d.hardware ? `onvif://www.onvif.org/hardware/${encodeURIComponent(d.hardware)}` : '',
    d.location ? `onvif://www.onvif.org/location/${d.location.split('/').map(encodeURIComponent).join('/')}` : '',
  ].filter(Boolean).join(' ');
  return `<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="${NS.env}" xmlns:wsa="${NS.wsa}" xmlns:d="${NS.d}" xmlns:dn="${NS.dn}" xmlns:tds="${NS.tds}">` +
    '<SOAP-ENV:Header>' +
    `<wsa:MessageID>urn:uuid:${randomUUID()}</wsa:MessageID><wsa:RelatesTo>${esc(relatesTo)}</wsa:RelatesTo>` +
    '<wsa:To SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>' +
    '<wsa:Action SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>' +
    '<d:AppSequence SOAP-ENV:mustUnderstand="true" MessageNumber="1" InstanceId="1"/>' +
    '</SOAP-ENV:Header><SOAP-ENV:Body><d:ProbeMatches><d:ProbeMatch>' +
    `<wsa:EndpointReference><wsa:Address>${esc(d.endpoint ?? `urn:uuid:${randomUUID()}`)}</wsa:Address></wsa:EndpointReference>` +
    `<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types><d:Scopes>${esc(scopes)}</d:Scopes>` +
    `<d:XAddrs>${esc(d.xaddrs.join(' '))}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion>` +
    '</d:ProbeMatch></d:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>';
}

function envelope(body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="${NS.env}" xmlns:tds="${NS.tds}" xmlns:trt="${NS.trt}" xmlns:tt="${NS.tt}" xmlns:ter="${NS.ter}">` +
    `<env:Header/><env:Body>${body}</env:Body></env:Envelope>`;
}

/** A SOAP 1.2 fault with an ONVIF subcode (ONVIF Core, "Error handling"). */
function fault(res: ServerResponse, status: number, code: string, subcode: string, reason: string): void {
  res.writeHead(status, { 'content-type': 'application/soap+xml; charset=utf-8' });
  res.end(envelope(
    `<env:Fault><env:Code><env:Value>${code}</env:Value><env:Subcode><env:Value>${subcode}</env:Value></env:Subcode></env:Code>` +
    `<env:Reason><env:Text xml:lang="en">${esc(reason)}</env:Text></env:Reason></env:Fault>`,
  ));
}

/** The local name of the Body's first element: the SOAP action. */
function bodyAction(xml: string): string | null {
  return /<(?:[\w.-]+:)?Body\b[^>]*>\s*<(?:[\w.-]+:)?([\w.-]+)/.exec(xml)?.[1] ?? null;
}

function textOf(xml: string, localName: string): string | null {
  const m = new RegExp(`<(?:[\\w.-]+:)?${localName}\\b[^>]*>([^<]*)</(?:[\\w.-]+:)?${localName}>`).exec(xml);
  return m ? (m[1] as string).trim().replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&') : null;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
