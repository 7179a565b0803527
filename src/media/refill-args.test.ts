import { describe, expect, it } from 'vitest';
import { buildRefillArgs, type RefillArgsInput } from './refill-args.js';

const HOSTILE_URL =
  "rtsp://u:p;rm -rf ~$(touch /tmp/x)@h:554/../../etc/passwd/Streaming/tracks/101?starttime=20261125T101500Z&endtime=20261125T101530Z|c 'q' \"d\" `id`";

const input = (over: Partial<RefillArgsInput> = {}): RefillArgsInput => ({
  url: 'rtsp://cam.local/Streaming/tracks/101?starttime=20261125T101500Z&endtime=20261125T101530Z',
  outputPath: '/var/lib/vigil/recordings/front/.refill-7.part',
  durationSeconds: 30,
  socketTimeoutSeconds: 65,
  ...over,
});

/** The value following `flag` in argv. */
function valueOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

describe('buildRefillArgs', () => {
  it('passes a replay URL with shell metacharacters, quotes and ../ as exactly one argv element right after -i', () => {
    const args = buildRefillArgs(input({ url: HOSTILE_URL }));
    expect(args.filter((a) => a === '-i')).toHaveLength(1);
    expect(valueOf(args, '-i')).toBe(HOSTILE_URL);
    // No other element carries any part of it (nothing was split, re-quoted or escaped).
    expect(args.filter((a) => /touch|passwd|rm -rf|starttime|`id`/.test(a))).toEqual([HOSTILE_URL]);
  });

  it('keeps a URL that looks like an option as the value of -i, not as a flag of its own', () => {
    const args = buildRefillArgs(input({ url: '-y' }));
    expect(args[args.indexOf('-i') + 1]).toBe('-y');
    expect(args.filter((a) => a === '-y')).toHaveLength(2);
    expect(args.at(-1)).toBe('/var/lib/vigil/recordings/front/.refill-7.part');
  });

  it('pulls RTSP over TCP as a stream copy of the first video stream, never transcoding', () => {
    const args = buildRefillArgs(input());
    expect(valueOf(args, '-rtsp_transport')).toBe('tcp');
    expect(valueOf(args, '-c')).toBe('copy');
    expect(args.filter((a) => a === '-map')).toHaveLength(1);
    expect(valueOf(args, '-map')).toBe('0:v:0');
    for (const encoderFlag of ['-c:v', '-vcodec', '-codec:v', '-b:v', '-crf', '-preset', '-vf', '-filter:v', '-r']) {
      expect(args).not.toContain(encoderFlag);
    }
  });

  it('limits the output to the requested duration, even if the edge sends more', () => {
    const args = buildRefillArgs(input({ durationSeconds: 17 }));
    expect(valueOf(args, '-t')).toBe('17');
    // After -i, -t cuts the output; before -i it would only cut the input read.
    expect(args.indexOf('-t')).toBeGreaterThan(args.indexOf('-i'));
    expect(args).not.toContain('-to');
    expect(args).not.toContain('-re');
  });

  it('gives the RTSP socket timeout in microseconds, rounded to a whole number', () => {
    expect(valueOf(buildRefillArgs(input({ socketTimeoutSeconds: 7 })), '-timeout')).toBe('7000000');
    expect(valueOf(buildRefillArgs(input({ socketTimeoutSeconds: 2.5 })), '-timeout')).toBe('2500000');
    expect(valueOf(buildRefillArgs(input({ socketTimeoutSeconds: 1 / 3 })), '-timeout')).toBe('333333');
  });

  it('puts input options before -i and output options after it', () => {
    const args = buildRefillArgs(input());
    const i = args.indexOf('-i');
    for (const flag of ['-rtsp_transport', '-timeout']) expect(args.indexOf(flag)).toBeLessThan(i);
    for (const flag of ['-map', '-c', '-t', '-f', '-movflags', '-flush_packets', '-y']) expect(args.indexOf(flag)).toBeGreaterThan(i);
  });

  it('writes one fragmented MP4 whose fragments reach the file as each ends (readable after a kill)', () => {
    const args = buildRefillArgs(input());
    expect(valueOf(args, '-f')).toBe('mp4');
    const movflags = valueOf(args, '-movflags') ?? '';
    expect(movflags.split('+').filter(Boolean).sort()).toEqual(['default_base_moof', 'empty_moov', 'frag_keyframe']);
    expect(valueOf(args, '-flush_packets')).toBe('1');
    // Exactly one output: the temp file, last, overwritten if an earlier attempt left one.
    expect(args.at(-1)).toBe('/var/lib/vigil/recordings/front/.refill-7.part');
    expect(args.at(-2)).toBe('-y');
    expect(args.some((a) => a.startsWith('pipe:'))).toBe(false);
  });

  it('passes an output path with spaces, quotes and % verbatim (the mp4 muxer expands no patterns)', () => {
    const out = "/data/100% full/it's \"here\"/%Y/.refill-12.part";
    const args = buildRefillArgs(input({ outputPath: out }));
    expect(args.at(-1)).toBe(out);
    expect(args.filter((a) => a.includes('full'))).toEqual([out]);
    expect(args).not.toContain('-strftime');
  });

  it('never reads stdin and keeps stderr to warnings (the tail is the failure reason)', () => {
    const args = buildRefillArgs(input());
    expect(args).toContain('-nostdin');
    expect(args).toContain('-nostats');
    expect(args).toContain('-hide_banner');
    expect(valueOf(args, '-loglevel')).toBe('level+warning');
  });

  it('builds every element as a non-empty string, the same argv for the same input', () => {
    const args = buildRefillArgs(input());
    expect(args.every((a) => typeof a === 'string' && a.length > 0)).toBe(true);
    expect(buildRefillArgs(input())).toEqual(args);
  });
});
