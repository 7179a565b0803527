import type { Polygon } from './detector.js';

/**
 * Pixels of a width × height picture inside any of the polygons (1) or not (0), judged at pixel
 * centres with the even-odd rule, so concave shapes are exact. Coordinates are relative (0..1).
 */
export function rasterizePolygons(polys: readonly Polygon[], width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const xs: number[] = [];
  for (const poly of polys) {
    if (poly.length < 3) continue;
    for (let y = 0; y < height; y++) {
      const cy = (y + 0.5) / height;
      xs.length = 0;
      for (let i = 0; i < poly.length; i++) {
        const [x1, y1] = poly[i]!;
        const [x2, y2] = poly[(i + 1) % poly.length]!;
        // Half-open in y so a vertex on the scan line counts once.
        if (y1 <= cy !== y2 <= cy) xs.push(x1 + ((cy - y1) / (y2 - y1)) * (x2 - x1));
      }
      xs.sort((a, b) => a - b);
      for (let k = 0; k + 1 < xs.length; k += 2) {
        // Pixel x is inside when its centre (x + 0.5) / width lies in [xs[k], xs[k+1]).
        // (The epsilon keeps a centre lying exactly on an edge from flipping with floating-point error.)
        const from = Math.max(0, Math.ceil(xs[k]! * width - 0.5 - 1e-9));
        const to = Math.min(width - 1, Math.ceil(xs[k + 1]! * width - 0.5 - 1e-9) - 1);
        for (let x = from; x <= to; x++) out[y * width + x] = 1;
      }
    }
  }
  return out;
}
