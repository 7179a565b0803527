import { describe, expect, it } from 'vitest';
import type { Detection, Polygon } from './detector.js';
import { MotionDetector, type MotionSettings } from './motion-detector.js';

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
  it('a still picture with sensor noise (±3 levels) is never motion, at any sensitivity', () => {
    const frames = Array.from({ length: 100 }, (_, i) => scene(i, { noise: true }));
    for (const sensitivity of [1, 50, 80, 100]) {
      const out = run(new MotionDetector(settings({ sensitivity, minAreaPercent: 0.01 })), frames);
      expect(out.filter((d) => d.active), `sensitivity ${sensitivity}`).toEqual([]);
    }
  });

  it('isolated flickering pixels (impulse noise) are not motion: the neighbour filter drops them', () => {
    // Every frame 2 % of the pixels, scattered on a grid with no two adjacent, jump by 80 levels.
    const frames = Array.from({ length: 40 }, (_, i) => {
      const f = scene(i, { noise: true });
      for (let k = 0; k < 288; k++) {
        const x = 2 * ((k * 37 + i * 11) % 80);
        const y = 2 * ((k * 13 + i * 7) % 45);
        f[y * W + x] = Math.min(255, f[y * W + x]! + 80);
      }
      return f;
    });
    const out = run(new MotionDetector(settings({ sensitivity: 100, minAreaPercent: 0.5 })), frames);
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

  it('active only from minAreaPercent of the unmasked picture: the same square under a larger minimum is not', () => {
    const frames = Array.from({ length: 20 }, (_, i) => scene(i, { noise: true, square: { x: i === 0 ? -100 : 20 + i * 5, y: 30, size: 20, level: 250 } }));
    const low = run(new MotionDetector(settings({ minAreaPercent: 1 })), frames);
    const high = run(new MotionDetector(settings({ minAreaPercent: 10 })), frames);
    expect(low.slice(1).every((x) => x.active && x.score >= 1 && x.score < 10)).toBe(true);
    expect(high.map((x) => x.score)).toEqual(low.map((x) => x.score));
    expect(high.filter((x) => x.active)).toEqual([]);
    // A mask below the square (rows 54..89) leaves 54 of 90 rows to take the share of: the same changed
    // pixels score 90/54 as high.
    const masked = run(new MotionDetector(settings({ masks: [[[0, 0.6], [1, 0.6], [1, 1], [0, 1]]] })), frames);
    masked.forEach((x, i) => expect(x.score).toBeCloseTo((low[i]!.score * 90) / 54, 9));
  });

  it('names the zones the motion was in, and only those', () => {
    const zoneA: Polygon = [[0, 0], [0.5, 0], [0.5, 1], [0, 1]];
    const zoneB: Polygon = [[0.5, 0], [1, 0], [1, 1], [0.5, 1]];
    const zones = [{ name: 'A', polygon: zoneA }, { name: 'B', polygon: zoneB }];
    // Left half only (x 5..78 of 160), then right half only (x 90..153).
    const inA = run(new MotionDetector(settings({ zones })), Array.from({ length: 12 }, (_, i) => scene(i, { noise: true, square: { x: 5 + i * 3, y: 30, size: 20, level: 250 } })));
    const inB = run(new MotionDetector(settings({ zones })), Array.from({ length: 12 }, (_, i) => scene(i, { noise: true, square: { x: 100 + i * 3, y: 30, size: 20, level: 250 } })));
    for (const [out, name] of [[inA, 'A'], [inB, 'B']] as const) {
      const active = out.filter((x) => x.active);
      expect(active.length).toBeGreaterThanOrEqual(10);
      for (const x of active) {
        expect(x.zones).toEqual([name]);
        expect(x.regions[0]!.zones).toEqual([name]);
      }
    }
  });

  it('a zone needs its share of minAreaPercent: motion that only grazes it does not name it', () => {
    // The square's leading edge enters zone C (x ≥ 96) in the last frames: at most 6 × 24 changed pixels
    // there, under 5 % of the zone's 64 × 90 but over 0.5 % of it.
    const frames = Array.from({ length: 12 }, (_, i) => scene(i, { noise: true, square: { x: 20 + i * 6, y: 30, size: 24, level: 250 } }));
    const zoneC = [{ name: 'C', polygon: [[0.6, 0], [1, 0], [1, 1], [0.6, 1]] as Polygon }];
    const strict = run(new MotionDetector(settings({ minAreaPercent: 5, zones: zoneC })), frames);
    expect(strict.flatMap((x) => x.zones)).toEqual([]);
    const loose = run(new MotionDetector(settings({ minAreaPercent: 0.5, zones: zoneC })), frames);
    expect(loose.flatMap((x) => x.zones)).toContain('C');
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

  it('the first frame, the first after reset() and the first of a new size only seed the background', () => {
    const d = new MotionDetector(settings());
    const at = (luma: Uint8Array, atMs: number, width = W, height = H) => d.detect({ width, height, luma, atMs });
    expect(at(scene(1), 0).active).toBe(false);
    // A different picture after the seed is motion…
    expect(at(scene(2, { square: { x: 40, y: 20, size: 30, level: 250 } }), 200).active).toBe(true);
    // …but not right after reset(), which makes it the new background; the next change is seen again.
    d.reset();
    expect(at(scene(3, { offset: 80 }), 400)).toEqual({ atMs: 400, score: 0, active: false, regions: [], zones: [] });
    expect(at(scene(4, { offset: 80, square: { x: 40, y: 20, size: 30, level: 0 } }), 600).active).toBe(true);
    // A frame of another size starts over the same way.
    const small = (square: boolean) => {
      const f = new Uint8Array(80 * 45).fill(100);
      if (square) for (let y = 10; y < 30; y++) f.fill(230, y * 80 + 10, y * 80 + 30);
      return f;
    };
    expect(at(small(false), 800, 80, 45).active).toBe(false);
    const moved = at(small(true), 1000, 80, 45);
    expect(moved.active).toBe(true);
    expect(moved.score).toBeCloseTo((400 / (80 * 45)) * 100, 5);
    expect(moved.regions[0]!.box).toEqual({ x: 10 / 80, y: 10 / 45, w: 20 / 80, h: 20 / 45 });
  });

  it('a frame whose bytes do not match its size is refused', () => {
    const d = new MotionDetector(settings());
    expect(() => d.detect({ width: W, height: H, luma: new Uint8Array(10), atMs: 0 })).toThrow(RangeError);
    expect(() => d.detect({ width: 0, height: 0, luma: new Uint8Array(0), atMs: 0 })).toThrow(RangeError);
  });

  it('settings are checked in the constructor, naming the field', () => {
    const bad = (over: Partial<MotionSettings>) => () => new MotionDetector(settings(over));
    expect(bad({ sensitivity: 0 })).toThrow(/^sensitivity/);
    expect(bad({ sensitivity: 101 })).toThrow(/^sensitivity/);
    expect(bad({ sensitivity: Number.NaN })).toThrow(/^sensitivity/);
    expect(bad({ minAreaPercent: 0 })).toThrow(/^minAreaPercent/);
    expect(bad({ minAreaPercent: 100.5 })).toThrow(/^minAreaPercent/);
    expect(bad({ masks: [[[0, 0], [1, 0], [1, 1]], [[0, 0], [1, 1]]] })).toThrow(/^masks\[1\]/);
    expect(bad({ zones: [{ name: 'a', polygon: [[0, 0], [1, 0], [1, 1]] }, { name: 'b', polygon: [[0, 0], [1.5, 0], [1, 1]] }] })).toThrow(/^zones\[1\]\.polygon\[1\]/);
    expect(bad({ zones: [{ name: 'a', polygon: [[0, 0], [1, 0], [1, 1]] }, { name: 'a', polygon: [[0, 0], [1, 0], [1, 1]] }] })).toThrow(/^zones\[1\]\.name/);
    expect(bad({ zones: [{ name: '', polygon: [[0, 0], [1, 0], [1, 1]] }] })).toThrow(/^zones\[0\]\.name/);
    for (const f of [bad({ sensitivity: 0 }), bad({ masks: [[[0, 0]]] })]) expect(f).toThrow(RangeError);
    expect(() => new MotionDetector(settings({ sensitivity: 1, minAreaPercent: 0.01 }))).not.toThrow();
    expect(() => new MotionDetector(settings({ sensitivity: 100, minAreaPercent: 100 }))).not.toThrow();
  });

  it('detect() makes no buffers per frame (only when the picture size changes) and returns one shape', () => {
    const zones = [{ name: 'A', polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]] as Polygon }, { name: 'B', polygon: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]] as Polygon }];
    const d = new MotionDetector(settings({ masks: [[[0, 0], [0.2, 0], [0.2, 0.2]]], zones }));
    const frames = Array.from({ length: 30 }, (_, i) => scene(i, { noise: true, square: { x: 10 + i * 4, y: 30, size: 20, level: 250 } }));
    const first = countTypedArrays(() => d.detect({ width: W, height: H, luma: frames[0]!, atMs: 0 }));
    // The counter sees the buffers made for a new size (else the next check would prove nothing).
    expect(first.made).toBeGreaterThan(0);
    const rest = countTypedArrays(() => frames.slice(1).map((luma, i) => d.detect({ width: W, height: H, luma, atMs: (i + 1) * 200 })));
    expect(rest.made).toBe(0);
    expect(rest.value.filter((x) => x.active).length).toBeGreaterThan(20);
    const shapes = new Set([first.value, ...rest.value].map((x) => Object.keys(x).join()));
    expect([...shapes]).toEqual(['atMs,score,active,regions,zones']);
    const regionShapes = new Set(rest.value.flatMap((x) => x.regions).map((r) => `${Object.keys(r).join()}/${Object.keys(r.box).join()}`));
    expect([...regionShapes]).toEqual(['label,score,box,zones/x,y,w,h']);
  });
});

const TYPED_ARRAYS = ['Uint8Array', 'Uint8ClampedArray', 'Uint16Array', 'Uint32Array', 'Int8Array', 'Int16Array', 'Int32Array', 'Float32Array', 'Float64Array'] as const;

/** Runs fn while every typed-array constructor on the global object counts what it makes. */
function countTypedArrays<T>(fn: () => T): { made: number; value: T } {
  const g = globalThis as unknown as Record<string, unknown>;
  const saved = TYPED_ARRAYS.map((name) => [name, g[name]] as const);
  let made = 0;
  for (const [name, ctor] of saved) {
    g[name] = new Proxy(ctor as new (...args: unknown[]) => object, {
      construct(target, args, newTarget) {
        made++;
        return Reflect.construct(target, args, newTarget);
      },
    });
  }
  try {
    const value = fn();
    return { made, value };
  } finally {
    for (const [name, ctor] of saved) g[name] = ctor;
  }
}
