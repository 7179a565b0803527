import { describe, expect, it } from 'vitest';
import { buildSnapshotArgs, buildWarmSnapshotArgs, snapshotSeek, snapshotTarget, WARM_SNAPSHOT_T0_SECONDS, type FragmentTiming } from './snapshot-args.js';

function valueOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

const HOSTILE = "/data/recordings/cam/a b;rm -rf ~ $(touch x)'\"|-i.mp4";

describe('buildSnapshotArgs', () => {
  it('passes the segment path as exactly one argv element, after -i, behind file:', () => {
    const args = buildSnapshotArgs({ absPath: HOSTILE, seekSeconds: 1 });
    expect(args.filter((a) => a === '-i')).toHaveLength(1);
    expect(valueOf(args, '-i')).toBe(`file:${HOSTILE}`);
    expect(args.filter((a) => a.includes('touch'))).toEqual([`file:${HOSTILE}`]);
    expect(valueOf(args, '-protocol_whitelist')).toBe('file');
  });

  it('seeks on the input (before -i) and writes one MJPEG frame to stdout', () => {
    const args = buildSnapshotArgs({ absPath: '/d/a.mp4', seekSeconds: 12.3456789 });
    expect(args.indexOf('-ss')).toBeLessThan(args.indexOf('-i'));
    expect(valueOf(args, '-ss')).toBe('12.345679');
    expect(valueOf(args, '-frames:v')).toBe('1');
    expect(valueOf(args, '-f')).toBe('image2');
    expect(valueOf(args, '-c:v')).toBe('mjpeg');
    expect(args.at(-1)).toBe('pipe:1');
    expect(args).not.toContain('-vf');
  });

  it('decodes on one thread (a job takes one core)', () => {
    const args = buildSnapshotArgs({ absPath: '/d/a.mp4', seekSeconds: 0 });
    expect(valueOf(args, '-threads')).toBe('1');
    expect(args.indexOf('-threads')).toBeLessThan(args.indexOf('-i'));
  });

  it('scales to the width asked, keeping the aspect ratio with an even height', () => {
    expect(valueOf(buildSnapshotArgs({ absPath: '/d/a.mp4', seekSeconds: 0, width: 320 }), '-vf')).toBe('scale=320:-2');
  });

  it('refuses a width outside 16..3840, a fractional width, a negative seek and a relative path', () => {
    for (const width of [15, 3841, 100.5, Number.NaN]) expect(() => buildSnapshotArgs({ absPath: '/d/a.mp4', seekSeconds: 0, width })).toThrow();
    expect(() => buildSnapshotArgs({ absPath: '/d/a.mp4', seekSeconds: -0.1 })).toThrow();
    expect(() => buildSnapshotArgs({ absPath: 'd/a.mp4', seekSeconds: 0 })).toThrow();
  });
});

describe('snapshotSeek', () => {
  // Two 1-s fragments of 15 frames each (frames every 1/15 s), as the recorder writes them.
  const frags: FragmentTiming[] = [
    { decodeTimeSeconds: 0, durationSeconds: 1, sampleCount: 15 },
    { decodeTimeSeconds: 1, durationSeconds: 1, sampleCount: 15 },
  ];
  const d = 1 / 15;

  it('lands half a frame before the frame shown at the instant, so -ss yields that frame', () => {
    // 0.7 s is shown by frame 10 (0.6667 s … 0.7333 s).
    const s = snapshotSeek(frags, 0, 0.7);
    expect(s.frameSeconds).toBeCloseTo(10 * d, 9);
    expect(s.seekSeconds).toBeCloseTo(9.5 * d, 9);
  });

  it('an instant exactly on a frame start gives that frame', () => {
    expect(snapshotSeek(frags, 0, 1 + 3 * d).frameSeconds).toBeCloseTo(1 + 3 * d, 9);
  });

  it('past the last fragment, the last frame; at 0, the first frame (seek never negative)', () => {
    expect(snapshotSeek(frags, 0, 5).frameSeconds).toBeCloseTo(1 + 14 * d, 9);
    expect(snapshotSeek(frags, 0, 0)).toEqual({ seekSeconds: 0, frameSeconds: 0 });
  });

  it('works on a file whose media time does not start at 0', () => {
    const shifted = frags.map((f) => ({ ...f, decodeTimeSeconds: (f.decodeTimeSeconds ?? 0) + 100 }));
    const s = snapshotSeek(shifted, 100, 0.7);
    expect(s.frameSeconds).toBeCloseTo(10 * d, 9);
  });

  it('without fragment timing, seeks to the instant itself', () => {
    expect(snapshotSeek([], 0, 2.5)).toEqual({ seekSeconds: 2.5, frameSeconds: 2.5 });
  });
});

