import { describe, expect, it } from 'vitest';
import { VigilError } from '../shared/errors.js';
import { utcOf } from './device-client.js';
import { devicesFrom, scopeValue } from './discovery.js';
import { deviceTarget } from './onvif.service.js';
import { cameraIdFor, credentialsOf, withCredentials } from './suggest.js';

describe('WS-Discovery answers', () => {
  it('one device per endpoint reference, xaddrs merged, non-http ones dropped, a match without any left out', () => {
    const match = (address: string, xaddrs: string, scopes = '') => ({ endpointReference: { address }, XAddrs: xaddrs, scopes, types: 'dn:NetworkVideoTransmitter' });
    const devices = devicesFrom([
      { probeMatches: { probeMatch: match('urn:uuid:a', 'http://10.0.0.5/onvif/device_service', 'onvif://www.onvif.org/name/Front%20Door') } },
      { probeMatches: { probeMatch: [match('urn:uuid:a', 'http://[fd00::5]/onvif/device_service ftp://x/'), match('urn:uuid:b', 'ftp://only/')] } },
      { probeMatches: null },
      'garbage',
    ]);
    expect(devices).toHaveLength(1);
    expect(devices[0]).toMatchObject({ endpoint: 'urn:uuid:a', name: 'Front Door', xaddrs: ['http://10.0.0.5/onvif/device_service', 'http://[fd00::5]/onvif/device_service'] });
  });

  it('scopes with attributes (MatchBy) and several location scopes', () => {
    const scopes = ['onvif://www.onvif.org/location/country/de', 'onvif://www.onvif.org/location/city/Berlin', 'onvif://www.onvif.org/hardware/DS%2D2CD'];
    expect(scopeValue(scopes, 'location')).toBe('country/de, city/Berlin');
    expect(scopeValue(scopes, 'hardware')).toBe('DS-2CD');
    expect(scopeValue(scopes, 'name')).toBeNull();
    const [d] = devicesFrom([{ probeMatches: { probeMatch: { endpointReference: { address: 'urn:uuid:c' }, XAddrs: 'http://h/', scopes: { _: 'onvif://www.onvif.org/name/X', $: { MatchBy: 'rfc3986' } } } } }]);
    expect(d?.name).toBe('X');
  });
});

describe('device addresses and credentials', () => {
  it('refuses anything but http(s) before a socket opens, naming the field', () => {
    for (const xaddr of ['file:///etc/passwd', 'gopher://h/', 'javascript:alert(1)', 'not a url']) {
      const err = (() => {
        try {
          deviceTarget({ xaddr });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(VigilError);
      expect((err as VigilError).field).toBe('xaddr');
    }
  });

  it('credentials inside the address are used when none are given, and never kept in it', () => {
    const t = deviceTarget({ xaddr: 'http://ad%40min:p%3Ass@10.0.0.5:8080/onvif/device_service#x' });
    expect(t.url.href).toBe('http://10.0.0.5:8080/onvif/device_service');
    expect([t.username, t.password]).toEqual(['ad@min', 'p:ss']);
    expect(deviceTarget({ xaddr: 'http://a:b@h/', username: 'c' })).toMatchObject({ username: 'c', password: '' });
    expect(deviceTarget({ host: 'fd00::5', port: 8000 }).url.href).toBe('http://[fd00::5]:8000/onvif/device_service');
  });

  it('puts credentials into an RTSP URI percent-encoded, replacing any the device put there', () => {
    expect(withCredentials('rtsp://10.0.0.5:554/ch1', { username: 'admin', password: 'p@ss:w/rd' })).toBe('rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.5:554/ch1');
    expect(withCredentials('rtsp://old:x@10.0.0.5/ch1', { username: 'u', password: '' })).toBe('rtsp://u@10.0.0.5/ch1');
    expect(credentialsOf('rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.5:554/ch1')).toEqual({ username: 'admin', password: 'p@ss:w/rd' });
    expect(cameraIdFor('DS-2CD2043G0-I', '10.0.0.5')).toBe('ds-2cd2043g0-i-10-0-0-5');
  });
});

describe('the camera clock', () => {
  it('is read from UTCDateTime only (LocalDateTime is the camera\'s zone), and is null without it', () => {
    const dt = (h: number) => `<tt:Time><tt:Hour>${h}</tt:Hour><tt:Minute>5</tt:Minute><tt:Second>9</tt:Second></tt:Time><tt:Date><tt:Year>2026</tt:Year><tt:Month>12</tt:Month><tt:Day>4</tt:Day></tt:Date>`;
    expect(utcOf(`<tt:LocalDateTime>${dt(22)}</tt:LocalDateTime><tt:UTCDateTime>${dt(21)}</tt:UTCDateTime>`)).toBe(Date.UTC(2026, 11, 4, 21, 5, 9));
    expect(utcOf(`<tt:LocalDateTime>${dt(22)}</tt:LocalDateTime>`)).toBeNull();
  });
});
