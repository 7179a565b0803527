import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { parseCidr } from '../config/webhooks-config.js';
import { errorMessage, VigilError } from '../shared/errors.js';

/** Addresses a webhook may not reach unless `webhooks.allow_private_networks` allows them (SSRF). */
const FORBIDDEN: ReadonlyArray<[cidr: string, what: string]> = [
  ['0.0.0.0/8', 'a "this network" address'],
  ['10.0.0.0/8', 'a private address (RFC 1918)'],
  ['100.64.0.0/10', 'a shared (CGNAT) address'],
  ['127.0.0.0/8', 'a loopback address'],
  ['169.254.0.0/16', 'a link-local address'],
  ['172.16.0.0/12', 'a private address (RFC 1918)'],
  ['192.168.0.0/16', 'a private address (RFC 1918)'],
  ['224.0.0.0/4', 'a multicast address'],
  ['240.0.0.0/4', 'a reserved address'],
  ['::/128', 'the unspecified address'],
  ['::1/128', 'a loopback address'],
  // IPv4-compatible (deprecated): some stacks still route them to the IPv4 address inside.
  ['::/96', 'an IPv4-compatible address'],
  ['fe80::/10', 'a link-local address'],
  ['fc00::/7', 'a unique local address (ULA)'],
  ['ff00::/8', 'a multicast address'],
];

function blockListOf(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const text of cidrs) {
    const c = parseCidr(text);
    if (c) list.addSubnet(c.address, c.prefix, c.family);
  }
  return list;
}

const FORBIDDEN_LISTS = FORBIDDEN.map(([cidr, what]) => ({ list: blockListOf([cidr]), what }));

/** 16 bytes of an IPv6 address (`isIP(text) === 6`), embedded IPv4 tails included. */
function ipv6Bytes(text: string): Uint8Array {
  let s = text.toLowerCase().split('%')[0] ?? '';
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (tail?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = tail[1].split('.').map(Number);
    s = `${s.slice(0, -tail[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = s.split('::');
  const h = head ? head.split(':') : [];
  const r = rest === undefined ? [] : rest ? rest.split(':') : [];
  const groups = rest === undefined ? h : [...h, ...Array<string>(8 - h.length - r.length).fill('0'), ...r];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

/**
 * The IPv4 address an IPv6 address stands for, when it carries one: IPv4-mapped (`::ffff:a.b.c.d`,
 * which the kernel connects to over IPv4) and NAT64 (`64:ff9b::a.b.c.d`, translated by the network).
 */
export function embeddedIpv4(address: string): string | undefined {
  if (isIP(address) !== 6) return undefined;
  const b = ipv6Bytes(address);
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const mapped = zeros(0, 10) && b[10] === 0xff && b[11] === 0xff;
  const nat64 = b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12);
  return mapped || nat64 ? `${b[12]}.${b[13]}.${b[14]}.${b[15]}` : undefined;
}

/** Which addresses webhooks may reach: every public one, and the forbidden ones the config allows. */
export class AddressPolicy {
  private readonly allowed: BlockList | 'all' | undefined;

  constructor(allowPrivateNetworks: boolean | readonly string[]) {
    this.allowed = allowPrivateNetworks === true ? 'all' : Array.isArray(allowPrivateNetworks) && allowPrivateNetworks.length > 0 ? blockListOf(allowPrivateNetworks) : undefined;
  }

  /** Why `address` is refused, or undefined when a webhook may connect to it. */
  refusal(address: string): string | undefined {
    const v4 = embeddedIpv4(address);
    const forms = v4 === undefined ? [address] : [address, v4];
    const what = forms.map(classify).find((w) => w !== undefined);
    if (what === undefined || this.allowed === 'all') return undefined;
    const allowed = this.allowed;
    if (allowed && forms.some((a) => allowed.check(a, isIP(a) === 4 ? 'ipv4' : 'ipv6'))) return undefined;
    return what;
  }
}

function classify(address: string): string | undefined {
  const family = isIP(address) === 4 ? 'ipv4' : 'ipv6';
  return FORBIDDEN_LISTS.find((f) => f.list.check(address, family))?.what;
}

/** Resolves a host to every address it has (tests replace it to play DNS rebinding). */
export type Resolver = (host: string) => Promise<Array<{ address: string; family: number }>>;

export const systemResolver: Resolver = (host) => lookup(host, { all: true, verbatim: true });

/** A receiver and the one address, checked, that an attempt connects to (never looked up again). */
export interface Target {
  url: URL;
  address: string;
  family: 4 | 6;
}

/** http: and https: only; no credentials in the URL (the signature is what authenticates Vigil). */
export function parseReceiverUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new VigilError('invalid_argument', `url: "${text.slice(0, 100)}" is not a URL`, { field: 'url' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new VigilError('invalid_argument', `url: only http:// and https:// receivers are supported, not ${url.protocol}//`, { field: 'url' });
  }
  if (url.username !== '' || url.password !== '') {
    throw new VigilError('invalid_argument', 'url: credentials in the URL are refused (the X-Vigil-Signature header authenticates Vigil to the receiver)', { field: 'url' });
  }
  return url;
}

/**
 * Resolves the receiver's host (every address it has) and refuses it when any address is one the policy
 * refuses: a name that also resolves to a private address is not a public receiver. The attempt then
 * connects to the first address, the one checked, so a second lookup cannot swap it (DNS rebinding).
 */
export async function resolveTarget(url: URL, policy: AddressPolicy, resolve: Resolver = systemResolver): Promise<Target> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: Array<{ address: string; family: number }>;
  if (isIP(host) !== 0) addresses = [{ address: host, family: isIP(host) }];
  else {
    try {
      addresses = await resolve(host);
    } catch (err) {
      throw new VigilError('invalid_argument', `url: ${host} does not resolve (${errorMessage(err)})`, { field: 'url' });
    }
  }
  const first = addresses[0];
  if (!first) throw new VigilError('invalid_argument', `url: ${host} has no address`, { field: 'url' });
  for (const a of addresses) {
    const why = policy.refusal(a.address);
    if (why !== undefined) {
      const where = a.address === host ? host : `${host} (${a.address})`;
      throw new VigilError('invalid_argument', `url: ${where} is ${why}; webhooks may reach it only when webhooks.allow_private_networks allows it`, { field: 'url' });
    }
  }
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}