describe('buildWarmSnapshotArgs', () => {
  it('reads stdin only, keeps the written timestamps and keeps the first frame at or after T0', () => {
    const args = buildWarmSnapshotArgs();
    expect(valueOf(args, '-i')).toBe('pipe:0');
    expect(valueOf(args, '-protocol_whitelist')).toBe('pipe');
    expect(valueOf(args, '-f')).toBe('mp4');
    expect(args).toContain('-copyts');
    expect(valueOf(args, '-vf')).toBe(`select='gte(t,${WARM_SNAPSHOT_T0_SECONDS})'`);
    expect(args.at(-1)).toBe('pipe:1');
  });

  it('decodes and encodes as the cold argv does (same threads, codec, quality, one frame)', () => {
    const warm = buildWarmSnapshotArgs();
    const cold = buildSnapshotArgs({ absPath: '/d/a.mp4', seekSeconds: 1 });
    for (const flag of ['-threads', '-map', '-frames:v', '-c:v', '-q:v']) expect({ flag, v: valueOf(warm, flag) }).toEqual({ flag, v: valueOf(cold, flag) });
    expect(warm.slice(warm.indexOf('-frames:v'))).toEqual(cold.slice(cold.indexOf('-frames:v')));
  });

  it('is the same for every request (it is started before any)', () => {
    expect(buildWarmSnapshotArgs()).toEqual(buildWarmSnapshotArgs());
  });
});

describe('snapshotTarget', () => {
  const frags: FragmentTiming[] = [
    { decodeTimeSeconds: 10, durationSeconds: 1, sampleCount: 25 },
    { decodeTimeSeconds: 11, durationSeconds: 1, sampleCount: 25 },
    { decodeTimeSeconds: 12, durationSeconds: 1, sampleCount: 25 },
  ];

  it('names the fragment holding the frame and the frame duration; ignores fragments after the instant', () => {
    const t = snapshotTarget(frags, 10, 1.5);
    expect(t?.fragmentIndex).toBe(1);
    expect(t?.frameSeconds).toBeCloseTo(1.48, 9);
    expect(t?.frameDurationSeconds).toBeCloseTo(0.04, 9);
    // Only what precedes the first fragment after the instant matters (a reader may stop there).
    expect(snapshotTarget(frags.slice(0, 2), 10, 1.5)).toEqual(t);
    expect(snapshotTarget([], 10, 1.5)).toBeUndefined();
  });
});

describe('snapshotTarget with real sample timing (time truth, defect 4)', () => {
  // The first GOP after a (re)connect: the first sample lasts one tick (1/15360 s), the rest 1/15 s.
  const tick = 1 / 15360;
  const frame = 1 / 15;
  const durations = [tick, ...Array.from({ length: 14 }, () => frame)];
  const frag = { decodeTimeSeconds: 0, durationSeconds: durations.reduce((a, b) => a + b, 0), sampleCount: 15, sampleDurationsSeconds: durations, compositionOffsetsSeconds: durations.map(() => 0) };
  const starts = durations.map((_, i) => durations.slice(0, i).reduce((a, b) => a + b, 0));

  it('picks the frame presented at the instant from each sample\'s own duration, not the fragment\'s mean', () => {
    for (const [i, start] of starts.entries()) {
      // An instant inside sample i (a quarter of its length in, or just after a one-tick sample).
      const at = start + Math.min(durations[i]! / 4, 0.01) + 1e-9;
      const t = snapshotTarget([frag], 0, at);
      expect(t?.frameSeconds, `instant ${at.toFixed(5)} s is inside frame ${i}`).toBeCloseTo(start, 9);
      expect(t?.frameDurationSeconds).toBeCloseTo(durations[i]!, 9);
    }
    // With only the mean, the instant 0.5 s lands on a frame start no sample has.
    const mean = snapshotTarget([{ ...frag, sampleDurationsSeconds: undefined, compositionOffsetsSeconds: undefined }], 0, 0.5)!;
    expect(starts.some((s) => Math.abs(s - mean.frameSeconds) < 1e-9)).toBe(false);
  });

  it('orders frames by presentation time when composition offsets reorder them (B-frames)', () => {
    // Decode order I P B B with offsets so that presentation order is I B B P.
    const d = 0.1;
    const f = { decodeTimeSeconds: 0, durationSeconds: 0.4, sampleCount: 4, sampleDurationsSeconds: [d, d, d, d], compositionOffsetsSeconds: [0.1, 0.3, 0, 0] };
    // Presentation times (shifted by the first sample's 0.1): I 0, P 0.3, B 0.1, B 0.2.
    expect(snapshotTarget([f], 0, 0.15, 0.1)?.frameSeconds).toBeCloseTo(0.1, 9);
    expect(snapshotTarget([f], 0, 0.25, 0.1)?.frameSeconds).toBeCloseTo(0.2, 9);
    expect(snapshotTarget([f], 0, 0.35, 0.1)?.frameSeconds).toBeCloseTo(0.3, 9);
  });
});
