import { describe, expect, it } from 'vitest';
import { Fmp4Error, isSyncSample, parseMoof, parseTfdt, parseTfhd, parseTrun, TFHD, TRUN } from './boxes.js';

/** The one tfhd/tfdt/trun parser that the index reader, the snapshot feed and the clip join share. */
const u32 = (...v: number[]) => {
  const b = Buffer.alloc(4 * v.length);
  v.forEach((x, i) => b.writeUInt32BE(x >>> 0, 4 * i));
  return b;
};
const i32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v, 0);
  return b;
};
const box = (type: string, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(8 + body.length, 0);
  h.write(type, 4, 'latin1');
  return Buffer.concat([h, body]);
};
const NON_SYNC = 0x10000;

describe('parseTfhd', () => {
  it('reads every optional field its flags announce, in order', () => {
    const flags = TFHD.baseDataOffset | TFHD.sampleDescriptionIndex | TFHD.defaultDuration | TFHD.defaultSize | TFHD.defaultFlags;
    const base = Buffer.alloc(8);
    base.writeBigUInt64BE(123456789n, 0);
    const t = parseTfhd(Buffer.concat([u32(flags, 7), base, u32(1, 512, 4096, NON_SYNC)]));
    expect(t).toEqual({ flags, trackId: 7, baseDataOffset: 123456789, sampleDescriptionIndex: 1, defaultDuration: 512, defaultSize: 4096, defaultFlags: NON_SYNC });
    expect(parseTfhd(u32(TFHD.defaultBaseIsMoof | TFHD.defaultDuration, 1, 3000))).toMatchObject({ trackId: 1, defaultDuration: 3000, defaultSize: undefined, baseDataOffset: undefined });
  });

  it('refuses a tfhd shorter than its flags say', () => {
    expect(() => parseTfhd(u32(TFHD.defaultDuration | TFHD.defaultSize, 1, 3000))).toThrow(Fmp4Error);
    expect(() => parseTfhd(u32(0))).toThrow(Fmp4Error);
  });
});

describe('parseTrun', () => {
  const defaults = { duration: 3000, size: 100, flags: NON_SYNC };

  it('version 1: negative composition offsets are read as signed', () => {
    const flags = TRUN.dataOffset | TRUN.duration | TRUN.size | TRUN.compositionOffset;
    const body = Buffer.concat([u32((1 << 24) | flags, 3), i32(220), u32(3000, 50), i32(0), u32(3000, 60), i32(-3000), u32(3000, 70), i32(-1)]);
    const t = parseTrun(body, defaults);
    expect(t.version).toBe(1);
    expect(t.dataOffset).toBe(220);
    expect([...t.compositionOffsets]).toEqual([0, -3000, -1]);
    expect([...t.sizes]).toEqual([50, 60, 70]);
    expect(t.entryBytes).toBe(12);
  });

  it('version 0: composition offsets are unsigned (2^31 and above are not wrapped)', () => {
    const body = Buffer.concat([u32(TRUN.compositionOffset, 2), u32(6000, 0x80000000)]);
    expect([...parseTrun(body, defaults).compositionOffsets]).toEqual([6000, 0x80000000]);
  });

  it('applies the defaults, and the first-sample flags to the first sample only', () => {
    const body = Buffer.concat([u32(TRUN.firstSampleFlags, 3), u32(0)]);
    const t = parseTrun(body, defaults);
    expect([...t.durations]).toEqual([3000, 3000, 3000]);
    expect([...t.sizes]).toEqual([100, 100, 100]);
    expect([...t.sampleFlags].map(isSyncSample)).toEqual([true, false, false]);
    expect(t.firstSampleFlags).toBe(0);
  });

  it('refuses a sample table that overruns the box', () => {
    expect(() => parseTrun(Buffer.concat([u32(TRUN.duration, 3), u32(3000, 3000)]), defaults)).toThrow(Fmp4Error);
  });
});

describe('parseTfdt and parseMoof', () => {
  it('reads 32- and 64-bit decode times', () => {
    expect(parseTfdt(u32(0, 90000))).toEqual({ version: 0, baseDecodeTime: 90000n });
    const v1 = Buffer.alloc(12);
    v1.writeUInt32BE(0x01000000, 0);
    v1.writeBigUInt64BE(2n ** 40n, 4);
    expect(parseTfdt(v1)).toEqual({ version: 1, baseDecodeTime: 2n ** 40n });
    expect(parseTfdt(u32(0))).toBeUndefined();
  });

  it('sums a traf through the same parser: durations, samples, first sample flags, tfhd over trex defaults', () => {
    const traf = box(
      'traf',
      box('tfhd', u32(TFHD.defaultDuration, 1, 1500)),
      box('tfdt', u32(0, 45000)),
      box('trun', u32(TRUN.flags, 2), u32(0, NON_SYNC)),
      box('trun', u32(TRUN.duration, 1), u32(700)),
    );
    const [info] = parseMoof(Buffer.concat([box('mfhd', u32(0, 1)), traf]), new Map([[1, { duration: 9, flags: NON_SYNC }]]));
    expect(info).toEqual({
      trackId: 1, baseDecodeTime: 45000, durationTicks: 1500 + 1500 + 700, sampleCount: 3, firstSampleFlags: 0,
      // Each sample's own duration (the tfhd default for the first trun, its own for the second), not a mean.
      sampleDurations: [1500, 1500, 700], compositionOffsets: [0, 0, 0],
    });
  });
});
