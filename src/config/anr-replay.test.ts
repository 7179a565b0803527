import { describe, expect, it } from 'vitest';
import type { AnrSettings } from './config.js';
import { VigilError } from '../shared/errors.js';
import { checkAnrSettings, formatTime, presetTemplate, renderReplayUrl } from './anr-replay.js';

const T = Date.UTC(2026, 10, 25, 10, 15, 0); // 2026-11-25T10:15:00Z
const anr = (extra: Partial<AnrSettings> = {}): AnrSettings => ({
  enabled: true,
  replayUrlTemplate: null,
  timezone: 'UTC',
  preset: null,
  ...extra,
});

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VigilError);
    expect((err as VigilError).kind).toBe('invalid_argument');
    return (err as VigilError).field;
  }
  throw new Error('expected an invalid_argument error');
}

describe('time formats', () => {
  it('iso_basic_z is UTC with whole seconds, unix is seconds', () => {
    expect(formatTime(T + 999, 'iso_basic_z', 'Europe/Berlin')).toBe('20261125T101500Z');
    expect(formatTime(T, 'unix', 'Asia/Tokyo')).toBe(String(T / 1000));
  });

  it('dahua is the camera local time, including across a DST change', () => {
    expect(formatTime(T, 'dahua', 'UTC')).toBe('2026_11_25_10_15_00');
    expect(formatTime(T, 'dahua', 'Europe/Berlin')).toBe('2026_11_25_11_15_00'); // CET, +1
    expect(formatTime(Date.UTC(2026, 6, 1, 22, 30, 5), 'dahua', 'Europe/Berlin')).toBe('2026_07_02_00_30_05'); // CEST, +2
    expect(formatTime(T, 'dahua', 'America/New_York')).toBe('2026_11_25_05_15_00');
    expect(formatTime(Date.UTC(2026, 10, 25, 0, 0, 0), 'dahua', 'Asia/Kolkata')).toBe('2026_11_25_05_30_00');
  });
});

describe('presets', () => {
  it('hikvision replays track n01 of the live channel, in UTC, with the main URL credentials', () => {
    const main = 'rtsp://admin:s3cret@10.0.0.5:554/Streaming/Channels/102';
    expect(presetTemplate('hikvision', main)).toBe(
      'rtsp://{user}:{password}@{host}:{port}/Streaming/tracks/101?starttime={start:iso_basic_z}&endtime={end:iso_basic_z}',
    );
    expect(renderReplayUrl(anr({ preset: 'hikvision', timezone: 'Europe/Berlin' }), main, T, T + 30_000)).toBe(
      'rtsp://admin:s3cret@10.0.0.5:554/Streaming/tracks/101?starttime=20261125T101500Z&endtime=20261125T101530Z',
    );
    expect(renderReplayUrl(anr({ preset: 'hikvision' }), 'rtsp://cam.local/Streaming/Channels/201', T, T + 1000)).toBe(
      'rtsp://cam.local:554/Streaming/tracks/201?starttime=20261125T101500Z&endtime=20261125T101501Z',
    );
  });

  it('dahua replays the live channel in the camera time zone', () => {
    const main = 'rtsp://admin:p%40ss@192.168.1.108:554/cam/realmonitor?channel=2&subtype=0';
    expect(renderReplayUrl(anr({ preset: 'dahua', timezone: 'Europe/Berlin' }), main, T, T + 30_000)).toBe(
      'rtsp://admin:p%40ss@192.168.1.108:554/cam/playback?channel=2&starttime=2026_11_25_11_15_00&endtime=2026_11_25_11_15_30',
    );
  });

  it('keeps a path prefix before the vendor path (a proxy, or the fake camera mount /<name>)', () => {
    expect(renderReplayUrl(anr({ preset: 'hikvision' }), 'rtsp://127.0.0.1:8554/cam1', T, T + 30_000)).toBe(
      'rtsp://127.0.0.1:8554/cam1/Streaming/tracks/101?starttime=20261125T101500Z&endtime=20261125T101530Z',
    );
    expect(renderReplayUrl(anr({ preset: 'dahua' }), 'rtsp://127.0.0.1:8554/cam1', T, T + 30_000)).toBe(
      'rtsp://127.0.0.1:8554/cam1/cam/playback?channel=1&starttime=2026_11_25_10_15_00&endtime=2026_11_25_10_15_30',
    );
  });

  it('a written template wins over the preset; the span is widened to whole seconds', () => {
    const a = anr({ preset: 'hikvision', replayUrlTemplate: 'rtsps://{host}:{port}/replay?from={start:unix}&to={end:unix}&u={user}' });
    expect(renderReplayUrl(a, 'rtsps://bob:pw@h.example/live', T + 400, T + 2_100)).toBe(
      `rtsps://h.example:322/replay?from=${T / 1000}&to=${T / 1000 + 3}&u=bob`,
    );
  });
});

describe('settings that are refused, naming the field', () => {
  const main = 'rtsp://h/x';
  it.each<[string, Partial<AnrSettings>, string]>([
    ['unknown placeholder', { replayUrlTemplate: 'rtsp://h/x?s={start:unix}&e={end:unix}&c={channel}' }, 'anr_replay_url_template'],
    ['unknown time format', { replayUrlTemplate: 'rtsp://h/x?s={start:rfc3339}&e={end:unix}' }, 'anr_replay_url_template'],
    ['time without format', { replayUrlTemplate: 'rtsp://h/x?s={start}&e={end:unix}' }, 'anr_replay_url_template'],
    ['no end placeholder', { replayUrlTemplate: 'rtsp://h/x?s={start:unix}' }, 'anr_replay_url_template'],
    ['unbalanced brace', { replayUrlTemplate: 'rtsp://h/x?s={start:unix}&e={end:unix' }, 'anr_replay_url_template'],
    ['not rtsp', { replayUrlTemplate: 'http://h/x?s={start:unix}&e={end:unix}' }, 'anr_replay_url_template'],
    ['a space', { replayUrlTemplate: 'rtsp://h/x?s={start:unix} &e={end:unix}' }, 'anr_replay_url_template'],
    ['unknown time zone', { preset: 'hikvision', timezone: 'Mars/Olympus' }, 'anr_timezone'],
    ['time zone with odd characters', { preset: 'hikvision', timezone: 'UTC; rm -rf /' }, 'anr_timezone'],
    ['enabled without template or preset', {}, 'anr_enabled'],
    ['generic preset without template', { preset: 'generic' }, 'anr_replay_url_template'],
  ])('%s', (_name, extra, field) => {
    expect(fieldOf(() => checkAnrSettings(anr(extra), main))).toBe(field);
  });

  it('accepts a disabled camera with no source, and every preset', () => {
    expect(() => checkAnrSettings(anr({ enabled: false }), main)).not.toThrow();
    for (const preset of ['hikvision', 'dahua'] as const) expect(() => checkAnrSettings(anr({ preset }), main)).not.toThrow();
    expect(() => checkAnrSettings(anr({ preset: 'generic', replayUrlTemplate: 'rtsp://h/r?a={start:unix}&b={end:unix}' }), main)).not.toThrow();
  });
});
