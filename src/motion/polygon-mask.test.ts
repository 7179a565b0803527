import { describe, expect, it } from 'vitest';
import type { Polygon } from './detector.js';
import { rasterizePolygons } from './polygon-mask.js';

const count = (m: Uint8Array) => m.reduce((a, b) => a + b, 0);
/** The pixels set in one row, as a string of 0 and 1 (for exact shapes). */
const row = (m: Uint8Array, width: number, y: number) => m.subarray(y * width, (y + 1) * width).join('');

describe('rasterizePolygons', () => {
  it('a square covers exactly the pixels whose centres are inside it', () => {
    const m = rasterizePolygons([[[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]], 10, 10);
    expect(count(m)).toBe(25);
    expect(row(m, 10, 0)).toBe('1111100000');
    expect(row(m, 10, 4)).toBe('1111100000');
    expect(row(m, 10, 5)).toBe('0000000000');
  });

  it('a rectangle on the 160×90 picture counts its pixel centres', () => {
    // x 0.1..0.35 → centres of columns 16..55 (40); y 0.2..0.5 → rows 18..44 (27).
    expect(count(rasterizePolygons([[[0.1, 0.2], [0.35, 0.2], [0.35, 0.5], [0.1, 0.5]]], 160, 90))).toBe(40 * 27);
  });

  it('triangles: below the diagonal, and the upper-left half', () => {
    // Centres (x + .5, y + .5) with x < y: 0 + 1 + … + 9.
    expect(count(rasterizePolygons([[[0, 0], [0, 1], [1, 1]]], 10, 10))).toBe(45);
    // x + y + 1 < 10 strictly inside; the 10 centres exactly on the edge (x + y = 9) count on one side only.
    const upperLeft = rasterizePolygons([[[0, 0], [1, 0], [0, 1]]], 10, 10);
    const lowerRight = rasterizePolygons([[[1, 0], [1, 1], [0, 1]]], 10, 10);
    expect(count(upperLeft) + count(lowerRight)).toBe(100);
    for (let i = 0; i < 100; i++) expect(upperLeft[i]! + lowerRight[i]!, `pixel ${i}`).toBe(1);
  });

  it('concave shapes are exact: an L and an arch with two spans per row', () => {
    // The picture minus its top-right 5×5 quarter.
    expect(count(rasterizePolygons([[[0, 0], [0.5, 0], [0.5, 0.5], [1, 0.5], [1, 1], [0, 1]]], 10, 10))).toBe(75);
    // The picture minus a notch x 0.3..0.7, y 0.3..1 (columns 3..6, rows 3..9).
    const arch: Polygon = [[0, 0], [1, 0], [1, 1], [0.7, 1], [0.7, 0.3], [0.3, 0.3], [0.3, 1], [0, 1]];
    const m = rasterizePolygons([arch], 10, 10);
    expect(count(m)).toBe(100 - 4 * 7);
    expect(row(m, 10, 2)).toBe('1111111111');
    expect(row(m, 10, 3)).toBe('1110000111');
    expect(row(m, 10, 9)).toBe('1110000111');
  });

  it('several polygons make their union, not their sum; overlaps count once', () => {
    expect(count(rasterizePolygons([[[0, 0], [0.6, 0], [0.6, 0.6], [0, 0.6]], [[0.4, 0.4], [1, 0.4], [1, 1], [0.4, 1]]], 10, 10))).toBe(36 + 36 - 4);
    // The left quarter (40 × 90) and the top fifth (160 × 18) of 160×90 overlap in 40 × 18.
    const left: Polygon = [[0, 0], [0.25, 0], [0.25, 1], [0, 1]];
    const top: Polygon = [[0, 0], [1, 0], [1, 0.2], [0, 0.2]];
    expect(count(rasterizePolygons([left, top], 160, 90))).toBe(3600 + 2880 - 720);
    expect(count(rasterizePolygons([left, left], 160, 90))).toBe(3600);
  });

  it('the whole picture, no polygons, and a polygon of fewer than 3 points', () => {
    expect(count(rasterizePolygons([[[0, 0], [1, 0], [1, 1], [0, 1]]], 160, 90))).toBe(160 * 90);
    expect(count(rasterizePolygons([], 160, 90))).toBe(0);
    expect(count(rasterizePolygons([[[0, 0], [1, 1]]], 160, 90))).toBe(0);
    expect(rasterizePolygons([], 160, 90).length).toBe(160 * 90);
  });
});
