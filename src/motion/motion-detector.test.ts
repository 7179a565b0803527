import { describe, expect, it } from 'vitest';
import type { Detection, Polygon } from './detector.js';
import { MotionDetector, type MotionSettings } from './motion-detector.js';
import { rasterizePolygons } from './polygon-mask.js';

const W = 160;
const H = 90;

/** A deterministic textured still picture, plus ±3 levels of sensor noise per frame when `noise`. */
function scene(seed: number, opts: { noise?: boolean; offset?: number; square?: { x: number; y: number; size: number; level: number }; bump?: { x: number; y: number; size: number; by: number } } = {}): Uint8Array {
  const f = new Uint8Array(W * H);
  let r = seed * 9301 + 49297;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      r = (r * 9301 + 49297) % 233280;
      const base = 60 + ((x * 7 + y * 3) % 90) + (opts.offset ?? 0);
      const noise = opts.noise ? Math.round((r / 233280) * 6 - 3) : 0;
      f[y * W + x] = Math.max(0, Math.min(255, base + noise));
    }
  }
  const b = opts.bump;
  if (b) for (let y = b.y; y < b.y + b.size; y++) for (let x = b.x; x < b.x + b.size; x++) if (x >= 0 && x < W && y >= 0 && y < H) f[y * W + x] = Math.min(255, f[y * W + x]! + b.by);
  const s = opts.square;
  if (s) for (let y = s.y; y < s.y + s.size; y++) for (let x = s.x; x < s.x + s.size; x++) if (x >= 0 && x < W && y >= 0 && y < H) f[y * W + x] = s.level;
  return f;
}

const settings = (over: Partial<MotionSettings> = {}): MotionSettings => ({ sensitivity: 50, minAreaPercent: 0.5, masks: [], zones: [], ...over });
const run = (d: MotionDetector, frames: Uint8Array[]): Detection[] => frames.map((luma, i) => d.detect({ width: W, height: H, luma, atMs: i * 200 }));

