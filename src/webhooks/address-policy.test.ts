import { describe, expect, it } from 'vitest';
import { VigilError } from '../shared/errors.js';
import { AddressPolicy, embeddedIpv4, parseReceiverUrl, resolveTarget, type Resolver } from './address-policy.js';

const strict = new AddressPolicy(false);

describe('SSRF rule', () => {
  it('refuses loopback, link-local, private, CGNAT, 0.0.0.0/8, multicast, ULA and IPv4 inside IPv6; allows public addresses', () => {
    const refused = [
      '127.0.0.1', '127.9.9.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', '100.127.255.254',
      '169.254.169.254', '0.0.0.0', '0.1.2.3', '224.0.0.1', '239.255.255.250', '255.255.255.255',
      '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1',
      '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '64:ff9b::a00:1', '::127.0.0.1',
    ];
    for (const a of refused) expect(strict.refusal(a), a).toBeDefined();
    for (const a of ['8.8.8.8', '93.184.216.34', '172.32.0.1', '100.128.0.1', '192.0.2.1', '2606:4700::1111', '::ffff:8.8.8.8']) {
      expect(strict.refusal(a), a).toBeUndefined();
    }
    expect(strict.refusal('169.254.169.254')).toBe('a link-local address');
    expect(strict.refusal('::ffff:127.0.0.1')).toBe('a loopback address');
    expect(embeddedIpv4('::ffff:7f00:1')).toBe('127.0.0.1');
  });

  it('allow_private_networks: true allows them all; a CIDR list allows only those (an IPv4-mapped address too)', () => {
    expect(new AddressPolicy(true).refusal('127.0.0.1')).toBeUndefined();
    const some = new AddressPolicy(['10.20.0.0/16', 'fd00::/8', '127.0.0.1']);
    expect(some.refusal('10.20.30.40')).toBeUndefined();
    expect(some.refusal('::ffff:10.20.30.40')).toBeUndefined();
    expect(some.refusal('fd00::5')).toBeUndefined();
    expect(some.refusal('127.0.0.1')).toBeUndefined();
    expect(some.refusal('127.0.0.2')).toBe('a loopback address');
    expect(some.refusal('10.21.0.1')).toBe('a private address (RFC 1918)');
  });

  it('a receiver URL is http(s) without credentials; refusals are 400s naming url', async () => {
    const refusedUrl = async (text: string, resolve?: Resolver) => {
      try {
        await resolveTarget(parseReceiverUrl(text), strict, resolve);
      } catch (err) {
        expect(err).toBeInstanceOf(VigilError);
        expect((err as VigilError).kind).toBe('invalid_argument');
        expect((err as VigilError).field).toBe('url');
        return (err as VigilError).message;
      }
      throw new Error(`${text} was not refused`);
    };
    expect(await refusedUrl('ftp://example.com/x')).toMatch(/only http:\/\/ and https:\/\//);
    expect(await refusedUrl('https://user:pw@example.com/x')).toMatch(/credentials/);
    expect(await refusedUrl('not a url')).toMatch(/not a URL/);
    expect(await refusedUrl('http://127.0.0.1:9/x')).toMatch(/127\.0\.0\.1 is a loopback address.*allow_private_networks/);
    expect(await refusedUrl('http://[::1]:9/x')).toMatch(/loopback/);
    expect(await refusedUrl('http://[::ffff:192.168.0.1]/x')).toMatch(/private/);
    // A name is refused when any of its addresses is: a public one beside it does not make it public.
    const mixed: Resolver = async () => [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.7', family: 4 }];
    expect(await refusedUrl('https://hooks.example.com/x', mixed)).toMatch(/hooks\.example\.com \(10\.0\.0\.7\) is a private address/);
    const nothing: Resolver = async () => {
      throw new Error('getaddrinfo ENOTFOUND nowhere.invalid');
    };
    expect(await refusedUrl('https://nowhere.invalid/x', nothing)).toMatch(/does not resolve/);
  });

  it('a name that resolves is pinned to its first checked address (the attempt connects there, never looking it up again)', async () => {
    const dns: Resolver = async () => [{ address: '93.184.216.34', family: 4 }, { address: '2606:2800::1', family: 6 }];
    const t = await resolveTarget(parseReceiverUrl('https://hooks.example.com:8443/in?x=1'), strict, dns);
    expect(t.address).toBe('93.184.216.34');
    expect(t.family).toBe(4);
    expect(t.url.host).toBe('hooks.example.com:8443');
  });
});
