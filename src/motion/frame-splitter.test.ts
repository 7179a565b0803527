import { describe, expect, it } from 'vitest';
import { FrameSplitter } from './frame-splitter.js';

describe('FrameSplitter', () => {
  it('hands out every picture whole and in order, whatever the chunk sizes', () => {
    const frameBytes = 7;
    const stream = Uint8Array.from({ length: frameBytes * 5 + 3 }, (_, i) => i % 251);
    for (const sizes of [[1], [7], [3, 11], [35, 3], [2, 5, 9, 1, 100]]) {
      const s = new FrameSplitter(frameBytes);
      const got: number[][] = [];
      let at = 0;
      let k = 0;
      while (at < stream.length) {
        const n = sizes[k++ % sizes.length]!;
        s.push(stream.subarray(at, at + n), (f) => got.push([...f]));
        at += n;
      }
      expect(got.length, String(sizes)).toBe(5);
      got.forEach((f, i) => expect(f).toEqual([...stream.subarray(i * frameBytes, (i + 1) * frameBytes)]));
    }
  });

  it('refuses a frame size that is not a positive integer', () => {
    expect(() => new FrameSplitter(0)).toThrow(RangeError);
    expect(() => new FrameSplitter(1.5)).toThrow(RangeError);
  });
});