describe('MotionDetector', () => {
  it('a still picture with sensor noise is never motion', () => {
    const out = run(new MotionDetector(settings({ sensitivity: 80 })), Array.from({ length: 100 }, (_, i) => scene(i, { noise: true })));
    expect(out.filter((d) => d.active)).toEqual([]);
  });

  it('a square moving across is motion, boxed where it is, with a score of its share of the picture', () => {
    const d = new MotionDetector(settings());
    // Frame 0, the background seed, is empty: the square enters with frame 1.
    const frames = Array.from({ length: 20 }, (_, i) => scene(i, { noise: true, square: { x: i === 0 ? -100 : 20 + i * 5, y: 30, size: 20, level: 250 } }));
    const out = run(d, frames);
    expect(out[0]!.active).toBe(false); // the first frame only seeds the background
    const active = out.slice(1).filter((x) => x.active);
    expect(active.length).toBeGreaterThanOrEqual(18);
    const last = out.at(-1)!;
    const box = last.regions[0]!.box;
    // The box is where the square is and its last few positions (the background is the last second or so).
    expect(box.x * W).toBeGreaterThanOrEqual(20 + 19 * 5 - 30);
    expect((box.x + box.w) * W).toBeLessThanOrEqual(20 + 19 * 5 + 20 + 1);
    expect(box.y * H).toBeGreaterThanOrEqual(29);
    expect((box.y + box.h) * H).toBeLessThanOrEqual(51);
    expect(last.score).toBeGreaterThan(1);
    expect(last.score).toBeLessThan(10);
  });

  it('names the zones the motion was in, and only those', () => {
    const zoneA: Polygon = [[0, 0], [0.5, 0], [0.5, 1], [0, 1]];
    const zoneB: Polygon = [[0.5, 0], [1, 0], [1, 1], [0.5, 1]];
    const d = new MotionDetector(settings({ zones: [{ name: 'a', polygon: zoneA }, { name: 'b', polygon: zoneB }] }));
    const out = run(d, Array.from({ length: 12 }, (_, i) => scene(i, { noise: true, square: { x: 5 + i * 3, y: 30, size: 20, level: 250 } })));
    const zones = new Set(out.filter((x) => x.active).flatMap((x) => x.zones));
    expect([...zones]).toEqual(['a']);
  });

  it('a mask over the moving part hides it', () => {
    const mask: Polygon = [[0, 0.2], [1, 0.2], [1, 0.8], [0, 0.8]];
    const out = run(new MotionDetector(settings({ masks: [mask] })), Array.from({ length: 20 }, (_, i) => scene(i, { noise: true, square: { x: 20 + i * 5, y: 30, size: 20, level: 250 } })));
    expect(out.filter((x) => x.active)).toEqual([]);
  });

  it('light is not motion: a slow brightening by 60 levels over 60 s, and a sudden step of +10', () => {
    const slow = run(new MotionDetector(settings({ sensitivity: 90 })), Array.from({ length: 300 }, (_, i) => scene(i, { noise: true, offset: Math.round((i / 300) * 60) })));
    expect(slow.filter((x) => x.active)).toEqual([]);
    const step = run(new MotionDetector(settings({ sensitivity: 90 })), Array.from({ length: 20 }, (_, i) => scene(i, { noise: true, offset: i >= 10 ? 10 : 0 })));
    expect(step.filter((x) => x.active)).toEqual([]);
  });

  it('sensitivity is monotone: a weak change seen at some sensitivity is seen at every higher one', () => {
    // A faint shape (+8..+40 levels) moving across: each sensitivity sees part of it.
    const frames = Array.from({ length: 30 }, (_, i) => scene(i, { noise: true, bump: { x: 10 + i * 4, y: 20, size: 24, by: 8 + ((i * 11) % 33) } }));
    const activeAt = (s: number) => new Set(run(new MotionDetector(settings({ sensitivity: s })), frames).flatMap((x, i) => (x.active ? [i] : [])));
    let prev = activeAt(1);
    const counts = [prev.size];
    for (let s = 11; s <= 100; s += 10) {
      const cur = activeAt(s);
      for (const i of prev) expect(cur.has(i), `frame ${i} at sensitivity ${s}`).toBe(true);
      counts.push(cur.size);
      prev = cur;
    }
    expect(counts.at(-1)!).toBeGreaterThan(counts[0]!);
  });

  it('reset() makes the next frame a new background; a frame of the wrong size is refused', () => {
    const d = new MotionDetector(settings());
    run(d, [scene(1), scene(2)]);
    d.reset();
    expect(d.detect({ width: W, height: H, luma: scene(3, { offset: 80 }), atMs: 0 }).active).toBe(false);
    expect(() => d.detect({ width: W, height: H, luma: new Uint8Array(10), atMs: 0 })).toThrow(RangeError);
    expect(() => new MotionDetector(settings({ sensitivity: 0 }))).toThrow(/sensitivity/);
  });
});

describe('rasterizePolygons', () => {
  const count = (m: Uint8Array) => m.reduce((a, b) => a + b, 0);
  it('counts pixel centres exactly for a square, a triangle, a concave shape, and a union', () => {
    expect(count(rasterizePolygons([[[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]], 10, 10))).toBe(25);
    // Right triangle below the diagonal: centres (x+.5, y+.5) with x < y.
    expect(count(rasterizePolygons([[[0, 0], [0, 1], [1, 1]]], 10, 10))).toBe(45);
    // An L: the 10×10 picture minus its top-right 5×5 quarter.
    expect(count(rasterizePolygons([[[0, 0], [0.5, 0], [0.5, 0.5], [1, 0.5], [1, 1], [0, 1]]], 10, 10))).toBe(75);
    // Two overlapping squares: the union, not the sum.
    expect(count(rasterizePolygons([[[0, 0], [0.6, 0], [0.6, 0.6], [0, 0.6]], [[0.4, 0.4], [1, 0.4], [1, 1], [0.4, 1]]], 10, 10))).toBe(36 + 36 - 4);
  });
});
